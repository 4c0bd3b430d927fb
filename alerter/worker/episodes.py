"""The episode jobs: the tick, and the job that sends one episode's message.

The tick runs as an arq cron job, one job id per period, so one worker runs each period
whatever the number of workers. It resolves the frequency and rate episodes that are due,
opens and closes flatline episodes, and turns the outbox's notes into send jobs, each with
an id of its own (see `store.episodes`): state decides, so a period missed while every
worker was down is caught up by the next, and one run twice changes nothing.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from arq.connections import ArqRedis

from alerter.logs import bind
from alerter.models import Outcome
from alerter.render import episode as render_episode
from alerter.render.alert import Message
from alerter.render.episode import Episode, EpisodeEnd
from alerter.render.slack_blocks import Thread
from alerter.rules.model import Rule
from alerter.rules.noise import GroupKey, muted
from alerter.rules.redact import Redactor
from alerter.store import keys
from alerter.store.episodes import Episodes, Note, flatline_note
from alerter.store.history import episode_subject
from alerter.store.windows import millis
from alerter.worker.deps import Deps
from alerter.worker.escalate import escalate_due
from alerter.worker.escalate import schedule as schedule_escalation
from alerter.worker.guard import GiveUp, guarded, measured
from alerter.worker.send import queue_sends

log = logging.getLogger(__name__)

TICK_FUNCTION = "episode_tick"
EPISODE_FUNCTION = "send_episode"
ALL_CALLS = GroupKey(())


async def episode_tick(ctx: dict[str, Any]) -> str:
    deps: Deps = ctx["deps"]
    rules = deps.rules.current
    now = deps.clock()
    episodes = deps.noise.episodes
    resolved = await episodes.resolve_due(now)
    escalated = await escalate_due(deps, ctx["redis"], now)
    for rule in rules.flatline_rules if rules else ():
        await _watch_flatline(episodes, rule, now)
    redis: ArqRedis = ctx["redis"]
    queued = 0
    for note in await episodes.outbox():
        # One id per note: queued again after a crash, it is still one job.
        await redis.enqueue_job(EPISODE_FUNCTION, note.raw, _job_id=note.job_id)
        await episodes.taken(note)
        queued += 1
    return f"{resolved} resolved, {escalated} escalated, {queued} message(s) queued"


async def _watch_flatline(episodes: Episodes, rule: Rule, now: float) -> None:
    """Open an episode for each group silent for `no_calls` (outside mute windows, which
    restart the count), close it when the group's calls resume."""
    noise = rule.noise
    assert noise.no_calls is not None
    if not noise.group_by:  # watched from the first tick, even before any call arrives
        await episodes.baseline(rule.name, ALL_CALLS.digest, now)
    seen = await episodes.seen(rule.name, now)
    quiet = muted(noise, now)
    if quiet:
        await episodes.mark_muted(rule.name, now)
    muted_ms = millis(now) if quiet else await episodes.muted_at(rule.name)
    open_ids = await episodes.open_ids(rule.name, list(seen))
    for digest, group in seen.items():
        episode = open_ids.get(digest)
        if episode is not None:
            if group.at_ms > int(episode):  # a call came: the silence is over
                note = flatline_note(
                    "resolved", rule.name, digest, episode, int(episode), group.at_ms, group.labels
                )
                await episodes.flatline("close", rule.name, digest, episode, note, now)
            continue
        if quiet or millis(now) - max(group.at_ms, muted_ms) < millis(noise.no_calls):
            continue
        episode = str(group.at_ms)
        note = flatline_note(
            "firing", rule.name, digest, episode, group.at_ms, millis(now), group.labels
        )
        await episodes.flatline("open", rule.name, digest, episode, note, now)


async def send_episode(ctx: dict[str, Any], raw_note: str) -> str:
    deps: Deps = ctx["deps"]
    job_try: int = ctx.get("job_try", 1)
    note = Note.parse(raw_note)
    subject = episode_subject(note.key, note.kind)

    async def give_up(ended: GiveUp) -> str:
        await deps.state.record(subject, Outcome.FAILED, rule=note.rule, detail=ended.reason)
        return Outcome.FAILED.value

    with bind(rule=note.rule, episode=note.key), measured(ctx, deps) as out:
        out.value = await guarded(
            partial(_send_episode, deps, note, subject),
            give_up,
            job_try=job_try,
            budget=deps.budget,
            budgets=deps.budgets,
        )
        return out.value


async def _send_episode(deps: Deps, note: Note, subject: str) -> str:
    """Decide on one episode note and put its message in the outbox (the sends retry on
    their own)."""
    rules = deps.rules.require()
    rule = rules.by_name.get(note.rule)
    episodes = deps.noise.episodes
    # A correlated incident is kept as an episode of its rule (`pipeline.correlate`).
    incident = rule is not None and rule.correlate is not None and note.labels[:1] != ()
    incident = incident and note.labels[0][0] == "incident"
    if rule is None or not (rule.noise.episodes or incident):
        why = "the rule is gone" if rule is None else "the rule no longer keeps episodes"
        await deps.state.record(subject, Outcome.DROPPED, rule=note.rule, detail=why)
        return Outcome.DROPPED.value
    kind = EpisodeEnd(note.kind)
    if kind is EpisodeEnd.RESOLVED:
        if not (rule.noise.send_resolved or incident):
            return "resolved, not sent (send_resolved: false)"
        if not await episodes.notified(rule.name, note.digest, note.id):
            # Silenced, muted or throttled when it fired: there is nothing to close.
            return "resolved; its firing was not sent"
    else:
        labels = dict(note.labels)
        now = deps.clock()
        for silence in await deps.noise.silences.all():
            if silence.matches(rule.name, labels, now):
                await deps.noise.silences.count_stopped(silence)
                await deps.state.record(
                    subject, Outcome.SILENCED, rule=rule.name, detail=f"silence {silence.id}"
                )
                return Outcome.SILENCED.value
        await episodes.mark_notified(rule.name, note.digest, note.id)
    episode = Episode(
        rule=rule.name,
        description=rule.description,
        severity=rule.severity,
        group=GroupKey(note.labels).describe(),
        kind=kind,
        started=note.started,
        ended=note.ended,
        calls=note.calls,
        key=note.key,
        flatline=note.flatline,
    )
    thread = Thread(
        key=note.key,
        rule=rule.name,
        group=note.digest,
        labels=tuple(note.labels),
        kind="resolved" if kind is EpisodeEnd.RESOLVED else "alert",
        episode=True,
    )
    render_for, detail = partial(_message, episode), render_episode.summary(episode)
    await queue_sends(deps, rules, subject, rule, render_for, detail, thread=thread)
    if kind is EpisodeEnd.RESOLVED:
        await deps.state.redis.delete(keys.ack(rule.name, note.digest))  # next one starts anew
    else:
        await schedule_escalation(deps, rules, subject, rule, render_for, detail, thread)
    return Outcome.SENT.value


def _message(episode: Episode, redactor: Redactor | None) -> Message:
    return render_episode.message(
        render_episode.redacted(episode, redactor) if redactor else episode
    )
