"""The arq wiring of the job: clients made once in `on_startup`, closed in `on_shutdown`,
the job functions with their try budgets, and the worker's pacing and health key."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from arq.worker import Function, Worker, func

from alerter.pipeline.decide import NoiseStores
from alerter.pipeline.fetch import DigaClient
from alerter.pipeline.job import DIGEST_FUNCTION, MAX_TRIES, Deps, flush_digest, process_call
from alerter.rules.model import RuleSet
from alerter.rules.reload import RulesHolder
from alerter.settings import Settings
from alerter.store.connect import arq_settings
from alerter.store.queue import JOB_FUNCTION, RESULT_KEEP_SECONDS, deserialize_job, serialize_job
from alerter.store.signature_counts import SignatureCounts
from alerter.store.silences import Silences
from alerter.store.state import State
from alerter.store.windows import Windows

WORKER_HEALTH_SECONDS = 30


def worker_functions() -> list[Function]:
    return [
        func(process_call, name=JOB_FUNCTION, max_tries=MAX_TRIES),
        func(flush_digest, name=DIGEST_FUNCTION, max_tries=MAX_TRIES),
    ]


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
        api_key = settings.diga_api_key.get_secret_value() if settings.diga_api_key else None
        ctx["deps"] = Deps(
            diga=DigaClient(
                settings.diga_api_url,
                api_key,
                timeout=settings.diga_timeout_seconds,
                max_connections=settings.diga_max_connections,
                page_cap=settings.diga_page_cap,
                observe=worker_metrics.observe_diga,
            ),
            state=State(ctx["redis"]),
            noise=NoiseStores(
                windows=Windows(ctx["redis"]),
                silences=Silences(ctx["redis"]),
                signatures=SignatureCounts(ctx["redis"]),
            ),
            rules=holder,
            metrics=worker_metrics,
            clock=clock,
        )

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        deps: Deps | None = ctx.get("deps")
        if deps is not None:
            await deps.diga.aclose()

    return Worker(
        functions=worker_functions(),
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
        # Results are plain strings; arq's result log line adds nothing to ours.
        log_results=False,
    )
