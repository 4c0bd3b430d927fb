"""arq's worker starting and finishing jobs in fewer round trips, and its failure results read.

Written against arq 0.28.0 and redis-py 5.3.1 (`tests/compat/test_arq.py` holds both to it,
running arq's own `run_job` against a real server). What is relied on, all arq's private:

- `Worker.start_jobs` is re-implemented (`ClaimingWorker`) on arq's counters `sem`,
  `job_counter`, `tasks` and `_release_sem_dec_counter_on_complete`: every job a poll found is
  claimed by one call (`claim_jobs`, the worker's script) instead of a WATCH/MULTI/EXEC each.
- arq's `run_job` then reads the job and counts its try in one transaction of exactly
  GET job, INCRBY retry 1, EXPIRE retry: the pool (`LeanArqRedis`) answers that transaction
  from the claim, which read the same. Should arq's first read change shape, the claim is not
  used and every try is counted twice: the contract test's job_try 1, 2, 3 then fails.
- `reserve_now` takes places in those counters without waiting (`sem.locked()`, then an
  `acquire` that returns at once) and not once `allow_pick_jobs` is off (a stopping worker),
  for jobs the worker claims itself when it queues them (`start_claimed`).
- `finish_job` is routed to the subclass's own finishes (`finish_done`, `finish_retry`);
  arq's `finish_failed_job` stays arq's, in a real MULTI/EXEC.
- `_last_health_check` says when arq's `record_health` writes (`health_due`).
- The result arq stores for a job it ends failed: its keys `a` (arguments), `t` (tries) and
  `r` (the exception, as text), and the words of arq's own exceptions (`read_failure`).

The pool's `pipeline(transaction=True)` is MULTI/EXEC, as redis-py's; a non-transactional
batch is asked for by name, `pipeline(transaction=False)`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

from arq.connections import ArqRedis, create_pool
from arq.constants import job_key_prefix, retry_key_prefix
from arq.utils import timestamp_ms
from arq.worker import Worker
from redis.asyncio.client import Pipeline

WRITTEN_AGAINST = {"arq": "0.28.0", "redis": "5.3.1"}


@dataclass(frozen=True, slots=True)
class Claimed:
    """A job this worker now holds: its queue score, and what arq's run of it reads first
    (the job, its try number), read in the claim's round trip."""

    score: int
    job: bytes | None
    tries: int


class LeanArqRedis(ArqRedis):
    """The worker's pool: arq's first read of a job it runs (GET, INCRBY, EXPIRE in one
    transaction) is answered from the claim (`claimed`, filled by the worker, emptied here);
    every other pipeline runs as redis-py's, a transaction as MULTI/EXEC."""

    claimed: dict[str, Claimed]

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        if not transaction:
            return super().pipeline(transaction=False, shard_hint=shard_hint)
        return _ClaimAwarePipeline(
            self.connection_pool,
            self.response_callbacks,
            True,
            shard_hint,
            claimed=self.claimed,
        )


def lean_pool(pool: ArqRedis, claimed: dict[str, Claimed]) -> LeanArqRedis:
    """arq's own pool (made by `create_pool`, with its Sentinel and retry handling), now
    answering arq's first read of a claimed job from `claimed`."""
    pool.__class__ = LeanArqRedis
    lean = cast(LeanArqRedis, pool)
    lean.claimed = claimed
    return lean


class _ClaimAwarePipeline(Pipeline):
    def __init__(self, *args: Any, claimed: dict[str, Claimed]) -> None:
        super().__init__(*args)
        self._claimed = claimed

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        held = self._read_by_claim()
        if held is not None:
            self.command_stack.clear()
            return [held.job, held.tries, True]
        return await super().execute(raise_on_error)

    def _read_by_claim(self) -> Claimed | None:
        """The claim's answer when these are exactly arq's first read of a claimed job."""
        if len(self.command_stack) != 3:
            return None
        stack: list[tuple[Any, ...]] = [args for args, _ in self.command_stack]
        get, incr, expire = stack
        if get[0] != "GET" or incr[0] != "INCRBY" or expire[0] != "EXPIRE":
            return None
        job_id = str(get[1]).removeprefix(job_key_prefix)
        if incr[1:] != (retry_key_prefix + job_id, 1) or expire[1] != incr[1]:
            return None
        return self._claimed.pop(job_id, None)


