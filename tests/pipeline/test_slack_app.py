"""`slack_app` destinations on real servers: the real slack_sdk client against a Slack Web
API stand-in, through the outbox: one post per episode and replies in its thread, the first
post updated on resolve, `ratelimited` delaying and never dropping, failure reasons."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from alerter.replay.dryrun import notify_test
from alerter.rules.model import RuleSet
from alerter.settings import Settings
from alerter.store.state import State
from tests.conftest import ApiServer, make_settings, rules_from, run_worker_until_idle
from tests.kit.poll import until
from tests.kit.redis import history
from tests.kit.webhook import post_calls
from tests.kit.worker import running_worker
from tests.standins import DigaStandIn, Fault, SlackApiStandIn, make_log

TOKEN = "xoxb-0000-slackbottoken7c1"
RULES = """
destinations:
  ops-slack:
    slack_app: {channel: C0123456789, token: "${SLACK_BOT_TOKEN}"}
    redact: [phone]
rules:
  - name: transfer-failed
    match: {category: TRANSFER}
    group_by: [agent_id]
    notify: [ops-slack]
"""
EPISODE_RULES = """
destinations:
  ops-slack:
    slack_app: {channel: C0123456789, token: "${SLACK_BOT_TOKEN}"}
rules:
  - name: transfer-burst
    match: {category: TRANSFER}
    group_by: [agent_id]
    when: {count: 2, within: 2s}
    notify: [ops-slack]
