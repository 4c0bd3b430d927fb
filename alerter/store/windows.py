"""Noise control, the Redis half: throttles, frequency and rate windows, digests, silences.

Every decision is one Lua script, so any number of api and worker processes behave like one.
Each script first looks for the decision it already took for this (call, rule, step): a job
that runs again (retry, crash, redelivery) gets the same answer and counts nothing twice.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis

from alerter.pipeline.signatures import Signature
from alerter.rules.noise import GroupKey, ended_key

PREFIX = "alerter:"
DECISION_TTL_SECONDS = 7 * 86_400
KEEP_AFTER_MS = 7 * 86_400_000  # throttle and digest state outlive their windows by this
DIGEST_CALLS_CAP = 20
DIGEST_COUNTS_CAP = 50  # distinct events / failure reasons counted per digest
SIGNATURES_PER_DAY = 1000  # distinct signatures counted a day; the rarest drop first

_THROTTLE = """
local d = redis.call('GET', KEYS[2]); if d then return d end
local last = redis.call('HGET', KEYS[1], 'last')
local result
if (not last) or tonumber(ARGV[1]) - tonumber(last) >= tonumber(ARGV[2]) then
  local prev = redis.call('HGET', KEYS[1], 'suppressed') or '0'
  redis.call('HSET', KEYS[1], 'last', ARGV[1], 'suppressed', 0)
  result = 'send ' .. prev .. ' ' .. (last or '')
else
  local n = redis.call('HINCRBY', KEYS[1], 'suppressed', 1)
  result = 'throttled ' .. n .. ' ' .. last
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('SET', KEYS[2], result, 'EX', ARGV[3])
return result
"""

_FREQUENCY = """
local d = redis.call('GET', KEYS[3]); if d then return d end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
local n = redis.call('ZCARD', KEYS[1])
local result = 'below ' .. n
if n >= tonumber(ARGV[5]) and redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[4])
  result = 'fire ' .. n
end
redis.call('SET', KEYS[3], result, 'EX', ARGV[6])
return result
"""

_RATE = """
local d = redis.call('GET', KEYS[4]); if d then return d end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
local m = redis.call('ZCARD', KEYS[1])
local e = redis.call('ZCARD', KEYS[2])
if e < m then e = m end
local result = 'below ' .. m .. ' ' .. e
-- integer arithmetic: rate is given in parts per million
if e >= tonumber(ARGV[6]) and m * 1000000 >= tonumber(ARGV[5]) * e
   and redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[4])
  result = 'fire ' .. m .. ' ' .. e
end
redis.call('SET', KEYS[4], result, 'EX', ARGV[7])
return result
"""

_DIGEST_ADD = """
local d = redis.call('GET', KEYS[2]); if d then return d end
local window = redis.call('HGET', KEYS[1], 'window')
local opened = '0'
if not window then
  window = ARGV[2]
  opened = '1'
  redis.call('HSET', KEYS[1], 'window', window, 'opened', ARGV[1], 'labels', ARGV[8])
end
local n = redis.call('HINCRBY', KEYS[1], 'count', 1)
if n <= tonumber(ARGV[6]) then redis.call('HSET', KEYS[1], 'c:' .. n, ARGV[3]) end
-- counts by event (e:) and failure reason (r:), at most ARGV[9] distinct of each
for i = 4, 5 do
  if ARGV[i] ~= '' then
    local prefix = (i == 4) and 'e:' or 'r:'
    local field = prefix .. ARGV[i]
    if redis.call('HEXISTS', KEYS[1], field) == 1 then
      redis.call('HINCRBY', KEYS[1], field, 1)
    elseif redis.call('HINCRBY', KEYS[1], 'kinds-' .. prefix, 0) < tonumber(ARGV[9]) then
      redis.call('HINCRBY', KEYS[1], 'kinds-' .. prefix, 1)
      redis.call('HINCRBY', KEYS[1], field, 1)
    end
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[10])
local result = window .. ' ' .. opened .. ' ' .. n
redis.call('SET', KEYS[2], result, 'EX', ARGV[7])
return result
"""

# A signature seen on a call: was it new (unseen for ARGV[4] seconds), and how many calls
# carried it in the last hour. Day counts are capped (ARGV[6] signatures a day).
_SIGNATURE = """
local d = redis.call('GET', KEYS[5]); if d then return d end
local seen_before = redis.call('EXISTS', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])
redis.call('EXPIRE', KEYS[2], 7200)
local hour = redis.call('ZCARD', KEYS[2])
redis.call('ZINCRBY', KEYS[3], 1, ARGV[5])
redis.call('EXPIRE', KEYS[3], 8 * 86400)
local kinds = redis.call('ZCARD', KEYS[3])
if kinds > tonumber(ARGV[6]) then
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, kinds - tonumber(ARGV[6]) - 1)
end
-- the first example of the kind is kept; its lifetime follows the kind's
if redis.call('SET', KEYS[4], ARGV[7], 'NX', 'EX', 8 * 86400) == false then
  redis.call('EXPIRE', KEYS[4], 8 * 86400)
