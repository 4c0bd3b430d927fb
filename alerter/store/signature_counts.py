"""Failure signature counts: new or known, calls per hour, the top kinds per day.

Keyed by the signature's digest (`pipeline.signatures` computes it from a log). The script
first looks for the answer it gave this call, so a retried job counts nothing twice.
"""

from __future__ import annotations

import json
import time

from redis.asyncio import Redis

from alerter.store import lua
from alerter.store.windows import DECISION_TTL_SECONDS, PREFIX, millis

SIGNATURES_PER_DAY = 1000  # distinct signatures counted a day; the rarest drop first



class SignatureCounts:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._signature = redis.register_script(lua.source("signature"))

    async def seen(
        self, digest: str, text: str, call_id: str, seen_days: float, now: float, example: str
    ) -> tuple[bool, int]:
        """(new: not seen in `seen_days`, calls that carried it in the last hour)."""
        day = time.strftime("%Y%m%d", time.gmtime(now))
        raw = await self._signature(
            keys=[
                f"{PREFIX}sig:seen:{digest}",
                f"{PREFIX}sig:calls:{digest}",
                f"{PREFIX}sigs:{day}",
                f"{PREFIX}sig:example:{digest}",
                f"{PREFIX}decision:{call_id}:sig:{digest}",
            ],
            args=[
                millis(now),
                millis(now - 3600),
                call_id,
                int(seen_days * 86400),
                digest,
                SIGNATURES_PER_DAY,
                json.dumps({"signature": text, "example": example[:200]}),
                DECISION_TTL_SECONDS,
            ],
        )
        kind, hour = raw.decode().split()
        return kind == "new", int(hour)

    async def top(
        self, since: float, now: float, limit: int = 20
    ) -> list[tuple[str, int, str]]:
        """(signature, calls, an example) most frequent first, over the days since `since`."""
        totals: dict[str, float] = {}
        day = since - since % 86400
        while day <= now:
            key = f"{PREFIX}sigs:{time.strftime('%Y%m%d', time.gmtime(day))}"
            for member, score in await self._redis.zrange(key, 0, -1, withscores=True):
                totals[member.decode()] = totals.get(member.decode(), 0) + score
            day += 86400
        top = sorted(totals.items(), key=lambda kv: -kv[1])[:limit]
        texts = await self._redis.mget([f"{PREFIX}sig:example:{d}" for d, _ in top]) if top else []
        out = []
        for (_, count), raw in zip(top, texts, strict=True):
            known = json.loads(raw) if raw else {}
            out.append((known.get("signature", "?"), int(count), known.get("example", "")))
        return out
