"""The job where the stages meet, read top to bottom.

fetch → evaluate → decide → render → claim, deliver, mark (store.state) → record the outcome.
The arq wiring that runs it (clients made once, retries, timeouts) is in `worker`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from arq import Retry
from arq.connections import ArqRedis

from alerter.logs import bind
from alerter.metrics import Metrics
from alerter.models import CallEnded, LogEntry, Outcome
from alerter.pipeline import deliver, render, render_digest
from alerter.pipeline.decide import NoiseStores, decide
from alerter.pipeline.evaluate import RuleMatch, evaluate
from alerter.pipeline.fetch import (
    CallNotFound,
    DigaAuthError,
    DigaClient,
    DigaError,
    DigaUnavailable,
)
from alerter.pipeline.render import Alert, Message, build_alert
from alerter.pipeline.render_digest import Digest, DigestCall
from alerter.rules.model import Rule, RuleSet
from alerter.rules.noise import GroupKey
from alerter.rules.redact import Redactor
from alerter.rules.reload import RulesHolder
from alerter.store.state import Claim, State, history_entry, marker_key

log = logging.getLogger(__name__)

DIGEST_FUNCTION = "flush_digest"

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
    noise: NoiseStores
    rules: RulesHolder  # read once per job: a reload mid-job does not mix two sets
    metrics: Metrics
    clock: Callable[[], float] = time.time  # injected by tests of time windows


def backoff(job_try: int, retry_after: float | None = None) -> float:
    """Capped exponential backoff with jitter; `Retry-After` wins when it asks for longer."""
    delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (job_try - 1))
    delay = random.uniform(delay / 2, delay)
    if retry_after is not None:
        delay = max(delay, min(retry_after, RETRY_AFTER_CAP))
    return delay


async def process_call(ctx: dict[str, Any], raw_call: dict[str, Any]) -> str:
    deps: Deps = ctx["deps"]
    call = CallEnded.from_job(raw_call)
    with bind(call_id=call.call_id, job_id=ctx.get("job_id")), measured(ctx, deps) as outcome:
        outcome.value = await _process_call(ctx, deps, call)
        return outcome.value


async def _process_call(ctx: dict[str, Any], deps: Deps, call: CallEnded) -> str:
    job_try: int = ctx.get("job_try", 1)
    rules = deps.rules.require()

    try:
        fetched = await deps.diga.fetch_call_logs(call.call_id)
    except DigaError as exc:
        return await _fetch_failed(deps.state, call, exc, job_try)
    deps.metrics.logs_fetched.inc(len(fetched.logs))
    if fetched.truncated:
        log.warning("page cap reached: evaluating the %d logs fetched", len(fetched.logs))

    fired = [match for match in evaluate(rules, call, fetched.logs) if match.fired]
    if not fired:
        await deps.state.record(
            call.call_id,
            Outcome.NO_MATCH,
            detail=f"{len(fetched.logs)} logs, no rule fired",
            clear_failure=True,
        )
        return Outcome.NO_MATCH.value

    silences = await deps.noise.silences.all()  # once per call, not per fired rule
    pending = 0
    for match in fired:
        deps.metrics.rule_matches.labels(match.rule.name).inc()
        decision = await decide(deps.noise, match, call, deps.clock(), silences)
        if decision.outcome is not Outcome.SENT:
            for name in match.rule.notify:
                deps.metrics.alerts.labels(match.rule.name, name, decision.outcome.value).inc()
            await deps.state.record(
                call.call_id,
                decision.outcome,
                rule=match.rule.name,
                detail=decision.detail,
                clear_failure=True,
            )
            if decision.digest is not None and decision.digest.opened and decision.key:
                await _schedule_flush(ctx, deps, match.rule, decision.key, decision.digest.window)
            continue
        context = await _context(deps, call, match, fetched.logs[0]) if match.rule.context else ()
        alert = build_alert(
            match, call, note=decision.note, first_failure=fetched.logs[0], context=context
        )
        with bind(rule=match.rule.name, trace_id=match.logs[0].trace_id):
            pending += await _send_once(
                deps,
                rules,
                call.call_id,
                match.rule,
                partial(_alert_message, alert),
                f"{alert.match_count} matching logs",
            )

    if pending:
        if job_try < DELIVERY_TRIES:
            raise Retry(defer=backoff(job_try))
        await deps.state.record_failure(
            call, "delivery", f"{pending} destination(s) kept failing", job_try
        )
        return Outcome.FAILED.value
    # A failure recorded by an earlier run was cleared by this run's first write.
    return Outcome.SENT.value


async def flush_digest(ctx: dict[str, Any], rule_name: str, key_digest: str, window: str) -> str:
    """Send one closed digest window to the rule's destinations, once."""
    deps: Deps = ctx["deps"]
    job_try: int = ctx.get("job_try", 1)
    rules = deps.rules.require()
    rule = rules.by_name.get(rule_name)
    if rule is None:
        log.warning("digest for rule %s dropped: the rule is no longer loaded", rule_name)
        return "dropped"
    contents = await deps.noise.windows.take_digest(rule_name, key_digest, window)
    if contents is None:
        return "empty"
    now = deps.clock()
    digest = Digest(
        rule=rule.name,
        description=rule.description,
        severity=rule.severity,
        group=GroupKey(contents.labels).describe(),
        opened=contents.opened,
        closed=now,
        count=contents.count,
        calls=tuple(DigestCall.from_entry(entry) for entry in contents.calls),
        events=contents.events,
        reasons=contents.reasons,
    )
    subject = f"digest-{window}"
    with bind(rule=rule_name, digest=window):
        pending = await _send_once(
            deps,
            rules,
            subject,
            rule,
            partial(_digest_message, digest),
            f"{digest.count} calls ({digest.group})",
        )
    if pending:
        if job_try < DELIVERY_TRIES:
            raise Retry(defer=backoff(job_try))
        log.error(
            "digest %s of rule %s: %d destination(s) kept failing", window, rule_name, pending
        )
        return Outcome.FAILED.value
    await deps.noise.windows.finish_digest(rule_name, key_digest, window, now)
    return Outcome.SENT.value


