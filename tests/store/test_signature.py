"""signature.lua on the real server: what a signature's first call writes and for how long,
what a later call of the same minute leaves alone (the common path: no trim, no renewed
expiries), what the first call of a later minute trims and renews, and the day's set."""

from __future__ import annotations

import asyncio
import json

from redis.asyncio import Redis

from alerter.store import keys
from alerter.store.coalesce import Coalescer
from alerter.store.signature_counts import SIGNATURES_PER_DAY, SignatureCounts
from alerter.store.windows import DECISION_TTL_SECONDS
from tests.kit.redis import CountingRedis

MINUTE = 1_234_567_800.0  # a minute's first second (2009-02-13 23:30 UTC)
DAY = "20090213"
EIGHT_DAYS = 8 * 86400
TEXT = "TRANSFER x: <n>"


async def seen(redis: Redis, call: str, at: float, digest: str = "d1") -> tuple[bool, int]:
    return await SignatureCounts(redis).seen(
        digest, TEXT, call, 14, at, f"example of {call}", {"event": "TRANSFER"}
    )


async def test_a_new_signature_starts_each_key_with_its_lifetime(redis: Redis) -> None:
    assert await seen(redis, "c1", MINUTE + 5) == (True, 1)
    assert await redis.get(keys.signature_seen("d1")) == str(int((MINUTE + 5) * 1000)).encode()
    assert 14 * 86400 - 5 <= await redis.ttl(keys.signature_seen("d1")) <= 14 * 86400
    assert await redis.zrange(keys.signature_calls("d1"), 0, -1) == [b"c1"]
    assert 7190 <= await redis.ttl(keys.signature_calls("d1")) <= 7200
    example = json.loads(await redis.get(keys.signature_example("d1")))
    assert example == {
        "signature": TEXT,
        "example": "example of c1",
        "first": MINUTE + 5,
        "labels": {"event": "TRANSFER"},
    }
    assert EIGHT_DAYS - 10 <= await redis.ttl(keys.signature_example("d1")) <= EIGHT_DAYS
    assert await redis.zscore(keys.signatures_of_day(DAY), "d1") == 1
    assert EIGHT_DAYS - 10 <= await redis.ttl(keys.signatures_of_day(DAY)) <= EIGHT_DAYS
    decision = keys.decision("c1", "sig", "d1")
    assert await redis.get(decision) == b"new 1"
    assert DECISION_TTL_SECONDS - 10 <= await redis.ttl(decision) <= DECISION_TTL_SECONDS


async def test_a_later_call_of_the_same_minute_counts_the_hour_without_trimming(
    redis: Redis,
) -> None:
    await seen(redis, "c1", MINUTE + 5)
    calls = keys.signature_calls("d1")
    stale = (MINUTE + 5 - 3601) * 1000  # older than this call's hour, still in the set
    await redis.zadd(calls, {"stale": stale})
    for key in (calls, keys.signature_example("d1"), keys.signatures_of_day(DAY)):
        await redis.expire(key, 100)
    assert await seen(redis, "c2", MINUTE + 50) == (False, 2)  # the stale call not counted
    assert await redis.zscore(calls, "stale") == stale  # left to the minute's first call
    for key in (calls, keys.signature_example("d1"), keys.signatures_of_day(DAY)):
        assert 0 < await redis.ttl(key) <= 100  # not renewed by every call
    assert await redis.zscore(keys.signatures_of_day(DAY), "d1") == 2
    assert await redis.get(keys.signature_seen("d1")) == str(int((MINUTE + 50) * 1000)).encode()
    assert 14 * 86400 - 5 <= await redis.ttl(keys.signature_seen("d1"))  # renewed: it says new


async def test_the_first_call_of_a_minute_trims_the_hour_and_renews_the_expiries(
    redis: Redis,
) -> None:
    await seen(redis, "c1", MINUTE + 5)
    calls = keys.signature_calls("d1")
    await redis.zadd(calls, {"stale": (MINUTE + 60 - 3600) * 1000})  # exactly an hour old
    await redis.expire(calls, 100)
    await redis.expire(keys.signature_example("d1"), 100)
    assert await seen(redis, "c2", MINUTE + 60) == (False, 2)
    assert await redis.zrange(calls, 0, -1) == [b"c1", b"c2"]
    assert 7190 <= await redis.ttl(calls) <= 7200
    assert EIGHT_DAYS - 10 <= await redis.ttl(keys.signature_example("d1")) <= EIGHT_DAYS
    example = json.loads(await redis.get(keys.signature_example("d1")))
    assert example["example"] == "example of c1"  # the first example is kept


async def test_a_signature_seen_again_after_its_example_expired_writes_one(redis: Redis) -> None:
    await seen(redis, "c1", MINUTE + 5)
    await redis.delete(keys.signature_example("d1"), keys.signature_calls("d1"))
    assert await seen(redis, "c2", MINUTE + 3 * 86400) == (False, 1)
    example = json.loads(await redis.get(keys.signature_example("d1")))
    assert example["example"] == "example of c2"
    assert 7190 <= await redis.ttl(keys.signature_calls("d1")) <= 7200


