"""Per-call records, the 10-minute counts, the audit stream and console tokens, on the real
server."""

from __future__ import annotations

import time
import uuid

import pytest
from redis.asyncio import Redis

from alerter.models import CallEnded, Outcome
from alerter.store import keys
from alerter.store.audit import Audit
from alerter.store.calls import (
    BUCKET_SECONDS,
    COUNTS_TTL_SECONDS,
    MAX_EVENTS,
    _trims_index,
    bucket_of,
)
from alerter.store.console_auth import ConsoleAuth
from alerter.store.state import State
from tests.kit.clock import DrivenClock


async def test_a_call_story_is_kept_for_the_retention_and_bounded(redis: Redis) -> None:
    state = State(redis, retention_seconds=3600)
    accepted = time.time() - 10
    call = CallEnded(call_id=str(uuid.uuid4()), fields={"agent_id": "ag-1"}, accepted_at=accepted)
    await state.evaluated(call, 3, 2, None, {"r": {"agent_id": "ag-1", "event": "e"}})
    for _ in range(MAX_EVENTS + 10):
        await state.record(call.call_id, Outcome.THROTTLED, rule="r", detail="again")
    story = await state.calls.story(call.call_id)
    assert story.call == call
    assert len(story.events) == MAX_EVENTS  # the newest kept
    assert all(e.outcome == "throttled" for e in story.events)
    assert 3500 < await redis.ttl(keys.call_record(call.call_id)) <= 3600
    assert 3500 < await redis.ttl(keys.call_events(call.call_id)) <= 3600
    assert await redis.zscore(keys.CALLS, call.call_id) == accepted


async def test_the_index_forgets_calls_older_than_the_retention(redis: Redis) -> None:
    state = State(redis, retention_seconds=60)
    now = time.time()
    old = CallEnded(call_id="old-" + uuid.uuid4().hex, accepted_at=now - 120)
    # The index is trimmed by one call in TRIM_EVERY (by its id): this one.
    trimming = next(i for i in (f"new-{n}" for n in range(10_000)) if _trims_index(i))
    new = CallEnded(call_id=trimming, accepted_at=now)
    await state.evaluated(old, 0, 2, None, {})
    await state.evaluated(new, 0, 2, None, {})
    ended = [call_id for call_id, _ in await state.calls.ended_recently(0, now + 1, 100)]
    assert new.call_id in ended and old.call_id not in ended


async def test_counts_per_rule_and_distinct_matched_calls(redis: Redis) -> None:
    state = State(redis)
    call = CallEnded(call_id=str(uuid.uuid4()))
    for _ in range(3):  # a retried call is evaluated again: matched counts it once
        await state.evaluated(call, 1, 2, None, {"r": {}})
    await state.record(call.call_id, Outcome.THROTTLED, rule="r")
    await state.record(call.call_id, Outcome.RETRYING, rule="r", destination="d")
    await state.record_failure(call, "delivery", "x", 8)
    now = time.time()
    counts = await state.calls.counts(now - 3600, now)
    assert counts["r"] == {"matched": 1, "throttled": 1}
    assert counts[""] == {"failed": 1}


async def test_the_audit_stream_is_newest_first(redis: Redis) -> None:
    audit = Audit(redis)
    await audit.write("olga", "silence.create", "s1", {"comment": "deploy"})
    await audit.write("vera", "failed.retry", "c1")
    entries = await audit.latest()
    assert [(e.who, e.action, e.target) for e in entries] == [
        ("vera", "failed.retry", "c1"),
        ("olga", "silence.create", "s1"),
    ]
    assert entries[1].detail == {"comment": "deploy"}


async def test_tokens_are_stored_only_as_hashes_and_revoking_ends_sessions(redis: Redis) -> None:
    auth = ConsoleAuth(redis)
    secret = await auth.add_token("olga", "operator")
    stored = await redis.hgetall(keys.CONSOLE_TOKENS)
    assert secret.encode() not in b"".join([*stored, *stored.values()])
    identity = await auth.by_token(secret)
    assert identity is not None and (identity.name, identity.role) == ("olga", "operator")
    session = await auth.open_session(secret)
    assert session is not None and (await auth.by_session(session)) is not None
    assert await auth.open_session("alt_guess") is None
    again = await auth.add_token("olga", "viewer")  # a new token replaces the old one
    assert await auth.by_token(secret) is None and await auth.by_session(session) is None
    assert (await auth.by_token(again)).role == "viewer"  # type: ignore[union-attr]
    assert await auth.revoke("olga") and await auth.by_token(again) is None
    with pytest.raises(ValueError, match="role"):
        await auth.add_token("x", "admin")


async def test_live_workers_are_those_that_beat_lately(redis: Redis) -> None:
    from alerter.store.jobs import beat, live_workers

    now = time.time()
    await beat(redis, "w-old", now - 600)
    await beat(redis, "w-new", now)
    assert await live_workers(redis, now, 75) == ["w-new"]


