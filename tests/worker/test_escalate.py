"""Escalation on real servers, time driven by the worker's injected clock: an alert not
acknowledged within `after` goes to the escalation's destinations once per episode; an
acknowledged one never does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from alerter import acks
from alerter.rules.model import RuleSet
from alerter.settings import Settings
from alerter.worker.app import make_worker
from alerter.worker.runner import run_worker
from tests.conftest import ApiServer, make_settings, rules_from
from tests.kit.budgets import FAST
from tests.kit.build import hook_url
from tests.kit.clock import AheadClock
from tests.kit.poll import until
from tests.kit.redis import outcomes
from tests.kit.webhook import post_calls
from tests.kit.worker import more_ticks
from tests.standins import DigaStandIn, Receiver, SlackApiStandIn

RULES = """
destinations:
  ops-slack:
    slack_app: {channel: C0123456789, token: "xoxb-1-bot"}
  pager: ${PAGER}
rules:
  - name: transfer-failed
    match: {category: TRANSFER}
    group_by: [agent_id]
    escalate: {after: 15m, notify: [pager]}
    notify: [ops-slack]
"""


@pytest.fixture
def rules(tmp_path: Path, hook: Receiver) -> RuleSet:
    return rules_from(tmp_path, RULES, {"PAGER": hook_url(hook)})


@asynccontextmanager
async def worker_on(
    settings: Settings, rules: RuleSet, redis_url: str, clock: AheadClock
) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_worker(lambda: make_worker(settings, rules, redis_url, clock=clock, budgets=FAST), stop)
    )
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


def paged(hook: Receiver) -> list[dict[str, Any]]:
    return [b for b in hook.bodies() if isinstance(b, dict)]


async def test_an_unacknowledged_alert_escalates_once_an_acknowledged_one_never(
    rules: RuleSet,
    diga: DigaStandIn,
    slack_api: SlackApiStandIn,
    hook: Receiver,
    redis_url: str,
    api_for: Callable[..., ApiServer],
) -> None:
    settings = make_settings(
        diga.url,
        ALERTER_SLACK_API_URL=slack_api.api_url,
        ALERTER_TICK_SECONDS=1,
        ALERTER_WORKER_METRICS_PORT=0,
    )
    clock = AheadClock()  # real waits (a running worker's polls), driven windows
    api = api_for(rules, clock=clock, ALERTER_TICK_SECONDS=1)
    async with worker_on(settings, rules, redis_url, clock):
        [first] = await post_calls(api.url, diga, ["ag-1"])
        [second] = await post_calls(
            api.url, diga, ["ag-1"]
        )  # the same episode: still one escalation
        [calm] = await post_calls(api.url, diga, ["ag-2"])
        assert await until(lambda: len(slack_api.of("chat.postMessage")) == 3)
        async with aioredis.Redis.from_url(redis_url) as client:
            ag_2 = group_of(slack_api, "ag-2")
            await acks.acknowledge(client, "transfer-failed", ag_2, "ann", clock(), clock=clock)
        await more_ticks(redis_url, 2)
        assert paged(hook) == [], "nothing escalates before `after`"
        clock.advance(16 * 60)
        assert await until(lambda: len(paged(hook)) >= 1)
        # A later alert of the escalated episode, and its time passing again: no second page.
        await post_calls(api.url, diga, ["ag-1"])
        assert await until(lambda: len(slack_api.of("chat.postMessage")) == 4)
        clock.advance(16 * 60)
        await more_ticks(redis_url, 3)
    [page] = paged(hook)
    assert "Escalated (not acknowledged within 15m)" in page["title"]
    assert "ag-1" in page["message"]
    stories = [await outcomes(redis_url, call_id) for call_id in (first, second)]
    assert sum(story.count("escalated") for story in stories) == 1, stories
    assert "escalated" not in await outcomes(redis_url, calm)


def group_of(slack_api: SlackApiStandIn, agent: str) -> str:
    """The group digest an alert's Acknowledge button names, for the given agent."""
    import json

    from alerter.render.slack_blocks import ButtonValue

    for post in slack_api.of("chat.postMessage"):
        for block in post["attachments"][0]["blocks"]:
            for element in block.get("elements") or []:
                if element.get("action_id") == "alerter_ack":
                    value = ButtonValue.decode(element["value"])
                    if dict(value.labels).get("agent_id") == agent:
                        return value.group
    raise AssertionError(json.dumps(slack_api.of("chat.postMessage"))[:500])
