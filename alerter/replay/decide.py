"""The decide stage in memory, for the backtest's replay: one fired rule on one past call →
tallied as sent, or why not. Pure.

The steps are the live stage's (`pipeline.decide`), by the same names and in the same order
(`pipeline.steps.ORDER`), over the same `FiredRule`; what the live steps count in Redis is
kept in `Memory` for one replay, at the calls' own times. What differs, and why:
inhibition knows only the causes that fired on the call (no open incidents before the
period); groups are not capped (`store.windows.MAX_GROUPS`: a replay is bounded by its
calls); a silence does not count the alerts it stopped (nothing is written).
"""

from __future__ import annotations

import bisect
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from alerter.models import Outcome
from alerter.pipeline.steps import Step
from alerter.replay.baseline import BaselineReplay
from alerter.replay.correlate import CorrelateReplay
from alerter.rules.fired import FiredRule
from alerter.rules.model import Rule
from alerter.rules.noise import GroupKey, muted, rate_holds
from alerter.store.silences import Silence

_NO_GROUP = GroupKey(())


@dataclass(slots=True)
class GroupState:
    """One (rule, group)'s noise state, as the Redis scripts keep it live."""

    matched: deque[float] = field(default_factory=deque)
    fired_until: float = float("-inf")  # a `when` window fires once per window
    last_sent: float | None = None  # repeat_interval
    digest_close: float | None = None  # the open digest window closes then
    digest_sent: float | None = None


@dataclass(slots=True)
class Memory:
    """What noise control counts live (windows, signatures, digests, throttles, incidents),
    for one replay. `ended`: each rate rule's group's ended calls, by time (intake's)."""

    silences: Sequence[Silence]
    ended: dict[tuple[str, str], list[float]]
    baselines: BaselineReplay
    correlations: CorrelateReplay = field(default_factory=CorrelateReplay)
    # A signature's last call: (at, call id, whether it was new then).
    signatures: dict[str, tuple[float, str, bool]] = field(default_factory=dict)
    groups: defaultdict[tuple[str, str], GroupState] = field(
        default_factory=lambda: defaultdict(GroupState)
    )


@dataclass(slots=True)
class _Replaying:
    """One fired rule on its way through the steps (`pipeline.decide._Deciding`'s twin)."""

    memory: Memory
    fired: FiredRule
    at: float  # when the call's webhook was accepted: every step counts it then
    inhibitors: frozenset[str]  # the rules that fired on the call
    alert: Callable[[float], None]  # tallies a message sent at that time
    key: GroupKey = _NO_GROUP  # the group, from step `group` on

    @property
    def rule(self) -> Rule:
        return self.fired.rule

    @property
    def state(self) -> GroupState:
        return self.memory.groups[(self.rule.name, self.key.digest)]


StepFn = Callable[[_Replaying], Outcome | None]  # None: the call goes on


def decide(
    memory: Memory,
    fired: FiredRule,
    at: float,
    inhibitors: frozenset[str],
    alert: Callable[[float], None],
) -> Outcome | None:
    """The first step's outcome that ends it; None: sent, and tallied by `alert` (a shadow
    rule's too: what it would send is what a backtest asks)."""
    replaying = _Replaying(memory, fired, at, inhibitors, alert)
    for _, step in STEPS:
        outcome = step(replaying)
        if outcome is not None:
            return outcome
    alert(at)
    return None


def _inhibit(d: _Replaying) -> Outcome | None:
    if any(name in d.inhibitors for name in d.rule.inhibited_by):
        return Outcome.INHIBITED
    return None


def _mute(d: _Replaying) -> Outcome | None:
    return Outcome.MUTED if muted(d.rule.noise, d.at) else None


def _silence(d: _Replaying) -> Outcome | None:
    if any(s.matches(d.rule.name, d.fired.labels, d.at) for s in d.memory.silences):
        return Outcome.SILENCED
    return None


def _signature(d: _Replaying) -> Outcome | None:
    """Every rule that gets here counts its signature, as `store/signature.lua` does; the
    rules of one call all get the first one's answer (the script keeps it per call)."""
    digest, call_id = d.fired.signature.digest, d.fired.call.call_id
    seen = d.memory.signatures.get(digest)
    if seen is not None and seen[1] == call_id:
        new = seen[2]
    else:
        new = seen is None or d.at - seen[0] > d.rule.signature_days * 86_400
    d.memory.signatures[digest] = (d.at, call_id, new)
    if d.rule.new_signature and not new:
        return Outcome.KNOWN_SIGNATURE
    return None


def _group(d: _Replaying) -> Outcome | None:
    d.key = d.fired.group
    return None


def _threshold(d: _Replaying) -> Outcome | None:
    """Frequency, rate or baseline windows, as their scripts judge them."""
    noise, state = d.rule.noise, d.state
    if noise.within is None:
        return None
    state.matched.append(d.at)
    while state.matched and state.matched[0] <= d.at - noise.within:
        state.matched.popleft()
    matched = len(state.matched)
    if noise.count is not None:
        holds = matched >= noise.count
    else:
        times = d.memory.ended.get((d.rule.name, d.key.digest), [])
        ended = bisect.bisect_right(times, d.at) - bisect.bisect_right(times, d.at - noise.within)
        ended = max(ended, matched)
        if noise.baseline is not None:
            holds = d.memory.baselines.holds(
                d.rule.name, noise.baseline, d.key.digest, d.at, (matched, ended)
            )
        else:
            holds = rate_holds(matched, ended, noise.rate or 0.0, noise.min_calls)
    if not holds or d.at < state.fired_until:
        return Outcome.BELOW_THRESHOLD
    state.fired_until = d.at + noise.within
    return None


def _digest(d: _Replaying) -> Outcome | None:
    noise, state = d.rule.noise, d.state
    if noise.group_wait is None:
        return None
    if state.digest_close is not None and d.at >= state.digest_close:
        d.alert(state.digest_close)  # the window closed before this call
        state.digest_sent, state.digest_close = state.digest_close, None
    if state.digest_close is None:
        close = d.at + noise.group_wait
        if noise.group_interval is not None and state.digest_sent is not None:
            close = max(close, state.digest_sent + noise.group_interval)
        state.digest_close = close
    return Outcome.GROUPED


def _throttle(d: _Replaying) -> Outcome | None:
    repeat, state = d.rule.noise.repeat_interval, d.state
    if repeat is None:
        return None
    if state.last_sent is not None and d.at - state.last_sent < repeat:
        return Outcome.THROTTLED
    state.last_sent = d.at
    return None


def _correlate(d: _Replaying) -> Outcome | None:
    """A correlating rule's alert may fold into the open incident of its signature."""
    signature = d.fired.signature.digest
    return d.memory.correlations.outcome(d.rule, signature, d.key.digest, d.at)


# The live stage's order (`pipeline.steps.ORDER`), checked by tests/test_structure.py.
STEPS: tuple[tuple[Step, StepFn], ...] = (
    (Step.INHIBIT, _inhibit),
    (Step.MUTE, _mute),
    (Step.SILENCE, _silence),
    (Step.SIGNATURE, _signature),
    (Step.GROUP, _group),
    (Step.THRESHOLD, _threshold),
    (Step.DIGEST, _digest),
    (Step.THROTTLE, _throttle),
    (Step.CORRELATE, _correlate),
)
