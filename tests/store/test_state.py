"""Send markers and recorded failures on the real server."""

from __future__ import annotations

import time
import uuid

from redis.asyncio import Redis

from alerter.models import CallEnded, Outcome
from alerter.store import keys
from alerter.store.history import history_entry
from alerter.store.markers import marker_key
from alerter.store.state import Claim, State
from tests.kit.build import DAY
from tests.kit.clock import DrivenClock


async def test_a_sent_marker_lasts_seven_days_and_blocks_a_second_send(redis: Redis) -> None:
    state = State(redis)
    key = marker_key(str(uuid.uuid4()), "rule", "dest")
    claim, _ = await state.claim(key)
    assert claim is Claim.MINE
    assert 0 < await redis.ttl(key) <= 120  # a lease, while the send runs
    await state.mark_sent(key)
    assert 7 * 86_400 - 60 <= await redis.ttl(key) <= 7 * 86_400
    assert (await state.claim(key))[0] is Claim.SENT


async def test_a_busy_claim_is_not_taken(redis: Redis) -> None:
    state = State(redis)
    key = marker_key(str(uuid.uuid4()), "rule", "dest")
    assert (await state.claim(key))[0] is Claim.MINE
    assert (await state.claim(key))[0] is Claim.BUSY


async def test_success_writes_clear_a_recorded_failure_in_the_same_trip(redis: Redis) -> None:
    state = State(redis)
    call = CallEnded(call_id=str(uuid.uuid4()), fields={})
    await state.record_failure(call, "delivery", "kept failing", 8)
    assert await state.failure(call.call_id) is not None
    await state.record(call.call_id, Outcome.NO_MATCH, clear_failure=True)
    assert await redis.hexists(keys.FAILED, call.call_id) == 0

    await state.record_failure(call, "delivery", "kept failing", 8)
    key = marker_key(call.call_id, "rule", "dest")
    entry = history_entry(
        call.call_id, Outcome.SENT, rule="rule", destination="dest", at=time.time()
    )
    await state.mark_sent(key, entry, clear_failure=call.call_id)
    assert await state.failure(call.call_id) is None
    rows = await state.history(call.call_id)
    assert [row.outcome for row in rows] == ["sent", "failed", "no_match", "failed"]


async def test_history_of_one_call_reads_its_story_and_filters_scan_the_newest(
    redis: Redis,
) -> None:
    state = State(redis)
    mine, other = str(uuid.uuid4()), str(uuid.uuid4())
    await state.record(mine, Outcome.THROTTLED, rule="r", detail="first")
    for _ in range(5):
        await state.record(other, Outcome.SILENCED, rule="r")
    await state.record(mine, Outcome.SENT, rule="r", destination="slack-ops")
    # A call's own entries, newest first, however far back the stream they lie (no scan).
    rows = await state.history(mine, scan_max=1)
    assert [(r.outcome, r.destination) for r in rows] == [
        ("sent", "slack-ops"),
        ("throttled", ""),
    ]
    assert [r.outcome for r in await state.history(mine, outcome="throttled")] == ["throttled"]
    # Other filters read the stream back from its newest entry, scan_max entries at most.
    assert [r.subject for r in await state.history(outcome="throttled")] == [mine]
    assert await state.history(outcome="throttled", scan_max=3) == []
    assert [r.subject for r in await state.history(destination="slack")] == [mine]


async def test_every_stamp_the_state_writes_reads_the_clock_it_was_given(redis: Redis) -> None:
    clock = DrivenClock(DAY)
    state = State(redis, clock=clock)
    call = CallEnded(call_id=str(uuid.uuid4()), fields={})
    await state.record(call.call_id, Outcome.NO_MATCH)
    clock.advance(60)
    await state.record_failure(call, "delivery", "kept failing", 8)
    rows = await state.history(call.call_id)
    assert sorted(row.at for row in rows) == [DAY, DAY + 60]
    failed = await state.failure(call.call_id)
    assert failed is not None and failed.at == DAY + 60
