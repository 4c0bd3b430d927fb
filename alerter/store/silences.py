"""Silences: an operator's word that alerts matching some fields stop for a while."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import cast

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from alerter.clock import Clock, system_clock
from alerter.rules.matchers import Matcher
from alerter.store import keys
from alerter.store.coalesce import Coalescer

log = logging.getLogger(__name__)


MAX_SILENCE_SECONDS = 90 * 86_400  # from now, however often a silence is extended


def end_problem(ends: float, now: float) -> str | None:
    """Why a silence cannot end at `ends`, or None: never more than 90 days from now (an
    extension counts from now too, not from the end it had)."""
    if ends - now > MAX_SILENCE_SECONDS:
        latest = time.strftime("%Y-%m-%d %H:%M", time.gmtime(now + MAX_SILENCE_SECONDS))
        return f"a silence ends at most 90 days from now (by {latest} UTC)"
    return None


def _as_matchers(matchers: Mapping[str, str] | Iterable[Matcher]) -> tuple[Matcher, ...]:
    if isinstance(matchers, Mapping):
        return tuple(Matcher(str(k), "=", str(v)) for k, v in matchers.items())
    return tuple(matchers)


@dataclass(frozen=True, slots=True)
class Silence:
    id: str
    rule: str | None
    matchers: tuple[Matcher, ...]
    starts: float
    ends: float
    comment: str
    hits: int = 0
    created_by: str = ""

    def matches(self, rule: str, labels: Mapping[str, str], now: float) -> bool:
        if not self.starts <= now < self.ends:
            return False
        if self.rule is not None and self.rule != rule:
            return False
        return all(matcher.holds(labels) for matcher in self.matchers)


class Silences:
    def __init__(
        self, redis: Redis, *, clock: Clock = system_clock, coalescer: Coalescer | None = None
    ) -> None:
        self._redis = redis
        self._clock = clock  # "from now" in the 90-day bound; an expiry's default end
        # A worker's: the read every alerting call makes shares a round trip with other
        # jobs' commands, instead of one of its own.
        self._coalescer = coalescer

    async def add(
        self,
        rule: str | None,
        matchers: Mapping[str, str] | Iterable[Matcher],
        starts: float,
        ends: float,
        comment: str,
        created_by: str = "",
    ) -> Silence:
        """Raises ValueError when it would end more than 90 days from now."""
        if (problem := end_problem(ends, self._clock())) is not None:
            raise ValueError(problem)
        silence = Silence(
            uuid.uuid4().hex[:8],
            rule,
            _as_matchers(matchers),
            starts,
            ends,
            comment,
            created_by=created_by,
        )
        await self._save(silence)
        await cast(Awaitable[int], self._redis.sadd(keys.SILENCES, silence.id))
        return silence

    async def _save(self, silence: Silence) -> None:
        value = json.dumps(
            {
                "id": silence.id,
                "rule": silence.rule,
                # `matchers` keeps the equality ones in the first format, for older readers.
                "matchers": {m.name: m.value for m in silence.matchers if m.op == "="},
                "match": [[m.name, m.op, m.value] for m in silence.matchers],
                "created_by": silence.created_by,
                "starts": silence.starts,
                "ends": silence.ends,
                "comment": silence.comment,
            }
        )
        # Kept a week past its end, so `silence list --all` can still show what it stopped.
        keep_until = int(silence.ends + 7 * 86_400)
        await self._redis.set(keys.silence(silence.id), value, exat=keep_until)

    async def all(self) -> list[Silence]:
        ids = sorted(m.decode() for m in await self._ids())
        if not ids:
            return []
        values, hits = await self._values(ids)
        out, gone = [], []
        for silence_id, value, hit in zip(ids, values, hits, strict=True):
            if value is None:
                gone.append(silence_id)
                continue
            data = json.loads(value)
            try:
                matchers = (
                    tuple(Matcher(*item) for item in data["match"])
                    if "match" in data
                    else _as_matchers(data["matchers"])
                )
            except ValueError as exc:  # made before regexes ran on RE2: it cannot run now
                log.warning("silence %s left out: %s", silence_id, exc)
                continue
            out.append(
                Silence(
                    id=data["id"],
                    rule=data["rule"],
                    matchers=matchers,
                    starts=data["starts"],
                    ends=data["ends"],
                    comment=data["comment"],
                    hits=int(hit or 0),
                    created_by=str(data.get("created_by", "")),
                )
            )
        if gone:
            await cast(Awaitable[int], self._redis.srem(keys.SILENCES, *gone))
        return out

    async def _ids(self) -> set[bytes]:
        if self._coalescer is None:
            return await cast(Awaitable[set[bytes]], self._redis.smembers(keys.SILENCES))
        (ids,) = await self._coalescer.execute(lambda pipe: pipe.smembers(keys.SILENCES))
        return cast(set[bytes], ids)

    async def _values(self, ids: list[str]) -> tuple[list[bytes | None], list[bytes | None]]:
        """Each silence's stored value and its count of alerts stopped."""
        silences, hits = [keys.silence(i) for i in ids], [keys.silence_hits(i) for i in ids]
        if self._coalescer is None:
            return await self._redis.mget(silences), await self._redis.mget(hits)

        def fill(pipe: Pipeline) -> None:
            pipe.mget(silences)
            pipe.mget(hits)

        values, counts = await self._coalescer.execute(fill)
        return values, counts

    async def count_stopped(self, silence: Silence) -> None:
        """One more alert stopped by this silence (shown by `alerter silence list`)."""
        key = keys.silence_hits(silence.id)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.incr(key)
            pipe.expireat(key, int(silence.ends + 7 * 86_400))
            await pipe.execute()

    async def get(self, silence_id: str) -> Silence | None:
        return next((s for s in await self.all() if s.id == silence_id), None)

    async def set_end(self, silence_id: str, ends: float) -> Silence | None:
        """End the silence at `ends` (earlier: expire it; later: extend it); raises
        ValueError when that is more than 90 days from now."""
        if (problem := end_problem(ends, self._clock())) is not None:
            raise ValueError(problem)
        silence = await self.get(silence_id)
        if silence is None:
            return None
        changed = Silence(
            silence.id,
            silence.rule,
            silence.matchers,
            silence.starts,
            ends,
            silence.comment,
            created_by=silence.created_by,
        )
        await self._save(changed)
        return replace(changed, hits=silence.hits)

    async def expire(self, silence_id: str, now: float | None = None) -> bool:
        silence = await self.get(silence_id)
        if silence is None:
            return False
        at = now if now is not None else self._clock()
        await self.set_end(silence_id, min(silence.ends, at))
        return True
