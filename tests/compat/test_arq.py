"""Contract of alerter/compat/arq.py with arq's real worker: arq's own `main`, `run_job` and
`finish_failed_job` run here against the real server, with the claiming `start_jobs`."""

from __future__ import annotations

import asyncio
import inspect
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib.metadata import version
from typing import Any

import pytest
from arq import Retry
from arq.connections import ArqRedis, create_pool
from arq.worker import Function, Worker, func
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from alerter.compat import arq as compat
from alerter.compat.arq import Claimed, ClaimingWorker, LeanArqRedis, lean_pool, read_failure
from alerter.store import keys
from alerter.store.connect import arq_settings
from alerter.store.jobs import JobBook
from alerter.store.queue import deserialize_job, serialize_job


class BookWorker(ClaimingWorker):
    """The claiming worker on the store's claim script and finishes, as the worker's is."""

    async def claim_jobs(
        self, job_ids: list[str], now_ms: int, in_progress_ms: int
    ) -> list[Claimed | None]:
        return await JobBook(self.pool, self.queue_name).claim(job_ids, now_ms, in_progress_ms)

    async def finish_done(
        self, job_id: str, result: bytes | None, keep_ms: int | None, keep_lock_ms: int | None
    ) -> None:
        await JobBook(self.pool, self.queue_name).finish(job_id, result, keep_ms, keep_lock_ms)

    async def finish_retry(
        self, job_id: str, incr_score_ms: int | None, keep_lock_ms: int | None
    ) -> None:
        await JobBook(self.pool, self.queue_name).retry(job_id, incr_score_ms, keep_lock_ms)


def book_worker(redis_url: str, functions: list[Function], **options: Any) -> BookWorker:
    return BookWorker(
        functions=functions,
        redis_settings=arq_settings(redis_url),
        burst=True,
        handle_signals=False,
        poll_delay=0.01,
        keep_result=60,
        job_serializer=serialize_job,
        job_deserializer=deserialize_job,
        **options,
    )


async def run_until_idle(worker: Worker) -> None:
    try:
        await asyncio.wait_for(worker.main(), timeout=30)
    finally:
        await worker.close()


@pytest.fixture
async def pool(redis_url: str) -> AsyncIterator[ArqRedis]:
    arq_pool = await create_pool(
        arq_settings(redis_url), job_serializer=serialize_job, job_deserializer=deserialize_job
    )
    yield arq_pool
    await arq_pool.aclose()


async def command_counts(redis: Redis) -> dict[str, int]:
    stats = await redis.info("commandstats")
    counts = {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}
    counts.pop("info", None)  # the counting's own
    return counts


async def commands_of(redis: Redis, run: Callable[[], Awaitable[object]]) -> dict[str, int]:
    before = await command_counts(redis)
    await run()
    after = await command_counts(redis)
    return {k: n - before.get(k, 0) for k, n in after.items() if n != before.get(k, 0)}


def arq_keys(job_id: str) -> tuple[str, str, str]:
    """The keys arq keeps for a job while it is queued or running (its result aside)."""
    return keys.ARQ_RETRY + job_id, keys.ARQ_IN_PROGRESS + job_id, keys.ARQ_JOB + job_id


def test_written_against_the_installed_versions() -> None:
    # A new arq or redis-py may start, read or finish a job another way: read their code
    # again (worker.py's start_jobs, run_job, finish_job), then say so here.
    assert compat.WRITTEN_AGAINST == {"arq": version("arq"), "redis": version("redis")}


def test_the_private_parts_relied_on_are_arqs_shape() -> None:
    def params(function: Callable[..., object]) -> list[str]:
        return list(inspect.signature(function).parameters)

    assert params(Worker.start_jobs) == ["self", "job_ids"]
    assert params(Worker.run_job) == ["self", "job_id", "score"]
    assert params(Worker.finish_job) == [
        "self",
        "job_id",
        "finish",
        "result_data",
        "result_timeout_s",
        "keep_result_forever",
        "incr_score",
        "keep_in_progress",
    ]
    assert params(Worker.finish_failed_job) == ["self", "job_id", "result_data"]
    assert params(Worker._release_sem_dec_counter_on_complete) == ["self"]
    worker = Worker(functions=[func(_ok, name="ok")], handle_signals=False, max_jobs=3)
    assert isinstance(worker.sem, asyncio.BoundedSemaphore)
    assert (worker.job_counter, worker.tasks, worker._last_health_check) == (0, {}, 0)
    assert worker._pool is None and worker.in_progress_timeout_s == 310
    asyncio.run(worker.sem.acquire())
    worker.job_counter = 1
    worker._release_sem_dec_counter_on_complete()  # what it does: both counters back one
    assert worker.job_counter == 0 and not worker.sem.locked()
    with pytest.raises(ValueError):  # bounded at max_jobs + 1: the place was given back
        [worker.sem.release() for _ in range(1)]
    # The claim-aware pipeline is redis-py's, built as `Redis.pipeline` builds it.
    assert params(Pipeline.__init__) == [
        "self",
        "connection_pool",
        "response_callbacks",
        "transaction",
        "shard_hint",
    ]
    assert issubclass(ArqRedis, Redis)


