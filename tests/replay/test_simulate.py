"""The backtest's replay of noise control (pure), and a check that it decides as the live
Redis scripts do for the same calls at the same times."""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from alerter.models import CallEnded, LogEntry, parse_logs
from alerter.pipeline.decide import CallContext, NoiseStores, decide
from alerter.pipeline.evaluate import evaluate
from alerter.replay.simulate import PastCall, ReplayTimedOut, RuleResult, simulate
from alerter.rules.fired import fired_rules
from alerter.rules.load import load_rules_text
from alerter.rules.matchers import parse_matcher
from alerter.rules.model import RuleSet
from alerter.rules.noise import GroupKey
from alerter.store import keys
from alerter.store.episodes import Episodes
from alerter.store.signature_counts import SignatureCounts
from alerter.store.silences import Silence, Silences
from alerter.store.windows import Windows
from tests.conftest import rules_from
from tests.kit.build import DAY
from tests.standins import make_log

RULE = """
destinations: {ops: json://127.0.0.1/hook}
rules:
  - name: r
    match: {category: TRANSFER}
    notify: [ops]
"""


QUIET = """
destinations: {ops: json://127.0.0.1/hook}
rules:
  - name: quiet
    when: {no_calls: 20m}
    notify: [ops]
"""


def rules(tmp_path: Path, noise: str, base: str = RULE) -> RuleSet:
    return rules_from(tmp_path, base + "".join(f"    {line}\n" for line in noise.splitlines()))


def call(at: float, agent: str = "ag-1", failing: bool = True) -> PastCall:
    call_id = str(uuid.uuid4())
    logs = parse_logs([make_log(call_id)]) if failing else ()
    return PastCall(CallEnded(call_id=call_id, fields={"agent_id": agent}), at, logs)


def only(results: list[RuleResult]) -> tuple[int, int, dict[str, int]]:
    (result,) = results
    suppressed: dict[str, int] = {}
    for day in result.days:
        for outcome, n in day.suppressed:
            suppressed[outcome] = suppressed.get(outcome, 0) + n
    return result.matched, result.alerts, suppressed


def test_every_matching_call_alerts_without_noise_control(tmp_path: Path) -> None:
    calls = [call(DAY + i * 60) for i in range(5)] + [call(DAY + 400, failing=False)]
    assert only(simulate(rules(tmp_path, ""), calls, (), DAY, DAY + 3600)) == (5, 5, {})


def test_a_throttle_sends_once_per_interval_per_group(tmp_path: Path) -> None:
    ruleset = rules(tmp_path, "group_by: [agent_id]\nrepeat_interval: 1h")
    calls = [call(DAY + i * 600) for i in range(8)] + [call(DAY + 60, agent="ag-2")]
    matched, alerts, suppressed = only(simulate(ruleset, calls, (), DAY, DAY + 86400))
    # ag-1 at 0, 10, ... 70 min: sent at 0 and 60; ag-2 once.
    assert (matched, alerts, suppressed) == (9, 3, {"throttled": 6})


def test_a_frequency_window_fires_once_per_window(tmp_path: Path) -> None:
    ruleset = rules(tmp_path, "when: {count: 3, within: 10m}")
    times = [0, 60, 120, 180, 240, 1500, 1560, 1620]
    matched, alerts, suppressed = only(
        simulate(ruleset, [call(DAY + t) for t in times], (), DAY, DAY + 3600)
    )
    assert (matched, alerts, suppressed) == (8, 2, {"below_threshold": 6})


def test_a_rate_counts_ended_calls_that_did_not_fail(tmp_path: Path) -> None:
    ruleset = rules(tmp_path, "when: {rate: 0.5, within: 10m, min_calls: 4}")
    calls = [call(DAY + i, failing=i % 2 == 0) for i in range(8)]  # half fail
    assert only(simulate(ruleset, calls, (), DAY, DAY + 3600))[:2] == (4, 1)
    calm = [call(DAY + i, failing=i % 4 == 0) for i in range(8)]  # a quarter fail
    assert only(simulate(ruleset, calm, (), DAY, DAY + 3600))[:2] == (2, 0)


def test_a_digest_sends_one_message_per_window(tmp_path: Path) -> None:
    ruleset = rules(tmp_path, "group_wait: 5m")
    times = [0, 60, 120, 900, 960]  # two windows: [0, 300) and [900, 1200)
    matched, alerts, suppressed = only(
        simulate(ruleset, [call(DAY + t) for t in times], (), DAY, DAY + 3600)
    )
    assert (matched, alerts, suppressed) == (5, 2, {"grouped": 5})
    # A window still open when the period ends has sent nothing yet.
    assert only(simulate(ruleset, [call(DAY)], (), DAY, DAY + 60))[:2] == (1, 0)


