"""Acknowledge and silence an episode, from Slack, the console or the API: one place that
records each (the acknowledgement or silence, the audit stream, the call's story)."""

from __future__ import annotations

from redis.asyncio import Redis

from alerter.clock import Clock
from alerter.models import Outcome
from alerter.store.audit import Audit
from alerter.store.silences import Silence, Silences
from alerter.store.slack import SlackStore
from alerter.store.state import State


async def acknowledge(
    redis: Redis,
    rule: str,
    group: str,
    who: str,
    now: float,
    call_id: str | None = None,
    *,
    clock: Clock,
) -> bool:
    """Record `who`'s acknowledgement of the (rule, group) episode at `now`: it escalates no
    more. False when it was already acknowledged (the first one stands; this one is still
    audited). `clock`: the process's, which the audit entry and the call's story read."""
    first = await SlackStore(redis).acknowledge(rule, group, who, now)
    audit = Audit(redis, clock=clock)
    await audit.write(who, "ack", f"{rule} {group}", {"first": first, "call_id": call_id})
    if call_id:
        detail = f"acknowledged by {who}" if first else f"acknowledged again by {who}"
        state = State(redis, clock=clock)
        await state.record(call_id, Outcome.ACKNOWLEDGED, rule=rule, detail=detail)
    return first


async def silence_group(
    redis: Redis,
    rule: str,
    labels: tuple[tuple[str, str], ...],
    who: str,
    now: float,
    seconds: float,
    call_id: str | None = None,
    *,
    clock: Clock,
) -> Silence:
    """A silence of the rule for the group's labels (literal values), made by `who` at `now`."""
    silence = await Silences(redis, clock=clock).add(
        rule, dict(labels), now, now + seconds, f"silenced from Slack by {who}", created_by=who
    )
    await Audit(redis, clock=clock).write(
        who,
        "silence.create",
        silence.id,
        {"rule": rule, "match": [str(m) for m in silence.matchers], "ends_at": silence.ends},
    )
    if call_id:
        await State(redis, clock=clock).record(
            call_id, Outcome.SILENCED, rule=rule, detail=f"silence {silence.id} by {who}"
        )
    return silence
