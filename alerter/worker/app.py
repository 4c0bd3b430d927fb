"""The arq wiring of the job: clients made once in `on_startup`, closed in `on_shutdown`,
the job functions with their try budgets, and the worker's pacing and health key.

A call job that arq itself ends failed (expired in the queue, past arq's try cap, its
timeout, a payload it cannot read) is recorded in the failed list here, and keeps no result:
nothing ends silently, and Diga's redelivery is not answered `duplicate` for a call that
ended with nothing to show.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from functools import partial
from typing import Any, cast

from arq.connections import create_pool
from arq.constants import default_queue_name
from arq.cron import CronJob, cron
from arq.utils import timestamp_ms
from arq.worker import Function, Worker, func

from alerter.models import CallEnded
from alerter.pipeline.decide import NoiseStores
from alerter.pipeline.deliver import Sender, webhook_client
from alerter.pipeline.fetch import DigaClient
from alerter.pipeline.slack_app import SlackApps
from alerter.rules.model import RuleSet
from alerter.rules.reload import RulesHolder
from alerter.settings import Settings
from alerter.store.baseline import Baselines
from alerter.store.coalesce import Coalescer
from alerter.store.connect import arq_settings, hiredis_packing, parse_sentinel
from alerter.store.episodes import Episodes
from alerter.store.incidents import Incidents
from alerter.store.jobs import Claimed, JobBook, LeanArqRedis, beat
from alerter.store.markers import MarkerWriter
from alerter.store.queue import (
    JOB_FUNCTION,
    RESULT_KEEP_SECONDS,
    SEND_FUNCTION,
    deserialize_job,
    job_id_for,
    send_payload,
    serialize_job,
)
from alerter.store.signature_counts import SignatureCounts
from alerter.store.silences import Silences
from alerter.store.slack import SlackStore
from alerter.store.state import FailedSend, State
from alerter.store.windows import Windows
from alerter.worker.call import process_call
from alerter.worker.deps import Deps
from alerter.worker.digest import DIGEST_FUNCTION, flush_digest
from alerter.worker.episodes import EPISODE_FUNCTION, TICK_FUNCTION, episode_tick, send_episode
from alerter.worker.guard import ARQ_MAX_TRIES, time_budget
from alerter.worker.send import Send, deliver_send

WORKER_HEALTH_SECONDS = 30
SENDER_THREADS = 64


def health_key(worker_name: str) -> str:
    """One heartbeat key per worker (arq's default is one for every worker of a queue)."""
    return f"{default_queue_name}:health-check:{worker_name}"


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
    clock: Callable[[], float] = time.time,
) -> Worker:
    """An arq worker; signals are left to `runner`, which paces shutdown."""

    holder = rules if isinstance(rules, RulesHolder) else RulesHolder.of(rules)
    worker_metrics = holder.metrics

    async def on_startup(ctx: dict[str, Any]) -> None:
        ctx["deps"] = Deps(
            diga=DigaClient.from_settings(settings, observe=worker_metrics.observe_diga),
            state=State(ctx["redis"], settings.call_retention_seconds, ctx.get("coalescer")),
            noise=NoiseStores(
                windows=Windows(ctx["redis"]),
                silences=Silences(ctx["redis"]),
                signatures=SignatureCounts(ctx["redis"]),
                episodes=Episodes(ctx["redis"], settings.call_retention_seconds),
                baselines=Baselines(ctx["redis"]),
                incidents=Incidents(ctx["redis"]),
            ),
            # Sends are a fraction of calls (those that alert): fewer threads than jobs.
            sender=Sender(
                threads=min(settings.worker_max_jobs, SENDER_THREADS), http=webhook_client()
            ),
            rules=holder,
            metrics=worker_metrics,
            budget=time_budget(settings.job_timeout_seconds),
            clock=clock,
            public_url=settings.public_url,
            # Sentinel URLs: marked from the event loop only (a blocking client per thread
            # pool would need the sentinel dance again).
            mark_now=MarkerWriter(redis_url) if parse_sentinel(redis_url) is None else None,
            slack=SlackApps(
                settings.slack_api_url, SlackStore(ctx["redis"]), clock, settings.public_url
            ),
        )

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        deps: Deps | None = ctx.get("deps")
        if deps is not None:
            await deps.diga.aclose()
            await deps.sender.aclose()
            if isinstance(deps.mark_now, MarkerWriter):
                deps.mark_now.close()
            if deps.slack is not None:
                await deps.slack.close()

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


