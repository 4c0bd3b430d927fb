"""End to end on real servers: webhook → api → Redis → arq worker → Diga stand-in → rules →
Slack receiver / SMTP server."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import redis.asyncio as aioredis

from alerter.rules.model import RuleSet
from alerter.store import keys
from alerter.store.state import FailedCall, State
from tests.conftest import (
    SLACK_URL,
    ApiServer,
    SmtpSink,
    make_settings,
    rules_from,
    run_worker_until_idle,
)
from tests.kit.webhook import post_webhook
from tests.standins import DigaStandIn, Fault, Receiver, make_log, make_logs

RULES = """
destinations:
  slack-ops: ${SLACK_URL}
  oncall-mail: ${MAIL_URL}
rules:
  - name: transfer-failed
    description: A transfer to a human failed
    severity: critical
    match:
      category: [TRANSFER]
      event: ["transfer_*"]
    notify: [slack-ops]
  - name: tool-errors
    match:
      category: [CALL_TOOLS]
    min_matches: 3
    notify: [slack-ops]
  - name: critical-mail
    severity: critical
    match:
      level: [CRITICAL]
    notify: [oncall-mail, slack-ops]
"""

AGENT = "agent-7"  # the agent of every call posted here


@pytest.fixture
def rules(tmp_path: Path, smtp: tuple[SmtpSink, int]) -> RuleSet:
    _, port = smtp
    env = {
        "SLACK_URL": SLACK_URL,
        "MAIL_URL": f"mailto://alerts@127.0.0.1:{port}?to=oncall@example.com&from=alerter@example.com",
    }
    return rules_from(tmp_path, RULES, env)


@pytest.fixture
def api(diga: DigaStandIn, redis_url: str, rules: RuleSet) -> Iterator[ApiServer]:
    server = ApiServer(make_settings(diga.url), redis_url, rules)
    server.start()
    yield server
    server.stop()


async def process(diga: DigaStandIn, rules: RuleSet, redis_url: str) -> None:
    await run_worker_until_idle(make_settings(diga.url), rules, redis_url)


async def failure_of(redis_url: str, call_id: str) -> FailedCall | None:
    async with redis.asyncio.Redis.from_url(redis_url) as client:
        return await State(client).failure(call_id)


async def outcomes_of(redis_url: str, call_id: str) -> list[str]:
    async with redis.asyncio.Redis.from_url(redis_url) as client:
        return [row.outcome for row in await State(client).history(call_id)]


def texts(payload: dict[str, Any]) -> str:
    """Every text a Slack message shows, joined (blocks inside the attachment)."""
    return json.dumps(payload, ensure_ascii=False)


async def test_one_matching_log_gives_one_slack_alert(
    api: ApiServer, diga: DigaStandIn, slack: Receiver, rules: RuleSet, redis_url: str
) -> None:
    call_id = str(uuid.uuid4())
    diga.add_call(
        call_id,
        [
            make_log(call_id, level="INFO", category="CALL_LIFECYCLE", event="call_started"),
            make_log(call_id, data={"failure_reason": "no agent answered"}, trace_id="tr-42"),
        ],
    )
    answer = await post_webhook(api.url, call_id, agent_id=AGENT, end_reason="error")
    assert answer.status_code == 202
    assert answer.json() == {"status": "queued", "call_id": call_id}

    await process(diga, rules, redis_url)

    [message] = slack.wait_for(1)
    shown = texts(message)
    assert "transfer-failed" in shown
    assert call_id in shown
    assert "no agent answered" in shown
    assert "tr-42" in shown
    assert "agent-7" in shown and "end_reason" in shown
    blocks = message["attachments"][0]["blocks"]
    assert blocks[0]["type"] == "header"
    # Two queries (ERROR, CRITICAL), one page each, exactly as the API asks.
    queries = [r["query"] for r in diga.requests_for(call_id)]
    assert sorted(q["level"][0] for q in queries) == ["CRITICAL", "ERROR"]
    assert all(q["order"] == ["asc"] and q["limit"] == ["1000"] for q in queries)


async def test_no_matching_log_records_no_match(
    api: ApiServer, diga: DigaStandIn, slack: Receiver, rules: RuleSet, redis_url: str
) -> None:
    call_id = str(uuid.uuid4())
    diga.add_call(call_id, [make_log(call_id, category="USER", event="user_hung_up")])
    assert (await post_webhook(api.url, call_id, agent_id=AGENT)).status_code == 202
    await process(diga, rules, redis_url)
    assert slack.received == []
    assert await outcomes_of(redis_url, call_id) == ["no_match"]


@pytest.mark.parametrize(("tool_errors", "alerts"), [(2, 0), (3, 1)])
async def test_min_matches_threshold(
    api: ApiServer,
    diga: DigaStandIn,
    slack: Receiver,
    rules: RuleSet,
    redis_url: str,
    tool_errors: int,
    alerts: int,
) -> None:
    call_id = str(uuid.uuid4())
    diga.add_call(call_id, make_logs(call_id, tool_errors, category="CALL_TOOLS", event="tool_x"))
    await post_webhook(api.url, call_id, agent_id=AGENT)
    await process(diga, rules, redis_url)
    assert len(slack.received) == alerts
    if alerts:
        assert "tool-errors" in texts(slack.received[0]["json"])


async def test_2500_logs_fetch_every_page_with_few_requests(
    api: ApiServer, diga: DigaStandIn, slack: Receiver, rules: RuleSet, redis_url: str
) -> None:
    call_id = str(uuid.uuid4())
    logs = make_logs(call_id, 2500)
    logs.append(make_log(call_id, level="CRITICAL", category="AGENT", event="llm_down"))
    diga.add_call(call_id, logs)
    await post_webhook(api.url, call_id, agent_id=AGENT)
    await process(diga, rules, redis_url)

    bodies = slack.wait_for(2)
    by_rule = {("transfer-failed" in texts(b)): b for b in bodies}
    transfer = texts(by_rule[True])
    assert "2500" in transfer
    assert "and 2495 more matching logs" in transfer
    # ERROR: 3 pages of 1,000 (the API's maximum); CRITICAL: 1 page. Nothing more.
    requests = diga.requests_for(call_id)
    assert len(requests) == 4
    after = [r["query"].get("after") for r in requests if r["query"]["level"] == ["ERROR"]]
    assert after.count(None) == 1 and len(after) == 3


async def test_five_concurrent_redeliveries_give_one_alert(
    api: ApiServer, diga: DigaStandIn, slack: Receiver, rules: RuleSet, redis_url: str
) -> None:
    call_id = str(uuid.uuid4())
    diga.add_call(call_id, [make_log(call_id)])
    answers = await asyncio.gather(
        *(post_webhook(api.url, call_id, agent_id=AGENT) for _ in range(5))
    )
    statuses = sorted(a.json()["status"] for a in answers)
    assert statuses == ["duplicate"] * 4 + ["queued"]
    assert {a.status_code for a in answers if a.json()["status"] == "duplicate"} == {200}

    # Two workers at once on the same queue.
    settings = make_settings(diga.url)
    await asyncio.gather(
        run_worker_until_idle(settings, rules, redis_url),
        run_worker_until_idle(settings, rules, redis_url),
    )
    # Redelivered after processing: still a duplicate while the result is kept.
    assert (await post_webhook(api.url, call_id, agent_id=AGENT)).json()["status"] == "duplicate"
    assert len(slack.wait_for(1)) == 1
    assert len(slack.received) == 1


async def test_rerun_of_a_finished_call_does_not_alert_twice(
    api: ApiServer, diga: DigaStandIn, slack: Receiver, rules: RuleSet, redis_url: str
) -> None:
    """After the 24 h duplicate window the job runs again; the send markers stop a repeat."""
    call_id = str(uuid.uuid4())
    diga.add_call(call_id, [make_log(call_id)])
    await post_webhook(api.url, call_id, agent_id=AGENT)
    await process(diga, rules, redis_url)
    async with redis.asyncio.Redis.from_url(redis_url) as client:
        await client.delete(keys.ARQ_RESULT + keys.call_job(call_id))  # the 24 h window has passed
    assert (await post_webhook(api.url, call_id, agent_id=AGENT)).status_code == 202
    await process(diga, rules, redis_url)
    assert len(diga.requests_for(call_id)) == 4  # it really ran twice
    assert len(slack.received) == 1


async def test_diga_5xx_then_success_still_alerts(
    api: ApiServer, diga: DigaStandIn, slack: Receiver, rules: RuleSet, redis_url: str
) -> None:
    call_id = str(uuid.uuid4())
    diga.add_call(call_id, [make_log(call_id)])
    diga.inject(
        Fault(503, {"status": "error", "error_code": "INTERNAL_SERVER_ERROR", "message": "x"}),
        Fault(500, {"status": "error", "error_code": "INTERNAL_SERVER_ERROR", "message": "y"}),
    )
    await post_webhook(api.url, call_id, agent_id=AGENT)
    await process(diga, rules, redis_url)
    assert len(slack.wait_for(1)) == 1
    assert len(diga.requests_for(call_id)) >= 4


async def test_429_retry_after_is_honoured(
    api: ApiServer, diga: DigaStandIn, slack: Receiver, rules: RuleSet, redis_url: str
) -> None:
    call_id = str(uuid.uuid4())
    diga.add_call(call_id, [make_log(call_id)])
    diga.inject(
        Fault(
            429,
            {"status": "error", "error_code": "RATE_LIMITED", "message": "slow"},
            headers={"Retry-After": "1"},
        )
    )
    await post_webhook(api.url, call_id, agent_id=AGENT)
    started = time.monotonic()
    await process(diga, rules, redis_url)
    assert len(slack.wait_for(1)) == 1
    # Backoff in this suite is ~0.05 s; only Retry-After explains a wait of a second.
    assert time.monotonic() - started >= 1.0


async def test_unknown_call_is_retried_then_recorded_unresolved(
    api: ApiServer, diga: DigaStandIn, slack: Receiver, rules: RuleSet, redis_url: str
) -> None:
    call_id = str(uuid.uuid4())  # never added to the stand-in: 404 CALL_NOT_FOUND
    await post_webhook(api.url, call_id, agent_id=AGENT)
    await process(diga, rules, redis_url)
    assert slack.received == []
    assert len(diga.requests_for(call_id)) == 4 * 2  # 4 tries, both levels each time
    failed = await failure_of(redis_url, call_id)
    assert failed is not None and failed.kind == "unresolved"
    assert "CALL_NOT_FOUND" in failed.reason
    # The minute of retries shows in the history, each try with its reason.
    async with aioredis.Redis.from_url(redis_url) as client:
        rows = await State(client).history(call_id)
    assert [r.outcome for r in rows] == ["failed", "retrying", "retrying", "retrying"]
    assert all("CALL_NOT_FOUND" in r.detail for r in rows[1:])


async def test_bad_credentials_are_not_retried(
    api: ApiServer, diga: DigaStandIn, slack: Receiver, rules: RuleSet, redis_url: str
) -> None:
    call_id = str(uuid.uuid4())
    diga.add_call(call_id, [make_log(call_id)])
    await post_webhook(api.url, call_id, agent_id=AGENT)
    settings = make_settings(diga.url, DIGA_API_KEY="wrong-key")
    await run_worker_until_idle(settings, rules, redis_url)
    # One try: its two levels are asked at once, and the first 401 may cancel the other
    # before it is sent; a retry would ask again (three or more).
    assert 1 <= len(diga.requests_for(call_id)) <= 2
    failed = await failure_of(redis_url, call_id)
    assert failed is not None and failed.kind == "diga_auth"
    assert "wrong-key" not in failed.reason


async def test_log_text_cannot_mention_the_channel(
    api: ApiServer, diga: DigaStandIn, slack: Receiver, rules: RuleSet, redis_url: str
) -> None:
    call_id = str(uuid.uuid4())
    hostile = "<!channel> <!here> <@U024BE7LH> & <https://evil.example|click> ```"
    diga.add_call(call_id, [make_log(call_id, data={"message_text": hostile})])
    await post_webhook(api.url, call_id, agent_id=AGENT)
    await process(diga, rules, redis_url)
    [message] = slack.wait_for(1)
    for block in message["attachments"][0]["blocks"]:
        for text in _block_texts(block):
            assert "<!" not in text and "<@" not in text and "<http" not in text
            assert text.count("```") % 2 == 0
    assert "&lt;!channel&gt;" in texts(message)


def _block_texts(block: dict[str, Any]) -> list[str]:
    out = []
    if isinstance(block.get("text"), dict):
        out.append(block["text"]["text"])
    for item in block.get("fields", []) + block.get("elements", []):
        out.append(item.get("text", ""))
    return out


async def test_critical_log_goes_to_email_and_slack_once_each(
    api: ApiServer,
    diga: DigaStandIn,
    slack: Receiver,
    smtp: tuple[SmtpSink, int],
    rules: RuleSet,
    redis_url: str,
) -> None:
    sink, _ = smtp
    call_id = str(uuid.uuid4())
    diga.add_call(
        call_id,
        [
            make_log(
                call_id,
                level="CRITICAL",
                category="AGENT",
                event="llm_timeout",
                data={"message_text": "model <b>timed out</b> & gave up"},
            )
        ],
    )
    await post_webhook(api.url, call_id, agent_id=AGENT)
    await process(diga, rules, redis_url)
    [mail] = sink.wait_for(1)
    assert "critical-mail" in mail["Subject"]
    parts = {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in mail.walk()
        if not part.is_multipart()
    }
    assert set(parts) == {"text/plain", "text/html"}
    assert "&lt;b&gt;timed out&lt;/b&gt; &amp; gave up" in parts["text/html"]
    assert call_id in parts["text/plain"]
    # Our own plain text, line by line, not apprise's conversion of the HTML.
    plain = parts["text/plain"].splitlines()
    assert plain[0] == "Rule: critical-mail (critical)" and f"Call: {call_id}" in plain
    assert "    model <b>timed out</b> & gave up" in plain
    html = parts["text/html"]
    assert html.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in html
    assert "overflow-wrap:anywhere" in html
    assert len(slack.wait_for(1)) == 1


async def test_failing_destination_is_retried_without_resending_the_others(
    api: ApiServer,
    diga: DigaStandIn,
    slack: Receiver,
    smtp: tuple[SmtpSink, int],
    rules: RuleSet,
    redis_url: str,
) -> None:
    sink, _ = smtp
    call_id = str(uuid.uuid4())
    diga.add_call(call_id, [make_log(call_id, level="CRITICAL", category="AGENT", event="x")])
    slack.inject(Fault(500), Fault(500))
    await post_webhook(api.url, call_id, agent_id=AGENT)
    await process(diga, rules, redis_url)
    # The worker has finished: every send it made has been received.
    assert len(slack.received) == 1
    assert len(sink.messages) == 1  # e-mail accepted on the first try, never resent


async def test_destination_that_keeps_failing_is_recorded_and_retryable(
    api: ApiServer, diga: DigaStandIn, slack: Receiver, rules: RuleSet, redis_url: str
) -> None:
    from alerter.store.ops import retry_failed

    call_id = str(uuid.uuid4())
    diga.add_call(call_id, [make_log(call_id)])
    slack.inject(*[Fault(500)] * 8)
    await post_webhook(api.url, call_id, agent_id=AGENT)
    await process(diga, rules, redis_url)
    assert slack.received == []
    failed = await failure_of(redis_url, call_id)
    assert failed is not None and failed.kind == "delivery"

    queued, missing = await retry_failed(redis_url, call_id)
    assert (queued, missing) == ([call_id], [])
    await process(diga, rules, redis_url)
    assert len(slack.wait_for(1)) == 1
    assert await failure_of(redis_url, call_id) is None


async def test_smtp_refusing_then_accepting_sends_one_email(
    api: ApiServer,
    diga: DigaStandIn,
    slack: Receiver,
    smtp: tuple[SmtpSink, int],
    rules: RuleSet,
    redis_url: str,
) -> None:
    sink, _ = smtp
    sink.refuse = 2
    call_id = str(uuid.uuid4())
    diga.add_call(call_id, [make_log(call_id, level="CRITICAL", category="AGENT", event="x")])
    await post_webhook(api.url, call_id, agent_id=AGENT)
    await process(diga, rules, redis_url)
    assert len(sink.wait_for(1)) == 1
    assert len(slack.received) == 1  # Slack accepted at once and was not resent
    outcomes = await outcomes_of(redis_url, call_id)
    assert outcomes.count("retrying") == 2 and outcomes.count("sent") == 2


async def test_diga_down_for_good_is_recorded_as_failed(
    api: ApiServer, diga: DigaStandIn, slack: Receiver, rules: RuleSet, redis_url: str
) -> None:
    call_id = str(uuid.uuid4())
    diga.add_call(call_id, [make_log(call_id)])
    diga.inject(*[Fault(503, raw=b"upstream down")] * 40)
    await post_webhook(api.url, call_id, agent_id=AGENT)
    await process(diga, rules, redis_url)
    assert slack.received == []
    failed = await failure_of(redis_url, call_id)
    assert failed is not None and failed.kind == "diga_unavailable" and failed.attempts == 8
    assert "503" in failed.reason


async def test_context_lines_before_the_first_failure(
    tmp_path: Path, redis_url: str, diga: DigaStandIn, slack: Receiver
) -> None:
    rules = rules_from(
        tmp_path,
        "destinations: {slack-ops: '${SLACK_URL}'}\nrules:\n"
        "  - {name: t, match: {category: TRANSFER}, context: 2, notify: [slack-ops]}\n",
        {"SLACK_URL": SLACK_URL},
    )
    api = ApiServer(make_settings(diga.url), redis_url, rules)
    api.start()
    try:
        call_id = str(uuid.uuid4())
        logs = make_logs(call_id, 4, level="WARNING", data={"message_text": "agent slow to answer"})
        logs[0]["data"] = {"message_text": "queue almost full"}
        logs += make_logs(call_id, 1)
        logs[-1]["timestamp"] = "2026-11-25T12:00:01+00:00"
        diga.add_call(call_id, logs)
        await post_webhook(api.url, call_id, agent_id=AGENT)
        await process(diga, rules, redis_url)
    finally:
        api.stop()
    [message] = slack.wait_for(1)
    shown = texts(message)
    assert shown.count("before the failure") == 1 and "agent slow to answer" in shown
    assert "× 2" in shown and "queue almost full" not in shown  # the last 2 only
    warning = [r["query"] for r in diga.requests_for(call_id) if r["query"]["level"] == ["WARNING"]]
    assert warning and warning[0]["category"] == ["TRANSFER"]


INHIBITION_RULES = """
destinations:
  hook: ${HOOK_URL}
