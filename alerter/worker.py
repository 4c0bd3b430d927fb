"""The execution side: the arq job where the stages meet, read top to bottom.

fetch (diga) → evaluate → render → claim, deliver, mark (state) → record the outcome.
"""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass
from typing import Any

from arq import Retry
from arq.connections import RedisSettings
from arq.worker import Function, Worker, func
from redis.asyncio.retry import Retry as RedisRetry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from alerter import deliver
from alerter.diga import CallNotFound, DigaAuthError, DigaClient, DigaError, DigaUnavailable
from alerter.evaluate import RuleMatch, evaluate
from alerter.models import CallEnded
from alerter.queue import JOB_FUNCTION, RESULT_KEEP_SECONDS, deserialize_job, serialize_job
from alerter.render import build_alert
from alerter.rules import RuleSet
from alerter.settings import Settings
from alerter.state import Claim, Outcome, State, marker_key

log = logging.getLogger(__name__)

# Retry budgets, in job tries (arq counts the first run as try 1).
DIGA_TRIES = 8
NOT_FOUND_TRIES = 4  # ~ a minute with NOT_FOUND_DELAYS
NOT_FOUND_DELAYS = (10.0, 20.0, 30.0)
DELIVERY_TRIES = 8
BACKOFF_BASE = 2.0
BACKOFF_CAP = 300.0
RETRY_AFTER_CAP = 900.0  # a server asking for longer than this is treated as down
MAX_TRIES = max(DIGA_TRIES, NOT_FOUND_TRIES, DELIVERY_TRIES) + 1


@dataclass(frozen=True, slots=True)
class Deps:
    """Long-lived clients of one worker process, made in `on_startup`."""

    diga: DigaClient
    state: State
    rules: RuleSet


def backoff(job_try: int, retry_after: float | None = None) -> float:
    """Capped exponential backoff with jitter; `Retry-After` wins when it asks for longer."""
    delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (job_try - 1))
    delay = random.uniform(delay / 2, delay)
    if retry_after is not None:
        delay = max(delay, min(retry_after, RETRY_AFTER_CAP))
    return delay


async def process_call(ctx: dict[str, Any], raw_call: dict[str, Any]) -> str:
    deps: Deps = ctx["deps"]
    job_try: int = ctx.get("job_try", 1)
    call = CallEnded.from_job(raw_call)

    try:
        fetched = await deps.diga.fetch_call_logs(call.call_id)
    except DigaError as exc:
        return await _fetch_failed(deps.state, call, exc, job_try)
    if fetched.truncated:
        log.warning("call %s: page cap reached, evaluating the logs fetched", call.call_id)

    fired = [match for match in evaluate(deps.rules, call, fetched.logs) if match.fired]
    if not fired:
        await deps.state.record(
            call.call_id, Outcome.NO_MATCH, detail=f"{len(fetched.logs)} logs, no rule fired"
        )
        await deps.state.clear_failure(call.call_id)
        return Outcome.NO_MATCH.value

    pending = 0
    for match in fired:
        pending += await _deliver_match(deps, call, match)

    if pending:
        if job_try < DELIVERY_TRIES:
            raise Retry(defer=backoff(job_try))
        await deps.state.record_failure(
            call, "delivery", f"{pending} destination(s) kept failing", job_try
        )
        return Outcome.FAILED.value
    await deps.state.clear_failure(call.call_id)
    return Outcome.SENT.value


async def _deliver_match(deps: Deps, call: CallEnded, match: RuleMatch) -> int:
    """Send one fired rule to each of its destinations once; returns how many are still due."""
    alert = build_alert(match, call)
    pending = 0
    for name in match.rule.notify:
        key = marker_key(call.call_id, match.rule.name, name)
        claim, token = await deps.state.claim(key)
        if claim is Claim.SENT:
            continue
        if claim is Claim.BUSY:
            pending += 1
            continue
        result = await deliver.send(deps.rules.destinations[name], alert)
        if result.ok:
            await deps.state.mark_sent(key)
            await deps.state.record(
                call.call_id,
                Outcome.SENT,
                rule=match.rule.name,
                destination=name,
                detail=f"{alert.match_count} matching logs",
            )
        else:
            await deps.state.release(key, token)
            await deps.state.record(
                call.call_id,
                Outcome.RETRYING,
                rule=match.rule.name,
                destination=name,
                detail=result.detail,
            )
            pending += 1
    return pending


async def _fetch_failed(state: State, call: CallEnded, exc: DigaError, job_try: int) -> str:
    """Retry what time can cure; record the rest where operators look."""
    if isinstance(exc, CallNotFound):
        if job_try < NOT_FOUND_TRIES:
            raise Retry(defer=NOT_FOUND_DELAYS[min(job_try, len(NOT_FOUND_DELAYS)) - 1])
        await state.record_failure(call, "unresolved", exc.message, job_try)
        return Outcome.UNRESOLVED.value
    if isinstance(exc, DigaUnavailable):
        if job_try < DIGA_TRIES:
            raise Retry(defer=backoff(job_try, exc.retry_after))
    elif isinstance(exc, DigaAuthError):
        log.error(
            "Diga refused our credentials (%s) for call %s: check DIGA_API_KEY; not retried",
            exc.status,
            call.call_id,
        )
    else:
        log.error("Diga rejected our request for call %s: %s", call.call_id, exc.message)
    await state.record_failure(call, exc.kind, exc.message, job_try)
    return Outcome.FAILED.value


# ---------------------------------------------------------------- arq wiring


def worker_functions() -> list[Function]:
    return [func(process_call, name=JOB_FUNCTION, max_tries=MAX_TRIES)]


def redis_settings(redis_url: str) -> RedisSettings:
    """Short blips (a restart, a failover) are absorbed by retrying each command."""
    settings = RedisSettings.from_dsn(redis_url)
    settings.retry_on_error = [RedisConnectionError, RedisTimeoutError]
    settings.retry = RedisRetry(ExponentialBackoff(cap=1.0, base=0.05), retries=4)
    return settings


def make_worker(
    settings: Settings,
    rules: RuleSet,
    redis_url: str,
    *,
    burst: bool = False,
    handle_signals: bool = True,
) -> Worker:
    async def on_startup(ctx: dict[str, Any]) -> None:
        api_key = settings.diga_api_key.get_secret_value() if settings.diga_api_key else None
        ctx["deps"] = Deps(
            diga=DigaClient(
                settings.diga_api_url,
                api_key,
                timeout=settings.diga_timeout_seconds,
                max_connections=settings.diga_max_connections,
                page_cap=settings.diga_page_cap,
            ),
            state=State(ctx["redis"]),
            rules=rules,
        )

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        deps: Deps | None = ctx.get("deps")
        if deps is not None:
            await deps.diga.aclose()

    return Worker(
        functions=worker_functions(),
        redis_settings=redis_settings(redis_url),
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
        poll_delay=0.1,
        # Results are plain strings; arq's result log line adds nothing to ours.
        log_results=False,
    )