async def _ok(ctx: dict[str, Any]) -> str:
    return "done"


async def test_a_try_is_counted_once_the_first_being_one(redis_url: str, pool: ArqRedis) -> None:
    """arq's run reads the try the claim counted: 1, 2, 3, not 2, 4 (each try counted by
    the claim and again by arq's first read, halving every try budget)."""
    tries: list[int] = []

    async def flaky(ctx: dict[str, Any]) -> str:
        tries.append(ctx["job_try"])
        if ctx["job_try"] < 3:
            raise Retry(defer=0)
        return "third time"

    await pool.enqueue_job("flaky", _job_id="flaky-1")
    worker = book_worker(redis_url, [func(flaky, name="flaky", max_tries=3)])
    await run_until_idle(worker)
    assert tries == [1, 2, 3]
    assert (worker.jobs_retried, worker.jobs_complete, worker.jobs_failed) == (2, 1, 0)
    assert worker.job_counter == 0  # every run gave its place back
    assert await pool.exists(*arq_keys("flaky-1")) == 0
    result = await pool.get(keys.ARQ_RESULT + "flaky-1")
    assert result is not None and deserialize_job(result)["r"] == "third time"


async def test_a_job_costs_the_claim_and_one_finish_and_no_transaction(
    redis_url: str, pool: ArqRedis
) -> None:
    """The commands a job costs the worker, as measured when the claim came in: one script
    (its SET NX lock, ZSCORE, SET NX try, GET) and one finish (SET result, ZREM, DEL); arq's
    own read of the job is answered by the claim, and nothing is wrapped in MULTI/EXEC."""
    worker = book_worker(redis_url, [func(_ok, name="ok")])
    await pool.enqueue_job("ok", _job_id="warm")  # loads the claim script
    await run_until_idle(worker)
    worker = book_worker(redis_url, [func(_ok, name="ok")])
    await asyncio.wait_for(worker.main(), timeout=30)  # an empty queue: the pool is made
    await pool.enqueue_job("ok", _job_id="counted")

    async def one_job() -> None:
        await worker.start_jobs([b"counted"])
        await worker.tasks["counted"]

    try:
        used = await commands_of(pool, one_job)
    finally:
        await worker.close()
    assert used == {"evalsha": 1, "set": 3, "zscore": 1, "get": 1, "zrem": 1, "del": 1}
    assert await pool.get(keys.ARQ_RESULT + "counted") is not None


async def test_a_job_the_worker_queues_and_claims_itself_runs_without_a_poll_or_a_read(
    redis_url: str, pool: ArqRedis
) -> None:
    """A job put and claimed in one script (the outbox's `put_sends` with `claim`) runs on
    places `reserve_now` took: arq's run reads try 1 from the claim, and the job costs the
    script (SET NX job, ZADD, SET NX lock, SET NX try) and one finish (ZREM, DEL)."""
    tries: list[int] = []

    async def send(ctx: dict[str, Any]) -> str:
        tries.append(ctx["job_try"])
        return "sent"

    worker = book_worker(redis_url, [func(send, name="send", keep_result=0)], max_jobs=2)
    await asyncio.wait_for(worker.main(), timeout=30)  # an empty queue: the pool is made
    book = JobBook(worker.pool, worker.queue_name)
    payload = serialize_job({"t": None, "f": "send", "a": [], "k": {}, "et": 1})
    await book.put_sends([("warm", payload)], claim=0, lock_ms=1000)  # loads the script

    async def one_job() -> None:
        room = await worker.reserve_now(1)
        score, answers = await book.put_sends([("counted", payload)], room, 60_000)
        assert (room, answers) == (1, [1])
        worker.start_claimed("counted", Claimed(score, payload, answers[0]))
        await worker.tasks["counted"]

    try:
        used = await commands_of(pool, one_job)
    finally:
        await worker.close()
    assert used == {"evalsha": 1, "set": 3, "zadd": 1, "zrem": 1, "del": 1}
    assert tries == [1] and worker.job_counter == 0 and worker.jobs_complete == 1
    assert await pool.exists(*arq_keys("counted")) == 0


