"""Escalation: an alert nobody acknowledged within the rule's `escalate.after` goes to
`escalate.notify` too, once per episode.

The first alert of an episode of a rule that escalates leaves its escalation, rendered for
those destinations, waiting in Redis until it is due (by the worker's clock). The episode
tick hands what is due to the outbox, unless the episode was acknowledged meanwhile; a
second alert of the episode, or a second tick, changes nothing (`store.slack`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

from redis.asyncio import Redis

from alerter.durations import format_duration
from alerter.models import CallEnded, Outcome
from alerter.render.alert import Message
from alerter.render.slack_blocks import Thread
from alerter.rules.model import Rule, RuleSet
from alerter.rules.redact import Redactor
from alerter.store.queue import put_sends, send_payload
from alerter.store.slack import (
    EPISODE_THREAD_SECONDS,
    IDLE_THREAD_SECONDS,
    Escalations,
    SlackStore,
)
from alerter.worker.deps import Deps
from alerter.worker.send import Send, rendered_sends

log = logging.getLogger(__name__)


async def schedule(
    deps: Deps,
    rules: RuleSet,
    subject: str,
    rule: Rule,
    render_for: Callable[[Redactor | None], Message],
    detail: str,
    thread: Thread,
    call: CallEnded | None = None,
) -> bool:
    """Leave the episode's escalation waiting (the first alert of the episode only)."""
    if rule.escalate is None or rule.shadow:
        return False
    after = rule.escalate.after
    prefix = f"Escalated (not acknowledged within {format_duration(after)}): "

    def escalated(redactor: Redactor | None) -> Message:
        message = render_for(redactor)
        return dataclasses.replace(
            message, title=prefix + message.title, text=prefix + "\n" + message.text
        )

    sends = rendered_sends(
        rules,
        subject,
        rule,
        escalated,
        f"escalated: {detail}",
        call,
        dataclasses.replace(thread, kind="escalation"),
        rule.escalate.notify,
    )
    redis = deps.state.redis
    waiting = await Escalations(redis).wait(
        thread.key, deps.clock() + after, [send.to_job() for send in sends]
    )
    if waiting:  # a new episode starts unacknowledged
        await SlackStore(redis).clear_ack(rule.name, thread.group)
    return waiting


async def escalate_due(deps: Deps, redis: Redis, now: float) -> int:
    """Hand every due escalation to the outbox unless its episode was acknowledged;
    answers how many escalated."""
    escalations, store = Escalations(redis), SlackStore(redis)
    done = 0
    for key, raw_sends in await escalations.due(now):
        sends = [Send.from_job(raw) for raw in raw_sends]
        if not sends or sends[0].thread is None:
            continue
        first, thread = sends[0], sends[0].thread
        ack = await store.ack(thread.rule, thread.group)
        if ack is not None:
            log.info("%s: not escalated, acknowledged by %s", thread.rule, ack.by)
            continue
        life = EPISODE_THREAD_SECONDS if thread.episode else IDLE_THREAD_SECONDS
        if not await store.escalate_once(key, life):
            continue
        now = deps.clock()
        jobs = [(s.job_id, send_payload(s.to_job(), int(now * 1000))) for s in sends]
        await put_sends(redis, jobs)
        await deps.state.record(
            first.subject,
            Outcome.ESCALATED,
            rule=first.rule,
            destination=",".join(dict.fromkeys(s.destination for s in sends)),
            detail="not acknowledged in time",
        )
        done += 1
    return done
