"""log.lua on the real server, through `State` (store.sent): a send's history line, its call's
event, its rule's count and last firing and its destination's last result, with the expiries
set where a key or a count starts and the call's events trimmed past their cap."""

from __future__ import annotations

import json
import uuid

from redis.asyncio import Redis

from alerter.models import Outcome
from alerter.store import keys
from alerter.store.calls import COUNTS_TTL_SECONDS, MAX_EVENTS, bucket_of
from alerter.store.coalesce import Coalescer
from alerter.store.history import history_entry
from alerter.store.markers import marker_key
from alerter.store.state import State, destination_results
from tests.kit.clock import DrivenClock

AT = 1_234_567_800.0  # a 10-minute bucket's first second
RETENTION = 86_400


def sent(call_id: str, outcome: Outcome = Outcome.SENT, rule: str = "r") -> dict[str, str]:
    return history_entry(call_id, outcome, rule=rule, destination="hook", detail="40 logs", at=AT)


async def test_a_sends_records_each_start_with_their_lifetime(redis: Redis) -> None:
    state = State(redis, RETENTION, Coalescer(redis), clock=DrivenClock(AT))
    call_id = str(uuid.uuid4())
    await state.mark_sent(marker_key(call_id, "r", "hook"), sent(call_id))
    (row,) = await state.history()
    assert row.fields() == {**sent(call_id), "id": row.id}
    events = keys.call_events(call_id)
    assert [json.loads(e) for e in await redis.lrange(events, 0, -1)] == [
        {"at": AT, "outcome": "sent", "rule": "r", "destination": "hook", "detail": "40 logs"}
    ]
    assert RETENTION - 10 <= await redis.ttl(events) <= RETENTION
    counts = keys.outcome_counts(bucket_of(AT))
    assert await redis.hgetall(counts) == {b"r|sent": b"1"}
    assert COUNTS_TTL_SECONDS - 10 <= await redis.ttl(counts) <= COUNTS_TTL_SECONDS
    assert await state.calls.last_fired() == {"r": AT}
    result = json.loads(await redis.hget(keys.LAST, "destination:hook"))
    assert result == {"at": AT, "ok": True, "detail": "40 logs"}
    assert await destination_results(redis) == {"hook": result}
    assert await state.calls.counts(AT - 60, AT) == {"r": {"sent": 1, "matched": 0}}


async def test_later_records_leave_the_expiries_a_first_one_set(redis: Redis) -> None:
    state = State(redis, RETENTION, clock=DrivenClock(AT))
    call_id = str(uuid.uuid4())
    await state.record_entries([sent(call_id)])
    events, counts = keys.call_events(call_id), keys.outcome_counts(bucket_of(AT))
    await redis.expire(events, 100)
    await redis.expire(counts, 100)
    await state.record_entries([sent(call_id), sent(call_id, Outcome.RETRYING, "other")])
    assert await redis.llen(events) == 3
    assert 0 < await redis.ttl(events) <= 100  # the call's events: from its first one
    assert 0 < await redis.ttl(counts) <= 100  # a count that went on
    assert await redis.hgetall(counts) == {b"r|sent": b"2"}  # a retry to come is not counted
    await state.record_entries([sent(call_id, Outcome.FAILED, "other")])
    assert COUNTS_TTL_SECONDS - 10 <= await redis.ttl(counts)  # a count that started
    assert await state.calls.last_fired() == {"r": AT}  # neither a retry nor a failure fired
    result = json.loads(await redis.hget(keys.LAST, "destination:hook"))
    assert result == {"at": AT, "ok": False, "detail": "40 logs"}


async def test_a_rules_firing_and_its_destinations_result_share_one_hash(
    redis: Redis,
) -> None:
    state = State(redis, RETENTION, clock=DrivenClock(AT))
    call_id = str(uuid.uuid4())
    await redis.delete(keys.LAST)
    await state.record_entries([sent(call_id, rule="hook")])  # a rule named as a destination
    assert await redis.hgetall(keys.LAST) == {
        b"rule:hook": f"{AT:.3f}".encode(),
        b"destination:hook": json.dumps({"at": AT, "ok": True, "detail": "40 logs"}).encode(),
    }
    assert await state.calls.last_fired() == {"hook": AT}
    assert await destination_results(redis) == {"hook": {"at": AT, "ok": True, "detail": "40 logs"}}
    assert await redis.exists(keys.LAST_FIRED, keys.DESTINATIONS_LAST) == 0


async def test_values_kept_before_the_shared_hash_are_shown_until_written_anew(
    redis: Redis,
) -> None:
    state = State(redis, RETENTION, clock=DrivenClock(AT))
    await redis.delete(keys.LAST, keys.LAST_FIRED, keys.DESTINATIONS_LAST)
    old = {"at": AT - 600, "ok": False, "detail": "refused"}
    await redis.hset(keys.LAST_FIRED, mapping={"r": f"{AT - 600:.3f}", "gone": "5.000"})
    await redis.hset(keys.DESTINATIONS_LAST, mapping={"hook": json.dumps(old), "mail": "{}"})
    assert await state.calls.last_fired() == {"r": AT - 600, "gone": 5.0}
    assert await destination_results(redis) == {"hook": old, "mail": {}}
    await state.record_entries([sent(str(uuid.uuid4()))])
    assert await state.calls.last_fired() == {"r": AT, "gone": 5.0}
    assert await destination_results(redis) == {
        "hook": {"at": AT, "ok": True, "detail": "40 logs"},
        "mail": {},
    }


async def test_a_calls_events_past_their_cap_lose_the_oldest(redis: Redis) -> None:
    state = State(redis, RETENTION, clock=DrivenClock(AT))
    call_id = str(uuid.uuid4())
    events = keys.call_events(call_id)
    await redis.rpush(events, *[json.dumps({"at": i, "outcome": "x"}) for i in range(MAX_EVENTS)])
    await state.record_entries([sent(call_id)])
    assert await redis.llen(events) == MAX_EVENTS
    assert json.loads(await redis.lindex(events, 0))["at"] == 1
    assert json.loads(await redis.lindex(events, -1))["outcome"] == "sent"


async def test_a_server_that_forgot_the_script_gets_each_record_once(redis: Redis) -> None:
    state = State(redis, RETENTION, Coalescer(redis), clock=DrivenClock(AT))
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    await state.mark_sent(marker_key(first, "r", "hook"), sent(first))
    await redis.script_flush()  # as a restarted server
    await state.mark_sent(marker_key(second, "r", "hook"), sent(second))
    await redis.script_flush()
    await state.record_entries([sent(second, Outcome.FAILED)])
    assert [row.subject for row in await state.history()] == [second, second, first]
    assert await redis.llen(keys.call_events(second)) == 2
    assert await redis.get(marker_key(second, "r", "hook")) == b"sent"