async def _schedule_flush(
    ctx: dict[str, Any], deps: Deps, rule: Rule, key: GroupKey, window: str
) -> None:
    """The window closes after `group_wait`, and no sooner than `group_interval` after the
    group's last digest."""
    noise = rule.noise
    now = deps.clock()
    close = now + (noise.group_wait or 0)
    last = await deps.noise.windows.last_digest_sent(rule.name, key.digest)
    if noise.group_interval is not None and last is not None:
        close = max(close, last + noise.group_interval)
    redis: ArqRedis = ctx["redis"]
    await redis.enqueue_job(
        DIGEST_FUNCTION,
        rule.name,
        key.digest,
        window,
        _job_id=f"digest:{rule.name}:{key.digest}:{window}",
        _defer_by=max(0.0, close - now),
    )


async def _context(
    deps: Deps, call: CallEnded, match: RuleMatch, first_failure: LogEntry
) -> tuple[LogEntry, ...]:
    """WARNING lines before the first failure; an alert goes out without them if Diga fails."""
    categories = match.rule.categories
    category = next(iter(categories)) if categories and len(categories) == 1 else None
    try:
        return await deps.diga.fetch_context(
            call.call_id, first_failure.timestamp, match.rule.context, category
        )
    except DigaError as exc:
        log.warning("context lines not fetched: %s", exc.message)
        return ()


def _alert_message(alert: Alert, redactor: Redactor | None) -> Message:
    return render.message(render.redacted(alert, redactor) if redactor else alert)


def _digest_message(digest: Digest, redactor: Redactor | None) -> Message:
    return render_digest.message(render_digest.redacted(digest, redactor) if redactor else digest)


async def _send_once(
    deps: Deps,
    rules: RuleSet,
    subject: str,
    rule: Rule,
    render_for: Callable[[Redactor | None], Message],
    detail: str,
) -> int:
    """Send to each of the rule's destinations once (send markers); returns how many are due.

    A destination that redacts gets its own rendering. A shadow rule sends nothing and
    records what it would have sent.
    """
    if rule.shadow:
        for name in rule.notify:
            deps.metrics.alerts.labels(rule.name, name, "shadow").inc()
        await deps.state.record(
            subject,
            Outcome.SHADOW,
            rule=rule.name,
            destination=",".join(rule.notify),
            detail=f"would have sent: {detail}",
            clear_failure=True,
        )
        return 0
    rendered: dict[int, Message] = {}
    pending = 0
    for name in rule.notify:
        key = marker_key(subject, rule.name, name)
        claim, token = await deps.state.claim(key)
        if claim is Claim.SENT:
            continue
        if claim is Claim.BUSY:
            pending += 1
            continue
        destination = rules.destinations[name]
        slot = id(destination.redactor)
        if slot not in rendered:
            rendered[slot] = render_for(destination.redactor)
        started = time.monotonic()
        result = await deliver.send(destination, rendered[slot])
        deps.metrics.delivery_seconds.labels(name).observe(time.monotonic() - started)
        deps.metrics.alerts.labels(rule.name, name, "sent" if result.ok else "failed").inc()
        if result.ok:
            await deps.state.mark_sent(
                key,
                history_entry(
                    subject, Outcome.SENT, rule=rule.name, destination=name, detail=detail
                ),
                clear_failure=subject,
            )
        else:
            await deps.state.release(key, token)
            await deps.state.record(
                subject, Outcome.RETRYING, rule=rule.name, destination=name, detail=result.detail
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


class _Outcome:
    value = "error"


@contextmanager
def measured(ctx: dict[str, Any], deps: Deps) -> Iterator[_Outcome]:
    """Counts the job by outcome (retry and error included) and times it."""
    started = time.monotonic()
    if "score" in ctx:
        deps.metrics.job_age.observe(max(0.0, time.time() - ctx["score"] / 1000))
    outcome = _Outcome()
    try:
        yield outcome
    except Retry:
        outcome.value = "retry"
        raise
    finally:
        deps.metrics.jobs.labels(outcome.value).inc()
        deps.metrics.job_seconds.observe(time.monotonic() - started)
