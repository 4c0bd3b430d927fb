"""Silences: an operator's word that alerts matching some fields stop for a while."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import cast

from redis.asyncio import Redis

PREFIX = "alerter:"


@dataclass(frozen=True, slots=True)
class Silence:
    id: str
    rule: str | None
    matchers: Mapping[str, str]
    starts: float
    ends: float
    comment: str
    hits: int = 0

    def matches(self, rule: str, labels: Mapping[str, str], now: float) -> bool:
        if not self.starts <= now < self.ends:
            return False
        if self.rule is not None and self.rule != rule:
            return False
        return all(labels.get(key) == value for key, value in self.matchers.items())



class Silences:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def add(
        self,
        rule: str | None,
        matchers: Mapping[str, str],
        starts: float,
        ends: float,
        comment: str,
    ) -> Silence:
        silence = Silence(uuid.uuid4().hex[:8], rule, dict(matchers), starts, ends, comment)
        await self._save(silence)
        await cast(Awaitable[int], self._redis.sadd(f"{PREFIX}silences", silence.id))
        return silence

    async def _save(self, silence: Silence) -> None:
        value = json.dumps(
            {
                "id": silence.id,
                "rule": silence.rule,
                "matchers": dict(silence.matchers),
                "starts": silence.starts,
                "ends": silence.ends,
                "comment": silence.comment,
            }
        )
        # Kept a week past its end, so `silence list --all` can still show what it stopped.
        keep_until = int(silence.ends + 7 * 86_400)
        await self._redis.set(f"{PREFIX}silence:{silence.id}", value, exat=keep_until)

    async def all(self) -> list[Silence]:
        ids = sorted(
            m.decode()
            for m in await cast(Awaitable[set[bytes]], self._redis.smembers(f"{PREFIX}silences"))
        )
        if not ids:
            return []
        values = await self._redis.mget([f"{PREFIX}silence:{i}" for i in ids])
        hits = await self._redis.mget([f"{PREFIX}silence:{i}:hits" for i in ids])
        out, gone = [], []
        for silence_id, value, hit in zip(ids, values, hits, strict=True):
            if value is None:
                gone.append(silence_id)
                continue
            data = json.loads(value)
            out.append(
                Silence(
                    id=data["id"],
                    rule=data["rule"],
                    matchers=data["matchers"],
                    starts=data["starts"],
                    ends=data["ends"],
                    comment=data["comment"],
                    hits=int(hit or 0),
                )
            )
        if gone:
            await cast(Awaitable[int], self._redis.srem(f"{PREFIX}silences", *gone))
        return out

    async def count_stopped(self, silence: Silence) -> None:
        """One more alert stopped by this silence (shown by `alerter silence list`)."""
        key = f"{PREFIX}silence:{silence.id}:hits"
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.incr(key)
            pipe.expireat(key, int(silence.ends + 7 * 86_400))
            await pipe.execute()

    async def expire(self, silence_id: str, now: float | None = None) -> bool:
        for silence in await self.all():
            if silence.id == silence_id:
                ended = Silence(
                    silence.id,
                    silence.rule,
                    silence.matchers,
                    silence.starts,
                    min(silence.ends, now if now is not None else time.time()),
                    silence.comment,
                )
                await self._save(ended)
                return True
        return False
