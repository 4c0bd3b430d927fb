"""Noise control on real servers: Redis, the arq worker, the api, Diga and Slack stand-ins."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis

from alerter.cli import main
from alerter.rules.load import load_rules
from alerter.store import keys
from alerter.store.ops import add_silence
from alerter.store.state import State
from tests.conftest import (
    DIGA_KEY,
    child_env,
    make_settings,
    run_worker_until_idle,
    write_rules,
)
from tests.kit.build import noise_rules, rule_yaml
from tests.kit.clock import DrivenClock
from tests.kit.poll import wait_until
from tests.kit.webhook import AGENTS, send_calls
from tests.standins import DigaStandIn, Receiver


def digest_summaries(bodies: list[Any]) -> list[tuple[str, int]]:
    """(group, calls) of each digest message, from Slack payloads or apprise JSON bodies."""
    out = []
    for body in bodies:
        text = json.dumps(body, ensure_ascii=False)
        group = next(agent for agent in AGENTS if agent in text)
        if "blocks" in json.dumps(body.get("attachments") or []):
            fields = body["attachments"][0]["blocks"][1]["fields"]
            calls = int(fields[0]["text"].split("\n")[1])
        else:
            calls = int(body["title"].split(": ")[1].split(" call")[0])
        out.append((group, calls))
    return sorted(out)


async def test_burst_of_200_calls_grouped_by_agent_gives_3_digests(
    tmp_path: Path, api_for: Any, diga: DigaStandIn, slack: Receiver, redis_url: str
) -> None:
    rules = noise_rules(tmp_path, "group_by: [agent_id]\ngroup_wait: 2s")
    api = api_for(rules)
    await send_calls(api, diga, 200)
    await run_worker_until_idle(make_settings(diga.url), rules, redis_url)
    bodies = slack.wait_for(3)
    assert digest_summaries(bodies) == [("ag-east", 66), ("ag-north", 67), ("ag-south", 67)]
    shown = json.dumps(bodies[0], ensure_ascii=False)
    assert "more calls" in shown and "busy-0" in shown and "transfer_failed" in shown
    for body in bodies:
        assert len(body["attachments"][0]["blocks"]) <= 50
    assert len(slack.received) == 3


async def test_three_worker_processes_send_what_one_worker_sends(
    tmp_path: Path, api_for: Any, diga: DigaStandIn, hook: Receiver, redis_url: str
) -> None:
    target = hook.url.replace("http", "json", 1) + "/alerts"
    folder = write_rules(tmp_path, rule_yaml("group_by: [agent_id]\ngroup_wait: 3s", target))
    rules = load_rules(folder, {})
    api = api_for(rules)
    await send_calls(api, diga, 200)
    env = {
        **child_env(),
        "REDIS_URL": redis_url,
        "DIGA_API_URL": diga.url,
        "DIGA_API_KEY": DIGA_KEY,
        "ALERTER_RULES": str(folder),
    }
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "alerter.cli", "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(3)
    ]
    try:
        bodies = await asyncio.to_thread(hook.wait_for, 3, 60)
        # A wrong fourth message could only come from a job still queued or running.
        assert await asyncio.to_thread(wait_until, lambda: queue_idle(redis_url), 30)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(30)
    assert digest_summaries(hook.bodies()) == [("ag-east", 66), ("ag-north", 67), ("ag-south", 67)]
    assert len(bodies) == 3


def queue_idle(redis_url: str) -> bool:
    """No call or digest job queued or running (the episode tick, a cron job, always is)."""
    with redis.Redis.from_url(redis_url) as client:
        queued = [m for m in client.zrange(keys.ARQ_QUEUE, 0, -1) if not m.startswith(b"episode_")]
        running = [k for k in client.keys(keys.ARQ_IN_PROGRESS + "*") if b":episode_" not in k]
        return not queued and not running


async def test_throttle_counts_suppressed_calls_exactly(
    tmp_path: Path, api_for: Any, diga: DigaStandIn, slack: Receiver, redis_url: str
) -> None:
    rules = noise_rules(tmp_path, "group_by: [agent_id]\nrepeat_interval: 30m")
    clock = DrivenClock()
    api = api_for(rules, clock=clock)  # the calls end on the worker's clock
    settings = make_settings(diga.url)
    await send_calls(api, diga, 1, agent="ag-north")
    await run_worker_until_idle(settings, rules, redis_url, clock)
    first_sent = time.strftime("%H:%M", time.gmtime(clock.now))
    await send_calls(api, diga, 37, agent="ag-north")
    await send_calls(api, diga, 2, agent="ag-south")  # another group: its own throttle
    await run_worker_until_idle(settings, rules, redis_url, clock)
    assert len(slack.wait_for(2)) == 2
    clock.now += 30 * 60
    await send_calls(api, diga, 1, agent="ag-north")
    await run_worker_until_idle(settings, rules, redis_url, clock)
    bodies = slack.wait_for(3)
    assert len(bodies) == 3
    assert f"and 37 more calls since {first_sent} UTC" in json.dumps(bodies[-1], ensure_ascii=False)
    async with redis.asyncio.Redis.from_url(redis_url) as client:
        history = await State(client).history(rule="transfer-failed", count=1000)
    assert sum(1 for row in history if row.outcome == "throttled") == 37 + 1


async def test_frequency_rule_fires_at_the_20th_call_not_the_19th(
    tmp_path: Path, api_for: Any, diga: DigaStandIn, slack: Receiver, redis_url: str
) -> None:
    rules = noise_rules(tmp_path, "group_by: [agent_id]\nwhen: {count: 20, within: 10m}")
    api = api_for(rules)
    settings = make_settings(diga.url)
    await send_calls(api, diga, 19, agent="ag-north")
    await run_worker_until_idle(settings, rules, redis_url)
    assert slack.received == []
    await send_calls(api, diga, 1, agent="ag-north")
    await run_worker_until_idle(settings, rules, redis_url)
    [message] = slack.wait_for(1)
    shown = json.dumps(message, ensure_ascii=False)
    # Titled by the group, not by the call that tipped it, with the window's breakdown.
    assert message["attachments"][0]["fallback"] == (
        "[CRITICAL] transfer-failed: 20 calls within 10m (agent_id=ag-north)"
    )
    assert "Events: transfer_failed ×20" in shown
    assert "Failure reasons: busy-0 ×11, busy-1 ×9" in shown  # 19 calls, then one more
    assert "Calls: " in shown and " and 15 more" in shown
    await send_calls(api, diga, 5, agent="ag-north")  # same window: no second alert
    await run_worker_until_idle(settings, rules, redis_url)
    assert len(slack.received) == 1


@pytest.mark.parametrize(("failing", "fires"), [(5, False), (6, True)])
async def test_failure_rate_just_under_and_just_over(
    tmp_path: Path,
    api_for: Any,
    diga: DigaStandIn,
    slack: Receiver,
    redis_url: str,
    failing: int,
    fires: bool,
) -> None:
    rules = noise_rules(
        tmp_path, "group_by: [agent_id]\nwhen: {rate: 0.15, within: 15m, min_calls: 40}"
    )
    api = api_for(rules)
    # 40 ended calls of one agent: 5 failing is 12.5 %, 6 failing is exactly 15 %.
    await send_calls(api, diga, 40 - failing, failing=False, agent="ag-north")
    await send_calls(api, diga, failing, agent="ag-north")
    await run_worker_until_idle(make_settings(diga.url), rules, redis_url)
    assert len(slack.received) == (1 if fires else 0)
    if fires:
        message = slack.received[0]["json"]
        title = message["attachments"][0]["fallback"]
        assert (
            title
            == "[CRITICAL] transfer-failed: 6 of 40 ended calls (15%) within 15m (agent_id=ag-north)"
        )
        assert "Failure reasons: busy-0 ×3, busy-1 ×3" in json.dumps(message, ensure_ascii=False)


async def test_silence_stops_sends_and_expires_on_time(
    tmp_path: Path,
    api_for: Any,
    diga: DigaStandIn,
    slack: Receiver,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rules = noise_rules(tmp_path, "")
    clock = DrivenClock()
    api = api_for(rules, clock=clock)
    settings = make_settings(diga.url)
    monkeypatch.setenv("REDIS_URL", redis_url)
    # Stamped with the injected clock (the CLI's `silence add` stamps with the real one).
    silence = await add_silence(
        redis_url,
        "transfer-failed",
        {"agent_id": "ag-north"},
        clock.now,
        clock.now + 7200,
        "deploy of ag-north, by ana",
    )
    silence_id = silence.id
    await send_calls(api, diga, 3, agent="ag-north")
    await send_calls(api, diga, 1, agent="ag-south")  # not matched by the silence
    await run_worker_until_idle(settings, rules, redis_url, clock)
    assert len(slack.wait_for(1)) == 1 and "ag-south" in json.dumps(slack.received[0]["json"])
    assert await asyncio.to_thread(main, ["silence", "list"]) == 0
    assert f"{silence_id}  active" in (listing := capsys.readouterr().out)
    assert "silenced=3" in listing

    clock.now += 2 * 3600 - 1  # one second before the end: still silenced
    await send_calls(api, diga, 1, agent="ag-north")
    await run_worker_until_idle(settings, rules, redis_url, clock)
    assert len(slack.received) == 1
    clock.now += 1  # the silence has ended
    await send_calls(api, diga, 1, agent="ag-north")
    await run_worker_until_idle(settings, rules, redis_url, clock)
    assert len(slack.wait_for(2)) == 2
    assert await asyncio.to_thread(main, ["silence", "list", "--all"]) == 0
    assert "silenced=4" in capsys.readouterr().out


async def test_silence_expire_command_ends_it_now(
    tmp_path: Path,
    api_for: Any,
    diga: DigaStandIn,
    slack: Receiver,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rules = noise_rules(tmp_path, "")
    api = api_for(rules)
    monkeypatch.setenv("REDIS_URL", redis_url)
    await asyncio.to_thread(
        main, ["silence", "add", "--match", "agent_id=ag-north", "--for", "1h", "--comment", "x"]
    )
    silence_id = capsys.readouterr().out.split()[1]
    assert await asyncio.to_thread(main, ["silence", "expire", silence_id]) == 0
    await send_calls(api, diga, 1, agent="ag-north")
    await run_worker_until_idle(make_settings(diga.url), rules, redis_url)
    assert len(slack.wait_for(1)) == 1
    assert await asyncio.to_thread(main, ["silence", "expire", "nope"]) == 1


async def test_history_explains_every_decision(
    tmp_path: Path,
    api_for: Any,
    diga: DigaStandIn,
    slack: Receiver,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rules = noise_rules(tmp_path, "repeat_interval: 1h")
    api = api_for(rules)
    [sent] = await send_calls(api, diga, 1)
    await run_worker_until_idle(make_settings(diga.url), rules, redis_url)
    [throttled] = await send_calls(api, diga, 1)
    [quiet] = await send_calls(api, diga, 1, failing=False)
    await run_worker_until_idle(make_settings(diga.url), rules, redis_url)
    monkeypatch.setenv("REDIS_URL", redis_url)
    for call_id, outcome in ((sent, "sent"), (throttled, "throttled"), (quiet, "no_match")):
        assert await asyncio.to_thread(main, ["history", "--call-id", call_id]) == 0
        rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert [row["outcome"] for row in rows] == [outcome]
    assert await asyncio.to_thread(main, ["history", "--rule", "transfer-failed"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


async def test_a_group_alert_lists_the_calls_of_the_window_that_fired(redis_url: str) -> None:
    """Calls are decided out of order: the last one decided may be the earliest of the three,
    and the window that holds all three ends at the latest. The alert's breakdown lists the
    calls of that window, not only those up to the deciding call's own time."""
    from redis.asyncio import Redis

    from alerter.models import CallEnded, LogEntry
    from alerter.pipeline.decide import CallContext, NoiseStores, Outcome, decide
    from alerter.pipeline.evaluate import evaluate
    from alerter.rules.fired import fired_rules
    from alerter.rules.load import load_rules_text
    from alerter.store.episodes import Episodes
    from alerter.store.signature_counts import SignatureCounts
    from alerter.store.silences import Silences
    from alerter.store.windows import Windows

    rules = load_rules_text(
        "destinations: {d: 'json://127.0.0.1:9/x'}\n"
        "rules:\n  - {name: burst, match: {category: TRANSFER}, when: {count: 3, within: 1h},"
        " notify: [d]}\n"
    )
    client = Redis.from_url(redis_url)
    stores = NoiseStores(
        Windows(client), Silences(client), SignatureCounts(client), Episodes(client)
    )
    base = time.time() - 600
    decisions = []
    try:
        for i in (2, 1, 0):  # the newest call decided first
            log = LogEntry(
                id=f"l{i}",
                timestamp=datetime.fromtimestamp(base + i, UTC),
                level="ERROR",
                category="TRANSFER",
                event="transfer_failed",
                data={"failure_reason": f"reason-{i}"},
            )
            call = CallEnded(call_id=str(uuid.uuid4()))
            (fired,) = fired_rules(evaluate(rules, call, (log,)), call)
            decisions.append(await decide(stores, fired, CallContext(time.time(), base + i)))
    finally:
        await client.aclose()
    assert [d.outcome for d in decisions[:2]] == [Outcome.BELOW_THRESHOLD] * 2
    assert decisions[2].outcome is Outcome.SENT
    assert "Failure reasons: reason-0 ×1, reason-1 ×1, reason-2 ×1" in decisions[2].note