class RecordingWorker(Worker):
    """arq's worker, recording every call job that arq itself ends failed, and starting and
    finishing jobs in fewer round trips (`store.jobs`: one script claims and reads every job
    a poll found; finishes go in pipelines shared with other jobs' writes)."""

    _coalescer: Coalescer | None

    async def main(self) -> None:
        if self._pool is None:
            self._pool = await create_pool(
                self.redis_settings,
                job_deserializer=self.job_deserializer,
                job_serializer=self.job_serializer,
                default_queue_name=self.queue_name,
                expires_extra_ms=self.expires_extra_ms,
            )
        self._pool.__class__ = LeanArqRedis  # the same client, plain pipelines (see there)
        hiredis_packing(self._pool)
        cast(LeanArqRedis, self._pool).claimed = self._claimed
        # Calls' records and jobs' finishes share round trips (`store.coalesce`).
        self._coalescer = Coalescer(self._pool)
        self.ctx["coalescer"] = self._coalescer
        await super().main()

    def __init__(self, *args: Any, worker_name: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.worker_name = worker_name
        self._jobs: JobBook | None = None
        self._coalescer = None
        self._claimed: dict[str, Claimed] = {}  # claimed, not yet read by arq's run_job

    @property
    def jobs(self) -> JobBook:
        if self._jobs is None:
            self._jobs = JobBook(self.pool, self.queue_name, self._coalescer)
        return self._jobs

    async def record_health(self) -> None:
        due = time.time() - self._last_health_check >= self.health_check_interval
        await super().record_health()
        if due and self.worker_name:
            await beat(self.pool, self.worker_name, time.time())

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        """arq's `start_jobs`, with every job a poll found claimed in one script (instead of
        WATCH/MULTI/EXEC for each) that also reads what arq's run of the job reads first."""
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
        in_progress_ms = int(self.in_progress_timeout_s * 1000)
        try:
            claims = await self.jobs.claim(wanted, timestamp_ms(), in_progress_ms)
        except BaseException:
            for _ in wanted:
                self.job_counter -= 1
                self.sem.release()
            raise
        for job_id, claimed in zip(wanted, claims, strict=True):
            if claimed is None:  # running elsewhere, gone, or deferred since it was read
                self.job_counter -= 1
                self.sem.release()
                continue
            self._claimed[job_id] = claimed
            task = self.loop.create_task(self.run_job(job_id, claimed.score))
            task.add_done_callback(partial(self._job_done, job_id, claimed))
            self.tasks[job_id] = task

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
        if not finish:  # a retry: arq's own way (rare)
            await super().finish_job(
                job_id,
                finish,
                result_data,
                result_timeout_s,
                keep_result_forever,
                incr_score,
                keep_in_progress,
            )
            return
        keep_ms = (
            None
            if keep_result_forever or result_timeout_s is None
            else (int(result_timeout_s * 1000))
        )
        await self.jobs.finish(
            job_id,
            result_data,
            keep_ms,
            None if keep_in_progress is None else int(keep_in_progress * 1000),
        )

    async def finish_failed_job(self, job_id: str, result_data: bytes | None) -> None:
        if job_id.startswith(SEND_PREFIX):
            await self._record_failed_send(result_data)
            await super().finish_failed_job(job_id, None)
            return
        if not job_id.startswith(JOB_PREFIX):
            await super().finish_failed_job(job_id, result_data)
            return
        call, kind, reason, tries = _failed_call(job_id, result_data)
        state = State(self.pool)
        await state.record_failure(call, kind, reason, tries)
        # No result kept: a redelivered webhook runs the call again (send markers stop a
        # second alert) instead of being answered `duplicate`.
        await super().finish_failed_job(job_id, None)

    async def _record_failed_send(self, result_data: bytes | None) -> None:
        """A send that arq itself ended: recorded against its rule and destination, with
        the send, so `failed retry` can queue it again."""
        _, kind, reason, tries = _failed_call(SEND_PREFIX, result_data)
        try:
            result = deserialize_job(result_data) if result_data else {}
            send = Send.from_job(result["a"][0])
        except (ValueError, KeyError, IndexError, TypeError):
            return  # nothing left to say which send it was
        failed = FailedSend(
            rule=send.rule,
            destination=send.destination,
            reason=f"{send.destination}: {kind}: {reason}",
            job_id=send.job_id,
            payload=send_payload(send.to_job(), int(time.time() * 1000)).decode(),
        )
        call = send.call or CallEnded(call_id=send.subject)
        await State(self.pool).record_send_failure(call, failed, tries)


JOB_PREFIX = job_id_for("")
SEND_PREFIX = "send:"


def _failed_call(job_id: str, result_data: bytes | None) -> tuple[CallEnded, str, str, int]:
    """What arq's failure result says of the call: its fields when arq still had them."""
    call = CallEnded(call_id=job_id.removeprefix(JOB_PREFIX))
    kind, reason, tries = "error", "ended by the queue", 0
    try:
        result = deserialize_job(result_data) if result_data else {}
    except ValueError:
        result = {}
    args = result.get("a") or []
    if args and isinstance(args[0], dict) and "call_id" in args[0]:
        call = CallEnded.from_job(args[0])
    text = str(result.get("r", ""))
    tries = int(result.get("t") or 0)
    if "expired" in text:
        kind, reason = "expired", "the job expired in the queue before it ran"
    elif "retries exceeded" in text:
        kind, reason = "lost", "arq's try cap was reached"
    elif "TimeoutError" in text:
        kind, reason = "timeout", "the job ran past the worker's job timeout"
    elif text:
        kind, reason = "error", text[:200]
    return call, kind, reason, tries
