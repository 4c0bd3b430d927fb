"""The audit stream: every change made through the console or the API, who, what, when."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from alerter.clock import Clock, system_clock
from alerter.store import keys

AUDIT_MAX = 100_000


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: float
    who: str
    action: str  # e.g. silence.create, failed.retry
    target: str
    detail: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "who": self.who,
            "action": self.action,
            "target": self.target,
            "detail": self.detail,
        }


class Audit:
    def __init__(self, redis: Redis, *, clock: Clock = system_clock) -> None:
        self._redis = redis
        self._clock = clock

    async def write(
        self, who: str, action: str, target: str, detail: dict[str, Any] | None = None
    ) -> None:
        fields = {
            "at": f"{self._clock():.3f}",
            "who": who[:200],
            "action": action,
            "target": target[:200],
            "detail": json.dumps(detail or {})[:2000],
        }
        await self._redis.xadd(keys.AUDIT, fields, maxlen=AUDIT_MAX, approximate=True)  # type: ignore[arg-type]

    async def latest(self, count: int = 200) -> list[AuditEntry]:
        out = []
        for _, raw in await self._redis.xrevrange(keys.AUDIT, count=count):
            row = {k.decode(): v.decode() for k, v in raw.items()}
            try:
                detail = json.loads(row.get("detail", "{}"))
            except ValueError:
                detail = {}
            out.append(
                AuditEntry(
                    at=float(row.get("at", 0)),
                    who=row.get("who", ""),
                    action=row.get("action", ""),
                    target=row.get("target", ""),
                    detail=detail if isinstance(detail, dict) else {},
                )
            )
        return out