rules:
  - name: agent-down
    match: {category: AGENT}
    notify: [hook]
  - name: transfer-failed
    match: {category: TRANSFER}
    inhibited_by: [agent-down]
    notify: [hook]
"""


async def test_a_rule_is_inhibited_on_a_call_where_its_inhibitor_fired(
    diga: DigaStandIn, hook: Receiver, tmp_path: Path, redis_url: str
) -> None:
    hook_url = hook.url.replace("http", "json", 1)
    rules = rules_from(tmp_path, INHIBITION_RULES, {"HOOK_URL": hook_url})
    api = ApiServer(make_settings(diga.url), redis_url, rules)
    api.start()
    try:
        both, transfer_only = str(uuid.uuid4()), str(uuid.uuid4())
        diga.add_call(
            both,
            [make_log(both), make_log(both, category="AGENT", event="agent_crashed")],
        )
        diga.add_call(transfer_only, [make_log(transfer_only)])
        for call_id in (both, transfer_only):
            assert (await post_webhook(api.url, call_id, agent_id=AGENT)).status_code == 202
        await run_worker_until_idle(make_settings(diga.url), rules, redis_url)
    finally:
        api.stop()
    titles = sorted(json.dumps(body) for body in hook.wait_for(2))
    assert len(titles) == 2 and sum("agent-down" in t for t in titles) == 1
    async with aioredis.Redis.from_url(redis_url) as client:
        rows = await State(client).history(both)
    decided = {(row.rule, row.outcome) for row in rows if row.rule}
    assert decided == {("agent-down", "sent"), ("transfer-failed", "inhibited")}
    detail = next(r.detail for r in rows if r.outcome == "inhibited")
    assert detail == "inhibited by agent-down, which fired on this call"
    # Without its cause, the symptom alerts as usual.
    assert await outcomes_of(redis_url, transfer_only) == ["sent"]


async def test_a_templated_title_summary_and_link_reach_the_destination(
    diga: DigaStandIn, hook: Receiver, tmp_path: Path, redis_url: str
) -> None:
    text = """