def test_mute_windows_and_silences_apply_at_each_calls_own_time(tmp_path: Path) -> None:
    ruleset = rules(tmp_path, 'mute_windows: [{hours: "00:00-07:00", timezone: UTC}]')
    at_night = DAY - 7 * 3600  # 04:06 UTC
    silence = Silence(
        id="s1",
        rule="r",
        matchers=(parse_matcher("agent_id=ag-2"),),
        starts=DAY,
        ends=DAY + 600,
        comment="maintenance",
    )
    calls = [call(at_night), call(DAY + 60, agent="ag-2"), call(DAY + 700, agent="ag-2")]
    matched, alerts, suppressed = only(simulate(ruleset, calls, [silence], at_night, DAY + 3600))
    assert (matched, alerts, suppressed) == (3, 1, {"muted": 1, "silenced": 1})


def test_a_flatline_fires_once_per_gap_longer_than_no_calls(tmp_path: Path) -> None:
    ruleset = rules(tmp_path, "group_by: [agent_id]", base=QUIET)
    times = [0, 600, 1200, 5000, 5300]  # a 63-minute gap after 1200; then to the end
    calls = [call(DAY + t, failing=False) for t in times]
    assert only(simulate(ruleset, calls, (), DAY, DAY + 5400))[:2] == (1, 1)
    assert only(simulate(ruleset, calls, (), DAY, DAY + 7000))[:2] == (2, 2)


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(gaps=st.lists(st.integers(min_value=1, max_value=400), min_size=1, max_size=30))
async def test_the_replay_fires_a_frequency_window_when_the_live_script_does(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, gaps: list[int]
) -> None:
    ruleset = rules(tmp_path_factory.mktemp("r"), "when: {count: 3, within: 10m}")
    times, at = [], DAY
    for gap in gaps:
        at += gap
        times.append(at)
    client = Redis.from_url(redis_url)
    try:
        await client.flushdb()
        windows, live = Windows(client), 0
        for i, t in enumerate(times):
            counted = await windows.frequency("r", GroupKey(()), f"c{i}", 600, 3, t)
            live += counted.fire
    finally:
        await client.aclose()
    replayed = only(simulate(ruleset, [call(t) for t in times], (), DAY, at + 1))[1]
    assert replayed == live


async def live_rate_fires(
    redis_url: str, past: list[PastCall], within: float, rate: float, min_calls: int
) -> int:
    """How often rule `r`'s rate window fires live on `past` (one group)."""
    client = Redis.from_url(redis_url)
    try:
        await client.flushdb()
        windows, key, live = Windows(client), GroupKey(()), 0
        for i, item in enumerate(past):
            # As intake counts every ended call, then the worker decides the failing ones.
            await client.zadd(
                keys.rate_ended("r", key.digest), {item.call.call_id: round(item.at * 1000)}
            )
            if item.logs:
                counted = await windows.rate("r", key, f"c{i}", within, rate, min_calls, item.at)
                live += counted.fire
    finally:
        await client.aclose()
    return live


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    calls=st.lists(
        st.tuples(st.integers(min_value=1, max_value=300), st.booleans()), min_size=1, max_size=40
    )
)
async def test_the_replay_fires_a_rate_window_when_the_live_script_does(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, calls: list[tuple[int, bool]]
) -> None:
    ruleset = rules(tmp_path_factory.mktemp("r"), "when: {rate: 0.4, within: 10m, min_calls: 5}")
    past, at = [], DAY
    for gap, failing in calls:
        at += gap
        past.append(call(at, failing=failing))
    live = await live_rate_fires(redis_url, past, 600, 0.4, 5)
    assert only(simulate(ruleset, past, (), DAY, at + 1))[1] == live


async def test_the_replay_fires_a_rate_at_exactly_its_share_as_the_live_script_does(
    tmp_path: Path, redis_url: str
) -> None:
    """7 failing of 25 ended calls is 28%: a float product (0.28 * 25 > 7) would miss it."""
    ruleset = rules(tmp_path, "when: {rate: 0.28, within: 1h, min_calls: 25}")
    past = [call(DAY + i, failing=i >= 18) for i in range(25)]
    assert await live_rate_fires(redis_url, past, 3600, 0.28, 25) == 1
    assert only(simulate(ruleset, past, (), DAY, DAY + 60))[:2] == (7, 1)