"""


def settings_for(diga: DigaStandIn, slack_api: SlackApiStandIn, **over: Any) -> Settings:
    return make_settings(
        diga.url,
        ALERTER_SLACK_API_URL=slack_api.api_url,
        ALERTER_WORKER_METRICS_PORT=0,
        **over,
    )


def with_phone(call_id: str, index: int) -> list[dict[str, Any]]:
    """A failed transfer whose text carries a phone number (redacted in the alert)."""
    return [make_log(call_id, data={"message_text": "transfer to +34 600 123 456 failed"})]


@pytest.fixture
def rules(tmp_path: Path) -> RuleSet:
    return rules_from(tmp_path, RULES, {"SLACK_BOT_TOKEN": TOKEN})


async def test_a_groups_alerts_are_one_post_and_replies_in_its_thread_with_the_bot_token(
    rules: RuleSet,
    diga: DigaStandIn,
    slack_api: SlackApiStandIn,
    redis_url: str,
    api_for: Callable[..., ApiServer],
) -> None:
    api = api_for(rules)
    await post_calls(api.url, diga, ["ag-1"] * 3, logs=with_phone)
    await run_worker_until_idle(settings_for(diga, slack_api), rules, redis_url)
    posts = slack_api.of("chat.postMessage")
    assert len(posts) == 3, slack_api.methods()
    first = [p for p in posts if "thread_ts" not in p]
    assert len(first) == 1, "the channel shows one post for the group"
    ts = first_ts(slack_api)
    assert all(p["thread_ts"] == ts for p in posts if p is not first[0])
    assert all(p["channel"] == "C0123456789" for p in posts)
    assert {auth for _, _, auth in slack_api.calls} == {f"Bearer {TOKEN}"}
    shown = json.dumps(posts)
    assert "600 123" not in shown and "[phone]" in shown, "the destination redacts"
    assert "alerter_ack" in shown and "alerter_silence" in shown
    # Markers: a second run sends nothing again.
    await run_worker_until_idle(settings_for(diga, slack_api), rules, redis_url)
    assert len(slack_api.of("chat.postMessage")) == 3


def first_ts(slack_api: SlackApiStandIn) -> str:
    """The ts the stand-in gave the first post (its first answer)."""
    return slack_api.answered[0]["ts"]


async def test_ratelimited_delays_and_never_drops(
    rules: RuleSet,
    diga: DigaStandIn,
    slack_api: SlackApiStandIn,
    redis_url: str,
    api_for: Callable[..., ApiServer],
) -> None:
    # More refusals than a send's tries: a rate limit spends none of them.
    slack_api.inject(
        *[Fault(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "0"})] * 6,
        *[Fault(200, {"ok": False, "error": "ratelimited"}, {"Retry-After": "0"})] * 6,
    )
    api = api_for(rules)
    [call_id] = await post_calls(api.url, diga, ["ag-1"] * 1, logs=with_phone)
    await run_worker_until_idle(settings_for(diga, slack_api), rules, redis_url)
    assert len(slack_api.of("chat.postMessage")) == 1
    rows = await history(redis_url, call_id)
    outcomes = [row.outcome for row in rows]
    assert outcomes.count("sent") == 1 and "failed" not in outcomes
    waits = [row.detail for row in rows if row.outcome == "retrying"]
    assert len(waits) == 12 and all("ratelimited" in w and "as asked" in w for w in waits)


async def test_a_refusal_gives_up_after_its_tries_naming_destination_host_and_error(
    rules: RuleSet,
    diga: DigaStandIn,
    slack_api: SlackApiStandIn,
    redis_url: str,
    api_for: Callable[..., ApiServer],
) -> None:
    slack_api.inject(*[Fault(200, {"ok": False, "error": "channel_not_found"})] * 8)
    api = api_for(rules)
    [call_id] = await post_calls(api.url, diga, ["ag-1"] * 1, logs=with_phone)
    await run_worker_until_idle(settings_for(diga, slack_api), rules, redis_url)
    assert slack_api.of("chat.postMessage") == []
    async with redis.asyncio.Redis.from_url(redis_url) as client:
        [failed] = [f for f in await State(client).failures() if f.call.call_id == call_id]
    reason = str(failed.reason)
    assert "ops-slack" in reason and "127.0.0.1" in reason and "channel_not_found" in reason
    assert TOKEN not in reason


async def test_an_episode_is_one_post_its_replies_then_the_post_updated_resolved(
    tmp_path: Path,
    diga: DigaStandIn,
    slack_api: SlackApiStandIn,
    redis_url: str,
    api_for: Callable[..., ApiServer],
) -> None:
    rules = rules_from(tmp_path, EPISODE_RULES, {"SLACK_BOT_TOKEN": TOKEN})
    settings = settings_for(diga, slack_api, ALERTER_TICK_SECONDS=1)
    api = api_for(rules, ALERTER_TICK_SECONDS=1)
    async with running_worker(settings, rules, redis_url):
        await post_calls(api.url, diga, ["ag-busy"] * 3, logs=with_phone)
        assert await until(lambda: "chat.update" in slack_api.methods(), 15)
        assert await until(lambda: slack_api.methods()[-1] == "chat.postMessage", 5)
    methods = slack_api.methods()
    posts = slack_api.of("chat.postMessage")
    [update] = slack_api.of("chat.update")
    first, *replies = posts
    assert "thread_ts" not in first
    ts = first_ts(slack_api)
    assert replies and all(p["thread_ts"] == ts for p in replies)
    assert methods.index("chat.update") == len(methods) - 2, methods
    assert update["ts"] == ts and update["channel"] == "C0123456789"
    assert "Resolved" in json.dumps(update["attachments"])
    assert "RESOLVED" in replies[-1]["text"]


async def test_notify_test_posts_through_the_app_and_says_why_it_failed(
    rules: RuleSet, slack_api: SlackApiStandIn
) -> None:
    destination = rules.destinations["ops-slack"]
    assert await notify_test(destination, slack_api.api_url) == (True, "")
    [post] = slack_api.of("chat.postMessage")
    assert post["channel"] == "C0123456789" and "alerter-test" in json.dumps(post)
    slack_api.inject(Fault(200, {"ok": False, "error": "not_in_channel"}))
    ok, why = await notify_test(destination, slack_api.api_url)
    assert not ok and "ops-slack" in why and "not_in_channel" in why and TOKEN not in why
