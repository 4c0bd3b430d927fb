"""The decide stage: a fired rule on one call → send now, or why not (noise control).

Order: mute windows and silences first (an operator's word wins), then frequency and rate
thresholds, then digests, then throttling. Counting lives in `windows` (Redis).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from alerter.models import CallEnded
from alerter.pipeline.evaluate import RuleMatch
from alerter.pipeline.render import excerpt
from alerter.pipeline.render_digest import DigestCall
from alerter.pipeline.signatures import signature
from alerter.rules.noise import GroupKey, group_key, labels_of, muted
from alerter.store.windows import DigestSlot, Silence, Windows


class Verdict(StrEnum):
    SEND = "send"
    MUTED = "muted"
    SILENCED = "silenced"
    BELOW_THRESHOLD = "below_threshold"
    GROUPED = "grouped"
    THROTTLED = "throttled"
    KNOWN_SIGNATURE = "known_signature"


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    detail: str = ""
    note: str | None = None  # for the alert, when sent
    key: GroupKey | None = None
    digest: DigestSlot | None = None


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


async def decide(
    windows: Windows,
    match: RuleMatch,
    call: CallEnded,
    now: float,
    silences: Sequence[Silence] = (),
) -> Decision:
    """`silences`: as read once for the whole call (`Windows.silences`)."""
    rule, noise = match.rule, match.rule.noise
    first = match.logs[0]
    if muted(noise, now):
        return Decision(Verdict.MUTED, "inside a mute window")
    labels = labels_of(call, first) if silences else {}
    for silence in silences:
        if silence.matches(rule.name, labels, now):
            await windows.count_silenced(silence)
            return Decision(Verdict.SILENCED, f"silence {silence.id}")

    # Every alerting rule counts its failure signature; `new_signature` rules stop at known ones.
    sig = signature(first)
    new, last_hour = await windows.signature_seen(
        sig, call.call_id, rule.signature_days, now, first.text() or first.event
    )
    if rule.new_signature and not new:
        return Decision(Verdict.KNOWN_SIGNATURE, f"seen before: {sig.text}")
    sig_note = (
        f"Signature: {sig.text} ({last_hour} call{'s' if last_hour != 1 else ''} in the last hour)"
    )

    key = group_key(noise.group_by, call, first)
    note = None
    if noise.within is not None and noise.count is not None:
        counted = await windows.frequency(
            rule.name, key, call.call_id, noise.within, noise.count, now
        )
        if not counted.fire:
            return Decision(
                Verdict.BELOW_THRESHOLD,
                f"{counted.counted} of {noise.count} calls within {_span(noise.within)}",
                key=key,
            )
        note = f"{counted.counted} calls matched within {_span(noise.within)} ({key.describe()})"
    elif noise.within is not None and noise.rate is not None:
        rated = await windows.rate(
            rule.name, key, call.call_id, noise.within, noise.rate, noise.min_calls, now
        )
        share = rated.counted / rated.total if rated.total else 0.0
        summary = (
            f"{rated.counted} of {rated.total} ended calls ({share:.0%}) within "
            f"{_span(noise.within)}"
        )
        if not rated.fire:
            return Decision(Verdict.BELOW_THRESHOLD, summary, key=key)
        note = f"{summary} matched ({key.describe()})"

    if noise.group_wait is not None:
        entry = DigestCall(call.call_id, len(match.logs), excerpt(first)).to_entry()
        reason = str((first.data or {}).get("failure_reason") or "")
        slot = await windows.add_to_digest(
            rule.name,
            key,
            call.call_id,
            entry,
            first.event,
            reason,
            noise.group_wait + (noise.group_interval or 0),
            now,
        )
        return Decision(Verdict.GROUPED, f"digest window {slot.window}", key=key, digest=slot)

    if noise.repeat_interval is not None:
        throttle = await windows.throttle(rule.name, key, call.call_id, noise.repeat_interval, now)
        if not throttle.send:
            return Decision(
                Verdict.THROTTLED, f"{throttle.suppressed} suppressed since the last", key=key
            )
        if throttle.suppressed and throttle.last_sent is not None:
            since = datetime.fromtimestamp(throttle.last_sent, UTC).strftime("%H:%M")
            more = f"and {throttle.suppressed} more call{'s' if throttle.suppressed != 1 else ''}"
            note = f"{more} since {since} UTC" + (f"; {note}" if note else "")
    return Decision(Verdict.SEND, note=f"{note}\n{sig_note}" if note else sig_note, key=key)