destinations:
  hook: ${HOOK_URL}
rules:
  - name: transfer-failed
    match: {category: TRANSFER}
    title: "Transfer failed for {{ call.agent_id }}"
    summary: "{{ count }} transfer errors; last: {{ log.text }}"
    links:
      - {text: Open the call, url: "https://calls.example.com/{{ call.id }}"}
    notify: [hook]
"""
    rules = rules_from(tmp_path, text, {"HOOK_URL": hook.url.replace("http", "json", 1)})
    api = ApiServer(make_settings(diga.url), redis_url, rules)
    api.start()
    try:
        call_id = str(uuid.uuid4())
        diga.add_call(call_id, [make_log(call_id)])
        assert (await post_webhook(api.url, call_id, agent_id="sales-es")).status_code == 202
        public = make_settings(diga.url, ALERTER_PUBLIC_URL="https://alerter.example.com")
        await run_worker_until_idle(public, rules, redis_url)
    finally:
        api.stop()
    (body,) = hook.wait_for(1)
    # The rule's link, then the console's two (ALERTER_PUBLIC_URL is set).
    assert f"Open in alerter: https://alerter.example.com/ui/calls/{call_id}" in body["message"]
    assert (
        "/ui/silences/new?rule=transfer-failed&matchers=event%3Dtransfer_failed" in body["message"]
    )
    assert "Transfer failed for sales-es" in body["title"]
    assert "1 transfer errors; last: transfer to +34 600 failed" in body["message"]
    assert f"Open the call: https://calls.example.com/{call_id}" in body["message"]


TWO_HOOKS = """
destinations:
  up: ${UP_URL}
  down: ${DOWN_URL}