async def test_places_reserved_now_are_the_free_ones_and_none_once_stopping(
    redis_url: str,
) -> None:
    worker = book_worker(redis_url, [func(_ok, name="ok")], max_jobs=3)
    assert await worker.reserve_now(5) == 3  # no more than max_jobs, none waited for
    assert worker.job_counter == 3 and await worker.reserve_now(1) == 0
    worker.give_back(3)
    assert worker.job_counter == 0 and not worker.sem.locked()
    worker.handle_sig_wait_for_completion(signal.SIGTERM)  # stopping: takes no new job
    assert not worker.allow_pick_jobs and await worker.reserve_now(1) == 0


async def test_a_transaction_on_the_workers_pool_is_multi_exec(
    redis_url: str, pool: ArqRedis
) -> None:
    lean = lean_pool(pool, {})

    async def transaction() -> None:
        async with lean.pipeline(transaction=True) as pipe:
            pipe.set("a", 1)
            pipe.set("b", 2)
            await pipe.execute()

    async def batch() -> None:
        async with lean.pipeline(transaction=False) as pipe:
            pipe.set("a", 1)
            pipe.set("b", 2)
            await pipe.execute()

    assert await commands_of(lean, transaction) == {"multi": 1, "set": 2, "exec": 1}
    assert await commands_of(lean, batch) == {"set": 2}
    # A watched key changed by another client aborts the transaction: it is one.
    other = Redis.from_url(redis_url)
    try:
        async with lean.pipeline(transaction=True) as pipe:
            await pipe.watch("a")
            await other.set("a", "changed")
            pipe.multi()
            pipe.set("a", "mine")
            with pytest.raises(Exception, match="Watched variable changed"):
                await pipe.execute()
    finally:
        await other.aclose()
    assert await lean.get("a") == b"changed"


async def test_arqs_first_read_of_a_claimed_job_is_answered_by_the_claim_once(
    pool: ArqRedis,
) -> None:
    lean = lean_pool(pool, {"held": Claimed(5, b"the job", 4)})
    assert isinstance(lean, LeanArqRedis)

    async def arqs_first_read(job_id: str) -> list[object]:
        async with lean.pipeline(transaction=True) as pipe:
            pipe.get(keys.ARQ_JOB + job_id)
            pipe.incr(keys.ARQ_RETRY + job_id)
            pipe.expire(keys.ARQ_RETRY + job_id, 88400)
            return await pipe.execute()  # type: ignore[no-any-return]

    assert await commands_of(lean, lambda: arqs_first_read("held")) == {}
    assert lean.claimed == {}
    assert await arqs_first_read("held") == [None, 1, True]  # no claim left: Redis answers
    async with lean.pipeline() as pipe:  # any other pipeline runs as it is
        pipe.get(keys.ARQ_JOB + "held")
        pipe.incr(keys.ARQ_RETRY + "held")
        assert await pipe.execute() == [None, 2]


async def test_arqs_failures_are_read_for_what_they_are(redis_url: str, pool: ArqRedis) -> None:
    """arq's own words for a job it ended failed (expired, past its try cap) and for one
    that ran past its timeout, as the worker's serializer stores them."""

    async def always_again(ctx: dict[str, Any], *args: object) -> None:
        raise Retry(defer=0)

    async def stuck(ctx: dict[str, Any]) -> None:
        await asyncio.Event().wait()

    await pool.enqueue_job("again", {"call_id": "c-1"}, _job_id="capped")
    await pool.enqueue_job("stuck", _job_id="slow")
    await pool.enqueue_job("again", _job_id="expired")
    await pool.delete(keys.ARQ_JOB + "expired")  # gone from under the queue: arq says it expired
    functions = [
        func(always_again, name="again", max_tries=2),
        func(stuck, name="stuck", timeout=0.2),
    ]
    await run_until_idle(book_worker(redis_url, functions))

    async def failure(job_id: str) -> compat.Failure:
        return read_failure(await pool.get(keys.ARQ_RESULT + job_id), deserialize_job)

    capped = await failure("capped")
    assert (capped.kind, capped.tries, capped.args) == ("lost", 3, ({"call_id": "c-1"},))
    assert (await failure("expired")).kind == "expired"
    assert (await failure("slow")).kind == "timeout"
    unreadable = read_failure(b"\xff not a job", deserialize_job)
    assert (unreadable.kind, unreadable.reason, unreadable.args) == (
        "error",
        "ended by the queue",
        (),
    )
