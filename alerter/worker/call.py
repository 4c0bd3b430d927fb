"""The call job, where the stages meet, read top to bottom.

fetch → evaluate → decide (every fired rule, in rule order) → record what was decided, in
one round trip → render what is sent → each send's first try made here, the rest of its
tries in the outbox (`first_try`; `send`: one job per send, each with its own tries). The
call is fetched and decided once: a destination that is down retries its send, never this
job. `guard` turns every other end of a try into a retry or a recorded failure; `digest` is
the digest job; the arq wiring (clients made once, tries, timeouts) is `app`.
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
from alerter.pipeline.decide import CallContext, Decision, decide
from alerter.pipeline.diga_errors import CallNotFound, DigaAuthError, DigaError, DigaUnavailable
from alerter.pipeline.evaluate import evaluate, match_lines
from alerter.pipeline.fetch import FetchResult
from alerter.render import alert as render
from alerter.render.alert import Alert, Message, build_alert, excerpt
from alerter.render.digest import DigestCall
from alerter.render.slack_blocks import Thread
from alerter.rules.fired import FiredRule, RuleMatch, fired_rules
from alerter.rules.model import Rule, RuleSet
from alerter.rules.noise import GroupKey, incident_key
from alerter.rules.redact import Redactor
from alerter.store.history import history_entry
from alerter.worker.deps import Deps
from alerter.worker.digest import DIGEST_FUNCTION
from alerter.worker.escalate import schedule as schedule_escalation
from alerter.worker.first_try import resume, send_decided
from alerter.worker.guard import GiveUp, backoff, guarded, measured
from alerter.worker.send import Send, rendered_sends, shadowed

log = logging.getLogger(__name__)

# Retry budgets, in job tries (arq counts the first run as try 1).
DIGA_TRIES = 8
NOT_FOUND_TRIES = 4  # ~ a minute with the waits of `Budgets.not_found_delays`
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
            budgets=deps.budgets,
        )
        return out.value


async def _process_call(ctx: dict[str, Any], deps: Deps, call: CallEnded, job_try: int) -> str:
    rules = deps.rules.require()
    if job_try > 1 and await resume(deps, call.call_id):
        return Outcome.SENT.value  # decided by an earlier try: its sends are the outbox's

    try:
        # The event loop's clock: a timeout for awaits only, never stored or compared
        # with the injected clock.
        deadline = asyncio.get_running_loop().time() + deps.budget * FETCH_SHARE
        fetched = await deps.diga.fetch_call_logs(call.call_id, deadline=deadline)
    except DigaError as exc:
        return await _fetch_failed(deps, call, exc, job_try)
    deps.metrics.logs_fetched.inc(len(fetched.logs))
    if fetched.capped:
        log.warning("%s: evaluating the %d logs fetched", fetched.capped, len(fetched.logs))

    fired = fired_rules(evaluate(rules, call, fetched.logs), call)
    # What silences match, per fired rule: kept in the call's story, and in the alert's links.
    labels = {one.rule.name: one.labels for one in fired}
    lines = {one.rule.name: match_lines(one.match.logs) for one in fired}  # the call page
    await deps.state.evaluated(
        call,
        len(fetched.logs),
        fetched.requests,
        fetched.capped,
        labels,
        lines,
        clear_failure=job_try > 1,
    )
    if not fired:  # recorded `no_match` by `evaluated`, in the same round trip
        return Outcome.NO_MATCH.value

    now = deps.clock()
    # The call's event time: noise windows count it when it ended, not when a backlog drains.
    ended_at = call.accepted_at or now  # stamped by the api's queue, on the same clock
    silences = await deps.noise.silences.all()  # once per call, not per fired rule
    names = frozenset(one.rule.name for one in fired)
    decided = await _decide_all(deps, fired, CallContext(now, ended_at, silences, names, rules))
    await _record(ctx, deps, call, decided, fetched.capped)
    sent = [(one, decision) for one, decision in decided if decision.outcome is Outcome.SENT]
    sends = await _alerts(deps, rules, call, fetched, sent)
    # Decided: each send made here or in the outbox; what becomes of it is the send's to record.
    log.debug("%d send(s)", await send_decided(deps, call.call_id, sends))
    return Outcome.SENT.value


Decided = list[tuple[FiredRule, Decision]]


async def _decide_all(deps: Deps, fired: list[FiredRule], at: CallContext) -> Decided:
    """Every fired rule decided, in rule order, before any alert is rendered."""
    decided = []
    for one in fired:
        deps.metrics.rule_matches.labels(one.rule.name).inc()
        decision = await decide(deps.noise, one, at, _digest_entry(one))
        decided.append((one, decision))
    return decided


def _digest_entry(fired: FiredRule) -> dict[str, Any] | None:
    """The call as its group's digest will list it (rules with `group_wait` only)."""
    if fired.rule.noise.group_wait is None:
        return None
    return DigestCall(fired.call.call_id, len(fired.match.logs), excerpt(fired.first)).to_entry()


