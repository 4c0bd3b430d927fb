"""Correlated incidents, the Redis half: one script (`correlate.lua`) per alert of a
correlating rule. An open incident is kept as an episode of the rule under the signature's
own group key, so the episode tick resolves it, and its resolved message carries the key
its firing did."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Literal, cast

from redis.asyncio import Redis

from alerter.store import keys, lua
from alerter.store import scripts as s
from alerter.store.windows import (
    DECISION_TTL_SECONDS,
    KEEP_AFTER_MS,
    SEP,
    millis,
)

Kind = Literal["single", "open", "fold"]


@dataclass(frozen=True, slots=True)
class Joined:
    kind: Kind
    incident: str  # the incident's id ('' for a single alert)
    groups: int  # groups that alerted with the signature in the window (or the incident)


def _joined(raw: bytes) -> Joined:
    """correlate.lua's answer: `single 0 N`, `open ID N` or `fold ID N`."""
    kind, incident, groups = raw.decode().split()
    return Joined(cast(Kind, kind), "" if incident == "0" else incident, int(groups))


class Incidents:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._script = lua.Script[s.CorrelateKeys, s.CorrelateArgs](redis, "correlate")

    async def join(
        self,
        rule: str,
        digest: str,
        group: str,
        labels: tuple[tuple[str, str], ...],
        call_id: str,
        at: float,
        *,
        within: float,
        min_groups: int,
    ) -> Joined:
        """`digest`: the incident's (rule, signature) key; `group`: the alerting group."""
        raw: bytes = await self._script(
            s.CorrelateKeys(
                groups=keys.incident_groups(rule, digest),
                incident=keys.episode(rule, digest),
                due=keys.EPISODES_DUE,
                decision=keys.decision(call_id, rule, "correlate"),
            ),
            s.CorrelateArgs(
                now_ms=millis(at),
                group=group,
                within_ms=millis(within),
                min_groups=min_groups,
                decision_seconds=DECISION_TTL_SECONDS,
                labels=json.dumps(labels),
                due_member=f"{rule}{SEP}{digest}",
                keep_ms=millis(within) + KEEP_AFTER_MS,
            ),
        )
        return _joined(raw)

    async def groups(self, rule: str, digest: str) -> list[str]:
        """The groups of the incident, in the order they alerted."""
        raw = await cast(
            Awaitable[list[bytes]], self._redis.zrange(keys.incident_groups(rule, digest), 0, 99)
        )
        return [member.decode() for member in raw]

    async def open(self, rule: str, digest: str) -> bool:
        """Whether an incident of (rule, signature) is open."""
        return bool(await self._redis.exists(keys.episode(rule, digest)))