end
local result = (seen_before == 1 and 'known ' or 'new ') .. hour
redis.call('SET', KEYS[5], result, 'EX', ARGV[8])
return result
"""

# Close a window: the open digest becomes the one being sent (once), new matches open anew.
_DIGEST_TAKE = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 1 end
if redis.call('HGET', KEYS[1], 'window') ~= ARGV[1] then return 0 end
redis.call('RENAME', KEYS[1], KEYS[2])
return 1
"""


@dataclass(frozen=True, slots=True)
class Verdict:
    fire: bool
    counted: int  # calls counted in the window (matched, for rates)
    total: int = 0  # ended calls counted (rates only)


@dataclass(frozen=True, slots=True)
class Throttle:
    send: bool
    suppressed: int  # suppressed since the last send (to report now), or so far
    last_sent: float | None  # seconds since the epoch


@dataclass(frozen=True, slots=True)
class DigestSlot:
    window: str
    opened: bool  # this call opened the window: schedule its flush
    count: int


@dataclass(frozen=True, slots=True)
class DigestContents:
    labels: tuple[tuple[str, str], ...]
    opened: float
    count: int
    calls: tuple[dict[str, Any], ...]
    events: tuple[tuple[str, int], ...]  # most frequent first
    reasons: tuple[tuple[str, int], ...]


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


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