async def test_last_fired_is_when_a_rule_sent_not_when_it_was_decided(redis: Redis) -> None:
    """Through the records a decision writes (log.lua): a send, or a shadow rule's would-be
    send, moves its rule's last firing; a throttle, a threshold, a failure, a mute do not."""
    start = time.time()
    clock = DrivenClock(start)
    state = State(redis, clock=clock)
    call_id = str(uuid.uuid4())
    await state.record(call_id, Outcome.SENT, rule="r", destination="hook")
    for outcome in (Outcome.BELOW_THRESHOLD, Outcome.THROTTLED, Outcome.FAILED):
        clock.advance(60)
        await state.record(call_id, outcome, rule="r", destination="hook")
    clock.now = start + 5
    await state.record(call_id, Outcome.SHADOW, rule="shadowed")  # would have sent
    await state.record(call_id, Outcome.MUTED, rule="quiet")
    fired = await state.calls.last_fired()
    assert fired == {
        "r": pytest.approx(start, abs=0.001),
        "shadowed": pytest.approx(start + 5, abs=0.001),
    }


async def test_a_quiet_calls_story_is_its_record_alone_and_reads_in_time_order(
    redis: Redis,
) -> None:
    state = State(redis, retention_seconds=3600)
    quiet = CallEnded(call_id=str(uuid.uuid4()), accepted_at=time.time())
    await state.evaluated(quiet, 3, 1, None, {})
    assert await redis.exists(keys.call_events(quiet.call_id)) == 0  # no list for a quiet call
    outcomes = [e.outcome for e in (await state.calls.story(quiet.call_id)).events]
    assert outcomes == ["fetched", "no_match"]

    call = CallEnded(call_id=str(uuid.uuid4()), accepted_at=time.time() - 5)
    # A failure of an earlier try (two seconds before) is written before the call's record.
    now = state.clock = DrivenClock(time.time() - 2)
    await state.record(call.call_id, Outcome.RETRYING, detail="Diga: timeout")
    now.advance(2)
    await state.evaluated(call, 3, 2, None, {"r": {"agent_id": "ag-1"}})
    await state.record(call.call_id, Outcome.SENT, rule="r", destination="hook")
    [story] = (await state.calls.stories([call.call_id])).values()
    assert story.call == call
    assert [e.outcome for e in story.events] == ["retrying", "fetched", "matched", "sent"]
    assert story.events[2].labels == {"agent_id": "ag-1"}


async def test_a_matched_count_expires_from_its_first_write_in_a_process(redis: Redis) -> None:
    at = 1_234_567_800.0  # a 10-minute bucket's first second
    clock = DrivenClock(at)
    state, rule = State(redis, clock=clock), f"r-{uuid.uuid4().hex[:8]}"
    key = keys.matched_calls(rule, bucket_of(at))
    first, second = CallEnded(call_id=str(uuid.uuid4())), CallEnded(call_id=str(uuid.uuid4()))
    await state.evaluated(first, 1, 1, None, {rule: {}})
    assert COUNTS_TTL_SECONDS - 10 <= await redis.ttl(key) <= COUNTS_TTL_SECONDS
    await redis.expire(key, 100)
    await state.evaluated(second, 1, 1, None, {rule: {}})
    await state.evaluated(first, 1, 1, None, {rule: {}})  # a retried call
    assert 0 < await redis.ttl(key) <= 100  # later writes leave the first one's expiry
    assert await redis.pfcount(key) == 2
    # another process (a second worker, a restart) gives it its expiry once more
    await State(redis, clock=clock).evaluated(second, 1, 1, None, {rule: {}})
    assert COUNTS_TTL_SECONDS - 10 <= await redis.ttl(key)
    clock.advance(BUCKET_SECONDS)  # the next bucket's key is a first write again
    await state.evaluated(second, 1, 1, None, {rule: {}})
    later = keys.matched_calls(rule, bucket_of(at) + 1)
    assert COUNTS_TTL_SECONDS - 10 <= await redis.ttl(later) <= COUNTS_TTL_SECONDS
    assert await state.calls.counts(at, at + BUCKET_SECONDS) == {}  # counts read decisions
    assert await redis.pfcount(key, later) == 2


async def test_only_a_later_try_of_a_calls_job_ends_its_recorded_failure(redis: Redis) -> None:
    state = State(redis)
    call = CallEnded(call_id=str(uuid.uuid4()))
    await state.record_failure(call, "timeout", "took too long", 3)
    await state.evaluated(call, 1, 1, None, {})  # a first try: no failure of its own to end
    assert await state.failure(call.call_id) is not None
    await state.evaluated(call, 1, 1, None, {}, clear_failure=True)  # decided by a later try
    assert await state.failure(call.call_id) is None


async def test_a_matched_counts_expiry_lost_with_its_round_trip_is_set_again(
    redis: Redis,
) -> None:
    at = 1_234_567_800.0
    state, rule = State(redis, clock=DrivenClock(at)), f"r-{uuid.uuid4().hex[:8]}"
    key = keys.matched_calls(rule, bucket_of(at))
    async with redis.pipeline(transaction=False) as lost:  # queued, never answered
        assert state.calls.count_matched(lost, [rule], "c0", at) == [key]
    await state.evaluated(CallEnded(call_id=str(uuid.uuid4())), 1, 1, None, {rule: {}})
    assert COUNTS_TTL_SECONDS - 10 <= await redis.ttl(key) <= COUNTS_TTL_SECONDS
