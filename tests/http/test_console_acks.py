"""Acknowledge from the console: the call page's **Acknowledge** and `POST /api/v1/acks`
(operators only, audited, recorded in the call's story)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import redis.asyncio as aioredis

from alerter.rules.noise import GroupKey
from alerter.store.audit import Audit
from alerter.store.slack import SlackStore
from alerter.store.state import State
from tests.conftest import ApiServer, make_settings
from tests.http.console_kit import (
    assert_error,
    bearer,
    console_rules,
    csrf_of,
    process,
    send_call,
    signed_in,
    token,
)
from tests.standins import DigaStandIn, Receiver

AG1 = GroupKey((("agent_id", "ag-1"),)).digest


async def acked_by(redis_url: str, group: str = AG1) -> str | None:
    async with aioredis.Redis.from_url(redis_url) as client:
        ack = await SlackStore(client).ack("transfer-failed", group)
    return ack.by if ack else None


async def test_an_operator_acknowledges_a_group_through_the_api_and_it_is_audited(
    tmp_path: Path, hook: Receiver, redis_url: str, api_for: Callable[..., ApiServer]
) -> None:
    api = api_for(console_rules(tmp_path, hook), ALERTER_CONSOLE_AUTH="token")
    operator = await token(redis_url, "olga", "operator")
    viewer = await token(redis_url, "vera", "viewer")
    body = {"rule": "transfer-failed", "group": {"agent_id": "ag-1"}}
    async with httpx.AsyncClient(base_url=api.url) as client:
        assert_error(await client.post("/api/v1/acks", json=body, headers=bearer(viewer)), 403)
        assert await acked_by(redis_url) is None
        answer = await client.post("/api/v1/acks", json=body, headers=bearer(operator))
        assert answer.status_code == 201, answer.text
        assert answer.json()["group"] == AG1 and answer.json()["acknowledged_by"] == "olga"
        by_digest = {"rule": "transfer-failed", "group": AG1}
        again = await client.post("/api/v1/acks", json=by_digest, headers=bearer(operator))
        assert again.json()["first"] is False
        unknown = {"rule": "nope", "group": AG1}
        assert_error(await client.post("/api/v1/acks", json=unknown, headers=bearer(operator)), 404)
        wrong = {"rule": 5, "group": AG1}
        assert_error(await client.post("/api/v1/acks", json=wrong, headers=bearer(operator)), 422)
    assert await acked_by(redis_url) == "olga"
    async with aioredis.Redis.from_url(redis_url) as client:
        audit = [(e.who, e.action) for e in await Audit(client).latest()]
    assert audit.count(("olga", "ack")) == 2


async def test_the_call_pages_acknowledge_button_acknowledges_its_group(
    tmp_path: Path,
    hook: Receiver,
    diga: DigaStandIn,
    redis_url: str,
    api_for: Callable[..., ApiServer],
) -> None:
    rules = console_rules(tmp_path, hook)
    api = api_for(rules, ALERTER_CONSOLE_AUTH="token")
    operator = await token(redis_url, "olga", "operator")
    async with httpx.AsyncClient(base_url=api.url) as client:
        call_id = await send_call(client, diga, agent="ag-1")
    await process(make_settings(diga.url), rules, redis_url)
    async with signed_in(api.url, operator) as browser:
        page = await browser.get(f"/ui/calls/{call_id}")
        assert ">Acknowledge</button>" in page.text
        answer = await browser.post(
            f"/ui/calls/{call_id}/ack",
            data={"rule": "transfer-failed", "_csrf_token": csrf_of(page.text)},
        )
        assert answer.status_code == 303, answer.text
        refused = await browser.post(f"/ui/calls/{call_id}/ack", data={"rule": "transfer-failed"})
        assert refused.status_code == 403  # no CSRF token
    assert await acked_by(redis_url) == "olga"
    async with aioredis.Redis.from_url(redis_url) as client:
        story = [row.outcome for row in await State(client).history(call_id)]
    assert "acknowledged" in story
