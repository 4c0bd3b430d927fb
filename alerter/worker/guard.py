"""Every try of a job ends visibly: done, a `Retry` with backoff, or a recorded failure.

arq retries only on `Retry`; any other exception (a Redis error mid-job, our time budget
running out) would end the job failed with nothing recorded, and its kept result would answer
Diga's redeliveries `duplicate`. Here each such end becomes a retry with backoff, and, when the
tries run out, a failure an operator sees and retries. The job's own time budget sits below
arq's job timeout, so arq's timeout is never the one that ends a call.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from arq import Retry
from redis.exceptions import RedisError

from alerter.budgets import Budgets
from alerter.clock import arq_clock

if TYPE_CHECKING:
    from alerter.worker.deps import Deps

log = logging.getLogger(__name__)

# Tries after unexpected errors and the backoff between tries are the worker's `Budgets`.
# A try past this one is recorded failed before it runs: workers died under it again and
# again (arq counts a try when it starts one, whatever ends it).
TRIES_CAP = 20
# arq's own cap sits far above ours, so arq never gives up on a call before we record it.
ARQ_MAX_TRIES = 1000
RETRY_AFTER_CAP = 900.0  # a server asking for longer than this is treated as down
REDIS_DOWN_DEFER = 30.0


def backoff(job_try: int, retry_after: float | None = None, *, budgets: Budgets) -> float:
    """Capped exponential backoff with jitter; `Retry-After` wins when it asks for longer."""
    delay = min(budgets.backoff_cap, budgets.backoff_base * 2 ** (job_try - 1))
    delay = random.uniform(delay / 2, delay)
    if retry_after is not None:
        delay = max(delay, min(retry_after, RETRY_AFTER_CAP))
    return delay


def time_budget(job_timeout: float) -> float:
    """The job's own limit: 10 s under arq's timeout (at least half of it)."""
    return max(job_timeout / 2, job_timeout - 10)


@dataclass(frozen=True, slots=True)
class GiveUp:
    kind: str  # "timeout", "error", "lost"
    reason: str


async def guarded(
    work: Callable[[], Awaitable[str]],
    give_up: Callable[[GiveUp], Awaitable[str]],
    *,
    job_try: int,
    budget: float,
    budgets: Budgets,
) -> str:
    """Run one try of a job under its time budget (`budget`, seconds); see the module's
    docstring. `budgets`: its tries after errors and the backoff between them."""
    if job_try > TRIES_CAP:
        return await _record(
            give_up, GiveUp("lost", f"{job_try - 1} tries ended without an outcome"), job_try
        )
    try:
        async with asyncio.timeout(budget):
            return await work()
    except Retry:
        raise
    except TimeoutError:
        ended = GiveUp("timeout", f"the call's work took longer than its {budget:g} s budget")
    except Exception as exc:
        # Exception text can hold anything a library put there: the type says enough.
        ended = GiveUp("error", f"unexpected {type(exc).__name__}")
        log.warning("try %d ended by %s", job_try, type(exc).__name__, exc_info=True)
    if job_try < budgets.error_tries:
        raise Retry(defer=backoff(job_try, budgets=budgets))
    return await _record(give_up, ended, job_try)


async def _record(give_up: Callable[[GiveUp], Awaitable[str]], ended: GiveUp, job_try: int) -> str:
    try:
        outcome = await give_up(ended)
    except RedisError:
        # Nothing could be written: come back when Redis answers rather than end silently.
        log.warning("cannot record the give-up (%s): Redis unavailable; retrying", ended.kind)
        raise Retry(defer=REDIS_DOWN_DEFER) from None
    log.warning("gave up after %d tries: %s (%s)", job_try, ended.kind, ended.reason)
    return outcome


class JobOutcome:
    value = "error"


@contextmanager
def measured(ctx: dict[str, Any], deps: Deps) -> Iterator[JobOutcome]:
    """Counts the job by outcome (retry and error included) and times it."""
    metrics = deps.metrics
    started = deps.monotonic()
    if "score" in ctx:  # when the job was due, on arq's clock
        metrics.job_age.observe(max(0.0, arq_clock() - ctx["score"] / 1000))
    outcome = JobOutcome()
    try:
        yield outcome
    except Retry:
        outcome.value = "retry"
        raise
    finally:
        metrics.jobs.labels(outcome.value).inc()
        metrics.job_seconds.observe(deps.monotonic() - started)