# -- the steps' order, on the stores themselves: what a call is counted in, by where it stops

STEPS_RULES = """
destinations: {d: 'json://127.0.0.1:9/x'}
rules:
  - {name: cause, match: {category: AGENT}, notify: [d]}
  - name: symptom
    match: {category: TRANSFER}
    inhibited_by: [cause]
    when: {count: 2, within: 1h}
    notify: [d]
  - name: muted
    match: {category: TRANSFER}
    mute_windows: [{hours: '00:00-24:00'}]
    notify: [d]
  - name: new-burst
    match: {category: TRANSFER}
    new_signature: true
    when: {count: 2, within: 1h}
    notify: [d]
  - name: throttled-burst
    match: {category: TRANSFER}
    when: {count: 2, within: 1h}
    repeat_interval: 1h
    notify: [d]
"""


async def decide_on(
    redis_url: str, rule: str, calls: list[tuple[str, ...]], silenced: bool = False
) -> tuple[list[Any], list[bool], int]:
    """`rule` decided on calls with logs of these categories, one after the other: (the
    decisions, whether the TRANSFER log's signature was counted by then, the silence's
    hits)."""
    from redis.asyncio import Redis

    from alerter.models import CallEnded, LogEntry
    from alerter.pipeline.decide import CallContext, NoiseStores, decide
    from alerter.pipeline.evaluate import evaluate
    from alerter.rules.fired import fired_rules
    from alerter.rules.load import load_rules_text
    from alerter.store.episodes import Episodes
    from alerter.store.signature_counts import SignatureCounts
    from alerter.store.silences import Silences
    from alerter.store.windows import Windows

    rules = load_rules_text(STEPS_RULES)
    client = Redis.from_url(redis_url)
    stores = NoiseStores(
        Windows(client), Silences(client), SignatureCounts(client), Episodes(client)
    )
    text = f"transfer {uuid.uuid4().hex} failed"  # a signature of this test's own
    decisions: list[Any] = []
    counted: list[bool] = []
    try:
        silences = []
        if silenced:
            silence = await stores.silences.add(None, {}, time.time() - 60, time.time() + 600, "")
            silences.append(silence)
        for categories in calls:
            call, now = CallEnded(call_id=str(uuid.uuid4())), time.time()
            logs = tuple(
                LogEntry(
                    id=f"l{i}",
                    timestamp=datetime.fromtimestamp(now, UTC),
                    level="ERROR",
                    category=category,
                    event="failed",
                    data={"message_text": text},
                )
                for i, category in enumerate(categories)
            )
            fired = fired_rules(evaluate(rules, call, logs), call)
            names = frozenset(one.rule.name for one in fired)
            (one,) = (f for f in fired if f.rule.name == rule)
            digest = one.signature.digest
            at = CallContext(now, now, tuple(silences), names, rules)
            decisions.append(await decide(stores, one, at, {"call_id": call.call_id}))
            counted.append(await stores.signatures.known(digest) is not None)
        hits = [s.hits for s in await stores.silences.all()]
    finally:
        await client.aclose()
    return decisions, counted, sum(hits)