def test_a_flatline_counts_its_silence_from_the_end_of_a_mute_window(tmp_path: Path) -> None:
    ruleset = rules(tmp_path, 'mute_windows: [{hours: "00:00-07:00", timezone: UTC}]', base=QUIET)
    night, morning = DAY - 8 * 3600, DAY - 14_200  # 03:06:40 and 07:10 UTC
    calls = [call(night, failing=False), call(morning, failing=False)]
    # Silent for four hours, but only ten minutes of them outside the mute window.
    assert only(simulate(ruleset, calls, (), night, morning + 60))[:2] == (0, 0)
    # Then silent from 07:10: fires at 07:30.
    assert only(simulate(ruleset, calls, (), night, morning + 1260))[:2] == (1, 1)


def test_the_replay_stops_at_its_deadline(tmp_path: Path) -> None:
    """A backtest has 120 s in all: the replay checks the clock call by call."""
    ruleset = rules(tmp_path, "")
    calls = [call(DAY + i) for i in range(10)]
    ticks = iter(range(100))
    clock = lambda: float(next(ticks))  # noqa: E731  # one second a look
    with pytest.raises(ReplayTimedOut):
        simulate(ruleset, calls, [], DAY, DAY + 60, deadline=5.0, clock=clock)
    assert only(simulate(ruleset, calls, [], DAY, DAY + 60, deadline=1e9))[:2] == (10, 10)


# -- the replay against the live decide stage, step by step: the same calls, the same outcomes

PARITY_RULES = """
destinations: {d: 'json://127.0.0.1:9/x'}
rules:
  - {name: cause, match: {category: AGENT}, notify: [d]}
  - name: symptom
    match: {category: TRANSFER}
    inhibited_by: [cause]
    group_by: [agent_id]
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
    group_by: [agent_id]
    when: {count: 2, within: 1h}
    repeat_interval: 1h
    notify: [d]
  - name: grouped
    match: {category: TRANSFER}
    inhibited_by: [cause]
    new_signature: true
    group_by: [agent_id]
    group_wait: 2h
    notify: [d]
"""
# Every rule, in every place but the muted rule's, stops at ag-2's silence.
PARITY_SILENCE = Silence("s1", None, (parse_matcher("agent_id=ag-2"),), DAY - 60, DAY + DAY, "")
PARITY_CALLS = st.lists(
    st.tuples(
        st.sampled_from([("TRANSFER",), ("TRANSFER", "AGENT"), ("AGENT",)]),
        st.sampled_from(["ag-1", "ag-2", "ag-3"]),  # two groups, and the silenced agent
    ),
    min_size=1,
    max_size=12,
)


async def live_outcomes(
    redis_url: str, ruleset: RuleSet, past: list[PastCall]
) -> dict[str, Counter[str]]:
    """Each rule's outcomes as the live decide stage takes them on the stores, a call at a
    time at its own time, as the call job does."""
    client = Redis.from_url(redis_url)
    stores = NoiseStores(
        Windows(client), Silences(client), SignatureCounts(client), Episodes(client)
    )
    out: dict[str, Counter[str]] = defaultdict(Counter)
    try:
        await client.flushdb()
        for item in past:
            fired = fired_rules(evaluate(ruleset, item.call, item.logs or ()), item.call)
            names = frozenset(one.rule.name for one in fired)
            at = CallContext(item.at, item.at, (PARITY_SILENCE,), names, ruleset)
            for one in fired:
                decision = await decide(stores, one, at, {"call_id": item.call.call_id})
                out[one.rule.name][decision.outcome.value] += 1
    finally:
        await client.aclose()
    return out


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(calls=PARITY_CALLS)
async def test_the_replay_stops_each_call_at_the_step_the_live_stage_does(
    redis_url: str, calls: list[tuple[tuple[str, ...], str]]
) -> None:
    """Inhibition, mute windows, silences, signatures, groups, windows, digests and throttles:
    a step out of order in either counts a call where the other does not."""
    ruleset = load_rules_text(PARITY_RULES)
    text = f"transfer {uuid.uuid4().hex} failed"  # a signature of this example's own
    past = []
    for i, (categories, agent) in enumerate(calls):
        at, call_id = DAY + 300 * i, str(uuid.uuid4())
        logs = tuple(
            LogEntry(
                id=f"l{j}",
                timestamp=datetime.fromtimestamp(at, UTC),
                level="ERROR",
                category=category,
                event="failed",
                data={"message_text": text},
            )
            for j, category in enumerate(categories)
        )
        past.append(PastCall(CallEnded(call_id=call_id, fields={"agent_id": agent}), at, logs))
    live = await live_outcomes(redis_url, ruleset, past)
    # Until the last call: a digest still open has sent nothing, live or replayed.
    until = past[-1].at + 1
    for result in simulate(ruleset, past, [PARITY_SILENCE], DAY, until):
        replayed = Counter({"sent": result.alerts})
        for day in result.days:
            replayed.update(dict(day.suppressed))
        assert +replayed == live[result.rule], result.rule
