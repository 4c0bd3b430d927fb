"""The call job, where the stages meet, read top to bottom.

fetch → evaluate → decide → render → the outbox (`send`: one job per due send, each with
its own tries). The call is fetched and decided once: a destination that is down retries
its send, never this job. `guard` turns every other end of a try into a retry or a recorded
failure; `flush` is the digest job; the arq wiring (clients made once, tries, timeouts) is
`worker`.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import Any

from arq import Retry
from arq.connections import ArqRedis

from alerter.logs import bind
from alerter.models import CallEnded, LogEntry, Outcome
from alerter.pipeline.correlate import correlated, inhibiting_incident
from alerter.pipeline.decide import Decision, decide
from alerter.pipeline.evaluate import RuleMatch, evaluate, match_lines
from alerter.pipeline.fetch import (
    CallNotFound,
    DigaAuthError,
    DigaError,
    DigaUnavailable,
)
from alerter.render import alert as render
from alerter.render.alert import Alert, Message, build_alert
from alerter.render.slack_blocks import Thread
from alerter.rules.model import Rule, RuleSet
from alerter.rules.noise import GroupKey, incident_key, labels_of
from alerter.rules.redact import Redactor
from alerter.store.state import State
from alerter.worker.deps import Deps
from alerter.worker.digest import DIGEST_FUNCTION
from alerter.worker.escalate import schedule as schedule_escalation
from alerter.worker.guard import GiveUp, backoff, guarded, measured
from alerter.worker.send import queue_sends

log = logging.getLogger(__name__)

# Retry budgets, in job tries (arq counts the first run as try 1).
DIGA_TRIES = 8
NOT_FOUND_TRIES = 4  # ~ a minute with NOT_FOUND_DELAYS
NOT_FOUND_DELAYS = (10.0, 20.0, 30.0)
FETCH_SHARE = 0.6  # of the time budget, for paging through Diga; then the logs fetched count


async def process_call(ctx: dict[str, Any], raw_call: dict[str, Any]) -> str:
    deps: Deps = ctx["deps"]
    call = CallEnded.from_job(raw_call)
    if call.accepted_at is None and "enqueue_time" in ctx:
        call = call.model_copy(update={"accepted_at": ctx["enqueue_time"].timestamp()})
    job_try: int = ctx.get("job_try", 1)

    async def give_up(ended: GiveUp) -> str:
        await deps.state.record_failure(call, ended.kind, ended.reason, job_try)
        return Outcome.FAILED.value

    with bind(call_id=call.call_id, job_id=ctx.get("job_id")), measured(ctx, deps) as out:
        out.value = await guarded(
            partial(_process_call, ctx, deps, call, job_try),
            give_up,
            job_try=job_try,
            budget=deps.budget,
        )
        return out.value


async def _process_call(ctx: dict[str, Any], deps: Deps, call: CallEnded, job_try: int) -> str:
    rules = deps.rules.require()

    try:
        # The event loop's clock: a timeout for awaits only, never stored or compared
        # with the injected clock.
        deadline = asyncio.get_running_loop().time() + deps.budget * FETCH_SHARE
        fetched = await deps.diga.fetch_call_logs(call.call_id, deadline=deadline)
    except DigaError as exc:
        return await _fetch_failed(deps.state, call, exc, job_try)
    deps.metrics.logs_fetched.inc(len(fetched.logs))
    if fetched.capped:
        log.warning("%s: evaluating the %d logs fetched", fetched.capped, len(fetched.logs))

    fired = [match for match in evaluate(rules, call, fetched.logs) if match.fired]
    # What silences match, per fired rule: kept in the call's story, and in the alert's links.
    labels = {m.rule.name: labels_of(call, m.logs[0]) for m in fired}
    lines = {m.rule.name: match_lines(m.logs) for m in fired}  # the call page shows them
    await deps.state.evaluated(
        call, len(fetched.logs), fetched.requests, fetched.capped, labels, lines
    )
    if not fired:  # recorded `no_match` by `evaluated`, in the same round trip
        return Outcome.NO_MATCH.value

    now = deps.clock()
    # The call's event time: noise windows count it when it ended, not when a backlog drains.
    ended_at = call.accepted_at or now  # stamped by the api's queue, on the same clock
    silences = await deps.noise.silences.all()  # once per call, not per fired rule
    queued = 0
    fired_names = {match.rule.name for match in fired}
    for match in fired:
        deps.metrics.rule_matches.labels(match.rule.name).inc()
        # Inhibition comes first: a symptom whose cause fired on this call is not counted
        # in any window either.
        inhibitor = next((n for n in match.rule.inhibited_by if n in fired_names), None)
        open_incident = None
        if inhibitor is None and match.rule.inhibited_by and deps.noise.incidents is not None:
            open_incident = await inhibiting_incident(deps.noise.incidents, rules, match)
        if inhibitor is not None:
            why = f"inhibited by {inhibitor}, which fired on this call"
            decision = Decision(Outcome.INHIBITED, why)
        elif open_incident is not None:
            why = f"inhibited by {open_incident}, whose incident of this failure is open"
            decision = Decision(Outcome.INHIBITED, why)
        else:
            decision = await decide(deps.noise, match, call, now, silences, ended_at=ended_at)
            if decision.outcome is Outcome.SENT and deps.noise.incidents is not None:
                decision = await correlated(
                    deps.noise.incidents, match, decision, call.call_id, ended_at
                )
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
            if decision.digest is not None and decision.key is not None:
                # Every grouped call may schedule the flush (one job id per window): a window
                # whose opening call failed still closes.
                await _schedule_flush(ctx, deps, match.rule, decision.key, decision.digest.window)
            continue
        context = await _context(deps, call, match, fetched.logs[0]) if match.rule.context else ()
        incident = None
        if decision.episode and decision.key is not None:
            # Its resolved message goes out when the episode ends, with the same key.
            incident = incident_key(match.rule.name, decision.key.digest, decision.episode)
            await deps.noise.episodes.mark_notified(
                match.rule.name, decision.key.digest, decision.episode
            )
        alert = build_alert(
            match,
            call,
            note=decision.note,
            first_failure=fetched.logs[0],
            context=context,
            headline=decision.headline,
            links=render.console_links(
                deps.public_url, call.call_id, match.rule, labels[match.rule.name]
            ),
            key=incident,
            window=decision.window.seen() if decision.window else None,
        )
        detail = f"{alert.match_count} matching logs" + (
            f" ({fetched.capped})" if fetched.capped else ""
        )
        thread = _thread(match.rule, decision.key, incident, call.call_id)
        with bind(rule=match.rule.name, trace_id=match.logs[0].trace_id):
            queued += await _queue_alert(deps, rules, call, match.rule, alert, detail, thread)
    # Decided: what is due is in the outbox; what becomes of it is the sends' to record.
    log.debug("%d send(s) queued", queued)
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


async def _queue_alert(
    deps: Deps,
    rules: RuleSet,
    call: CallEnded,
    rule: Rule,
    alert: Alert,
    detail: str,
    thread: Thread,
) -> int:
    """The alert into the outbox, and its escalation waiting when the rule has one."""
    render_for = partial(_alert_message, alert)
    queued = await queue_sends(deps, rules, call.call_id, rule, render_for, detail, call, thread)
    await schedule_escalation(deps, rules, call.call_id, rule, render_for, detail, thread, call)
    return queued


def _thread(rule: Rule, key: GroupKey | None, incident: str | None, call_id: str) -> Thread:
    """The (rule, group) episode this alert belongs to: a Slack app threads its messages."""
    group = key or GroupKey(())
    return Thread(
        key=incident or f"alerter-{rule.name}-{group.digest}",
        rule=rule.name,
        group=group.digest,
        labels=group.labels,
        call_id=call_id,
        episode=incident is not None,
    )


def _alert_message(alert: Alert, redactor: Redactor | None) -> Message:
    return render.message(render.redacted(alert, redactor) if redactor else alert)


async def _fetch_failed(state: State, call: CallEnded, exc: DigaError, job_try: int) -> str:
    """Retry what time can cure; record the rest where operators look."""
    if isinstance(exc, CallNotFound):
        if job_try < NOT_FOUND_TRIES:
            delay = NOT_FOUND_DELAYS[min(job_try, len(NOT_FOUND_DELAYS)) - 1]
            await state.record(
                call.call_id, Outcome.RETRYING, detail=f"{exc.message}; again in {delay:g} s"
            )
            raise Retry(defer=delay)
        log.warning("gave up after %d tries: Diga does not know the call", job_try)
        await state.record_failure(call, "unresolved", exc.message, job_try)
        return Outcome.UNRESOLVED.value
    if isinstance(exc, DigaUnavailable):
        if job_try < DIGA_TRIES:
            raise Retry(defer=backoff(job_try, exc.retry_after))
        log.warning("gave up after %d tries: %s", job_try, exc.message)
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
