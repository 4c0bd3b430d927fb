"""Baselines, the Redis half: one script (`baseline.lua`) per decision, hourly rings for
`over` (bounded memory per group), the window counted like a failure-rate rule's.

Keys: the window's matched calls and their kinds share the rate layout
(`alerter:rate:{rule}:{group}:matched|calls|ended`, so an alert's breakdown reads them as a
rate rule's); the rings are `alerter:baseline:{rule}:{group|fleet}:{matched|ended}`.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from alerter.rules.baseline import HOUR_MS, Baseline, Shares
from alerter.rules.noise import GroupKey
from alerter.store import keys, lua
from alerter.store import scripts as s
from alerter.store.windows import (
    DECISION_TTL_SECONDS,
    KEEP_AFTER_MS,
    _episode,
    _kind,
    millis,
)

FLEET = "fleet"


def ring_keep_ms(baseline: Baseline) -> int:
    return baseline.slots * HOUR_MS + KEEP_AFTER_MS


@dataclass(frozen=True, slots=True)
class EndedCounter:
    """What intake counts for a baseline rule's group, in the enqueue's round trip: the
    window's ended calls (a sorted set, like a rate rule's) and the hourly rings."""

    window_key: str
    group_ring: str
    fleet_ring: str
    within: float
    slots: int
    keep_ms: int


def ended_counter(rule: str, key: GroupKey, baseline: Baseline) -> EndedCounter:
    return EndedCounter(
        keys.rate_ended(rule, key.digest),
        keys.baseline_ring(rule, key.digest, "ended"),
        keys.baseline_ring(rule, FLEET, "ended"),
        baseline.within,
        baseline.slots,
        ring_keep_ms(baseline),
    )


@dataclass(frozen=True, slots=True)
class Judged:
    fire: bool
    shares: Shares
    episode: str = ""
    window_end: float | None = None


class Baselines:
    def __init__(self, redis: Redis) -> None:
        self._script = lua.Script[s.BaselineKeys, s.BaselineArgs](redis, "baseline")

    async def judge(
        self,
        rule: str,
        key: GroupKey,
        call_id: str,
        baseline: Baseline,
        now: float,
        kind: tuple[str, str] = ("", ""),
        *,
        track: bool = False,
    ) -> Judged:
        episode_keys, episode_args = _episode(rule, key, baseline.within, track)
        raw: bytes = await self._script(
            s.BaselineKeys(
                matched=keys.rate_matched(rule, key.digest),
                ended=keys.rate_ended(rule, key.digest),
                fired=keys.baseline_fired(rule, key.digest),
                decision=keys.decision(call_id, rule, "when"),
                kinds=keys.rate_kinds(rule, key.digest),
                group_matched=keys.baseline_ring(rule, key.digest, "matched"),
                group_ended=keys.baseline_ring(rule, key.digest, "ended"),
                fleet_matched=keys.baseline_ring(rule, FLEET, "matched"),
                fleet_ended=keys.baseline_ring(rule, FLEET, "ended"),
                episode=episode_keys,
            ),
            s.BaselineArgs(
                now_ms=millis(now),
                unused=0,
                call_id=call_id,
                within_ms=millis(baseline.within),
                factor_milli=baseline.factor_milli,
                min_calls=baseline.min_calls,
                decision_seconds=DECISION_TTL_SECONDS,
                kind=_kind(kind),
                hours=baseline.hours,
                slots=baseline.slots,
                ring_keep_ms=ring_keep_ms(baseline),
                episode=episode_args,
            ),
        )
        return _judged(raw)


def _judged(raw: bytes) -> Judged:
    """baseline.lua's answer: `fire|below M E BM BE FLEET [EPISODE] @END`."""
    fired, m, e, bm, be, fleet, *rest = raw.decode().split()
    end = int(rest.pop()[1:]) / 1000 if rest and rest[-1].startswith("@") else None
    shares = Shares(int(m), int(e), int(bm), int(be), fleet == "1")
    return Judged(fired == "fire", shares, "".join(rest), end)
