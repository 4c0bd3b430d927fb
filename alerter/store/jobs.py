"""The execution side of the queue, in arq's key layout: claiming a job and finishing it
with fewer commands than arq's own (the enqueue side is `queue`)."""

from __future__ import annotations

from collections.abc import Sequence

from arq.constants import (
    in_progress_key_prefix,
    job_key_prefix,
    result_key_prefix,
    retry_key_prefix,
)
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from alerter.compat.arq import Claimed
from alerter.store import job_scripts as js
from alerter.store import keys, lua
from alerter.store.coalesce import Coalescer
from alerter.store.queue import put_outbox

WORKER_SEEN_SECONDS = 75  # a worker is live within this of its heartbeat (every 30 s)


async def beat(redis: Redis, name: str, now: float) -> None:
    """A worker's heartbeat, where the console finds live workers without scanning keys."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zadd(keys.WORKERS, {name: now})
        pipe.zremrangebyscore(keys.WORKERS, "-inf", now - 86_400)
        await pipe.execute()


async def live_workers(redis: Redis, now: float, within: float) -> list[str]:
    names = await redis.zrangebyscore(keys.WORKERS, now - within, "+inf")
    return sorted(name.decode() for name in names)


class JobBook:
    def __init__(self, redis: Redis, queue_name: str, coalescer: Coalescer | None = None) -> None:
        self._redis = redis
        self._queue = queue_name
        self._coalescer = coalescer or Coalescer(redis)
        self._claim = lua.Script[js.ClaimKeys, js.ClaimArgs](redis, "claim")

    async def claim(
        self, job_ids: list[str], now_ms: int, in_progress_ms: int
    ) -> list[Claimed | None]:
        """Per job, what this worker holds when it may run it (its in-progress lock now
        taken), else None: all in one round trip, however many jobs a poll found."""
        if not job_ids:
            return []
        jobs = tuple(
            js.ClaimJobKeys(
                in_progress=in_progress_key_prefix + job,
                job=job_key_prefix + job,
                retry=retry_key_prefix + job,
            )
            for job in job_ids
        )
        answers = await self._claim(
            js.ClaimKeys(queue=self._queue, jobs=jobs),
            js.ClaimArgs(now_ms=now_ms, lock_ms=in_progress_ms, job_ids=tuple(job_ids)),
        )
        return [Claimed(int(float(a[0])), a[1], int(a[2])) if a and a[0] else None for a in answers]

    async def put_sends(
        self, sends: Sequence[tuple[str, bytes]], claim: int, lock_ms: int
    ) -> tuple[int, list[int]]:
        """Sends into the outbox, the first `claim` claimed for this worker in the same
        script (`queue.put_outbox`: the score, and per send its answer)."""
        return await put_outbox(
            self._redis, sends, queue_name=self._queue, claim=claim, lock_ms=lock_ms
        )

    async def finish(
        self,
        job_id: str,
        result: bytes | None,
        keep_ms: int | None,
        keep_in_progress_ms: int | None,
    ) -> None:
        """A finished job: its result kept (`keep_ms`, None: forever), out of the queue, its
        keys gone. One round trip, no MULTI/EXEC: the lock holder is the only writer, and a
        half-applied finish (Redis dying between commands) at worst runs the job again,
        which the send markers make harmless."""

        def fill(pipe: Pipeline) -> None:
            gone = [retry_key_prefix + job_id, job_key_prefix + job_id]
            if job_id.startswith(keys.CALL_JOB_PREFIX):
                # Its held sends (`store.outbox`): in the same command as the job, so no
                # run of the job comes after them.
                gone.append(keys.held_sends(job_id.removeprefix(keys.CALL_JOB_PREFIX)))
            if keep_in_progress_ms is None:
                gone.append(in_progress_key_prefix + job_id)
            else:
                pipe.pexpire(in_progress_key_prefix + job_id, keep_in_progress_ms)
            if result:
                pipe.set(result_key_prefix + job_id, result, px=keep_ms)
            pipe.zrem(self._queue, job_id)
            pipe.delete(*gone)

        await self._coalescer.execute(fill)  # with other jobs' finishes and records

    async def retry(self, job_id: str, incr_score_ms: int | None, keep_lock_ms: int | None) -> None:
        """A job to run again (it asked to, or the worker is stopping): its lock released
        (or kept `keep_lock_ms`), its queue score moved on `incr_score_ms`. As `finish`, one
        shared round trip and no MULTI/EXEC: at worst a half-applied retry runs sooner."""

        def fill(pipe: Pipeline) -> None:
            if keep_lock_ms is None:
                pipe.delete(in_progress_key_prefix + job_id)
            else:
                pipe.pexpire(in_progress_key_prefix + job_id, keep_lock_ms)
            if incr_score_ms:
                pipe.zincrby(self._queue, incr_score_ms, job_id)

        await self._coalescer.execute(fill)
