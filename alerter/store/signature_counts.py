"""Failure signature counts: new or known, calls per hour, the top kinds per day.

Keyed by the signature's digest (`pipeline.signatures` computes it from a log). The script
first looks for the answer it gave this call, so a retried job counts nothing twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass

from redis.asyncio import Redis

from alerter.store import keys, lua
from alerter.store import scripts as s
from alerter.store.coalesce import Coalescer
from alerter.store.windows import DECISION_TTL_SECONDS, millis

SIGNATURES_PER_DAY = 1000  # distinct signatures counted a day; the rarest drop first


LATEST_CALLS = 3  # shown per signature, linked to their pages


@dataclass(frozen=True, slots=True)
class SignatureRow:
    """One failure kind, for the console."""

    digest: str
    signature: str
    example: str
    labels: Mapping[str, str]
    last_hour: int
    per_day: tuple[int, ...]  # oldest day first, today last
    first_seen: float | None
    last_seen: float | None
    latest_calls: tuple[str, ...] = ()  # the last calls of the last hour that carried it

    @property
    def today(self) -> int:
        return self.per_day[-1] if self.per_day else 0

    @property
    def total(self) -> int:
        return sum(self.per_day)


def _seen(raw: bytes) -> tuple[bool, int]:
    """signature.lua's answer: `new|known CALLS_IN_THE_HOUR`."""
    kind, hour = raw.decode().split()
    return kind == "new", int(hour)


def _latest(newest: list[tuple[bytes, float]]) -> tuple[str, ...]:
    """The newest calls within an hour of the newest: the set is trimmed once a minute
    (signature.lua), so calls older than that may still be in it."""
    if not newest:
        return ()
    since = newest[0][1] - 3_600_000
    return tuple(call.decode() for call, at in newest if at > since)


class SignatureCounts:
    def __init__(self, redis: Redis, coalescer: Coalescer | None = None) -> None:
        self._redis = redis
        # A worker's: each alerting call's count shares a round trip with other jobs' writes.
        self._coalescer = coalescer
        self._signature = lua.Script[s.SignatureKeys, s.SignatureArgs](redis, "signature")

    async def seen(
        self,
        digest: str,
        text: str,
        call_id: str,
        seen_days: float,
        now: float,
        example: str,
        labels: Mapping[str, str] | None = None,
    ) -> tuple[bool, int]:
        """(new: not seen in `seen_days`, calls that carried it in the last hour). `labels`
        (event, category) are kept with the first example: the console's silence form
        starts from them."""
        day = time.strftime("%Y%m%d", time.gmtime(now))
        counted = (
            s.SignatureKeys(
                seen=keys.signature_seen(digest),
                calls=keys.signature_calls(digest),
                day=keys.signatures_of_day(day),
                example=keys.signature_example(digest),
                decision=keys.decision(call_id, "sig", digest),
            ),
            s.SignatureArgs(
                now_ms=millis(now),
                hour_ago_ms=millis(now - 3600),
                call_id=call_id,
                seen_seconds=int(seen_days * 86400),
                digest=digest,
                per_day=SIGNATURES_PER_DAY,
                example=json.dumps(
                    {
                        "signature": text,
                        "example": example[:200],
                        "first": now,
                        "labels": dict(labels or {}),
                    }
                ),
                decision_seconds=DECISION_TTL_SECONDS,
            ),
        )
        if self._coalescer is None:
            return _seen(await self._signature(*counted))
        return _seen(await self._signature.shared(self._coalescer, *counted))

    async def known(self, digest: str) -> tuple[str, Mapping[str, str]] | None:
        """(signature text, labels) of a signature seen in the last `seen_days`, else None."""
        raw = await self._redis.get(keys.signature_example(digest))
        if not raw:
            return None
        known = json.loads(raw)
        labels = {str(k): str(v) for k, v in (known.get("labels") or {}).items()}
        return str(known.get("signature", "")), labels

    async def top(self, since: float, now: float, limit: int = 20) -> list[tuple[str, int, str]]:
        """(signature, calls, an example) most frequent first, over the days since `since`."""
        totals: dict[str, float] = {}
        day = since - since % 86400
        while day <= now:
            key = keys.signatures_of_day(time.strftime("%Y%m%d", time.gmtime(day)))
            for member, score in await self._redis.zrange(key, 0, -1, withscores=True):
                totals[member.decode()] = totals.get(member.decode(), 0) + score
            day += 86400
        top = sorted(totals.items(), key=lambda kv: -kv[1])[:limit]
        texts = await self._redis.mget([keys.signature_example(d) for d, _ in top]) if top else []
        out = []
        for (_, count), raw in zip(top, texts, strict=True):
            known = json.loads(raw) if raw else {}
            out.append((known.get("signature", "?"), int(count), known.get("example", "")))
        return out

    async def report(self, now: float, days: int = 7, limit: int = 50) -> list[SignatureRow]:
        """The most frequent kinds over `days`, with per-day counts (a sparkline), the last
        hour's calls, and first and last seen."""
        day_keys = [
            keys.signatures_of_day(time.strftime("%Y%m%d", time.gmtime(now - d * 86400)))
            for d in reversed(range(days))
        ]
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in day_keys:
                pipe.zrange(key, 0, -1, withscores=True)
            per_key = await pipe.execute()
        per_day: dict[str, list[int]] = {}
        for index, members in enumerate(per_key):
            for member, score in members:
                counts = per_day.setdefault(member.decode(), [0] * days)
                counts[index] = int(score)
        top = sorted(per_day, key=lambda d: (-sum(per_day[d]), d))[:limit]
        if not top:
            return []
        hour_ago = millis(now - 3600)
        async with self._redis.pipeline(transaction=False) as pipe:
            for digest in top:
                pipe.get(keys.signature_example(digest))
                pipe.zcount(keys.signature_calls(digest), hour_ago, "+inf")
                pipe.get(keys.signature_seen(digest))
                pipe.zrevrange(keys.signature_calls(digest), 0, LATEST_CALLS - 1, withscores=True)
            raw = await pipe.execute()
        out = []
        for i, digest in enumerate(top):
            example, hour, seen, latest = raw[4 * i : 4 * i + 4]
            known = json.loads(example) if example else {}
            out.append(
                SignatureRow(
                    digest=digest,
                    signature=str(known.get("signature", "?")),
                    example=str(known.get("example", "")),
                    labels={str(k): str(v) for k, v in (known.get("labels") or {}).items()},
                    last_hour=int(hour),
                    per_day=tuple(per_day[digest]),
                    first_seen=float(known["first"]) if "first" in known else None,
                    last_seen=int(seen) / 1000 if seen else None,
                    latest_calls=_latest(latest),
                )
            )
        return out
