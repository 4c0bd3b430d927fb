"""Baselines on real servers: each agent judged against its own normal (the fleet's when it
is new), history counted in hourly rings by intake and the worker, time driven by the
intake's clock (when the calls ended)."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from alerter.models import CallEnded, parse_logs
from alerter.pipeline.evaluate import baseline_counters
from alerter.replay.simulate import PastCall, simulate
from alerter.rules.load import load_rules_text
from alerter.rules.model import RulesInvalid
from alerter.rules.noise import group_key
from alerter.store.baseline import Baselines
from alerter.store.queue import CallQueue
from tests.conftest import make_settings, rules_from, run_worker_until_idle
from tests.kit.build import DAY, noise_rules
from tests.kit.webhook import post_calls
from tests.standins import DigaStandIn, Receiver, make_log

BASELINE = (
    "group_by: [agent_id]\n"
    "when: {baseline: {factor: 3, within: 15m, over: 6h, min_calls: 10}}\n"
    "send_resolved: false"
)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def post_agent_calls(
    api: Any, diga: DigaStandIn, agent: str, calls: int, failing: int
) -> None:
    """`calls` call-ended webhooks of one agent, the first `failing` with a TRANSFER error."""

    def logs(call_id: str, index: int) -> list[dict[str, Any]]:
        return [make_log(call_id)] if index < failing else []

    await post_calls(api.url, diga, [agent] * calls, logs=logs)


def titles(slack: Receiver) -> list[str]:
    return sorted(str(m["json"]["attachments"][0]["fallback"]) for m in slack.received)


async def test_an_agent_three_times_worse_than_usual_fires_a_steady_one_does_not(
    tmp_path: Path, api_for: Any, diga: DigaStandIn, slack: Receiver, redis_url: str
) -> None:
    rules = noise_rules(tmp_path, BASELINE)
    now = time.time()
    clock = Clock(now - 3 * 3600)  # the usual: three hours ago
    api = api_for(rules, clock=clock)
    worker_settings = make_settings(diga.url)
    await post_agent_calls(api, diga, "ag-jump", 40, 4)  # 10 %
    await post_agent_calls(api, diga, "ag-steady", 40, 20)  # 50 %
    await run_worker_until_idle(worker_settings, rules, redis_url)
    assert slack.received == []  # no normal known yet: nothing to compare with
    clock.now = now
    await post_agent_calls(api, diga, "ag-jump", 20, 12)  # 60 %
    await post_agent_calls(api, diga, "ag-steady", 20, 12)  # 60 %, not 3 x 50 %
    # A new agent has no normal of its own: the fleet's (24 of 80, 30 %) stands in.
    await post_agent_calls(api, diga, "ag-new", 20, 19)
    await run_worker_until_idle(worker_settings, rules, redis_url)
    await asyncio.to_thread(slack.wait_for, 2)
    assert titles(slack) == [
        # 6 of 20 is the first share at least 3 x 10 %; 18 of 20 the first 3 x 30 %.
        "[CRITICAL] transfer-failed: ag-jump: 30% of calls in 15m, 3.0× its 6-hour 10%",
        "[CRITICAL] transfer-failed: ag-new: 90% of calls in 15m, 3.0× the fleet's 6-hour 30%",
    ]


def test_rules_check_names_the_line_of_a_bad_baseline() -> None:
    text = (
        "destinations: {d: 'json://127.0.0.1:9/x'}\nrules:\n"
        "  - name: worse\n    match: {category: TRANSFER}\n    notify: [d]\n"
        "    group_by: [agent_id]\n"
        "    when: {baseline: {factor: 3, within: 15m, over: 30m}}\n"
        "  - name: by-log\n    match: {category: TRANSFER}\n    notify: [d]\n"
        "    group_by: [event]\n"
        "    when: {baseline: {factor: 0.5, within: 15m, over: 7d}}\n"
    )
    try:
        load_rules_text(text)
    except RulesInvalid as exc:
        shown = [str(error) for error in exc.errors]
    else:
        raise AssertionError("accepted")
    assert any(":7:" in e and "at least 1h" in e for e in shown), shown
    assert any(":12:" in e and "greater than 1" in e for e in shown), shown


BACKTESTED = """
destinations: {ops: json://127.0.0.1/hook}
rules:
  - name: r
    match: {category: TRANSFER}
    group_by: [agent_id]
    when: {baseline: {factor: 2, within: 15m, over: 2h, min_calls: 3}}
    notify: [ops]
"""


def calls_of(
    agents: list[str], gap_ms: int, failing: list[bool], size: tuple[int, int]
) -> st.SearchStrategy[Any]:
    return st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=gap_ms),  # ms since the previous call
            st.sampled_from(agents),
            st.sampled_from(failing),
        ),
        min_size=size[0],
        max_size=size[1],
    )


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    # Hours of mostly good calls of two agents, then a burst of mostly failing calls of
    # three (the third new: judged against the fleet).
    before=calls_of(["ag-1", "ag-2"], 600_000, [False, False, False, True], (20, 50)),
    after=calls_of(["ag-1", "ag-2", "ag-3"], 120_000, [True, True, True, False], (3, 20)),
)
async def test_the_replay_fires_a_baseline_when_intake_and_the_live_script_do(
    tmp_path_factory: pytest.TempPathFactory,
    redis_url: str,
    before: list[tuple[int, str, bool]],
    after: list[tuple[int, str, bool]],
) -> None:
    calls = before + after
    ruleset = rules_from(tmp_path_factory.mktemp("r"), BACKTESTED)
    (rule,) = ruleset.rules
    assert rule.noise.baseline is not None
    past, at_ms = [], round(DAY * 1000)
    for gap, agent, failing in calls:
        at_ms += gap
        call_id = str(uuid.uuid4())
        logs = parse_logs([make_log(call_id)]) if failing else ()
        past.append(
            PastCall(CallEnded(call_id=call_id, fields={"agent_id": agent}), at_ms / 1000, logs)
        )
    clock = Clock(DAY)
    client = Redis.from_url(redis_url)
    live = 0
    try:
        await client.flushdb()
        queue, baselines = CallQueue(client, 0, clock=clock), Baselines(client)
        for item in past:
            # As intake counts every ended call, then the worker decides the failing ones.
            clock.now = item.at
            await queue.enqueue(item.call, baseline_counters=baseline_counters(ruleset, item.call))
            if item.logs:
                key = group_key(rule.noise.group_by, item.call, None)
                judged = await baselines.judge(
                    "r", key, item.call.call_id, rule.noise.baseline, item.at
                )
                live += judged.fire
    finally:
        await client.aclose()
    (result,) = simulate(ruleset, past, (), DAY, at_ms / 1000 + 1)
    event(f"alerts={min(live, 3)}")
    assert result.alerts == live


def test_the_replay_fires_at_exactly_factor_times_the_usual_share_and_asks_the_fleet(
    tmp_path: Path,
) -> None:
    """Ag-jump's 6 of 20 is exactly 3 x its 10 %; ag-new, with no normal of its own, 18 of
    20 is exactly 3 x the fleet's 30 %; ag-steady's 60 % is not 3 x its 50 %."""
    ruleset = noise_rules(tmp_path, BASELINE)

    def calls(agent: str, start: float, count: int, failing: int) -> list[PastCall]:
        out = []
        for i in range(count):  # the good calls first: the last failing one sees them all
            call_id = str(uuid.uuid4())
            logs = parse_logs([make_log(call_id)]) if i >= count - failing else ()
            call = CallEnded(call_id=call_id, fields={"agent_id": agent})
            out.append(PastCall(call, start + i, logs))
        return out

    before, now = DAY - 3 * 3600, DAY
    past = [
        *calls("ag-jump", before, 40, 4),
        *calls("ag-steady", before + 100, 40, 20),
        *calls("ag-jump", now, 20, 6),
        *calls("ag-steady", now + 100, 20, 12),
        *calls("ag-new", now + 200, 20, 18),
    ]
    (result,) = simulate(ruleset, past, (), before, now + 3600)
    (today,) = result.days
    assert today.alerts == 2
    # Below threshold: 4 + 20 failing before (no normal yet), then all but the two firings.
    assert dict(today.suppressed) == {"below_threshold": 4 + 20 + 6 + 12 + 18 - 2}
