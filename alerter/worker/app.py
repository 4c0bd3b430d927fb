"""The arq wiring of the job: clients made once in `on_startup`, closed in `on_shutdown`,
the job functions with their try budgets, and the worker's pacing and health key.

A call job that arq itself ends failed (expired in the queue, past arq's try cap, its
timeout, a payload it cannot read) is recorded in the failed list here, and keeps no result:
nothing ends silently, and Diga's redelivery is not answered `duplicate` for a call that
ended with nothing to show.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from arq.cron import CronJob, cron
from arq.worker import Function, Worker, func
from redis.asyncio import Redis

from alerter.budgets import PRODUCTION, Budgets
from alerter.clock import Clock, Monotonic, system_clock, system_monotonic
from alerter.compat.arq import Claimed, ClaimingWorker, LeanArqRedis, read_failure
from alerter.compat.redis import hiredis_packing
from alerter.models import CallEnded
from alerter.pipeline.decide import NoiseStores
from alerter.pipeline.deliver import Sender, webhook_client
from alerter.pipeline.fetch import DigaClient
from alerter.pipeline.slack_app import SlackApps
from alerter.rules.model import RuleSet
from alerter.rules.reload import RulesHolder
from alerter.settings import Settings
from alerter.store import keys
from alerter.store.baseline import Baselines
from alerter.store.coalesce import Coalescer
from alerter.store.connect import arq_settings, parse_sentinel
from alerter.store.episodes import Episodes
from alerter.store.incidents import Incidents
from alerter.store.jobs import JobBook, beat
from alerter.store.markers import MarkerWriter
from alerter.store.queue import (
    JOB_FUNCTION,
    NOT_QUEUED,
    RESULT_KEEP_SECONDS,
    SEND_FUNCTION,
    deserialize_job,
    send_payload,
    serialize_job,
)
from alerter.store.signature_counts import SignatureCounts
from alerter.store.silences import Silences
from alerter.store.slack import SlackStore
from alerter.store.state import CLAIM_LEASE_SECONDS, FailedSend, State
from alerter.store.windows import Windows
from alerter.worker.call import process_call
from alerter.worker.deps import Deps, Outbox
from alerter.worker.digest import DIGEST_FUNCTION, flush_digest
from alerter.worker.episodes import EPISODE_FUNCTION, TICK_FUNCTION, episode_tick, send_episode
from alerter.worker.guard import ARQ_MAX_TRIES, time_budget
from alerter.worker.send import Send, deliver_send

WORKER_HEALTH_SECONDS = 30
SENDER_THREADS = 64


def health_key(worker_name: str) -> str:
    """One heartbeat key per worker (arq's default is one for every worker of a queue)."""
    return keys.arq_health_check(worker_name)


def worker_functions() -> list[Function]:
    return [
        func(process_call, name=JOB_FUNCTION, max_tries=ARQ_MAX_TRIES),
        func(flush_digest, name=DIGEST_FUNCTION, max_tries=ARQ_MAX_TRIES),
        func(send_episode, name=EPISODE_FUNCTION, max_tries=ARQ_MAX_TRIES),
        # No result kept: a send given up and retried is queued again under the same id.
        func(deliver_send, name=SEND_FUNCTION, max_tries=ARQ_MAX_TRIES, keep_result=0),
    ]


TICK_KEEP_SECONDS = 3600  # a period's tick result blocks its job id: one run per period


def tick_job(every_seconds: int) -> CronJob:
    """The episode tick on every worker's schedule, enqueued under one id per period (arq's
    `unique`), so one worker runs it."""
    return cron(
        episode_tick,
        name=TICK_FUNCTION,
        second=set(range(0, 60, every_seconds)),
        microsecond=0,
        unique=True,
        keep_result=TICK_KEEP_SECONDS,
        max_tries=1,
    )


def make_worker(
    settings: Settings,
    rules: RulesHolder | RuleSet,
    redis_url: str,
    *,
    burst: bool = False,
    clock: Clock = system_clock,
    monotonic: Monotonic = system_monotonic,
    claim_lease_seconds: int = CLAIM_LEASE_SECONDS,
    budgets: Budgets = PRODUCTION,
) -> Worker:
    """An arq worker; signals are left to `runner`, which paces shutdown. `clock` and
    `monotonic` are the process's one clock pair: every store and job reads them.
    `claim_lease_seconds`: how long a send's claim outlives a sender that died mid-send.
    `budgets`: its tries, waits and sizes (`alerter.budgets`)."""

    holder = rules if isinstance(rules, RulesHolder) else RulesHolder.of(rules)

    async def on_startup(ctx: dict[str, Any]) -> None:
        ctx["deps"] = make_deps(
            settings,
            holder,
            ctx["redis"],
            ctx.get("coalescer"),
            redis_url,
            outbox=ctx.get("outbox"),
            clock=clock,
            monotonic=monotonic,
            claim_lease_seconds=claim_lease_seconds,
            budgets=budgets,
        )

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        deps: Deps | None = ctx.get("deps")
        if deps is not None:
            await close_deps(deps)

    return RecordingWorker(
        functions=worker_functions(),
        cron_jobs=[] if burst else [tick_job(settings.tick_seconds)],
        redis_settings=arq_settings(redis_url),
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        max_jobs=settings.worker_max_jobs,
        keep_result=RESULT_KEEP_SECONDS,
        job_serializer=serialize_job,
        job_deserializer=deserialize_job,
        burst=burst,
        handle_signals=False,
        clock=clock,
        job_timeout=settings.job_timeout_seconds,
        job_completion_wait=math.ceil(settings.shutdown_grace_seconds),
        poll_delay=0.02,
        # The health-check key lives this long (+1 s): `alerter worker --check` reads it.
        health_check_interval=WORKER_HEALTH_SECONDS,
        health_check_key=health_key(settings.worker_name),
        worker_name=settings.worker_name,
        # Results are plain strings; arq's result log line adds nothing to ours.
        log_results=False,
    )


def make_deps(
    settings: Settings,
    holder: RulesHolder,
    redis: Redis,
    coalescer: Coalescer | None,
    redis_url: str,
    *,
    outbox: Outbox | None,
    clock: Clock,
    monotonic: Monotonic,
    claim_lease_seconds: int,
    budgets: Budgets = PRODUCTION,
) -> Deps:
    """The worker's long-lived clients, made once in `on_startup`, every one holding to the
    same `budgets`."""
    return Deps(
        diga=DigaClient.from_settings(
            settings, holder.metrics.observe_diga, budgets=budgets, clock=clock, monotonic=monotonic
        ),
        state=State(
            redis,
            settings.call_retention_seconds,
            coalescer,
            clock=clock,
            claim_lease_seconds=claim_lease_seconds,
        ),
        noise=NoiseStores(
            windows=Windows(redis),
            silences=Silences(redis, clock=clock, coalescer=coalescer),
            signatures=SignatureCounts(redis, coalescer),
            episodes=Episodes(redis, settings.call_retention_seconds),
            baselines=Baselines(redis),
            incidents=Incidents(redis),
        ),
        # Sends are a fraction of calls (those that alert): fewer threads than jobs.
        sender=Sender(
            threads=min(settings.worker_max_jobs, SENDER_THREADS),
            http=webhook_client(budgets),
            budgets=budgets,
        ),
        rules=holder,
        metrics=holder.metrics,
        outbox=outbox,
        budget=time_budget(settings.job_timeout_seconds),
        budgets=budgets,
        clock=clock,
        monotonic=monotonic,
        public_url=settings.public_url,
        # Sentinel URLs: marked from the event loop only (a blocking client per thread
        # pool would need the sentinel dance again).
        mark_now=MarkerWriter(redis_url) if parse_sentinel(redis_url) is None else None,
        slack=SlackApps(settings.slack_api_url, SlackStore(redis), clock, settings.public_url),
    )


async def close_deps(deps: Deps) -> None:
    """Closed in `on_shutdown`, each client once."""
    await deps.diga.aclose()
    await deps.sender.aclose()
    if isinstance(deps.mark_now, MarkerWriter):
        deps.mark_now.close()
    if deps.slack is not None:
        await deps.slack.close()


class RecordingWorker(ClaimingWorker):
    """arq's worker, recording every call job that arq itself ends failed, and starting and
    finishing jobs in fewer round trips (`compat.arq`, `store.jobs`: one script claims and
    reads every job a poll found; finishes go in pipelines shared with other jobs' writes)."""

    _coalescer: Coalescer | None

    def __init__(
        self, *args: Any, worker_name: str = "", clock: Clock = system_clock, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.worker_name = worker_name
        self.clock = clock
        self._jobs: JobBook | None = None
        self._coalescer = None

    async def pool_ready(self, pool: LeanArqRedis) -> None:
        hiredis_packing(pool)
        # Calls' records and jobs' finishes share round trips (`store.coalesce`).
        self._coalescer = Coalescer(pool)
        self.ctx["coalescer"] = self._coalescer
        self.ctx["outbox"] = self.put_sends

    @property
    def jobs(self) -> JobBook:
        if self._jobs is None:
            self._jobs = JobBook(self.pool, self.queue_name, self._coalescer)
        return self._jobs

    async def put_sends(self, sends: Sequence[tuple[str, bytes]]) -> int:
        """Sends (job id, payload) into the outbox; those this worker has room for are
        claimed by it in the same script and run at once: no poll, claim or read of a job
        it just wrote. Answers how many were queued."""
        room = await self.reserve_now(len(sends))
        lock_ms = int(self.in_progress_timeout_s * 1000)
        try:
            score, answers = await self.jobs.put_sends(sends, room, lock_ms)
        except BaseException:
            self.give_back(room)
            raise
        started = 0
        for (job_id, payload), answer in zip(sends, answers, strict=True):
            if answer > 0:  # queued and claimed: its try
                self.start_claimed(job_id, Claimed(score, payload, answer))
                started += 1
        self.give_back(room - started)
        return sum(1 for answer in answers if answer != NOT_QUEUED)

    async def record_health(self) -> None:
        due = self.health_due()
        await super().record_health()
        if due and self.worker_name:
            await beat(self.pool, self.worker_name, self.clock())

    async def claim_jobs(
        self, job_ids: list[str], now_ms: int, in_progress_ms: int
    ) -> list[Claimed | None]:
        return await self.jobs.claim(job_ids, now_ms, in_progress_ms)

    async def finish_done(
        self, job_id: str, result: bytes | None, keep_ms: int | None, keep_lock_ms: int | None
    ) -> None:
        await self.jobs.finish(job_id, result, keep_ms, keep_lock_ms)

    async def finish_retry(
        self, job_id: str, incr_score_ms: int | None, keep_lock_ms: int | None
    ) -> None:
        await self.jobs.retry(job_id, incr_score_ms, keep_lock_ms)

    async def finish_failed_job(self, job_id: str, result_data: bytes | None) -> None:
        if job_id.startswith(SEND_PREFIX):
            await self._record_failed_send(result_data)
            await super().finish_failed_job(job_id, None)
            return
        if not job_id.startswith(JOB_PREFIX):
            await super().finish_failed_job(job_id, result_data)
            return
        call, kind, reason, tries = _failed_call(job_id, result_data)
        state = State(self.pool, clock=self.clock)
        await state.record_failure(call, kind, reason, tries)
        # No result kept: a redelivered webhook runs the call again (send markers stop a
        # second alert) instead of being answered `duplicate`.
        await super().finish_failed_job(job_id, None)

    async def _record_failed_send(self, result_data: bytes | None) -> None:
        """A send that arq itself ended: recorded against its rule and destination, with
        the send, so `failed retry` can queue it again."""
        failure = read_failure(result_data, deserialize_job)
        try:
            send = Send.from_job(failure.args[0])
        except (ValueError, KeyError, IndexError, TypeError):
            return  # nothing left to say which send it was
        failed = FailedSend(
            rule=send.rule,
            destination=send.destination,
            reason=f"{send.destination}: {failure.kind}: {failure.reason}",
            job_id=send.job_id,
            payload=send_payload(send.to_job(), int(self.clock() * 1000)).decode(),
        )
        call = send.call or CallEnded(call_id=send.subject)
        await State(self.pool, clock=self.clock).record_send_failure(call, failed, failure.tries)


JOB_PREFIX = keys.CALL_JOB_PREFIX
SEND_PREFIX = keys.SEND_JOB_PREFIX


def _failed_call(job_id: str, result_data: bytes | None) -> tuple[CallEnded, str, str, int]:
    """What arq's failure result says of the call: its fields when arq still had them."""
    failure = read_failure(result_data, deserialize_job)
    call = CallEnded(call_id=job_id.removeprefix(JOB_PREFIX))
    args = failure.args
    if args and isinstance(args[0], dict) and "call_id" in args[0]:
        call = CallEnded.from_job(args[0])
    return call, failure.kind, failure.reason, failure.tries