async def test_a_signature_new_to_the_day_alone_renews_the_day_and_keeps_it_capped(
    redis: Redis,
) -> None:
    day = keys.signatures_of_day(DAY)
    await redis.zadd(day, {f"old-{i}": 5 for i in range(SIGNATURES_PER_DAY - 1)})
    await seen(redis, "c1", MINUTE + 5, digest="d1")  # the day's last place
    await redis.expire(day, 100)
    await seen(redis, "c2", MINUTE + 6, digest="d1")  # counted again: nothing new to the day
    assert 0 < await redis.ttl(day) <= 100
    await seen(redis, "c3", MINUTE + 7, digest="d2")  # new to the day: one over the cap
    assert EIGHT_DAYS - 10 <= await redis.ttl(day) <= EIGHT_DAYS
    assert await redis.zcard(day) == SIGNATURES_PER_DAY
    assert await redis.zscore(day, "d1") == 2 and await redis.zscore(day, "d2") is None


async def test_a_retried_call_answers_as_it_did_first_in_any_minute(redis: Redis) -> None:
    assert await seen(redis, "c1", MINUTE + 5) == (True, 1)
    assert await seen(redis, "c2", MINUTE + 6) == (False, 2)
    assert await seen(redis, "c1", MINUTE + 70) == (True, 1)  # retried
    assert await redis.zscore(keys.signatures_of_day(DAY), "d1") == 2
    assert await redis.zcard(keys.signature_calls("d1")) == 2


async def test_the_report_shows_the_calls_of_the_hour_before_the_newest(redis: Redis) -> None:
    await seen(redis, "c1", MINUTE + 5)
    await seen(redis, "c2", MINUTE + 30)
    await redis.zadd(keys.signature_calls("d1"), {"stale": (MINUTE + 30 - 3600) * 1000})
    (row,) = await SignatureCounts(redis).report(MINUTE + 40)
    assert row.latest_calls == ("c2", "c1")
    assert row.last_hour == 2 and row.today == 2
    assert row.last_seen == MINUTE + 30 and row.first_seen == MINUTE + 5


async def test_a_call_retried_after_its_hour_answers_as_first_and_counts_nothing(
    redis: Redis,
) -> None:
    assert await seen(redis, "c1", MINUTE - 3000) == (True, 1)
    assert await seen(redis, "c2", MINUTE) == (False, 2)
    calls, seen_key = keys.signature_calls("d1"), keys.signature_seen("d1")
    await redis.zrem(calls, "c1")  # trimmed: its hour is over
    assert await seen(redis, "c1", MINUTE + 700) == (True, 1)
    assert await redis.zrange(calls, 0, -1) == [b"c2"]
    assert await redis.zscore(keys.signatures_of_day(DAY), "d1") == 2
    assert await redis.get(seen_key) == str(int(MINUTE * 1000)).encode()
    left = await redis.pttl(seen_key)  # the expiry c2 gave it
    assert 14 * 86400_000 - 700_000 - 5000 <= left <= 14 * 86400_000 - 700_000
    assert await seen(redis, "c3", MINUTE + 800) == (False, 2)


async def test_a_first_call_retried_after_its_hour_on_another_day_leaves_no_trace(
    redis: Redis,
) -> None:
    assert await seen(redis, "c1", MINUTE + 5) == (True, 1)
    await redis.delete(keys.signature_calls("d1"), keys.signature_seen("d1"))
    assert await seen(redis, "c1", MINUTE + 86400) == (True, 1)
    assert await redis.exists(keys.signature_seen("d1"), keys.signature_calls("d1")) == 0
    assert await redis.zscore(keys.signatures_of_day("20090214"), "d1") is None
    assert await redis.zscore(keys.signatures_of_day(DAY), "d1") == 1


async def test_a_workers_count_shares_a_round_trip_with_other_jobs_writes(
    redis: CountingRedis,
) -> None:
    coalescer = Coalescer(redis)
    counts = SignatureCounts(redis, coalescer)
    await counts.seen("d0", TEXT, "c0", 14, MINUTE, "e")  # signature.lua loaded
    redis.pipelines = redis.commands = 0
    answer, _ = await asyncio.gather(
        counts.seen("d1", TEXT, "c1", 14, MINUTE + 5, "example", {"event": "TRANSFER"}),
        coalescer.execute(lambda pipe: pipe.set("other", "1")),
    )
    assert redis.pipelines == 1 and redis.commands == 0  # one round trip for both jobs'
    assert answer == (True, 1)
    assert await redis.get(keys.decision("c1", "sig", "d1")) == b"new 1"
    assert await redis.get("other") == b"1"


async def test_a_shared_count_loads_the_script_a_restarted_server_forgot(
    redis: CountingRedis,
) -> None:
    counts = SignatureCounts(redis, Coalescer(redis))
    assert await counts.seen("d1", TEXT, "c1", 14, MINUTE + 5, "e") == (True, 1)
    await redis.script_flush()
    assert await counts.seen("d1", TEXT, "c2", 14, MINUTE + 6, "e") == (False, 2)
    assert await counts.seen("d1", TEXT, "c2", 14, MINUTE + 6, "e") == (False, 2)  # kept answer
