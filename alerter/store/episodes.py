"""Episodes, the Redis half: a `when` rule's (rule, group) from its first firing until it
resolves, and a flatline rule's silences.

Frequency and rate episodes are opened and extended by their window scripts
(`frequency.lua`, `rate.lua`) and listed by when they would resolve; flatline groups are
written on intake (`keys.flatline_seen`). The tick (`pipeline.episodes`) resolves what is due
and opens or closes flatlines; each change puts a note in an outbox in the same script, and
each note becomes one send job with an id of its own: a tick that runs twice, crashes half
way, or runs after a restart sends nothing twice and loses nothing.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis

from alerter.rules.noise import GroupKey, incident_key
from alerter.store import keys, lua
from alerter.store import scripts as s
from alerter.store.windows import SEP, millis

NOTIFIED_SECONDS = 30 * 86_400
BATCH = 200  # due episodes or outbox notes handled per tick, at most
WHOLE_RULE = GroupKey(()).digest  # a rule that groups nothing: its one group is kept


@dataclass(frozen=True, slots=True)
class Note:
    """An episode's change, to be sent: parsed from the outbox."""

    rule: str
    digest: str
    id: str
    kind: str  # "firing" (flatline) | "resolved"
    started: float
    ended: float
    calls: int
    labels: tuple[tuple[str, str], ...]
    flatline: bool
    raw: str  # as kept in the outbox

    @property
    def job_id(self) -> str:
        return keys.episode_job(self.rule, self.digest, self.id, self.kind)

    @property
    def key(self) -> str:
        """Stable per (rule, group, episode): the firing and its resolved message share it."""
        return incident_key(self.rule, self.digest, self.id)

    @classmethod
    def parse(cls, raw: str) -> Note:
        data: dict[str, Any] = json.loads(raw)
        labels = data.get("labels") or "[]"
        pairs = json.loads(labels) if isinstance(labels, str) else labels
        return cls(
            rule=str(data["rule"]),
            digest=str(data["digest"]),
            id=str(data["id"]),
            kind=str(data["kind"]),
            started=float(data["started"]) / 1000,
            ended=float(data["ended"]) / 1000,
            calls=int(data.get("calls") or 0),
            labels=tuple((str(k), str(v)) for k, v in pairs),
            flatline=bool(data.get("flatline")),
            raw=raw,
        )


def flatline_note(
    kind: str, rule: str, digest: str, episode: str, started_ms: int, ended_ms: int, labels: str
) -> str:
    return json.dumps(
        {
            "rule": rule,
            "digest": digest,
            "id": episode,
            "kind": kind,
            "flatline": True,
            "started": started_ms,
            "ended": ended_ms,
            "calls": 0,
            "labels": labels,
        }
    )


@dataclass(frozen=True, slots=True)
class Seen:
    """A flatline group: when its last call ended (ms) and its labels (JSON)."""

    at_ms: int
    labels: str