async def _record(
    ctx: dict[str, Any], deps: Deps, call: CallEnded, decided: Decided, capped: str | None
) -> None:
    """What was decided, in rule order and one round trip: each decision not to send, and
    what each shadow rule would have sent (a send records itself once it is done). Then
    every grouped call schedules its digest's flush (one job id per window): a window whose
    opening call failed still closes."""
    entries = []
    for fired, decision in decided:
        rule = fired.rule
        if decision.outcome is not Outcome.SENT:
            for name in rule.notify:
                deps.metrics.alerts.labels(rule.name, name, decision.outcome.value).inc()
            entry = history_entry(
                call.call_id,
                decision.outcome,
                rule=rule.name,
                detail=decision.detail,
                at=deps.clock(),
            )
            entries.append(entry)
        elif rule.shadow:
            entries.append(shadowed(deps, call.call_id, rule, _sent_detail(fired, capped)))
    if entries:
        await deps.state.record_entries(entries, clear_failure=call.call_id)
    for fired, decision in decided:
        if decision.digest is not None and decision.key is not None:
            await _schedule_flush(ctx, deps, fired.rule, decision.key, decision.digest.window)


async def _alerts(
    deps: Deps, rules: RuleSet, call: CallEnded, fetched: FetchResult, sent: Decided
) -> list[Send]:
    """Each alert to send rendered, one send per URL, its escalation left waiting."""
    sends: list[Send] = []
    for fired, decision in sent:
        rule, incident = fired.rule, None
        if decision.episode and decision.key is not None:
            # Its resolved message goes out when the episode ends, with the same key.
            incident = incident_key(rule.name, decision.key.digest, decision.episode)
            await deps.noise.episodes.mark_notified(
                rule.name, decision.key.digest, decision.episode
            )
        if rule.shadow:  # recorded with the decisions: it sends nothing
            continue
        alert = await _alert(deps, fired, decision, incident, fetched.logs[0])
        thread = _thread(rule, decision.key, incident, call.call_id)
        detail = _sent_detail(fired, fetched.capped)
        with bind(rule=rule.name, trace_id=fired.first.trace_id):
            sends += await _sends(deps, rules, call, rule, alert, detail, thread)
    return sends


def _sent_detail(fired: FiredRule, capped: str | None) -> str:
    """The `sent` (or `shadow`) history entry's detail."""
    return f"{len(fired.match.logs)} matching logs" + (f" ({capped})" if capped else "")


async def _alert(
    deps: Deps, fired: FiredRule, decision: Decision, incident: str | None, first: LogEntry
) -> Alert:
    """The alert of a SENT decision; `first`: the call's first failure."""
    rule, call = fired.rule, fired.call
    context = await _context(deps, call, fired.match, first) if rule.context else ()
    return build_alert(
        fired.match,
        call,
        note=decision.note,
        first_failure=first,
        context=context,
        headline=decision.headline,
        links=render.console_links(deps.public_url, call.call_id, rule, fired.labels),
        key=incident,
        window=decision.window.seen() if decision.window else None,
        fired=fired,
    )


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


async def _sends(
    deps: Deps,
    rules: RuleSet,
    call: CallEnded,
    rule: Rule,
    alert: Alert,
    detail: str,
    thread: Thread,
) -> list[Send]:
    """The alert's sends, and its escalation waiting when the rule has one."""
    html, slack = _media(deps, rules, rule.notify)
    render_for = partial(_alert_message, alert, html=html, slack=slack)
    sends = rendered_sends(rules, call.call_id, rule, render_for, detail, call, thread, rule.notify)
    render_all = partial(_alert_message, alert)  # its destinations are not `notify`'s
    await schedule_escalation(deps, rules, call.call_id, rule, render_all, detail, thread, call)
    return sends


def _media(deps: Deps, rules: RuleSet, targets: tuple[str, ...]) -> tuple[bool, bool]:
    """Whether any of the destinations reads the e-mail HTML, and the Slack blocks: an alert
    storm to JSON webhooks renders neither."""
    html = slack = False
    for name in targets:
        destination = rules.destinations[name]
        if destination.slack_app is not None:
            return True, True
        for url in destination.urls:
            reads_html, reads_slack = deps.sender.media(url)
            html, slack = html or reads_html, slack or reads_slack
    return html, slack


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


def _alert_message(
    alert: Alert, redactor: Redactor | None, *, html: bool = True, slack: bool = True
) -> Message:
    return render.message(
        render.redacted(alert, redactor) if redactor else alert, html=html, slack=slack
    )


async def _fetch_failed(deps: Deps, call: CallEnded, exc: DigaError, job_try: int) -> str:
    """Retry what time can cure; record the rest where operators look."""
    state, budgets = deps.state, deps.budgets
    if isinstance(exc, CallNotFound):
        if job_try < NOT_FOUND_TRIES:
            delays = budgets.not_found_delays
            delay = delays[min(job_try, len(delays)) - 1]
            await state.record(
                call.call_id, Outcome.RETRYING, detail=f"{exc.message}; again in {delay:g} s"
            )
            raise Retry(defer=delay)
        log.warning("gave up after %d tries: Diga does not know the call", job_try)
        await state.record_failure(call, "unresolved", exc.message, job_try)
        return Outcome.UNRESOLVED.value
    if isinstance(exc, DigaUnavailable):
        if job_try < DIGA_TRIES:
            raise Retry(defer=backoff(job_try, exc.retry_after, budgets=budgets))
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
