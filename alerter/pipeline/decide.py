"""The decide stage: a fired rule on one call → send now, or why not (noise control).

Order: mute windows and silences first (an operator's word wins), then frequency and rate
thresholds, then digests, then throttling. Counting lives in `store` (windows, silences,
signature counts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from alerter.models import CallEnded, Outcome
from alerter.pipeline.evaluate import RuleMatch
from alerter.pipeline.signatures import signature
from alerter.render.alert import excerpt
from alerter.render.digest import DigestCall
from alerter.rules import baseline
from alerter.rules.noise import GroupKey, format_duration, group_key, labels_of, muted
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


async def decide(
    stores: NoiseStores,
    match: RuleMatch,
    call: CallEnded,
    now: float,
    silences: Sequence[Silence] = (),
    *,
    ended_at: float | None = None,
) -> Decision:
    """`silences`: as read once for the whole call (`Silences.all`). `now` is when the
    decision is taken (mutes, silences, throttles, digests: what reaches people now);
    `ended_at` when the call ended (frequency and rate windows count calls by it)."""
    ended = now if ended_at is None else ended_at
    rule, noise = match.rule, match.rule.noise
    first = match.logs[0]
    if muted(noise, now):
        return Decision(Outcome.MUTED, "inside a mute window")
    labels = labels_of(call, first) if silences else {}
    for silence in silences:
        if silence.matches(rule.name, labels, now):
            await stores.silences.count_stopped(silence)
            return Decision(Outcome.SILENCED, f"silence {silence.id}")

    # Every alerting rule counts its failure signature; `new_signature` rules stop at known ones.
    sig = signature(first)
    new, last_hour = await stores.signatures.seen(
        sig.digest,
        sig.text,
        call.call_id,
        rule.signature_days,
        now,
        first.text() or first.event,
        {"event": first.event, "category": str(first.category)},
    )
    if rule.new_signature and not new:
        return Decision(Outcome.KNOWN_SIGNATURE, f"seen before: {sig.text}")
    sig_note = (
        f"Signature: {sig.text} ({last_hour} call{'s' if last_hour != 1 else ''} in the last hour)"
    )

    key = await stores.windows.admit(rule.name, group_key(noise.group_by, call, first), noise, now)
    reason = str((first.data or {}).get("failure_reason") or "")
    note = headline = episode = None
    counts: Window | None = None
    window_end = ended
    if noise.within is not None and noise.count is not None:
        counted = await stores.windows.frequency(
            rule.name,
            key,
            call.call_id,
            noise.within,
            noise.count,
            ended,
            (first.event, reason),
            track=noise.episodes,
        )
        episode = counted.episode or None
        window_end = counted.window_end or ended
        if not counted.fire:
            return Decision(
                Outcome.BELOW_THRESHOLD,
                f"{counted.counted} of {noise.count} calls within {format_duration(noise.within)}",
                key=key,
            )
        counts = Window(counted.counted)
        headline = (
            f"{counted.counted} calls within {format_duration(noise.within)} ({key.describe()})"
        )
    elif noise.within is not None and noise.rate is not None:
        rated = await stores.windows.rate(
            rule.name,
            key,
            call.call_id,
            noise.within,
            noise.rate,
            noise.min_calls,
            ended,
            (first.event, reason),
            track=noise.episodes,
        )
        episode = rated.episode or None
        window_end = rated.window_end or ended
        share = rated.counted / rated.total if rated.total else 0.0
        summary = (
            f"{rated.counted} of {rated.total} ended calls ({share:.0%}) within "
            f"{format_duration(noise.within)}"
        )
        if not rated.fire:
            return Decision(Outcome.BELOW_THRESHOLD, summary, key=key)
        counts = Window(rated.counted, rated.total, share)
        headline = f"{summary} ({key.describe()})"
    elif noise.baseline is not None:
        if stores.baselines is None:
            raise RuntimeError("a baseline rule needs NoiseStores.baselines")
        judged = await stores.baselines.judge(
            rule.name,
            key,
            call.call_id,
            noise.baseline,
            ended,
            (first.event, reason),
            track=noise.episodes,
        )
        episode, window_end = judged.episode or None, judged.window_end or ended
        shares = judged.shares
        group = ", ".join(value for _, value in key.labels) or "all calls"
        summary = baseline.headline(
            noise.baseline, group, shares, format_duration(noise.baseline.within)
        )
        if not judged.fire:
            return Decision(Outcome.BELOW_THRESHOLD, summary, key=key)
        counts = Window(shares.matched, shares.ended, shares.share)
        headline = summary
    if headline is not None and noise.within is not None:
        # About the group, not the call that tipped it: what the counted window's calls were.
        window = await stores.windows.breakdown(
            rule.name, key, noise.within, window_end, rate=noise.count is None
        )
        note = "\n".join([f"{headline}: {rule.name} fired for the group", *_lines(window)])

    if noise.group_wait is not None:
        entry = DigestCall(call.call_id, len(match.logs), excerpt(first)).to_entry()
        slot = await stores.windows.add_to_digest(
            rule.name,
            key,
            call.call_id,
            entry,
            first.event,
            reason,
            noise.group_wait + (noise.group_interval or 0),
            now,
        )
        return Decision(Outcome.GROUPED, f"digest window {slot.window}", key=key, digest=slot)

    if noise.repeat_interval is not None:
        throttle = await stores.windows.throttle(
            rule.name, key, call.call_id, noise.repeat_interval, now
        )
        if not throttle.send:
            return Decision(
                Outcome.THROTTLED, f"{throttle.suppressed} suppressed since the last", key=key
            )
        if throttle.suppressed and throttle.last_sent is not None:
            since = datetime.fromtimestamp(throttle.last_sent, UTC).strftime("%H:%M")
            more = f"and {throttle.suppressed} more call{'s' if throttle.suppressed != 1 else ''}"
            note = f"{more} since {since} UTC" + (f"; {note}" if note else "")
    return Decision(
        Outcome.SENT,
        note=f"{note}\n{sig_note}" if note else sig_note,
        key=key,
        headline=headline,
        episode=episode,
        window=counts,
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