class Windows:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._throttle = redis.register_script(_THROTTLE)
        self._frequency = redis.register_script(_FREQUENCY)
        self._rate = redis.register_script(_RATE)
        self._digest_add = redis.register_script(_DIGEST_ADD)
        self._digest_take = redis.register_script(_DIGEST_TAKE)
        self._signature = redis.register_script(_SIGNATURE)

    @staticmethod
    def _decision(call_id: str, rule: str, step: str) -> str:
        return f"{PREFIX}decision:{call_id}:{rule}:{step}"

    async def throttle(
        self, rule: str, key: GroupKey, call_id: str, interval: float, now: float
    ) -> Throttle:
        raw = await self._throttle(
            keys=[
                f"{PREFIX}throttle:{rule}:{key.digest}",
                self._decision(call_id, rule, "throttle"),
            ],
            args=[_ms(now), _ms(interval), DECISION_TTL_SECONDS, _ms(interval) + KEEP_AFTER_MS],
        )
        kind, count, last = (raw.decode() + " ").split(" ", 2)
        last = last.strip()
        return Throttle(kind == "send", int(count), int(last) / 1000 if last else None)

    async def frequency(
        self, rule: str, key: GroupKey, call_id: str, within: float, count: int, now: float
    ) -> Verdict:
        base = f"{PREFIX}freq:{rule}:{key.digest}"
        raw = await self._frequency(
            keys=[base, base + ":fired", self._decision(call_id, rule, "when")],
            args=[_ms(now), _ms(now - within), call_id, _ms(within), count, DECISION_TTL_SECONDS],
        )
        kind, n = raw.decode().split()
        return Verdict(kind == "fire", int(n))

    async def rate(
        self,
        rule: str,
        key: GroupKey,
        call_id: str,
        within: float,
        rate: float,
        min_calls: int,
        now: float,
    ) -> Verdict:
        raw = await self._rate(
            keys=[
                f"{PREFIX}rate:{rule}:{key.digest}:matched",
                ended_key(rule, key),
                f"{PREFIX}rate:{rule}:{key.digest}:fired",
                self._decision(call_id, rule, "when"),
            ],
            args=[
                _ms(now),
                _ms(now - within),
                call_id,
                _ms(within),
                round(rate * 1_000_000),
                min_calls,
                DECISION_TTL_SECONDS,
            ],
        )
        kind, matched, total = raw.decode().split()
        return Verdict(kind == "fire", int(matched), int(total))

    # -- digests

    @staticmethod
    def _digest_key(rule: str, key_digest: str) -> str:
        return f"{PREFIX}digest:{rule}:{key_digest}"

    async def add_to_digest(
        self,
        rule: str,
        key: GroupKey,
        call_id: str,
        entry: Mapping[str, Any],
        event: str,
        reason: str,
        window_seconds: float,
        now: float,
    ) -> DigestSlot:
        raw = await self._digest_add(
            keys=[self._digest_key(rule, key.digest), self._decision(call_id, rule, "digest")],
            args=[
                _ms(now),
                uuid.uuid4().hex[:12],
                json.dumps(entry),
                event[:120],
                reason[:200],
                DIGEST_CALLS_CAP,
                DECISION_TTL_SECONDS,
                json.dumps(key.labels),
                DIGEST_COUNTS_CAP,
                _ms(window_seconds) + KEEP_AFTER_MS,
            ],
        )
        window, opened, count = raw.decode().split()
        return DigestSlot(window, opened == "1", int(count))

    async def last_digest_sent(self, rule: str, key_digest: str) -> float | None:
        raw = await self._redis.get(f"{PREFIX}digest-sent:{rule}:{key_digest}")
        return int(raw) / 1000 if raw else None

    async def take_digest(self, rule: str, key_digest: str, window: str) -> DigestContents | None:
        """The closed window's contents (the same ones again if a flush is retried)."""
        open_key = self._digest_key(rule, key_digest)
        closed_key = f"{open_key}:closed:{window}"
        if not await self._digest_take(keys=[open_key, closed_key], args=[window]):
            return None
        raw = await cast(Awaitable[dict[bytes, bytes]], self._redis.hgetall(closed_key))
        fields = {k.decode(): v.decode() for k, v in raw.items()}
        count = int(fields.get("count", 0))
        calls = tuple(
            json.loads(fields[f"c:{i}"])
            for i in range(1, min(count, DIGEST_CALLS_CAP) + 1)
            if f"c:{i}" in fields
        )

        def counts(prefix: str) -> tuple[tuple[str, int], ...]:
            pairs = [(k[2:], int(v)) for k, v in fields.items() if k.startswith(prefix)]
            return tuple(sorted(pairs, key=lambda kv: (-kv[1], kv[0])))

        return DigestContents(
            labels=tuple(tuple(pair) for pair in json.loads(fields.get("labels", "[]"))),
            opened=int(fields.get("opened", 0)) / 1000,
            count=count,
            calls=calls,
            events=counts("e:"),
            reasons=counts("r:"),
        )

    async def finish_digest(self, rule: str, key_digest: str, window: str, now: float) -> None:
        closed_key = f"{self._digest_key(rule, key_digest)}:closed:{window}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(closed_key)
            pipe.set(f"{PREFIX}digest-sent:{rule}:{key_digest}", _ms(now), px=KEEP_AFTER_MS)
            await pipe.execute()

    # -- failure signatures

    async def signature_seen(
        self, signature: Signature, call_id: str, seen_days: float, now: float, example: str
    ) -> tuple[bool, int]:
        """(new: not seen in `seen_days`, calls that carried it in the last hour)."""
        day = time.strftime("%Y%m%d", time.gmtime(now))
        raw = await self._signature(
            keys=[
                f"{PREFIX}sig:seen:{signature.digest}",
                f"{PREFIX}sig:calls:{signature.digest}",
                f"{PREFIX}sigs:{day}",
                f"{PREFIX}sig:example:{signature.digest}",
                f"{PREFIX}decision:{call_id}:sig:{signature.digest}",
            ],
            args=[
                _ms(now),
                _ms(now - 3600),
                call_id,
                int(seen_days * 86400),
                signature.digest,
                SIGNATURES_PER_DAY,
                json.dumps({"signature": signature.text, "example": example[:200]}),
                DECISION_TTL_SECONDS,
            ],
        )
        kind, hour = raw.decode().split()
        return kind == "new", int(hour)

    async def top_signatures(
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

    # -- silences

    async def add_silence(
        self,
        rule: str | None,
        matchers: Mapping[str, str],
        starts: float,
        ends: float,
        comment: str,
    ) -> Silence:
        silence = Silence(uuid.uuid4().hex[:8], rule, dict(matchers), starts, ends, comment)
        await self._save_silence(silence)
        await cast(Awaitable[int], self._redis.sadd(f"{PREFIX}silences", silence.id))
        return silence

    async def _save_silence(self, silence: Silence) -> None:
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

    async def silences(self) -> list[Silence]:
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

    async def count_silenced(self, silence: Silence) -> None:
        """One more alert stopped by this silence (shown by `alerter silence list`)."""
        key = f"{PREFIX}silence:{silence.id}:hits"
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.incr(key)
            pipe.expireat(key, int(silence.ends + 7 * 86_400))
            await pipe.execute()

    async def expire_silence(self, silence_id: str, now: float | None = None) -> bool:
        for silence in await self.silences():
            if silence.id == silence_id:
                ended = Silence(
                    silence.id,
                    silence.rule,
                    silence.matchers,
                    silence.starts,
                    min(silence.ends, now if now is not None else time.time()),
                    silence.comment,
                )
                await self._save_silence(ended)
                return True
        return False
