"""Noise control replayed on past calls, for the backtest. Pure: calls in, a report out.

The live decide stage keeps its state in Redis; here each call is evaluated into the same
`FiredRule` values the call job decides, and they go through the same steps in the same
order (`replay.decide`, in memory), in the order the calls ended and at the times they ended:
inhibition, mute windows, silences (as they stood then), new signatures, frequency, rate and
baseline windows, digests, throttling, correlated incidents; then flatline silences. What a
replay cannot know is said in `Backtest.notes`.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from alerter.clock import Monotonic, system_monotonic
from alerter.models import CallEnded, LogEntry, Outcome
from alerter.pipeline.evaluate import ended_group, evaluate
from alerter.replay.baseline import BaselineReplay
from alerter.replay.decide import Memory, decide
from alerter.rules.fired import fired_rules
from alerter.rules.model import Rule, RuleSet
from alerter.rules.noise import GroupKey, muted
from alerter.store.silences import Silence

TOP_GROUPS = 3
FLATLINE_STEP_SECONDS = 60.0  # flatline silences are looked for a minute at a time, as a tick


class ReplayTimedOut(Exception):
    """The replay passed its deadline (a backtest has `backtest.MAX_SECONDS` in all)."""


@dataclass(frozen=True, slots=True)
class _Deadline:
    at: float | None
    clock: Monotonic

    def check(self) -> None:
        if self.at is not None and self.clock() > self.at:
            raise ReplayTimedOut("the replay ran past its deadline")


@dataclass(frozen=True, slots=True)
class PastCall:
    call: CallEnded
    at: float  # when its webhook was accepted: noise control counts it then
    logs: tuple[LogEntry, ...] | None  # None: not fetched (not needed, or Diga refused)


@dataclass(slots=True)
class DayCounts:
    matched: int = 0  # calls on which the rule fired (before noise control)
    alerts: int = 0  # messages that would have been sent
    suppressed: Counter[str] = field(default_factory=Counter)  # outcome → calls
    groups: Counter[str] = field(default_factory=Counter)  # group → matched calls


@dataclass(frozen=True, slots=True)
class RuleDay:
    day: str  # YYYY-MM-DD, UTC
    matched: int
    alerts: int
    suppressed: tuple[tuple[str, int], ...]
    top_groups: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class RuleResult:
    rule: str
    days: tuple[RuleDay, ...]

    @property
    def matched(self) -> int:
        return sum(d.matched for d in self.days)

    @property
    def alerts(self) -> int:
        return sum(d.alerts for d in self.days)


@dataclass(frozen=True, slots=True)
class Backtest:
    since: float
    until: float
    calls: int  # ended calls replayed
    fetched: int  # of which logs were fetched
    unfetched: int  # logs needed but not fetched (Diga refused, or the time limit)
    rules: tuple[RuleResult, ...]
    notes: tuple[str, ...] = ()


def day_of(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d")


class _Tally:
    def __init__(self) -> None:
        self.days: dict[str, DayCounts] = defaultdict(DayCounts)

    def matched(self, at: float, group: str) -> None:
        day = self.days[day_of(at)]
        day.matched += 1
        day.groups[group] += 1

    def alert(self, at: float) -> None:
        self.days[day_of(at)].alerts += 1

    def suppressed(self, at: float, outcome: Outcome) -> None:
        self.days[day_of(at)].suppressed[outcome.value] += 1

    def result(self, rule: str) -> RuleResult:
        days = tuple(
            RuleDay(
                day=day,
                matched=counts.matched,
                alerts=counts.alerts,
                suppressed=tuple(sorted(counts.suppressed.items())),
                top_groups=tuple(counts.groups.most_common(TOP_GROUPS)),
            )
            for day, counts in sorted(self.days.items())
        )
        return RuleResult(rule, days)


def simulate(
    rules: RuleSet,
    calls: Sequence[PastCall],
    silences: Sequence[Silence],
    since: float,
    until: float,
    only: str | None = None,
    *,
    deadline: float | None = None,
    clock: Monotonic = system_monotonic,
) -> list[RuleResult]:
    """Each rule's days, replaying `calls` (any order) as the pipeline would have; raises
    `ReplayTimedOut` once `clock()` passes `deadline` (checked call by call)."""
    stop = _Deadline(deadline, clock)
    chosen = [r for r in rules.rules if only is None or r.name == only]
    ordered = sorted(calls, key=lambda c: c.at)
    tallies = {rule.name: _Tally() for rule in chosen}
    memory = Memory(silences, _ended_calls(chosen, ordered), BaselineReplay(chosen, ordered))
    for past in ordered:
        stop.check()
        if past.logs is None:
            continue
        fired = fired_rules(evaluate(rules, past.call, past.logs), past.call)
        inhibitors = frozenset(f.rule.name for f in fired)
        for one in fired:
            tally = tallies.get(one.rule.name)
            if tally is None:  # fired, so it inhibits; not replayed
                continue
            tally.matched(past.at, one.group.describe())
            outcome = decide(memory, one, past.at, inhibitors, tally.alert)
            if outcome is not None:
                tally.suppressed(past.at, outcome)

    for rule in chosen:
        if rule.noise.digest:  # windows left open close as they would have
            for (name, _), state in memory.groups.items():
                close = state.digest_close
                if name == rule.name and close is not None and close <= until:
                    tallies[name].alert(close)
        if rule.noise.no_calls is not None:
            _flatline(rule, ordered, silences, until, tallies[rule.name], stop)
    return [tallies[rule.name].result(rule.name) for rule in chosen]


def _flatline(
    rule: Rule,
    ordered: Sequence[PastCall],
    silences: Sequence[Silence],
    until: float,
    tally: _Tally,
    stop: _Deadline,
) -> None:
    """Each silence of each group longer than `no_calls` outside mute windows: one alert,
    as the tick would have sent it (a minute at a time). A group is watched from its first
    call in the period: what came before is not known here."""
    window = rule.noise.no_calls
    assert window is not None
    times: dict[str, list[float]] = defaultdict(list)
    keys: dict[str, GroupKey] = {}
    for past in ordered:
        if (key := ended_group(rule, past.call)) is not None:
            times[key.digest].append(past.at)
            keys[key.digest] = key
    step = FLATLINE_STEP_SECONDS
    # Without mute windows nothing restarts the count: the first tick that can fire is
    # `no_calls` after the call (rounded up to a tick), not one a minute from it.
    first = math.ceil(window / step) * step if not rule.noise.mute_windows else step
    for digest, seen in times.items():
        stop.check()
        labels = dict(keys[digest].labels)
        for at, resumed in zip(seen, [*seen[1:], until], strict=True):
            quiet_since, t = at, at + first
            while t < resumed:
                if muted(rule.noise, t):
                    quiet_since = t
                elif t - quiet_since >= window:
                    tally.matched(t, keys[digest].describe())
                    if any(s.matches(rule.name, labels, t) for s in silences):
                        tally.suppressed(t, Outcome.SILENCED)
                    else:
                        tally.alert(t)
                    break
                t += step


def _ended_calls(
    rules: Sequence[Rule], ordered: Sequence[PastCall]
) -> dict[tuple[str, str], list[float]]:
    """Ended calls per (rate rule, group), by time: what intake counts live."""
    out: dict[tuple[str, str], list[float]] = defaultdict(list)
    for rule in rules:
        if rule.noise.rate is None and rule.noise.baseline is None:
            continue
        for past in ordered:
            if (key := ended_group(rule, past.call)) is not None:
                out[(rule.name, key.digest)].append(past.at)
    return out
