"""Diga's call-ended webhook, posted to a running api, with each call's logs put on the
Diga stand-in first (the worker fetches them)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from tests.standins import DigaStandIn, make_log

AGENTS = ("ag-north", "ag-south", "ag-east")  # send_calls' agents, in turn
Logs = Callable[[str, int], list[dict[str, Any]]]  # (call id, index) → the call's logs


def failing(call_id: str, index: int) -> list[dict[str, Any]]:
    """A TRANSFER error, the logs most rules under test match."""
    return [make_log(call_id)]


def clean(call_id: str, index: int) -> list[dict[str, Any]]:
    """No error logs: a call that ended well."""
    return []


async def post_webhook(url: str, call_id: str, **call: Any) -> httpx.Response:
    """One call-ended webhook; its answer, whatever it is."""
    body = {"event": "call.ended", "call": {"id": call_id, **call}}
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        return await client.post("/webhooks/diga", json=body)


async def post_calls(
    url: str,
    diga: DigaStandIn,
    agents: Sequence[str | None],
    *,
    logs: Logs = failing,
    concurrency: int = 1,
    **call: Any,
) -> list[str]:
    """One call per entry of `agents` (None: no agent_id), each answered 202; their ids.
    `concurrency` above 1 posts that many at once, in no set order."""
    ids = [str(uuid.uuid4()) for _ in agents]
    for index, call_id in enumerate(ids):
        diga.add_call(call_id, logs(call_id, index))
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def post(call_id: str, agent: str | None) -> None:
            fields = {**call, **({"agent_id": agent} if agent is not None else {})}
            body = {"event": "call.ended", "call": {"id": call_id, **fields}}
            async with gate:
                answer = await client.post("/webhooks/diga", json=body)
            assert answer.status_code == 202, answer.text

        if concurrency == 1:
            for call_id, agent in zip(ids, agents, strict=True):
                await post(call_id, agent)
        else:
            await asyncio.gather(*(post(c, a) for c, a in zip(ids, agents, strict=True)))
    return ids


async def accepted(url: str, call_id: str, **call: Any) -> None:
    """One call-ended webhook, which must be answered 202."""
    answer = await post_webhook(url, call_id, **call)
    assert answer.status_code == 202, answer.text


def busy(call_id: str, index: int) -> list[dict[str, Any]]:
    """A TRANSFER error of one of two failure reasons, in turn."""
    return [make_log(call_id, data={"failure_reason": f"busy-{index % 2}"})]


async def send_calls(
    api: Any, diga: DigaStandIn, count: int, *, failing: bool = True, agent: str | None = None
) -> list[str]:
    """`count` call-ended webhooks, concurrently, of `agent` or of `AGENTS` in turn; failing
    calls carry a TRANSFER error."""
    agents = [agent or AGENTS[i % len(AGENTS)] for i in range(count)]
    return await post_calls(api.url, diga, agents, logs=busy if failing else clean, concurrency=16)