rules:
  - name: transfer-failed
    match: {category: TRANSFER}
    notify: [up, down]
"""


async def test_a_destination_down_for_every_try_costs_diga_nothing_and_says_why(
    diga: DigaStandIn, hook: Receiver, tmp_path: Path, redis_url: str
) -> None:
    """503 with a body for all 8 tries: the call is fetched and decided once, the give-up is
    one failure naming the destination, host and answer, and Retry sends only to it."""
    from alerter.rules.reload import RulesHolder
    from alerter.store.calls import CallRecords
    from alerter.store.ops import retry_failed
    from tests.conftest import metric_samples

    down = Receiver()
    down.start()
    try:
        rules = rules_from(
            tmp_path,
            TWO_HOOKS,
            {
                "UP_URL": hook.url.replace("http", "json", 1) + "/up",
                "DOWN_URL": down.url.replace("http", "json", 1) + "/down",
            },
        )
        body = {"error": "maintenance: queue full " + "z" * 400}
        down.inject(*[Fault(503, body)] * 8)  # a ninth try would be accepted
        api = ApiServer(make_settings(diga.url), redis_url, rules)
        api.start()
        try:
            call_id = str(uuid.uuid4())
            diga.add_call(call_id, [make_log(call_id)])
            assert (await post_webhook(api.url, call_id, agent_id=AGENT)).status_code == 202
            holder = RulesHolder.of(rules)  # the worker's metrics, read below
            await run_worker_until_idle(make_settings(diga.url), holder, redis_url)  # type: ignore[arg-type]

            assert len(diga.requests_for(call_id)) == 2  # once per level, not once per try
            assert len(hook.received) == 1 and down.received == [] and down.faults == []
            async with httpx.AsyncClient(base_url=api.url) as client:
                story = (await client.get(f"/api/v1/calls/{call_id}")).json()
            host = down.url.removeprefix("http://")
            why = f'down ({host}): HTTP 503 {{"error": "maintenance: queue full zzz'
            [rule] = story["rules"]
            assert rule["outcome"] == "failed" and rule["reason"].startswith(why)
            assert "z" * 200 not in rule["reason"]  # the answer's first 200 characters
            [failed_send] = story["failed"]["sends"]
            assert failed_send["destination"] == "down" and failed_send["reason"].startswith(why)
            async with aioredis.Redis.from_url(redis_url) as client:
                counts = await CallRecords(client).counts(time.time() - 3600, time.time())
            assert counts["transfer-failed"] == {"matched": 1, "sent": 1, "failed": 1}
            alerts = {
                (dict(labels)["destination"], dict(labels)["outcome"]): value
                for (name, labels), value in metric_samples(
                    holder.metrics.render().decode()
                ).items()
                if name == "alerter_alerts_total"
            }
            assert alerts == {("up", "sent"): 1, ("down", "failed"): 1}  # a give-up, once

            assert await retry_failed(redis_url, call_id) == ([call_id], [])
            await process(diga, rules, redis_url)
            assert len(down.wait_for(1)) == 1 and len(hook.received) == 1  # only what failed
            assert len(diga.requests_for(call_id)) == 2
            assert await failure_of(redis_url, call_id) is None
        finally:
            api.stop()
    finally:
        down.stop()


INHIBITED_WINDOWS = """
destinations:
  hook: ${HOOK_URL}
