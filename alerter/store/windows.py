"""Noise control, the Redis half: throttles, frequency and rate windows, digests.

Every decision is one Lua script, so any number of api and worker processes behave like one.
Each script first looks for the decision it already took for this (call, rule, step): a job
that runs again (retry, crash, redelivery) gets the same answer and counts nothing twice.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis

from alerter.rules.noise import GroupKey, Noise
from alerter.store import keys, lua
from alerter.store import scripts as s

log = logging.getLogger(__name__)
DECISION_TTL_SECONDS = 7 * 86_400
KEEP_AFTER_MS = 7 * 86_400_000  # throttle and digest state outlive their windows by this
DIGEST_CALLS_CAP = 20
DIGEST_COUNTS_CAP = 50  # distinct events / failure reasons counted per digest
MAX_GROUPS = 10_000  # groups one rule keeps state for at most (a group per caller, say)
# Where a rule's calls past its first MAX_GROUPS live groups are counted, together.
OVERFLOW = GroupKey((("group", f"any past the first {MAX_GROUPS:,}"),))


@dataclass(frozen=True, slots=True)
class Counted:
    fire: bool
    counted: int  # calls counted in the window (matched, for rates)
    total: int = 0  # ended calls counted (rates only)
    episode: str = ""  # the open episode's id, when the rule sends resolved messages
    # When the window counted ends (seconds): this call's time, or a later call's when the
    # window ending there held more (calls are decided out of order).
    window_end: float | None = None


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


BREAKDOWN_CALLS = 200  # calls of a window read for its breakdown, newest first
SEP = "\x1f"


def _episode(
    rule: str, key: GroupKey, within: float, track: bool
) -> tuple[s.EpisodeKeys, s.EpisodeArgs]:
    """Keys and arguments the window scripts keep an episode with (`track`: the rule sends
    resolved messages)."""
    names = s.EpisodeKeys(keys.episode(rule, key.digest), keys.EPISODES_DUE)
    if not track:
        return names, s.EpisodeArgs("0", "", "", 0)
    member = f"{rule}{SEP}{key.digest}"
    return names, s.EpisodeArgs("1", json.dumps(key.labels), member, millis(within) + KEEP_AFTER_MS)


def _kind(kind: tuple[str, str]) -> str:
    event, reason = kind
    return f"{event[:120]}{SEP}{reason[:200]}"


def _top(counts: dict[str, int], limit: int = 5) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit])


@dataclass(frozen=True, slots=True)
class Breakdown:
    calls: tuple[str, ...]  # newest first
    events: tuple[tuple[str, int], ...]  # most frequent first
    reasons: tuple[tuple[str, int], ...]


def _counted(raw: bytes, *, totals: bool) -> Counted:
    """A window script's answer: `fire|below COUNTED [TOTAL] [EPISODE] @END` (no END in a
    decision an earlier version kept)."""
    fired, counted, *rest = raw.decode().split()
    total = int(rest.pop(0)) if totals else 0
    end = int(rest.pop()[1:]) / 1000 if rest and rest[-1].startswith("@") else None
    return Counted(fired == "fire", int(counted), total, "".join(rest), end)


def _throttled(raw: bytes) -> Throttle:
    """throttle.lua's answer: `send SUPPRESSED [LAST]` or `throttled COUNT LAST` (ms)."""
    kind, count, last = (raw.decode() + " ").split(" ", 2)
    last = last.strip()
    return Throttle(kind == "send", int(count), int(last) / 1000 if last else None)


def _digest_slot(raw: bytes) -> DigestSlot:
    """digest_add.lua's answer: `WINDOW OPENED(0|1) COUNT`."""
    window, opened, count = raw.decode().split()
    return DigestSlot(window, opened == "1", int(count))


def millis(seconds: float) -> int:
    return round(seconds * 1000)


