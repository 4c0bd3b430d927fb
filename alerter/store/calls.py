"""Each call's story, kept for the console and the backtest: what the webhook said, what was
fetched, and every decision, send and failure, without scanning the history stream.

Keys, all expiring after the retention (`ALERTER_CALL_RETENTION`):
- `alerter:call:{id}`: the call (id, fields, accepted time) as JSON;
- `alerter:call:{id}:events`: its timeline, a list of JSON events, the newest 200 kept;
- `alerter:calls`: a sorted set of call ids by acceptance time (the backtest's index), at most
  `MAX_INDEXED_CALLS` entries;
- `alerter:counts:{bucket}`: per 10-minute bucket, counts by "rule|outcome" (the console's
  honest counts), and `alerter:matched:{rule}:{bucket}` a HyperLogLog of the calls on which
  the rule fired, so a retried call is not counted twice.

Writers add commands to a pipeline their caller already sends: no extra round trip.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from alerter.models import CallEnded
from alerter.store import keys

FIRED_OUTCOMES = ("sent", "shadow")  # a destination accepted; a shadow rule's would-send
MAX_EVENTS = 200
MAX_INDEXED_CALLS = 2_000_000
BUCKET_SECONDS = 600
COUNTS_TTL_SECONDS = 26 * 3600  # a day of buckets, plus room for the oldest one read
DEFAULT_RETENTION_SECONDS = 14 * 86_400


TRIM_EVERY = 64


def _trims_index(call_id: str) -> bool:
    return zlib.crc32(call_id.encode()) % TRIM_EVERY == 0


def event_text(event: CallEvent) -> str:
    """An event as a call's events list keeps it."""
    return json.dumps(event.to_json(), separators=(",", ":"))


RECORD_EVENTS = "story"  # the record's field for its first events (not a call field)


def _story(raw: bytes | None, later: Sequence[bytes]) -> CallStory:
    """A call's story from its record (with its first events) and its events list, in time
    order (a failure of an earlier try is in the list before the record is written), at
    most MAX_EVENTS."""
    record = json.loads(raw) if raw else None
    first = [CallEvent.from_value(e) for e in (record or {}).pop(RECORD_EVENTS, [])]
    events = sorted(first + [CallEvent.from_json(e) for e in later], key=_to_the_ms)
    call = CallEnded.from_job(record) if record else None
    return CallStory(call, tuple(events[-MAX_EVENTS:]))  # the newest, as the list keeps


def _to_the_ms(event: CallEvent) -> float:
    """History entries keep milliseconds: within one, a record's events come first (the
    sort is stable), as they were written before any later event."""
    return round(event.at, 3)


async def last_written(redis: Redis, prefix: str, before: str) -> dict[str, bytes]:
    """`keys.LAST`'s values under `prefix` (`keys.LAST_RULE`, `keys.LAST_DESTINATION`) by
    name, over those of the hash they were kept in `before` it (a deployment's values from
    then, never written again: shown until each is written anew), in one round trip."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(before)
        pipe.hgetall(keys.LAST)
        old, new = cast(list[Mapping[bytes, bytes]], await pipe.execute())
    out = {name.decode(): value for name, value in old.items()}
    for field_name, value in new.items():
        kind, _, name = field_name.decode().partition(":")
        if f"{kind}:" == prefix:
            out[name] = value
    return out


def bucket_of(at: float) -> int:
    return int(at // BUCKET_SECONDS)


@dataclass(frozen=True, slots=True)
class CallEvent:
    """One line of a call's timeline (the same fields as its history entry)."""

    at: float
    outcome: str  # an Outcome value, or "fetched"
    rule: str = ""
    destination: str = ""
    detail: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)  # what silences match, on decisions

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"at": self.at, "outcome": self.outcome}
        for name in ("rule", "destination", "detail"):
            if value := getattr(self, name):
                out[name] = value
        if self.labels:
            out["labels"] = dict(self.labels)
        return out

    @classmethod
    def from_json(cls, raw: bytes | str) -> CallEvent:
        return cls.from_value(json.loads(raw))

    @classmethod
    def from_value(cls, value: Mapping[str, Any]) -> CallEvent:
        return cls(
            at=float(value.get("at", 0)),
            outcome=str(value.get("outcome", "")),
            rule=str(value.get("rule", "")),
            destination=str(value.get("destination", "")),
            detail=str(value.get("detail", "")),
            labels={str(k): str(v) for k, v in (value.get("labels") or {}).items()},
        )


@dataclass(frozen=True, slots=True)
class CallStory:
    call: CallEnded | None  # None: the call's record expired or was never written
    events: tuple[CallEvent, ...]


