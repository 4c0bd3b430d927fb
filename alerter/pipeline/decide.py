"""The decide stage: a fired rule on one call → send now, or why not (noise control).

A decision is the steps of `STEPS`, run in order (`steps.ORDER`, which the backtest's replay
follows too): each ends it (a `Decision` saying why not) or lets the call go on, adding
what it learnt (the group, what the window counted, notes). A call that goes through every
step is SENT. The order is the contract, because of what each step counts:

1. inhibit: a symptom whose cause fired on this call, or whose cause has an incident of
   this failure open, is counted nowhere (no signature, no window);
2. mute, 3. silence: an operator's word wins, before any counting (a silence counts the
   alerts it stopped);
4. signature: every alerting rule counts its failure signature; `new_signature` rules stop
   at known ones;
5. group: the call's group is admitted (the cap on a rule's groups);
6. threshold: frequency, rate or baseline windows count the call by when it ended, and stop
   it below their threshold;
7. digest: a grouped call waits for its group's digest;
8. throttle: a repeat within `repeat_interval` is counted, not sent;
9. correlate: a correlating rule's alert joins its signature's incident, and may fold into
   it (`correlate`).

Counting lives in `store` (windows, silences, signature counts, incidents).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from alerter.durations import format_duration
from alerter.models import Outcome
from alerter.pipeline import correlate
from alerter.pipeline.steps import Step
from alerter.rules import baseline
from alerter.rules.baseline import Baseline
from alerter.rules.fired import FiredRule
from alerter.rules.model import Rule, RuleSet
from alerter.rules.noise import GroupKey, muted
from alerter.store.baseline import Baselines
from alerter.store.episodes import Episodes
from alerter.store.incidents import Incidents
from alerter.store.signature_counts import SignatureCounts
from alerter.store.silences import Silence, Silences
from alerter.store.windows import Breakdown, DigestSlot, Windows


@dataclass(frozen=True, slots=True)
class NoiseStores:
    """The Redis state noise control reads and counts in."""

    windows: Windows
    silences: Silences
    signatures: SignatureCounts
    episodes: Episodes
    baselines: Baselines | None = None  # needed by baseline rules only
    incidents: Incidents | None = None  # needed by correlating rules only


@dataclass(frozen=True, slots=True)
class Window:
    """What a `when` rule's window counted when it fired, for its templates (`window.*`):
    `count` matching calls; `calls` ended calls and `rate` their share (rate rules)."""

    count: int
    calls: int | None = None
    rate: float | None = None

    def seen(self) -> dict[str, int | float]:
        """For templates: what a frequency window does not know (ended calls) is left out,
        so it renders empty."""
        out: dict[str, int | float] = {"count": self.count}
        if self.calls is not None:
            out["calls"] = self.calls
        if self.rate is not None:
            out["rate"] = self.rate
        return out


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome  # SENT: send now; any other: why not
    detail: str = ""
    note: str | None = None  # for the alert, when sent
    key: GroupKey | None = None
    digest: DigestSlot | None = None
    headline: str | None = None  # frequency and rate alerts: titled by the group, not the call
    episode: str | None = None  # the group's open episode (rules with resolved messages)
    window: Window | None = None  # `when` rules: what the window that fired counted


BREAKDOWN_CALL_IDS = 5
_NO_GROUP = GroupKey(())


@dataclass(frozen=True, slots=True)
class CallContext:
    """What every fired rule of one call is decided against."""

    now: float  # when decided: mutes, silences, throttles, digests (what reaches people now)
    ended_at: float  # when the call ended: frequency, rate and baseline windows count it then
    silences: Sequence[Silence] = ()  # as read once for the whole call (`Silences.all`)
    fired: frozenset[str] = frozenset()  # the rules that fired on the call: inhibitors
    rules: RuleSet | None = None  # which inhibitors correlate (their open incidents inhibit)


@dataclass(slots=True)
class _Deciding:
    """One fired rule on its way through the steps, and what they learnt so far."""

    stores: NoiseStores
    fired: FiredRule
    at: CallContext
    digest_entry: Mapping[str, Any] | None
    window_end: float  # the counted window's end (calls decided out of order: the latest)
    key: GroupKey = _NO_GROUP  # the admitted group, from step `group` on
    signature_note: str = ""
    note: str | None = None  # the group's: the window's breakdown, the throttled repeats
    incident_note: str | None = None  # the incident this alert opened, naming its groups
    headline: str | None = None
    episode: str | None = None
    counts: Window | None = None

    @property
    def rule(self) -> Rule:
        return self.fired.rule

    def sent(self) -> Decision:
        parts = (self.incident_note, self.note, self.signature_note)
        return Decision(
            Outcome.SENT,
            note="\n".join(part for part in parts if part),
            key=self.key,
            headline=self.headline,
            episode=self.episode,
            window=self.counts,
        )


StepFn = Callable[[_Deciding], Awaitable[Decision | None]]  # None: the call goes on


async def decide(
    stores: NoiseStores,
    fired: FiredRule,
    at: CallContext,
    digest_entry: Mapping[str, Any] | None = None,
) -> Decision:
    """The first step's decision that ends it, else SENT. `digest_entry`: the call as its
    group's digest lists it (`render.digest.DigestCall`), for rules with `group_wait`."""
    deciding = _Deciding(stores, fired, at, digest_entry, window_end=at.ended_at)
    for _, step in STEPS:
        decision = await step(deciding)
        if decision is not None:
            return decision
    return deciding.sent()