async def test_an_inhibited_call_counts_in_no_signature_and_no_window(redis_url: str) -> None:
    decisions, counted, _ = await decide_on(
        redis_url, "symptom", [("TRANSFER", "AGENT"), ("TRANSFER",)]
    )
    assert [d.outcome.value for d in decisions] == ["inhibited", "below_threshold"]
    assert decisions[1].detail == "1 of 2 calls within 1h"  # the inhibited call not among them
    assert counted == [False, True]


async def test_a_muted_call_is_not_counted_by_a_silence_or_its_signature(redis_url: str) -> None:
    decisions, counted, hits = await decide_on(redis_url, "muted", [("TRANSFER",)], silenced=True)
    assert [d.outcome.value for d in decisions] == ["muted"]
    assert (counted, hits) == ([False], 0)


async def test_a_silenced_call_is_counted_by_the_silence_only(redis_url: str) -> None:
    decisions, counted, hits = await decide_on(redis_url, "symptom", [("TRANSFER",)], True)
    assert [d.outcome.value for d in decisions] == ["silenced"]
    assert (counted, hits) == ([False], 1)


async def test_a_known_signature_is_counted_in_no_window(redis_url: str) -> None:
    decisions, _, _ = await decide_on(redis_url, "new-burst", [("TRANSFER",)] * 2)
    assert [d.outcome.value for d in decisions] == ["below_threshold", "known_signature"]


async def test_a_throttle_counts_only_alerts_past_the_threshold(redis_url: str) -> None:
    # Throttled first, the first call would be the one let through, and the second throttled.
    decisions, _, _ = await decide_on(redis_url, "throttled-burst", [("TRANSFER",)] * 2)
    assert [d.outcome.value for d in decisions] == ["below_threshold", "sent"]