class CallRecords:
    def __init__(self, redis: Redis, retention_seconds: float = DEFAULT_RETENTION_SECONDS):
        self._redis = redis
        self.retention = int(retention_seconds)
        # The matched-count keys this process has given their expiry, of one bucket.
        self._expiring_bucket = -1
        self._expiring: set[str] = set()

    # -- writers: commands added to the caller's pipeline

    def write_call(
        self, pipe: Pipeline, call: CallEnded, now: float, events: Sequence[CallEvent]
    ) -> None:
        """The call's record with its first events in it: a call that does not alert (most
        calls) has no events list, two commands fewer. Later events go to the list."""
        accepted = call.accepted_at or now
        record = {**call.to_job(), RECORD_EVENTS: [e.to_json() for e in events]}
        pipe.set(keys.call_record(call.call_id), json.dumps(record), ex=self.retention)
        pipe.zadd(keys.CALLS, {call.call_id: accepted})
        if _trims_index(call.call_id):  # one call in TRIM_EVERY keeps the index bounded
            pipe.zremrangebyscore(keys.CALLS, "-inf", now - self.retention)
            pipe.zremrangebyrank(keys.CALLS, 0, -MAX_INDEXED_CALLS - 1)

    def count_matched(
        self, pipe: Pipeline, rules: Iterable[str], call_id: str, at: float
    ) -> list[str]:
        """Each rule's HyperLogLog of its bucket's calls (a retried call counted once). Its
        expiry is set until this process has written one (`expiry_set`, once the round trip
        answered: a trip lost to a Redis error set none), not by every call: where a matched
        call's EXPIRE was one command of its ~33. Answers the keys given an EXPIRE here."""
        bucket = bucket_of(at)
        if bucket != self._expiring_bucket:  # the buckets before are written no more
            self._expiring_bucket, self._expiring = bucket, set()
        expiring = []
        for rule in rules:
            key = keys.matched_calls(rule, bucket)
            pipe.pfadd(key, call_id)
            if key not in self._expiring:
                pipe.expire(key, COUNTS_TTL_SECONDS)
                expiring.append(key)
        return expiring

    def expiry_set(self, written: Iterable[str]) -> None:
        """`count_matched`'s EXPIREs that Redis ran: those keys need none again."""
        self._expiring.update(key for key in written if key.endswith(f":{self._expiring_bucket}"))

    # -- readers

    async def story(self, call_id: str) -> CallStory:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.get(keys.call_record(call_id))
            pipe.lrange(keys.call_events(call_id), 0, -1)
            raw, events = await pipe.execute()
        return _story(raw, events)

    async def fields_of(self, call_ids: Sequence[str]) -> dict[str, Mapping[str, str]]:
        """Each known call's fields as text (`agent_id` ...), in one round trip: what the
        history is filtered by. Calls whose record expired are left out."""
        if not call_ids:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for call_id in call_ids:
                pipe.get(keys.call_record(call_id))
            raw = await pipe.execute()
        out: dict[str, Mapping[str, str]] = {}
        for call_id, record in zip(call_ids, raw, strict=True):
            if record:
                call = CallEnded.from_job(json.loads(record))
                out[call_id] = {name: str(value) for name, value in call.fields.items()}
        return out

    async def stories(self, call_ids: Sequence[str]) -> dict[str, CallStory]:
        """Many calls' stories in one round trip (the silence preview)."""
        if not call_ids:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for call_id in call_ids:
                pipe.get(keys.call_record(call_id))
                pipe.lrange(keys.call_events(call_id), 0, -1)
            raw = await pipe.execute()
        out = {}
        for i, call_id in enumerate(call_ids):
            out[call_id] = _story(raw[2 * i], raw[2 * i + 1])
        return out

    async def ended_recently(
        self, since: float, until: float, limit: int
    ) -> list[tuple[str, float]]:
        """The newest `limit` calls that ended in [since, until], oldest first (a backtest)."""
        rows = await self._redis.zrevrangebyscore(
            keys.CALLS, until, since, start=0, num=limit, withscores=True
        )
        return [(member.decode(), float(score)) for member, score in reversed(rows)]

    async def last_fired(self) -> dict[str, float]:
        """When each rule last sent (or would have)."""
        raw = await last_written(self._redis, keys.LAST_RULE, keys.LAST_FIRED)
        return {rule: float(at) for rule, at in raw.items()}

    async def counts(self, since: float, now: float) -> dict[str, dict[str, int]]:
        """Per rule: decisions by outcome since `since` (10-minute buckets), and `matched`,
        the distinct calls on which it fired."""
        first, last = bucket_of(since), bucket_of(now)
        buckets = range(first, last + 1)
        async with self._redis.pipeline(transaction=False) as pipe:
            for bucket in buckets:
                pipe.hgetall(keys.outcome_counts(bucket))
            raw: list[Mapping[bytes, bytes]] = await pipe.execute()
        out: dict[str, dict[str, int]] = {}
        for bucket_counts in raw:
            for name, value in bucket_counts.items():
                rule, _, outcome = name.decode().rpartition("|")
                per_rule = out.setdefault(rule, {})
                per_rule[outcome] = per_rule.get(outcome, 0) + int(value)
        rules = [rule for rule in out if rule]
        if rules:
            async with self._redis.pipeline(transaction=False) as pipe:
                for rule in rules:
                    pipe.pfcount(*[keys.matched_calls(rule, b) for b in buckets])
                matched = await pipe.execute()
            for rule, count in zip(rules, matched, strict=True):
                out[rule]["matched"] = int(count)
        return out

    async def sent_per_hour(
        self, now: float, rule: str | None = None, hours: int = 24
    ) -> list[int]:
        """Alerts sent in each of the last `hours` hours, oldest first (the hour ending at
        `now` last), for one rule or all: the console's charts. Read from the 10-minute
        buckets (kept 26 h), in one round trip."""
        start = now - hours * 3600
        buckets = range(bucket_of(start) + 1, bucket_of(now) + 1)
        async with self._redis.pipeline(transaction=False) as pipe:
            for bucket in buckets:
                pipe.hgetall(keys.outcome_counts(bucket))
            raw: list[Mapping[bytes, bytes]] = await pipe.execute()
        out = [0] * hours
        for bucket, bucket_counts in zip(buckets, raw, strict=True):
            hour = min(hours - 1, max(0, int((bucket * BUCKET_SECONDS - start) // 3600)))
            for name, value in bucket_counts.items():
                counted_rule, _, outcome = name.decode().rpartition("|")
                if outcome == "sent" and counted_rule and rule in (None, counted_rule):
                    out[hour] += int(value)
        return out