async def _inhibit(d: _Deciding) -> Decision | None:
    rule, at = d.rule, d.at
    cause = next((name for name in rule.inhibited_by if name in at.fired), None)
    if cause is not None:
        return Decision(Outcome.INHIBITED, f"inhibited by {cause}, which fired on this call")
    if rule.inhibited_by and d.stores.incidents is not None and at.rules is not None:
        cause = await correlate.inhibiting_incident(d.stores.incidents, at.rules, d.fired)
        if cause is not None:
            why = f"inhibited by {cause}, whose incident of this failure is open"
            return Decision(Outcome.INHIBITED, why)
    return None


async def _mute(d: _Deciding) -> Decision | None:
    if muted(d.rule.noise, d.at.now):
        return Decision(Outcome.MUTED, "inside a mute window")
    return None


async def _silence(d: _Deciding) -> Decision | None:
    for silence in d.at.silences:
        if silence.matches(d.rule.name, d.fired.labels, d.at.now):
            await d.stores.silences.count_stopped(silence)
            return Decision(Outcome.SILENCED, f"silence {silence.id}")
    return None


async def _signature(d: _Deciding) -> Decision | None:
    rule, first, sig = d.rule, d.fired.first, d.fired.signature
    new, last_hour = await d.stores.signatures.seen(
        sig.digest,
        sig.text,
        d.fired.call.call_id,
        rule.signature_days,
        d.at.now,
        first.text() or first.event,
        {"event": first.event, "category": str(first.category)},
    )
    if rule.new_signature and not new:
        return Decision(Outcome.KNOWN_SIGNATURE, f"seen before: {sig.text}")
    calls = f"{last_hour} call{'s' if last_hour != 1 else ''}"
    d.signature_note = f"Signature: {sig.text} ({calls} in the last hour)"
    return None


async def _group(d: _Deciding) -> Decision | None:
    d.key = await d.stores.windows.admit(d.rule.name, d.fired.group, d.rule.noise, d.at.now)
    return None


async def _threshold(d: _Deciding) -> Decision | None:
    """The rule's `when` window (frequency, rate or baseline), if it has one; once it fires,
    the alert is about the group, and its note says what the counted window's calls were."""
    noise = d.rule.noise
    if noise.within is not None and noise.count is not None:
        below = await _frequency(d, noise.within, noise.count)
    elif noise.within is not None and noise.rate is not None:
        below = await _rate(d, noise.within, noise.rate)
    elif noise.baseline is not None:
        below = await _baseline(d, noise.baseline)
    else:
        return None
    if below is not None:
        return below
    if d.headline is not None and noise.within is not None:
        window = await d.stores.windows.breakdown(
            d.rule.name, d.key, noise.within, d.window_end, rate=noise.count is None
        )
        d.note = "\n".join([f"{d.headline}: {d.rule.name} fired for the group", *_lines(window)])
    return None


async def _frequency(d: _Deciding, within: float, count: int) -> Decision | None:
    rule, noise, key = d.rule, d.rule.noise, d.key
    counted = await d.stores.windows.frequency(
        rule.name,
        key,
        d.fired.call.call_id,
        within,
        count,
        d.at.ended_at,
        (d.fired.first.event, d.fired.reason),
        track=noise.episodes,
    )
    d.episode = counted.episode or None
    d.window_end = counted.window_end or d.at.ended_at
    if not counted.fire:
        why = f"{counted.counted} of {count} calls within {format_duration(within)}"
        return Decision(Outcome.BELOW_THRESHOLD, why, key=key)
    d.counts = Window(counted.counted)
    d.headline = f"{counted.counted} calls within {format_duration(within)} ({key.describe()})"
    return None


