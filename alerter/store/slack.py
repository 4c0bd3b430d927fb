"""Slack threads and acknowledgements in Redis, and their lives (key names: `store.keys`).

A thread is one (rule, group) episode's conversation in one Slack app destination: its
first post's channel and `ts`, and that post's payload (so it can be updated, marked
resolved or acknowledged, without rendering it again). An acknowledgement is an operator's
word that a (rule, group) episode is being handled: it stops its escalation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from alerter.store import keys

EPISODE_THREAD_SECONDS = 7 * 86_400  # an episode's thread: until it resolves, at most this
IDLE_THREAD_SECONDS = 4 * 3600  # a rule without episodes: a thread until this long quiet
FIRST_POST_LEASE_SECONDS = 30  # one sender posts a thread's first message at a time
ACK_SECONDS = 7 * 86_400


@dataclass(frozen=True, slots=True)
class Posted:
    """A thread's first post."""

    channel: str
    ts: str
    payload: dict[str, Any]  # what it says now (updated in place on resolve and on ack)


@dataclass(frozen=True, slots=True)
class Ack:
    by: str  # `slack:<user id>`, a console user, `cli:<user>`
    at: float


class SlackStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def posted(self, thread: str, destination: str) -> Posted | None:
        raw = await self._redis.get(keys.slack_thread(thread, destination))
        if raw is None:
            return None
        data = json.loads(raw)
        return Posted(str(data["channel"]), str(data["ts"]), dict(data["payload"]))

    async def keep(self, thread: str, destination: str, posted: Posted, seconds: float) -> None:
        value = json.dumps({"channel": posted.channel, "ts": posted.ts, "payload": posted.payload})
        await self._redis.set(
            keys.slack_thread(thread, destination), value, ex=max(1, int(seconds))
        )

    async def refresh(self, thread: str, destination: str, seconds: float) -> None:
        await self._redis.expire(keys.slack_thread(thread, destination), max(1, int(seconds)))

    async def end(self, thread: str, destination: str) -> None:
        await self._redis.delete(keys.slack_thread(thread, destination))

    async def take_first_post(self, thread: str, destination: str) -> bool:
        """Whether this sender may post the thread's first message (others wait for its ts)."""
        key = keys.slack_first_post(thread, destination)
        return bool(await self._redis.set(key, "1", nx=True, ex=FIRST_POST_LEASE_SECONDS))

    async def first_post_done(self, thread: str, destination: str) -> None:
        await self._redis.delete(keys.slack_first_post(thread, destination))

    async def acknowledge(self, rule: str, group: str, by: str, at: float) -> bool:
        """Record an acknowledgement; False when the episode already had one (kept)."""
        value = json.dumps({"by": by, "at": at})
        return bool(await self._redis.set(keys.ack(rule, group), value, nx=True, ex=ACK_SECONDS))

    async def ack(self, rule: str, group: str) -> Ack | None:
        raw = await self._redis.get(keys.ack(rule, group))
        if raw is None:
            return None
        data = json.loads(raw)
        return Ack(str(data["by"]), float(data["at"]))

    async def clear_ack(self, rule: str, group: str) -> None:
        """The episode is over: the next one starts unacknowledged."""
        await self._redis.delete(keys.ack(rule, group))

    async def escalate_once(self, thread: str, seconds: float = EPISODE_THREAD_SECONDS) -> bool:
        """True for the first caller only: an episode escalates once (`seconds`: its life)."""
        key = keys.slack_escalated(thread)
        return bool(await self._redis.set(key, "1", nx=True, ex=max(1, int(seconds))))


class Escalations:
    """Escalations waiting for their time: each episode's at most once."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def wait(self, thread: str, due: float, sends: list[dict[str, Any]]) -> bool:
        """Leave the episode's escalation waiting; False when it already waits or escalated."""
        if await self._redis.exists(keys.slack_escalated(thread)):
            return False
        await self._redis.set(
            keys.slack_escalation(thread), json.dumps(sends), ex=EPISODE_THREAD_SECONDS
        )
        added = await self._redis.zadd(keys.SLACK_ESCALATIONS, {thread: due}, nx=True)
        return bool(added)

    async def due(self, now: float) -> list[tuple[str, list[dict[str, Any]]]]:
        """The escalations due by `now`, each taken by one caller only."""
        out: list[tuple[str, list[dict[str, Any]]]] = []
        for raw_key in await self._redis.zrangebyscore(keys.SLACK_ESCALATIONS, "-inf", now):
            thread = raw_key.decode() if isinstance(raw_key, bytes) else str(raw_key)
            if not await self._redis.zrem(keys.SLACK_ESCALATIONS, thread):
                continue  # another worker's tick took it
            raw = await self._redis.getdel(keys.slack_escalation(thread))
            if raw is not None:
                out.append((thread, list(json.loads(raw))))
        return out