class Episodes:
    def __init__(self, redis: Redis, retention_seconds: float = 14 * 86_400) -> None:
        """`retention_seconds`: a flatline group unseen this long is dropped
        (`ALERTER_CALL_RETENTION`): a group per caller must not grow forever."""
        self._redis = redis
        self._retention_ms = millis(retention_seconds)
        self._close = lua.Script[s.EpisodeCloseKeys, s.EpisodeCloseArgs](redis, "episode_close")
        self._flatline = lua.Script[s.FlatlineKeys, s.FlatlineArgs](redis, "flatline")
        self._prune = lua.Script[s.FlatlinePruneKeys, s.FlatlinePruneArgs](redis, "flatline_prune")

    # -- frequency and rate episodes

    async def resolve_due(self, now: float) -> int:
        """Episodes whose condition has not held for a whole window: into the outbox."""
        members: list[bytes] = await cast(
            Awaitable[list[bytes]],
            self._redis.zrangebyscore(keys.EPISODES_DUE, "-inf", millis(now), start=0, num=BATCH),
        )
        moved = 0
        for member in members:
            rule, _, digest = member.decode().partition(SEP)
            note = await self._close(  # the note moved to the outbox, or nil: not due yet
                s.EpisodeCloseKeys(
                    keys.episode(rule, digest), keys.EPISODES_DUE, keys.EPISODES_OUTBOX
                ),
                s.EpisodeCloseArgs(millis(now), member, rule, digest),
            )
            moved += bool(note)
        return moved

    # -- flatline groups

    async def seen(self, rule: str, now: float) -> dict[str, Seen]:
        """The rule's groups; those unseen for the retention are dropped, episode and all."""
        raw = await cast(
            Awaitable[dict[bytes, bytes]], self._redis.hgetall(keys.flatline_seen(rule))
        )
        out, stale = {}, []
        cutoff = millis(now) - self._retention_ms
        for digest, value in raw.items():
            at, _, labels = value.decode().partition(" ")
            if int(at) < cutoff and digest.decode() != WHOLE_RULE:
                stale.append(digest.decode())
            else:
                out[digest.decode()] = Seen(int(at), labels or "[]")
        for start in range(0, len(stale), BATCH):
            chunk = stale[start : start + BATCH]
            await self._prune(
                s.FlatlinePruneKeys(
                    keys.flatline_seen(rule), tuple(keys.episode(rule, d) for d in chunk)
                ),
                s.FlatlinePruneArgs(cutoff, tuple(chunk)),
            )
        return out

    async def baseline(self, rule: str, digest: str, now: float) -> None:
        """A group watched before any call of it arrived counts from now."""
        await cast(
            Awaitable[int],
            self._redis.hsetnx(keys.flatline_seen(rule), digest, f"{millis(now)} []"),
        )

    async def open_ids(self, rule: str, digests: list[str]) -> dict[str, str]:
        """The open flatline episode of each group, by digest (groups without one left out)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for digest in digests:
                pipe.hget(keys.episode(rule, digest), "id")
            ids: list[bytes | None] = await pipe.execute()
        return {d: i.decode() for d, i in zip(digests, ids, strict=True) if i is not None}

    async def flatline(
        self, action: str, rule: str, digest: str, episode: str, note: str, now: float
    ) -> bool:
        """'open' or 'close' a flatline episode with its note, once."""
        done = await self._flatline(  # 1: changed; 0: it already was
            s.FlatlineKeys(keys.episode(rule, digest), keys.EPISODES_OUTBOX),
            s.FlatlineArgs(action, episode, note, millis(now)),
        )
        return bool(done)

    async def muted_at(self, rule: str) -> int:
        raw = await self._redis.get(keys.flatline_muted(rule))
        return int(raw) if raw else 0

    async def mark_muted(self, rule: str, now: float) -> None:
        """Inside a mute window: the silence a flatline measures starts again after it."""
        await self._redis.set(keys.flatline_muted(rule), millis(now), ex=NOTIFIED_SECONDS)

    # -- the outbox and notified episodes

    async def outbox(self) -> list[Note]:
        raw: list[bytes] = await cast(
            Awaitable[list[bytes]], self._redis.zrange(keys.EPISODES_OUTBOX, 0, BATCH - 1)
        )
        return [Note.parse(item.decode()) for item in raw]

    async def taken(self, note: Note) -> None:
        await cast(Awaitable[int], self._redis.zrem(keys.EPISODES_OUTBOX, note.raw))

    async def mark_notified(self, rule: str, digest: str, episode: str) -> None:
        """The episode's firing went out: its resolved message is due when it ends."""
        await self._redis.set(keys.episode_notified(rule, digest, episode), 1, ex=NOTIFIED_SECONDS)

    async def notified(self, rule: str, digest: str, episode: str) -> bool:
        return bool(await self._redis.exists(keys.episode_notified(rule, digest, episode)))
