"""The digest job: a closed window's calls sent as one message to the rule's destinations.

Scheduled by the call job (one job id per window, so any grouped call may schedule it);
a window whose rule went away, or no longer groups, is closed and recorded dropped.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from alerter.logs import bind
from alerter.models import Outcome
from alerter.render import digest as render_digest
from alerter.render.alert import Message
from alerter.render.digest import Digest, DigestCall
from alerter.rules.noise import GroupKey
from alerter.rules.redact import Redactor
from alerter.store.history import digest_subject
from alerter.worker.deps import Deps
from alerter.worker.guard import GiveUp, guarded, measured
from alerter.worker.send import queue_sends

log = logging.getLogger(__name__)

DIGEST_FUNCTION = "flush_digest"


async def flush_digest(ctx: dict[str, Any], rule_name: str, key_digest: str, window: str) -> str:
    deps: Deps = ctx["deps"]
    job_try: int = ctx.get("job_try", 1)
    subject = digest_subject(window)

    async def give_up(ended: GiveUp) -> str:
        await deps.state.record(subject, Outcome.FAILED, rule=rule_name, detail=ended.reason)
        return Outcome.FAILED.value

    with bind(rule=rule_name, digest=window), measured(ctx, deps) as out:
        out.value = await guarded(
            partial(_flush_digest, deps, rule_name, key_digest, window),
            give_up,
            job_try=job_try,
            budget=deps.budget,
            budgets=deps.budgets,
        )
        return out.value


async def _flush_digest(deps: Deps, rule_name: str, key_digest: str, window: str) -> str:
    """Close one digest window and put its message in the outbox, once per destination URL
    (the sends retry on their own: a destination that is down never reopens the window)."""
    rules = deps.rules.require()
    rule = rules.by_name.get(rule_name)
    subject = digest_subject(window)
    if rule is None or rule.noise.group_wait is None:
        calls = await deps.noise.windows.drop_digest(rule_name, key_digest, window)
        await deps.state.record(
            subject,
            Outcome.DROPPED,
            rule=rule_name,
            detail=f"the rule no longer groups into digests: {calls} call(s) not sent",
        )
        return Outcome.DROPPED.value
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
    await queue_sends(
        deps,
        rules,
        subject,
        rule,
        partial(_digest_message, digest),
        f"{digest.count} calls ({digest.group})",
    )
    await deps.noise.windows.finish_digest(rule_name, key_digest, window, now)
    return Outcome.SENT.value


def _digest_message(digest: Digest, redactor: Redactor | None) -> Message:
    return render_digest.message(render_digest.redacted(digest, redactor) if redactor else digest)
