"""`POST /slack/interactions` on a real api: Slack's signature (made by slack_sdk's own
SignatureVerifier) checked, stale and unsigned clicks refused, only operators act, and an
acknowledgement or silence recorded (story, audit, `slack:<user>`) and shown in the message."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import redis.asyncio as aioredis
from slack_sdk.signature import SignatureVerifier

from alerter.render.alert import message
from alerter.render.slack_blocks import Thread, alert_payload
from alerter.rules.model import RuleSet
from alerter.store.audit import Audit
from alerter.store.silences import Silences
from alerter.store.slack import SlackStore
from alerter.store.state import State
from tests.conftest import ApiServer, rules_from
from tests.kit.build import alert_for, log
from tests.kit.clock import DrivenClock
from tests.standins import SlackApiStandIn

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
CHANNEL = "C0123456789"
RULES = """
destinations:
  ops-slack:
    slack_app: {channel: C0123456789, token: "xoxb-1-bot"}
rules:
  - name: transfer-failed
    match: {category: TRANSFER}
    group_by: [agent_id]
    notify: [ops-slack]
"""
CALL_ID = str(uuid.uuid4())
THREAD = Thread(
    key="alerter-transfer-failed-g1",
    rule="transfer-failed",
    group="g1",
    labels=(("agent_id", "ag-1"),),
    call_id=CALL_ID,
)


@pytest.fixture
def slack_api() -> Iterator[SlackApiStandIn]:
    server = SlackApiStandIn()
    server.groups["S0ONCALL"] = ["U0GRP"]
    server.start()
    yield server
    server.stop()


@pytest.fixture
def api(tmp_path: Path, slack_api: SlackApiStandIn, api_for: Callable[..., ApiServer]) -> ApiServer:
    rules: RuleSet = rules_from(tmp_path, RULES)
    return api_for(
        rules,
        ALERTER_SLACK_API_URL=slack_api.api_url,
        ALERTER_SLACK_SIGNING_SECRET=SECRET,
        ALERTER_SLACK_OPERATORS="U0OPS,S0ONCALL",
    )


def click_body(
    action_id: str, user: str, response_url: str | None = None, *, name: str = "ann"
) -> bytes:
    posted = alert_payload(message(alert_for([log()])), THREAD, None)
    [value] = {
        e["value"]
        for b in posted["attachments"][0]["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == action_id
    }
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user, "username": name, "team_id": "T0"},
        "container": {"type": "message", "message_ts": "1700000001.000100", "channel_id": CHANNEL},
        "channel": {"id": CHANNEL, "name": "ops"},
        "message": {"ts": "1700000001.000100", **posted},
        "actions": [{"action_id": action_id, "value": value, "type": "button"}],
    }
    if response_url:
        payload["response_url"] = response_url
    return urlencode({"payload": json.dumps(payload)}).encode()


def signed(body: bytes, at: float | None = None, secret: str = SECRET) -> dict[str, str]:
    """Headers as Slack sends them, signed by slack_sdk's reference implementation."""
    timestamp = str(int(time.time() if at is None else at))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    return {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature,
        "Content-Type": "application/x-www-form-urlencoded",
    }


async def click(api: ApiServer, body: bytes, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=api.url) as client:
        return await client.post("/slack/interactions", content=body, headers=headers)


async def recorded(redis_url: str) -> tuple[Any, list[Any], list[str], list[Any]]:
    async with aioredis.Redis.from_url(redis_url) as client:
        ack = await SlackStore(client).ack("transfer-failed", "g1")
        audit = await Audit(client).latest()
        story = [row.outcome for row in await State(client).history(CALL_ID)]
        silences = await Silences(client).all()
    return ack, audit, story, silences


async def test_an_operators_acknowledgement_is_recorded_and_shown(
    api: ApiServer, slack_api: SlackApiStandIn, redis_url: str
) -> None:
    body = click_body("alerter_ack", "U0OPS")
    answer = await click(api, body, {**signed(body), "Host": "attacker.example"})
    assert answer.status_code == 200 and answer.json() == {"status": "acknowledged"}
    ack, audit, story, _ = await recorded(redis_url)
    assert ack is not None and ack.by == "slack:U0OPS"
    assert [(e.who, e.action) for e in audit] == [("slack:U0OPS", "ack")]
    assert story == ["acknowledged"]
    [update] = slack_api.of("chat.update")
    assert update["channel"] == CHANNEL and update["ts"] == "1700000001.000100"
    assert "Acknowledged by ann (U0OPS)" in json.dumps(update["attachments"])


