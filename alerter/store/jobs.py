"""The execution side of the queue, in arq's key layout: claiming a job and finishing it
with fewer commands than arq's own (the enqueue side is `queue`)."""

from __future__ import annotations

from arq.connections import ArqRedis
from arq.constants import (
    in_progress_key_prefix,
    job_key_prefix,
    result_key_prefix,
    retry_key_prefix,
)
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from alerter.store import lua

WORKERS_KEY = "alerter:workers"  # sorted set: worker name -> its last heartbeat


async def beat(redis: Redis, name: str, now: float) -> None:
    """A worker's heartbeat, where the console finds live workers without scanning keys."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zadd(WORKERS_KEY, {name: now})
        pipe.zremrangebyscore(WORKERS_KEY, "-inf", now - 86_400)
        await pipe.execute()


async def live_workers(redis: Redis, now: float, within: float) -> list[str]:
    names = await redis.zrangebyscore(WORKERS_KEY, now - within, "+inf")
    return sorted(name.decode() for name in names)


class JobBook:
    def __init__(self, redis: Redis, queue_name: str) -> None:
        self._redis = redis
        self._queue = queue_name
        self._claim = redis.register_script(lua.source("claim"))

    async def claim(self, job_id: str, now_ms: int, in_progress_ms: int) -> int | None:
        """The job's score when this worker may run it (its in-progress lock now held)."""
        score = await self._claim(
            keys=[in_progress_key_prefix + job_id, self._queue],
            args=[job_id, now_ms, in_progress_ms],
        )
        return int(float(score)) if score else None

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
        async with self._redis.pipeline(transaction=False) as pipe:
            keys = [retry_key_prefix + job_id, job_key_prefix + job_id]
            if keep_in_progress_ms is None:
                keys.append(in_progress_key_prefix + job_id)
            else:
                pipe.pexpire(in_progress_key_prefix + job_id, keep_in_progress_ms)
            if result:
                pipe.set(result_key_prefix + job_id, result, px=keep_ms)
            pipe.zrem(self._queue, job_id)
            pipe.delete(*keys)
            await pipe.execute()


class LeanArqRedis(ArqRedis):
    """The worker's pool: arq wraps its reads and writes of a job whose lock it already holds
    in MULTI/EXEC (two more commands a job); here a pipeline is a plain batch unless its
    user calls `multi()`, as arq's `enqueue_job` and every transaction of ours do."""

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        return super().pipeline(transaction=False, shard_hint=shard_hint)