async def _rate(d: _Deciding, within: float, rate: float) -> Decision | None:
    rule, noise, key = d.rule, d.rule.noise, d.key
    rated = await d.stores.windows.rate(
        rule.name,
        key,
        d.fired.call.call_id,
        within,
        rate,
        noise.min_calls,
        d.at.ended_at,
        (d.fired.first.event, d.fired.reason),
        track=noise.episodes,
    )
    d.episode = rated.episode or None
    d.window_end = rated.window_end or d.at.ended_at
    share = rated.counted / rated.total if rated.total else 0.0
    summary = (
        f"{rated.counted} of {rated.total} ended calls ({share:.0%}) within "
        f"{format_duration(within)}"
    )
    if not rated.fire:
        return Decision(Outcome.BELOW_THRESHOLD, summary, key=key)
    d.counts = Window(rated.counted, rated.total, share)
    d.headline = f"{summary} ({key.describe()})"
    return None


async def _baseline(d: _Deciding, spec: Baseline) -> Decision | None:
    rule, noise, key = d.rule, d.rule.noise, d.key
    if d.stores.baselines is None:
        raise RuntimeError("a baseline rule needs NoiseStores.baselines")
    judged = await d.stores.baselines.judge(
        rule.name,
        key,
        d.fired.call.call_id,
        spec,
        d.at.ended_at,
        (d.fired.first.event, d.fired.reason),
        track=noise.episodes,
    )
    d.episode, d.window_end = judged.episode or None, judged.window_end or d.at.ended_at
    shares = judged.shares
    group = ", ".join(value for _, value in key.labels) or "all calls"
    summary = baseline.headline(spec, group, shares, format_duration(spec.within))
    if not judged.fire:
        return Decision(Outcome.BELOW_THRESHOLD, summary, key=key)
    d.counts = Window(shares.matched, shares.ended, shares.share)
    d.headline = summary
    return None


async def _digest(d: _Deciding) -> Decision | None:
    noise = d.rule.noise
    if noise.group_wait is None:
        return None
    if d.digest_entry is None:
        raise RuntimeError("a rule with group_wait needs its call's digest entry")
    slot = await d.stores.windows.add_to_digest(
        d.rule.name,
        d.key,
        d.fired.call.call_id,
        d.digest_entry,
        d.fired.first.event,
        d.fired.reason,
        noise.group_wait + (noise.group_interval or 0),
        d.at.now,
    )
    return Decision(Outcome.GROUPED, f"digest window {slot.window}", key=d.key, digest=slot)


async def _throttle(d: _Deciding) -> Decision | None:
    noise = d.rule.noise
    if noise.repeat_interval is None:
        return None
    throttle = await d.stores.windows.throttle(
        d.rule.name, d.key, d.fired.call.call_id, noise.repeat_interval, d.at.now
    )
    if not throttle.send:
        why = f"{throttle.suppressed} suppressed since the last"
        return Decision(Outcome.THROTTLED, why, key=d.key)
    if throttle.suppressed and throttle.last_sent is not None:
        since = datetime.fromtimestamp(throttle.last_sent, UTC).strftime("%H:%M")
        more = f"and {throttle.suppressed} more call{'s' if throttle.suppressed != 1 else ''}"
        d.note = f"{more} since {since} UTC" + (f"; {d.note}" if d.note else "")
    return None


async def _correlate(d: _Deciding) -> Decision | None:
    """A correlating rule's alert: sent as it is, folded into the open incident of its
    signature, or (this group opened the incident) turned into the incident's message."""
    if d.stores.incidents is None:
        return None
    joined = await correlate.join(d.stores.incidents, d.fired, d.key, d.at.ended_at)
    if isinstance(joined, correlate.Folded):
        return Decision(Outcome.CORRELATED, joined.detail, key=d.key)
    if isinstance(joined, correlate.Opened):
        d.key, d.episode, d.headline = joined.key, joined.episode, joined.headline
        d.incident_note = joined.groups
    return None


# The order is the contract (see the module's docstring), the replay's too: `steps.ORDER`.
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


def _lines(window: Breakdown) -> list[str]:
    def counts(pairs: tuple[tuple[str, int], ...]) -> str:
        return ", ".join(f"{name} ×{n}" for name, n in pairs)

    lines = []
    if window.events:
        lines.append(f"Events: {counts(window.events)}")
    if window.reasons:
        lines.append(f"Failure reasons: {counts(window.reasons)}")
    if window.calls:
        shown = ", ".join(window.calls[:BREAKDOWN_CALL_IDS])
        more = len(window.calls) - BREAKDOWN_CALL_IDS
        lines.append(f"Calls: {shown}" + (f" and {more} more" if more > 0 else ""))
    return lines
