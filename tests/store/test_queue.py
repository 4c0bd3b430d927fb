"""The one-round-trip enqueue writes jobs that arq's own reader understands."""

from __future__ import annotations

import asyncio
import time
import uuid

from arq.jobs import Job, JobStatus
from redis.asyncio import Redis

from alerter.models import CallEnded
from alerter.store import keys
from alerter.store.queue import CallQueue, deserialize_job


async def test_enqueue_is_an_arq_job_deferred_by_the_settle_time(redis: Redis) -> None:
    call = CallEnded(call_id=str(uuid.uuid4()), event="call.ended", fields={"agent_id": "a"})
    before = time.time()
    assert await CallQueue(redis, settle_seconds=5).enqueue(call)
    job = Job(keys.call_job(call.call_id), redis, _deserializer=deserialize_job)  # type: ignore[arg-type]
    assert await job.status() == JobStatus.deferred
    info = await job.info()
    assert info is not None and info.function == "process_call"
    assert CallEnded.from_job(info.args[0]) == call
    score = await redis.zscore(keys.ARQ_QUEUE, keys.call_job(call.call_id))
    assert score is not None and before + 4.99 <= score / 1000 <= time.time() + 5


async def test_duplicate_while_queued_or_result_kept(redis: Redis) -> None:
    queue = CallQueue(redis, settle_seconds=0)
    call = CallEnded(call_id=str(uuid.uuid4()))
    assert await queue.enqueue(call)
    assert not await queue.enqueue(call)
    # Done: arq deleted the job and kept the result.
    await redis.delete(keys.ARQ_JOB + keys.call_job(call.call_id))
    await redis.zrem(keys.ARQ_QUEUE, keys.call_job(call.call_id))
    await redis.set(keys.ARQ_RESULT + keys.call_job(call.call_id), b"{}", ex=60)
    assert not await queue.enqueue(call)
    await queue.forget_result(call.call_id)
    assert await queue.enqueue(call)


def test_a_failed_jobs_result_is_stored_readable() -> None:
    """arq stores a failed job's exception as its result: as text, not "error serializing"."""
    from alerter.store.queue import serialize_job

    raw = serialize_job({"s": False, "r": TimeoutError("the job ran too long")})
    assert deserialize_job(raw)["r"] == "TimeoutError: the job ran too long"


async def test_enqueue_after_the_server_forgot_its_script(redis: Redis) -> None:
    """A restarted Redis has no scripts: the batch's calls are sent again once it is loaded."""
    queue = CallQueue(redis, settle_seconds=0, queue_name=f"q-{uuid.uuid4().hex[:6]}")
    await redis.script_flush()
    calls = [CallEnded(call_id=str(uuid.uuid4())) for _ in range(3)]
    assert await asyncio.gather(*(queue.enqueue(c) for c in calls)) == [True, True, True]
    assert not await queue.enqueue(calls[0])  # written once, not twice


async def test_the_queue_tells_work_due_now_from_work_waiting_its_time(redis: Redis) -> None:
    from alerter.store.queue import queue_state

    now_ms = time.time() * 1000
    await redis.zadd(
        keys.ARQ_QUEUE,
        {
            keys.call_job("due"): now_ms - 3000,
            keys.SEND_JOB_PREFIX + "retry-soon": now_ms + 4000,
            keys.SEND_JOB_PREFIX + "later": now_ms + 60000,
        },
    )
    queue = await queue_state(redis)
    assert queue.due == 1 and 2.9 <= queue.oldest_due_seconds < 10
    assert queue.waiting == 2 and queue.next_due_seconds is not None
    assert 3 < queue.next_due_seconds <= 4
    await redis.delete(keys.ARQ_QUEUE)
    empty = await queue_state(redis)
    assert (empty.due, empty.waiting, empty.next_due_seconds) == (0, 0, None)
