"""Claim, deliver, mark: each URL of each destination of a rule sent once.

A sender first claims the URL's marker (a lease), sends through `deliver`, then marks it
sent (`store.state`). A refusal releases the claim; a send with no answer keeps it until
its lease ends (the send may still land, and a late acceptance still marks it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from arq import Retry

from alerter.models import Outcome
from alerter.pipeline.deliver import Sent
from alerter.pipeline.deps import Deps
from alerter.pipeline.guard import backoff
from alerter.pipeline.render import Message
from alerter.rules.model import Rule, RuleSet
from alerter.rules.redact import Redactor
from alerter.store.state import Claim, history_entry, marker_key

DELIVERY_TRIES = 8  # tries of a call or digest job while sends stay due


@dataclass(slots=True)
class Due:
    """Sends left for a later try, and how long another sender's claim still holds one (a
    retry before then would only find it busy again)."""

    sends: list[tuple[str, str]] = field(default_factory=list)
    claimed_for: float = 0.0

    def __iadd__(self, other: Due) -> Due:
        self.sends += other.sends
        self.claimed_for = max(self.claimed_for, other.claimed_for)
        return self

    def retry(self, job_try: int) -> Retry | None:
        """The retry for these sends, or None when the job's delivery tries are spent. It
        waits out another sender's claim, whatever the backoff says."""
        if job_try >= DELIVERY_TRIES:
            return None
        return Retry(defer=max(backoff(job_try), self.claimed_for))

    def __str__(self) -> str:
        return f"{len(self.sends)} send(s) kept failing"


async def send_once(
    deps: Deps,
    rules: RuleSet,
    subject: str,
    rule: Rule,
    render_for: Callable[[Redactor | None], Message],
    detail: str,
) -> Due:
    """Send to each URL of each of the rule's destinations once (send markers); returns the
    (rule, destination) sends still due.

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
        return Due()
    rendered: dict[int, Message] = {}
    pending = Due()
    for name in rule.notify:
        destination = rules.destinations[name]
        several = len(destination.urls) > 1
        due = False
        for url in destination.urls:
            key = marker_key(subject, rule.name, name, url if several else None)
            claim, token = await deps.state.claim(key)
            if claim is Claim.SENT:
                continue
            if claim is Claim.BUSY:
                due = True
                pending.claimed_for = max(pending.claimed_for, await deps.state.lease_left(key))
                continue
            slot = id(destination.redactor)
            if slot not in rendered:
                rendered[slot] = render_for(destination.redactor)
            entry = history_entry(
                subject, Outcome.SENT, rule=rule.name, destination=name, detail=detail
            )
            mark = partial(deps.state.mark_sent, key, entry, clear_failure=subject)
            started = time.monotonic()
            sent = await deps.sender.send(url, rendered[slot], name, on_late_accept=mark)
            deps.metrics.delivery_seconds.labels(name).observe(time.monotonic() - started)
            accepted = sent is Sent.ACCEPTED
            deps.metrics.alerts.labels(rule.name, name, "sent" if accepted else "failed").inc()
            if accepted:
                await mark()
                continue
            due = True
            if sent is Sent.REFUSED:
                await deps.state.release(key, token)
                why = "refused or failed"
            else:  # it may still land: the claim stays until its lease ends, then a retry
                why = "no answer in time; not resent before the claim's lease ends"
            await deps.state.record(
                subject, Outcome.RETRYING, rule=rule.name, destination=name, detail=why
            )
        if due:
            pending.sends.append((rule.name, name))
    return pending