async def test_a_group_members_silence_is_made_by_slack_user_for_the_groups_labels(
    api: ApiServer, slack_api: SlackApiStandIn, redis_url: str
) -> None:
    body = click_body("alerter_silence", "U0GRP", name="<!channel>")
    answer = await click(api, body, signed(body))
    assert answer.json() == {"status": "silenced"}
    _, audit, _, silences = await recorded(redis_url)
    [silence] = silences
    assert silence.created_by == "slack:U0GRP" and silence.rule == "transfer-failed"
    assert [str(m) for m in silence.matchers] == ["agent_id=ag-1"]
    assert 3590 < silence.ends - silence.starts <= 3600
    assert [e.action for e in audit] == ["silence.create"]
    [update] = slack_api.of("chat.update")
    shown = json.dumps(update)
    assert "Silenced for 1h" in shown and "<!channel>" not in shown
    assert "alerter_ack" not in shown, "a silenced message keeps no buttons"


async def test_a_non_operator_is_told_privately_and_nothing_changes(
    api: ApiServer, slack_api: SlackApiStandIn, redis_url: str
) -> None:
    body = click_body("alerter_ack", "U0EVE", slack_api.response_url())
    answer = await click(api, body, signed(body))
    assert answer.json() == {"status": "refused"}
    [said] = slack_api.of("/respond/hook")
    assert said["response_type"] == "ephemeral" and "not among the operators" in said["text"]
    body = click_body("alerter_silence", "U0EVE")  # no response_url: chat.postEphemeral
    await click(api, body, signed(body))
    [ephemeral] = slack_api.of("chat.postEphemeral")
    assert ephemeral["user"] == "U0EVE" and ephemeral["channel"] == CHANNEL
    assert await recorded(redis_url) == (None, [], [], [])
    assert slack_api.of("chat.update") == []


@pytest.mark.parametrize(
    "why",
    [
        "unsigned",
        "stale",
        "future",
        "wrong secret",
        "body changed",
        "bad timestamp",
        "tail changed",
        "cut short",
    ],
)
async def test_clicks_not_signed_by_slack_are_refused_with_401(
    api: ApiServer, slack_api: SlackApiStandIn, redis_url: str, why: str
) -> None:
    body = click_body("alerter_ack", "U0OPS")
    real = signed(body)
    headers = {
        "unsigned": {"Content-Type": "application/x-www-form-urlencoded"},
        "stale": signed(body, time.time() - 310),
        "future": signed(body, time.time() + 310),
        "wrong secret": signed(body, secret="another-secret"),
        "body changed": signed(body + b"&x=1"),
        "bad timestamp": {**signed(body), "X-Slack-Request-Timestamp": "soon"},
        "tail changed": {**real, "X-Slack-Signature": real["X-Slack-Signature"][:-6] + "000000"},
        "cut short": {**real, "X-Slack-Signature": real["X-Slack-Signature"][:20]},
    }[why]
    answer = await click(api, body, headers)
    assert answer.status_code == 401
    assert answer.json()["status"] == "error" and answer.json()["error_code"] == "INVALID_SIGNATURE"
    assert await recorded(redis_url) == (None, [], [], [])
    assert slack_api.calls == []


async def test_a_click_within_the_tolerance_is_accepted(
    api: ApiServer, slack_api: SlackApiStandIn
) -> None:
    body = click_body("alerter_ack", "U0OPS")
    answer = await click(api, body, signed(body, time.time() - 290))
    assert answer.status_code == 200


async def test_a_clicks_age_and_its_acknowledgement_are_on_the_apis_clock(
    tmp_path: Path, slack_api: SlackApiStandIn, api_for: Callable[..., ApiServer], redis_url: str
) -> None:
    """Signed at a time far from the wall clock's, yet within five minutes of the api's: the
    api's own clock tells a replay, and stamps what the click did."""
    clock = DrivenClock(1_700_000_000.0)
    api = api_for(
        rules_from(tmp_path, RULES),
        clock=clock,
        ALERTER_SLACK_API_URL=slack_api.api_url,
        ALERTER_SLACK_SIGNING_SECRET=SECRET,
        ALERTER_SLACK_OPERATORS="U0OPS",
    )
    body = click_body("alerter_ack", "U0OPS")
    headers = signed(body, clock.now)
    clock.advance(301)
    assert (await click(api, body, headers)).status_code == 401  # stale by the api's clock
    clock.advance(-2)
    assert (await click(api, body, headers)).status_code == 200
    ack, audit, _, _ = await recorded(redis_url)
    assert ack is not None and ack.at == clock.now
    assert [e.at for e in audit] == [clock.now]


async def test_without_a_signing_secret_every_click_is_refused(
    tmp_path: Path, slack_api: SlackApiStandIn, api_for: Callable[..., ApiServer]
) -> None:
    api = api_for(
        rules_from(tmp_path, RULES),
        ALERTER_SLACK_API_URL=slack_api.api_url,
        ALERTER_SLACK_OPERATORS="U0OPS",
    )
    body = click_body("alerter_ack", "U0OPS")
    answer = await click(api, body, signed(body))
    assert answer.status_code == 401 and "ALERTER_SLACK_SIGNING_SECRET" in answer.text
