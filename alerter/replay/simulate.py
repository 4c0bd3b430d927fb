"""Noise control replayed on past calls, for the backtest. Pure: calls in, a report out.

The live decide stage keeps its state in Redis; here the same decisions are taken in memory,
in the order the calls ended and at the times they ended: inhibition, mute windows,
silences (as they stood then), new signatures, frequency, rate and baseline windows, digests,
throttling, correlated incidents and flatline silences. What a replay cannot know is said in
`Backtest.notes`.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

from alerter.clock import Monotonic, system_monotonic
from alerter.models import CallEnded, LogEntry, Outcome
from alerter.pipeline.evaluate import call_matches, evaluate
from alerter.replay.baseline import BaselineReplay
from alerter.replay.correlate import CorrelateReplay
from alerter.rules.model import Rule, RuleSet
from alerter.rules.noise import GroupKey, group_key, labels_of, muted
from alerter.rules.signatures import signature
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


@dataclass(slots=True)
class _Group:
    """One (rule, group)'s noise state, as the Redis scripts keep it live."""

    matched: deque[float] = field(default_factory=deque)
    fired_until: float = float("-inf")  # a `when` window fires once per window
    last_sent: float | None = None  # repeat_interval
    digest_close: float | None = None  # the open digest window closes then
    digest_sent: float | None = None


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
    groups: dict[tuple[str, str], _Group] = defaultdict(_Group)
    ended = _ended_calls(chosen, ordered)
    baselines = BaselineReplay(chosen, ordered)
    correlations = CorrelateReplay()
    signatures: dict[str, tuple[float, str]] = {}  # digest → (last seen, by which call)
    names = {rule.name for rule in chosen}

    for past in ordered:
        stop.check()
        if past.logs is None:
            continue
        fired = [m for m in evaluate(rules, past.call, past.logs) if m.fired]
        fired_names = {m.rule.name for m in fired}
        for match in fired:
            rule = match.rule
            if rule.name not in names:
                continue
            tally, first = tallies[rule.name], match.logs[0]
            key = group_key(rule.noise.group_by, past.call, first)
            tally.matched(past.at, key.describe())
            outcome = _before_counting(rule, past, first, fired_names, silences, signatures)
            if outcome is None:
                state = groups[(rule.name, key.digest)]
                incident = partial(
                    correlations.outcome, rule, signature(first).digest, key.digest, past.at
                )
                outcome = _count_and_send(
                    rule, past.at, key.digest, state, ended, tally, baselines, incident
                )
            if outcome is not None:
                tally.suppressed(past.at, outcome)

    for rule in chosen:
        if rule.noise.digest:  # windows left open close as they would have
            for (name, _), state in groups.items():
                close = state.digest_close
                if name == rule.name and close is not None and close <= until:
                    tallies[name].alert(close)
        if rule.noise.no_calls is not None:
            _flatline(rule, ordered, silences, until, tallies[rule.name], stop)
    return [tallies[rule.name].result(rule.name) for rule in chosen]


def _before_counting(
    rule: Rule,
    past: PastCall,
    first: LogEntry,
    fired_names: set[str],
    silences: Sequence[Silence],
    signatures: dict[str, tuple[float, str]],
) -> Outcome | None:
    """Inhibition, mute windows, silences, signatures, as `job` and `decide` order them;
    None: the call goes on to be counted."""
    if any(name in fired_names for name in rule.inhibited_by):
        return Outcome.INHIBITED
    if muted(rule.noise, past.at):
        return Outcome.MUTED
    if silences:
        labels = labels_of(past.call, first)
        if any(s.matches(rule.name, labels, past.at) for s in silences):
            return Outcome.SILENCED
    sig = signature(first)
    seen = signatures.get(sig.digest)
    new = (
        seen is None
        or seen[1] == past.call.call_id
        or past.at - seen[0] > rule.signature_days * 86_400
    )
    signatures[sig.digest] = (past.at, past.call.call_id)
    if rule.new_signature and not new:
        return Outcome.KNOWN_SIGNATURE
    return None


def _count_and_send(
    rule: Rule,
    at: float,
    digest: str,
    state: _Group,
    ended: dict[tuple[str, str], list[float]],
    tally: _Tally,
    baselines: BaselineReplay,
    incident: Callable[[], Outcome | None],
) -> Outcome | None:
    """Windows, digests, throttling; an alert tallied, or why not."""
    noise = rule.noise
    if noise.within is not None:
        state.matched.append(at)
        while state.matched and state.matched[0] <= at - noise.within:
            state.matched.popleft()
        if noise.count is not None:
            holds = len(state.matched) >= noise.count
        else:
            times = ended.get((rule.name, digest), [])
            total = bisect.bisect_right(times, at) - bisect.bisect_right(times, at - noise.within)
            total = max(total, len(state.matched))
            if noise.baseline is not None:
                window = (len(state.matched), total)
                holds = baselines.holds(rule.name, noise.baseline, digest, at, window)
            else:
                holds = total >= noise.min_calls and len(state.matched) >= (noise.rate or 0) * total
        if not holds or at < state.fired_until:
            return Outcome.BELOW_THRESHOLD
        state.fired_until = at + noise.within
    if noise.group_wait is not None:
        if state.digest_close is not None and at >= state.digest_close:
            tally.alert(state.digest_close)  # the window closed before this call
            state.digest_sent, state.digest_close = state.digest_close, None
        if state.digest_close is None:
            close = at + noise.group_wait
            if noise.group_interval is not None and state.digest_sent is not None:
                close = max(close, state.digest_sent + noise.group_interval)
            state.digest_close = close
        return Outcome.GROUPED
    if noise.repeat_interval is not None:
        if state.last_sent is not None and at - state.last_sent < noise.repeat_interval:
            return Outcome.THROTTLED
        state.last_sent = at
    folded = incident()  # a correlating rule's alert may fold into an open incident
    if folded is not None:
        return folded
    tally.alert(at)  # a shadow rule's too: what it would send is what a backtest asks
    return None


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
        if call_matches(rule, past.call):
            key = group_key(rule.noise.group_by, past.call, None)
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
            if call_matches(rule, past.call):
                key = group_key(rule.noise.group_by, past.call, None)
                out[(rule.name, key.digest)].append(past.at)
    return out
