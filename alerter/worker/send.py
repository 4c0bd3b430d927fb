"""The outbox: each due send its own job, with its own tries; claim, deliver, mark.

A decision to alert (a call's, a digest's, an episode's) is taken once; `queue_sends` then
renders it for each destination and puts one send per (subject, rule, destination URL) in
the outbox, an arq job whose id names that send (queued twice, it is still one job). The job
(`deliver_send`) claims the URL's marker (a lease), sends through `deliver`, then marks it
sent (`store.state`). A refusal releases the claim and the job alone tries again with
backoff; a send with no answer keeps its claim until the lease ends (it may still land, and
a late acceptance still marks it). After `DELIVERY_TRIES` the send gives up: one failure
against its rule and destination, kept with the job so `failed retry` sends exactly it again.
A destination that is down never runs its call's fetch or decision again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from arq import Retry
from redis.exceptions import RedisError

from alerter.logs import bind
from alerter.models import CallEnded, Outcome, Severity
from alerter.pipeline.deliver import Delivery, Sent
from alerter.render.alert import Message
from alerter.render.slack_blocks import Thread
from alerter.rules.model import Destination, Rule, RuleSet
from alerter.rules.redact import Redactor
from alerter.store import keys
from alerter.store.history import history_entry
from alerter.store.markers import marker_key, url_id
from alerter.store.queue import put_sends, send_payload
from alerter.store.state import Claim, FailedSend
from alerter.worker.deps import Deps
from alerter.worker.guard import GiveUp, backoff, guarded

log = logging.getLogger(__name__)

DELIVERY_TRIES = 8  # tries of one send, each with its own backoff, before it gives up
MARK_PAUSE_CAP = 2.0  # seconds between tries to mark an accepted send while Redis is away


@dataclass(frozen=True, slots=True)
class Send:
    """One outbox entry: what to send, where, and what to record when it is done."""

    subject: str  # a call id, `digest-<window>`, or an episode's key and kind
    rule: str
    destination: str
    url: str | None  # `url_id` of the URL when the destination has several, else None
    version: str  # the rule set it was decided under (its URLs are looked up there first)
    message: Message
    detail: str  # the `sent` history entry's detail
    call: CallEnded | None = field(default=None)  # the call's fields, for its failed record
    thread: Thread | None = field(default=None)  # its episode: Slack apps thread by it

    @property
    def marker(self) -> str:
        return marker_key(self.subject, self.rule, self.destination, self.url)

    @property
    def job_id(self) -> str:
        return keys.send_job(self.marker)

    def to_job(self) -> dict[str, Any]:
        m = self.message
        return {
            "subject": self.subject,
            "rule": self.rule,
            "destination": self.destination,
            "url": self.url,
            "version": self.version,
            "detail": self.detail,
            "call": self.call.to_job() if self.call is not None else None,
            "thread": self.thread.to_job() if self.thread is not None else None,
            "message": {
                "title": m.title,
                "severity": m.severity.value,
                "slack": m.slack,
                "html": m.html,
                "text": m.text,
                "key": m.key,
                "resolved": m.resolved,
            },
        }

    @classmethod
    def from_job(cls, raw: dict[str, Any]) -> Send:
        m = raw["message"]
        return cls(
            subject=str(raw["subject"]),
            rule=str(raw["rule"]),
            destination=str(raw["destination"]),
            url=str(raw["url"]) if raw.get("url") else None,
            version=str(raw.get("version") or ""),
            detail=str(raw.get("detail") or ""),
            call=CallEnded.from_job(raw["call"]) if raw.get("call") else None,
            thread=Thread.from_job(raw["thread"]) if raw.get("thread") else None,
            message=Message(
                title=str(m["title"]),
                severity=Severity(m["severity"]),
                slack=dict(m["slack"]),
                html=str(m["html"]),
                text=str(m["text"]),
                key=m.get("key"),
                resolved=bool(m.get("resolved")),
            ),
        )


async def queue_sends(
    deps: Deps,
    rules: RuleSet,
    subject: str,
    rule: Rule,
    render_for: Callable[[Redactor | None], Message],
    detail: str,
    call: CallEnded | None = None,
    thread: Thread | None = None,
) -> int:
    """Put a send in the outbox for each URL of each of the rule's destinations (one round
    trip); returns how many were queued. A destination that redacts gets its own rendering.
    A shadow rule sends nothing and records what it would have sent."""
    targets = rule.notify
    if rule.shadow:
        await deps.state.record_entries(
            [shadowed(deps, subject, rule, detail)], clear_failure=subject
        )
        return 0
    sends = rendered_sends(rules, subject, rule, render_for, detail, call, thread, targets)
    return await to_outbox(deps, sends)


async def to_outbox(deps: Deps, sends: list[Send]) -> int:
    """Sends into the outbox in one round trip, each its own job from its first try;
    answers how many were queued."""
    now = deps.clock()
    jobs = [(send.job_id, send_payload(send.to_job(), int(now * 1000))) for send in sends]
    if deps.outbox is not None:
        return await deps.outbox(jobs)
    return await put_sends(deps.state.redis, jobs)


def shadowed(deps: Deps, subject: str, rule: Rule, detail: str) -> dict[str, str]:
    """A shadow rule's alert, which sends nothing: counted, and the history entry of what it
    would have sent (`detail`: the `sent` entry's)."""
    for name in rule.notify:
        deps.metrics.alerts.labels(rule.name, name, "shadow").inc()
    return history_entry(
        subject,
        Outcome.SHADOW,
        rule=rule.name,
        destination=",".join(rule.notify),
        detail=f"would have sent: {detail}",
        at=deps.clock(),
    )


def rendered_sends(
    rules: RuleSet,
    subject: str,
    rule: Rule,
    render_for: Callable[[Redactor | None], Message],
    detail: str,
    call: CallEnded | None,
    thread: Thread | None,
    targets: tuple[str, ...],
) -> list[Send]:
    """One send per URL of each destination; a destination that redacts gets its own
    rendering."""
    rendered: dict[int, Message] = {}
    sends: list[Send] = []
    for name in targets:
        destination = rules.destinations[name]
        several = len(destination.urls) > 1
        slot = id(destination.redactor)
        if slot not in rendered:
            rendered[slot] = render_for(destination.redactor)
        for url in destination.urls:
            sends.append(
                Send(
                    subject=subject,
                    rule=rule.name,
                    destination=name,
                    url=url_id(url) if several else None,
                    version=rules.version,
                    message=rendered[slot],
                    detail=detail,
                    call=call,
                    thread=thread,
                )
            )
    return sends


async def deliver_send(ctx: dict[str, Any], raw_send: dict[str, Any]) -> str:
    """The outbox's job: one send to one URL, tried up to `DELIVERY_TRIES` times."""
    deps: Deps = ctx["deps"]
    job_try: int = ctx.get("job_try", 1)
    send = Send.from_job(raw_send)

    async def give_up(ended: GiveUp) -> str:
        why = f"{send.destination}: {ended.kind}: {ended.reason}"
        return await _gave_up(deps, send, why, job_try)

    # Not counted among `alerter_jobs` (calls): a send's result is `alerter_alerts_total`.
    with bind(call_id=send.subject, rule=send.rule, destination=send.destination):
        return await guarded(
            partial(try_send, deps, send, job_try),
            give_up,
            job_try=job_try,
            budget=deps.budget,
            budgets=deps.budgets,
        )


async def try_send(deps: Deps, send: Send, job_try: int, claimed: str | None = None) -> str:
    """One try of a send (the outbox job's, or the first, made in its call's job): its
    outcome, or a `Retry` saying when the next try is due. `claimed`: the token of the
    send's claim when the caller took it already."""
    found = target(deps, send)
    if found is None:
        await deps.state.record(
            send.subject,
            Outcome.DROPPED,
            rule=send.rule,
            destination=send.destination,
            detail="the destination (or this URL of it) is no longer in the rules; not sent",
        )
        return Outcome.DROPPED.value
    destination, url = found
    if claimed is not None:
        claim, token = Claim.MINE, claimed
    else:
        claim, token = await deps.state.claim(send.marker)
    if claim is Claim.SENT:
        return Outcome.SENT.value  # an earlier run of this send was accepted
    if claim is Claim.BUSY:
        held = await deps.state.lease_left(send.marker)
        why = f"{send.destination}: another sender holds this send's claim"
        return await _again(deps, send, job_try, why, wait=held)
    entry = history_entry(
        send.subject,
        Outcome.SENT,
        rule=send.rule,
        destination=send.destination,
        detail=send.detail,
        at=deps.clock(),  # mark_sent stamps it again when the destination accepts
    )
    marked = _MarkedNow(deps, send.marker)

    async def mark() -> None:
        # The history entry, and the marker unless it was written the moment it was accepted.
        await deps.state.mark_sent(send.marker, entry, marked=marked.done)

    started = deps.monotonic()
    if destination.slack_app is not None and deps.slack is not None:
        app = destination.slack_app
        delivery = await deps.slack.send(app, send.destination, send.message, send.thread)
    else:
        delivery = await deps.sender.send(
            url,
            send.message,
            send.destination,
            on_late_accept=mark,
            on_accept=marked if deps.mark_now is not None else None,
            on_accept_here=marked.here,
        )
    if delivery.accepted:
        await _mark_surely(mark)  # with the history entry (the thread marked it first)
        deps.metrics.delivery_seconds.labels(send.destination).observe(deps.monotonic() - started)
        deps.metrics.alerts.labels(send.rule, send.destination, Outcome.SENT.value).inc()
        return Outcome.SENT.value
    deps.metrics.delivery_seconds.labels(send.destination).observe(deps.monotonic() - started)
    if delivery.sent is Sent.REFUSED:
        await deps.state.release(send.marker, token)
        if delivery.rate_limited:  # delayed as asked, never given up for it
            return await _wait_as_asked(deps, send, delivery)
        return await _again(deps, send, job_try, delivery.reason, wait=delivery.retry_after)
    # It may still land: the claim stays until its lease ends, and no try comes before.
    held = await deps.state.lease_left(send.marker)
    why = f"{delivery.reason}; not resent before its claim's lease ends"
    return await _again(deps, send, job_try, why, wait=held)


class _MarkedNow:
    """The marker written the moment the destination accepts: from the sending thread
    (`deps.mark_now`) for apprise's sends, on the event loop (`here`) for its own posts;
    `done` once it was (a failed write leaves it to the mark with the history)."""

    def __init__(self, deps: Deps, marker: str) -> None:
        self._deps, self._marker = deps, marker
        self.done = False

    def __call__(self) -> None:
        if self._deps.mark_now is not None:
            self._deps.mark_now(self._marker)
            self.done = True  # read by the event loop after the send's future resolved

    async def here(self) -> None:
        await self._deps.state.mark_marker(self._marker)
        self.done = True


async def _mark_surely(mark: Callable[[], Awaitable[None]]) -> None:
    """Mark an accepted send, waiting out a Redis that is briefly away (a restart): a
    retry instead would send it again once the claim's lease ends. The job's time budget
    bounds the wait; past it the retry, and so the repeat, is the price of a long outage."""
    pause = 0.1
    while True:
        try:
            await mark()
            return
        except (RedisError, OSError) as exc:
            log.warning("an accepted send is not marked yet (%s); trying again", type(exc).__name__)
            await asyncio.sleep(pause)
            pause = min(pause * 2, MARK_PAUSE_CAP)


def target(deps: Deps, send: Send) -> tuple[Destination, str] | None:
    """The destination and URL this send goes to: in the rule set it was decided under when
    this process still has it, else in the current one (a destination's single URL may have
    changed)."""
    for rules in (deps.rules.version(send.version), deps.rules.current):
        destination = rules.destinations.get(send.destination) if rules else None
        if destination is None:
            continue
        if send.url is None and len(destination.urls) == 1:
            return destination, destination.urls[0]
        for url in destination.urls:
            if url_id(url) == send.url:
                return destination, url
    return None


async def _wait_as_asked(deps: Deps, send: Send, delivery: Delivery) -> str:
    """A rate-limited send: tried again when the destination said, its tries untouched."""
    why = f"{delivery.reason}; again in {delivery.retry_after:g} s as asked"
    log.warning("send rate limited: %s", why)
    await deps.state.record(
        send.subject, Outcome.RETRYING, rule=send.rule, destination=send.destination, detail=why
    )
    raise Retry(defer=max(delivery.retry_after, 0.001))


async def _again(deps: Deps, send: Send, job_try: int, why: str, wait: float = 0.0) -> str:
    """Another try with backoff (it waits out another sender's claim, whatever the backoff
    says), or, when the tries are spent, the give-up."""
    if job_try >= DELIVERY_TRIES:
        return await _gave_up(deps, send, why, job_try)
    delay = max(backoff(job_try, budgets=deps.budgets), wait)
    log.warning(
        "send failed (try %d of %d), again in %.1f s: %s", job_try, DELIVERY_TRIES, delay, why
    )
    await deps.state.record(
        send.subject,
        Outcome.RETRYING,
        rule=send.rule,
        destination=send.destination,
        detail=f"{why} (try {job_try} of {DELIVERY_TRIES})",
    )
    raise Retry(defer=delay)


async def _gave_up(deps: Deps, send: Send, why: str, job_try: int) -> str:
    """One failure, against its rule and destination, kept with the send for a retry."""
    log.warning("send gave up after %d tries: %s", job_try, why)
    call = send.call or CallEnded(call_id=send.subject)
    failed = FailedSend(
        rule=send.rule,
        destination=send.destination,
        reason=why,
        job_id=send.job_id,
        payload=send_payload(send.to_job(), int(deps.clock() * 1000)).decode(),
    )
    await deps.state.record_send_failure(call, failed, job_try)
    deps.metrics.alerts.labels(send.rule, send.destination, Outcome.FAILED.value).inc()
    return Outcome.FAILED.value
