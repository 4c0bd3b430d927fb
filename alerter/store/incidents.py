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


class Incidents:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._script = redis.register_script(lua.source("correlate"))

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
            keys=[
                keys.incident_groups(rule, digest),
                keys.episode(rule, digest),
                keys.EPISODES_DUE,
                keys.decision(call_id, rule, "correlate"),
            ],
            args=[
                millis(at),
                group,
                millis(within),
                min_groups,
                DECISION_TTL_SECONDS,
                json.dumps(labels),
                f"{rule}{SEP}{digest}",
                millis(within) + KEEP_AFTER_MS,
            ],
        )
        kind, incident, groups = raw.decode().split()
        return Joined(cast(Kind, kind), "" if incident == "0" else incident, int(groups))

    async def groups(self, rule: str, digest: str) -> list[str]:
        """The groups of the incident, in the order they alerted."""
        raw = await cast(
            Awaitable[list[bytes]], self._redis.zrange(keys.incident_groups(rule, digest), 0, 99)
        )
        return [member.decode() for member in raw]

    async def open(self, rule: str, digest: str) -> bool:
        """Whether an incident of (rule, signature) is open."""
        return bool(await self._redis.exists(keys.episode(rule, digest)))