rules:
  - name: agent-down
    match: {category: AGENT}
    notify: [hook]
  - name: transfer-burst
    match: {category: TRANSFER}
    inhibited_by: [agent-down]
    when: {count: 2, within: 10m}
    notify: [hook]
  - name: transfer-rate
    match: {category: TRANSFER}
    inhibited_by: [agent-down]
    when: {rate: 0.75, within: 10m, min_calls: 2}
    notify: [hook]
"""


async def test_an_inhibited_call_counts_in_no_frequency_or_rate_window(
    diga: DigaStandIn, hook: Receiver, tmp_path: Path, redis_url: str
) -> None:
    rules = rules_from(
        tmp_path, INHIBITED_WINDOWS, {"HOOK_URL": hook.url.replace("http", "json", 1)}
    )
    api = ApiServer(make_settings(diga.url), redis_url, rules)
    api.start()
    try:
        both, transfer_only = str(uuid.uuid4()), str(uuid.uuid4())
        diga.add_call(both, [make_log(both), make_log(both, category="AGENT", event="down")])
        diga.add_call(transfer_only, [make_log(transfer_only)])
        for call_id in (both, transfer_only):  # one after the other: the windows see both
            assert (await post_webhook(api.url, call_id, agent_id=AGENT)).status_code == 202
            await process(diga, rules, redis_url)
    finally:
        api.stop()
    assert ["agent-down" in json.dumps(b) for b in hook.wait_for(1)] == [True]
    async with aioredis.Redis.from_url(redis_url) as client:
        rows = await State(client).history(transfer_only)
    # Counted, the inhibited call would make 2 of 2 (count 2, rate 100 %): both would fire.
    assert sorted((r.rule, r.outcome) for r in rows) == [
        ("transfer-burst", "below_threshold"),
        ("transfer-rate", "below_threshold"),
    ]
    assert len(hook.received) == 1


STORY_RULES = """
destinations:
  hook: ${HOOK_URL}