class ClaimingWorker(Worker):
    """arq's worker, starting every job a poll found with one `claim_jobs` call, and ending
    jobs by `finish_done` and `finish_retry`; `pool_ready` sees the pool before arq starts."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._claimed: dict[str, Claimed] = {}  # claimed, not yet read by arq's run_job

    async def claim_jobs(
        self, job_ids: list[str], now_ms: int, in_progress_ms: int
    ) -> list[Claimed | None]:
        """Per job, the claim when this worker may run it (its in-progress lock taken)."""
        raise NotImplementedError

    async def finish_done(
        self, job_id: str, result: bytes | None, keep_ms: int | None, keep_lock_ms: int | None
    ) -> None:
        """A finished job: its result kept `keep_ms` (None: forever), out of the queue, its
        keys gone, its lock kept `keep_lock_ms` (None: gone)."""
        raise NotImplementedError

    async def finish_retry(
        self, job_id: str, incr_score_ms: int | None, keep_lock_ms: int | None
    ) -> None:
        """A job to run again: its lock released (or kept `keep_lock_ms`), its queue score
        moved on `incr_score_ms`."""
        raise NotImplementedError

    async def pool_ready(self, pool: LeanArqRedis) -> None:
        """Called once the pool exists, before arq's own start (`on_startup`)."""

    async def main(self) -> None:
        if self._pool is None:
            self._pool = await create_pool(
                self.redis_settings,
                job_deserializer=self.job_deserializer,
                job_serializer=self.job_serializer,
                default_queue_name=self.queue_name,
                expires_extra_ms=self.expires_extra_ms,
            )
        await self.pool_ready(lean_pool(self._pool, self._claimed))
        await super().main()

    def health_due(self) -> bool:
        """Whether arq's next `record_health` writes the health key."""
        return time.time() - self._last_health_check >= self.health_check_interval

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        """arq's `start_jobs`, every job a poll found claimed by one `claim_jobs`."""
        wanted = await self._reserve(job_ids)
        in_progress_ms = int(self.in_progress_timeout_s * 1000)
        try:
            claims = await self.claim_jobs(wanted, timestamp_ms(), in_progress_ms)
        except BaseException:
            for _ in wanted:
                self._release_sem_dec_counter_on_complete()
            raise
        for job_id, claimed in zip(wanted, claims, strict=True):
            if claimed is None:  # running elsewhere, gone, or deferred since it was read
                self._release_sem_dec_counter_on_complete()
                continue
            self.start_claimed(job_id, claimed)

    async def reserve_now(self, wanted: int) -> int:
        """Places in arq's counters for up to `wanted` jobs this worker claims itself
        (`start_claimed`), as many as are free now (none waited for; none while stopping).
        Each is given back by its run's end, or by `give_back` when not used."""
        got = 0
        while got < wanted and self.allow_pick_jobs and self.job_counter < self.max_jobs:
            if self.sem.locked():
                break
            await self.sem.acquire()  # free: it returns at once
            self.job_counter += 1
            got += 1
        return got

    def give_back(self, places: int) -> None:
        """Places `reserve_now` gave that no job took."""
        for _ in range(places):
            self._release_sem_dec_counter_on_complete()

    def start_claimed(self, job_id: str, claimed: Claimed) -> None:
        """Run a job this worker holds (its lock taken, its try counted), on a place taken
        by `start_jobs` or `reserve_now`; arq's first read of it is answered by `claimed`."""
        self._claimed[job_id] = claimed
        task = self.loop.create_task(self.run_job(job_id, claimed.score))
        task.add_done_callback(partial(self._job_done, job_id, claimed))
        self.tasks[job_id] = task

    async def _reserve(self, job_ids: list[bytes]) -> list[str]:
        """The jobs this worker has room for and does not run already, each now holding a
        place in arq's counters (given back by `_job_done`, or here when not claimed)."""
        wanted: list[str] = []
        for job_id_b in job_ids:
            await self.sem.acquire()
            if self.job_counter >= self.max_jobs:
                self.sem.release()
                break
            job_id = job_id_b.decode()
            running = self.tasks.get(job_id)
            if job_id in wanted or (running is not None and not running.done()):
                self.sem.release()  # running here: nothing to claim
                continue
            self.job_counter += 1
            wanted.append(job_id)
        return wanted

    def _job_done(self, job_id: str, claimed: Claimed, _: object) -> None:
        # Left when the run ended before arq read it; a newer claim of the job (a retry
        # claimed before this callback ran) is not this run's to drop.
        if self._claimed.get(job_id) is claimed:
            del self._claimed[job_id]
        self._release_sem_dec_counter_on_complete()

    async def finish_job(
        self,
        job_id: str,
        finish: bool,
        result_data: bytes | None,
        result_timeout_s: float | None,
        keep_result_forever: bool,
        incr_score: int | None,
        keep_in_progress: float | None,
    ) -> None:
        keep_lock_ms = None if keep_in_progress is None else int(keep_in_progress * 1000)
        if not finish:
            await self.finish_retry(job_id, incr_score or None, keep_lock_ms)
            return
        keep_ms = (
            None
            if keep_result_forever or result_timeout_s is None
            else int(result_timeout_s * 1000)
        )
        await self.finish_done(job_id, result_data, keep_ms, keep_lock_ms)


@dataclass(frozen=True, slots=True)
class Failure:
    """What arq's result of a job it ended failed says: the job's arguments when arq still
    had them, why it failed (`kind`, `reason`) and how many tries it had."""

    args: tuple[Any, ...]
    kind: str
    reason: str
    tries: int


def read_failure(result_data: bytes | None, deserialize: Callable[[bytes], Any]) -> Failure:
    """arq's failure result (`finish_failed_job`'s `result_data`), read with the worker's
    job deserializer; an unreadable one is an error "ended by the queue"."""
    try:
        result = deserialize(result_data) if result_data else {}
    except ValueError:
        result = {}
    if not isinstance(result, dict):
        result = {}
    args = result.get("a") or ()
    text = str(result.get("r", ""))
    kind, reason = "error", "ended by the queue"
    if "expired" in text:
        kind, reason = "expired", "the job expired in the queue before it ran"
    elif "retries exceeded" in text:
        kind, reason = "lost", "arq's try cap was reached"
    elif "TimeoutError" in text:
        kind, reason = "timeout", "the job ran past the worker's job timeout"
    elif text:
        kind, reason = "error", text[:200]
    return Failure(
        args=tuple(args) if isinstance(args, list | tuple) else (),
        kind=kind,
        reason=reason,
        tries=int(result.get("t") or 0),
    )
