"""The one-round-trip enqueue writes jobs that arq's own reader understands."""

from __future__ import annotations

import asyncio
import time
import uuid

from arq.jobs import Job, JobStatus
from redis.asyncio import Redis

from alerter.models import CallEnded
from alerter.store.queue import CallQueue, deserialize_job, job_id_for


async def test_enqueue_is_an_arq_job_deferred_by_the_settle_time(redis: Redis) -> None:
    call = CallEnded(call_id=str(uuid.uuid4()), event="call.ended", fields={"agent_id": "a"})
    before = time.time()
    assert await CallQueue(redis, settle_seconds=5).enqueue(call)
    job = Job(job_id_for(call.call_id), redis, _deserializer=deserialize_job)  # type: ignore[arg-type]
    assert await job.status() == JobStatus.deferred
    info = await job.info()
    assert info is not None and info.function == "process_call"
    assert CallEnded.from_job(info.args[0]) == call
    score = await redis.zscore("arq:queue", job_id_for(call.call_id))
    assert score is not None and before + 4.99 <= score / 1000 <= time.time() + 5


async def test_duplicate_while_queued_or_result_kept(redis: Redis) -> None:
    queue = CallQueue(redis, settle_seconds=0)
    call = CallEnded(call_id=str(uuid.uuid4()))
    assert await queue.enqueue(call)
    assert not await queue.enqueue(call)
    # Done: arq deleted the job and kept the result.
    await redis.delete(f"arq:job:{job_id_for(call.call_id)}")
    await redis.zrem("arq:queue", job_id_for(call.call_id))
    await redis.set(f"arq:result:{job_id_for(call.call_id)}", b"{}", ex=60)
    assert not await queue.enqueue(call)
    await queue.forget_result(call.call_id)
    assert await queue.enqueue(call)


def test_a_failed_jobs_result_is_stored_readable() -> None:
    """arq stores a failed job's exception as its result: as text, not "error serializing"."""
    from alerter.store.queue import serialize_job

    raw = serialize_job({"s": False, "r": TimeoutError("the job ran too long")})
    assert deserialize_job(raw)["r"] == "TimeoutError: the job ran too long"


async def test_arqs_first_read_of_a_claimed_job_is_answered_by_the_claim(redis_url: str) -> None:
    """The worker's claim reads the job and counts its try; arq's run of the job then asks
    the same (GET, INCR, EXPIRE in one pipeline) and is answered without a round trip, once."""
    from arq.connections import RedisSettings, create_pool

    from alerter.store.jobs import Claimed, LeanArqRedis

    pool = await create_pool(RedisSettings.from_dsn(redis_url))
    pool.__class__ = LeanArqRedis
    pool.claimed = {"held": Claimed(5, b"the job", 4)}  # type: ignore[attr-defined]

    async def arqs_first_read(job_id: str) -> list[object]:
        async with pool.pipeline(transaction=True) as pipe:
            pipe.get(f"arq:job:{job_id}")
            pipe.incr(f"arq:retry:{job_id}")
            pipe.expire(f"arq:retry:{job_id}", 88400)
            return await pipe.execute()  # type: ignore[no-any-return]

    try:
        assert await arqs_first_read("held") == [b"the job", 4, True]
        assert await pool.exists("arq:retry:held") == 0  # Redis was not asked
        assert pool.claimed == {}  # type: ignore[attr-defined]
        assert await arqs_first_read("held") == [None, 1, True]  # no claim left: Redis answers
        async with pool.pipeline() as pipe:  # any other pipeline runs as it is
            pipe.get("arq:job:held")
            pipe.incr("arq:retry:held")
            assert await pipe.execute() == [None, 2]
    finally:
        await pool.delete("arq:retry:held")
        await pool.aclose()


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
        "arq:queue",
        {"call:due": now_ms - 3000, "send:retry-soon": now_ms + 4000, "send:later": now_ms + 60000},
    )
    queue = await queue_state(redis)
    assert queue.due == 1 and 2.9 <= queue.oldest_due_seconds < 10
    assert queue.waiting == 2 and queue.next_due_seconds is not None
    assert 3 < queue.next_due_seconds <= 4
    await redis.delete("arq:queue")
    empty = await queue_state(redis)
    assert (empty.due, empty.waiting, empty.next_due_seconds) == (0, 0, None)