rules:
  - name: quiet-burst
    match: {category: TRANSFER}
    when: {count: 5, within: 1h}
    notify: [hook]
  - name: trial
    mode: shadow
    match: {category: TRANSFER}
    notify: [hook]
  - name: symptom
    match: {category: TRANSFER}
    inhibited_by: [quiet-burst]
    notify: [hook]
  - name: pager
    match: {category: TRANSFER}
    notify: [hook]
"""


async def test_a_calls_story_tells_its_decisions_in_rule_order_then_its_sends(
    diga: DigaStandIn, hook: Receiver, tmp_path: Path, redis_url: str
) -> None:
    rules = rules_from(tmp_path, STORY_RULES, {"HOOK_URL": hook.url.replace("http", "json", 1)})
    api = ApiServer(make_settings(diga.url), redis_url, rules)
    api.start()
    try:
        call_id = str(uuid.uuid4())
        diga.add_call(call_id, [make_log(call_id)])
        assert (await post_webhook(api.url, call_id, agent_id=AGENT)).status_code == 202
        await process(diga, rules, redis_url)
    finally:
        api.stop()
    hook.wait_for(1)
    async with aioredis.Redis.from_url(redis_url) as client:
        rows = list(reversed(await State(client).history(call_id)))
    assert [(r.rule, r.outcome, r.destination, r.detail) for r in rows] == [
        ("quiet-burst", "below_threshold", "", "1 of 5 calls within 1h"),
        ("trial", "shadow", "hook", "would have sent: 1 matching logs"),
        ("symptom", "inhibited", "", "inhibited by quiet-burst, which fired on this call"),
        ("pager", "sent", "hook", "1 matching logs"),
    ]
    assert len(hook.received) == 1