def _state_seconds(noise: Noise) -> float | None:
    """How long a group's noise state outlives its last call (as the scripts keep it), or
    None when the rule keeps none per group."""
    spans = [
        2 * noise.within if noise.within is not None else None,
        noise.repeat_interval,
        (noise.group_wait or 0) + (noise.group_interval or 0) if noise.group_wait else None,
    ]
    kept = [span for span in spans if span is not None]
    return max(kept) + KEEP_AFTER_MS / 1000 if kept else None


class Windows:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._throttle = lua.Script[s.ThrottleKeys, s.ThrottleArgs](redis, "throttle")
        self._frequency = lua.Script[s.FrequencyKeys, s.FrequencyArgs](redis, "frequency")
        self._rate = lua.Script[s.RateKeys, s.RateArgs](redis, "rate")
        self._digest_add = lua.Script[s.DigestAddKeys, s.DigestAddArgs](redis, "digest_add")
        self._digest_take = lua.Script[s.DigestTakeKeys, s.DigestTakeArgs](redis, "digest_take")
        self._group_admit = lua.Script[s.GroupAdmitKeys, s.GroupAdmitArgs](redis, "group_admit")

    async def admit(self, rule: str, key: GroupKey, noise: Noise, now: float) -> GroupKey:
        """The group to keep this call's noise state in: its own while the rule keeps state
        for fewer than `MAX_GROUPS` live groups (or it is one of them), else `OVERFLOW`,
        shared by every group past them: a rule grouped by caller cannot fill Redis."""
        keep = _state_seconds(noise)
        if not key.labels or keep is None:
            return key  # one group, or no state kept per group
        admitted = await self._group_admit(
            s.GroupAdmitKeys(keys.rule_groups(rule)),
            s.GroupAdmitArgs(key.digest, millis(now), millis(keep), MAX_GROUPS),
        )
        if admitted:
            return key
        log.warning("rule %s keeps state for %d groups already: counted in one", rule, MAX_GROUPS)
        return OVERFLOW

    async def throttle(
        self, rule: str, key: GroupKey, call_id: str, interval: float, now: float
    ) -> Throttle:
        raw = await self._throttle(
            s.ThrottleKeys(
                state=keys.throttle(rule, key.digest),
                decision=keys.decision(call_id, rule, "throttle"),
            ),
            s.ThrottleArgs(
                now_ms=millis(now),
                interval_ms=millis(interval),
                decision_seconds=DECISION_TTL_SECONDS,
                keep_ms=millis(interval) + KEEP_AFTER_MS,
            ),
        )
        return _throttled(raw)

    async def frequency(
        self,
        rule: str,
        key: GroupKey,
        call_id: str,
        within: float,
        count: int,
        now: float,
        kind: tuple[str, str] = ("", ""),
        *,
        track: bool = False,
    ) -> Counted:
        """`kind`: the call's (event, failure reason), kept for the window's breakdown;
        `track`: keep the group's episode (the rule sends resolved messages)."""
        episode_keys, episode_args = _episode(rule, key, within, track)
        raw = await self._frequency(
            s.FrequencyKeys(
                window=keys.frequency_window(rule, key.digest),
                fired=keys.frequency_fired(rule, key.digest),
                decision=keys.decision(call_id, rule, "when"),
                kinds=keys.frequency_kinds(rule, key.digest),
                episode=episode_keys,
            ),
            s.FrequencyArgs(
                now_ms=millis(now),
                since_ms=millis(now - within),
                call_id=call_id,
                within_ms=millis(within),
                count=count,
                decision_seconds=DECISION_TTL_SECONDS,
                kind=_kind(kind),
                episode=episode_args,
            ),
        )
        return _counted(raw, totals=False)

    async def rate(
        self,
        rule: str,
        key: GroupKey,
        call_id: str,
        within: float,
        rate: float,
        min_calls: int,
        now: float,
        kind: tuple[str, str] = ("", ""),
        *,
        track: bool = False,
    ) -> Counted:
        episode_keys, episode_args = _episode(rule, key, within, track)
        raw = await self._rate(
            s.RateKeys(
                matched=keys.rate_matched(rule, key.digest),
                ended=keys.rate_ended(rule, key.digest),
                fired=keys.rate_fired(rule, key.digest),
                decision=keys.decision(call_id, rule, "when"),
                kinds=keys.rate_kinds(rule, key.digest),
                episode=episode_keys,
            ),
            s.RateArgs(
                now_ms=millis(now),
                since_ms=millis(now - within),
                call_id=call_id,
                within_ms=millis(within),
                rate_ppm=round(rate * 1_000_000),
                min_calls=min_calls,
                decision_seconds=DECISION_TTL_SECONDS,
                kind=_kind(kind),
                episode=episode_args,
            ),
        )
        return _counted(raw, totals=True)

    async def breakdown(
        self, rule: str, key: GroupKey, within: float, now: float, *, rate: bool
    ) -> Breakdown:
        """What the calls counted in the window (`within` before `now`) were: read when a
        frequency or rate rule fires, for an alert about the group rather than one call."""
        if rate:
            members_key, kinds_key = (
                keys.rate_matched(rule, key.digest),
                keys.rate_kinds(rule, key.digest),
            )
        else:
            members_key = keys.frequency_window(rule, key.digest)
            kinds_key = keys.frequency_kinds(rule, key.digest)
        members: list[bytes] = await cast(
            Awaitable[list[bytes]],
            self._redis.zrevrangebyscore(
                members_key, millis(now), f"({millis(now - within)}", start=0, num=BREAKDOWN_CALLS
            ),
        )
        if not members:
            return Breakdown((), (), ())
        kinds = await cast(Awaitable[list[bytes | None]], self._redis.hmget(kinds_key, members))
        events: dict[str, int] = {}
        reasons: dict[str, int] = {}
        for raw in kinds:
            event, _, reason = (raw or b"").decode().partition(SEP)
            if event:
                events[event] = events.get(event, 0) + 1
            if reason:
                reasons[reason] = reasons.get(reason, 0) + 1
        return Breakdown(
            calls=tuple(m.decode() for m in members),
            events=_top(events),
            reasons=_top(reasons),
        )

    # -- digests

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
            s.DigestAddKeys(
                keys.digest_open(rule, key.digest), keys.decision(call_id, rule, "digest")
            ),
            s.DigestAddArgs(
                now_ms=millis(now),
                new_window=uuid.uuid4().hex[:12],
                entry=json.dumps(entry),
                event=event[:120],
                reason=reason[:200],
                calls_cap=DIGEST_CALLS_CAP,
                decision_seconds=DECISION_TTL_SECONDS,
                labels=json.dumps(key.labels),
                counts_cap=DIGEST_COUNTS_CAP,
                keep_ms=millis(window_seconds) + KEEP_AFTER_MS,
            ),
        )
        return _digest_slot(raw)

    async def last_digest_sent(self, rule: str, key_digest: str) -> float | None:
        raw = await self._redis.get(keys.digest_sent(rule, key_digest))
        return int(raw) / 1000 if raw else None

    async def take_digest(self, rule: str, key_digest: str, window: str) -> DigestContents | None:
        """The closed window's contents (the same ones again if a flush is retried)."""
        open_key = keys.digest_open(rule, key_digest)
        closed_key = keys.digest_closed(rule, key_digest, window)
        # 1: the closed window is there to read; 0: that window is not the one open.
        if not await self._digest_take(
            s.DigestTakeKeys(open_key, closed_key), s.DigestTakeArgs(window)
        ):
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
        closed_key = keys.digest_closed(rule, key_digest, window)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(closed_key)
            pipe.set(keys.digest_sent(rule, key_digest), millis(now), px=KEEP_AFTER_MS)
            await pipe.execute()

    async def drop_digest(self, rule: str, key_digest: str, window: str) -> int:
        """Close a window whose rule is gone without sending it; returns its call count."""
        contents = await self.take_digest(rule, key_digest, window)
        if contents is None:
            return 0
        await self._redis.delete(keys.digest_closed(rule, key_digest, window))
        return contents.count
