"""Rendering an episode's own messages: a flatline firing (no calls) and a resolved message
(a `when` condition that stopped holding). Pure."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from alerter.durations import format_duration
from alerter.models import Severity
from alerter.render.email import render_email
from alerter.render.model import (
    SEVERITY_COLOURS,
    SLACK_HEADER_CHARS,
    TITLE_CHARS,
    Message,
    bound,
    defuse_mentions,
    fallback,
    finished,
    one_line,
)
from alerter.render.slack import context, header_block, section, slack_escape
from alerter.render.text import indented
from alerter.rules.redact import Redactor

RESOLVED_COLOUR = "#2EB67D"  # Slack's green


class EpisodeEnd(StrEnum):
    FIRING = "firing"  # a flatline began: no calls for the rule's `no_calls`
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Episode:
    """One (rule, group) stretch of a `when` condition holding, from its first firing."""

    rule: str
    description: str
    severity: Severity
    group: str  # "agent_id=ag-1", or "all calls"
    kind: EpisodeEnd
    started: float  # flatline: the last call before the silence; else the first firing
    ended: float  # when it was resolved (for a flatline firing: when it fired)
    calls: int  # calls the episode covered (matched while it lasted; 0 for a flatline)
    key: str  # stable per (rule, group, episode): the firing and the resolved share it
    flatline: bool = False

    @property
    def lasted(self) -> str:
        return format_duration(self.ended - self.started)


def _clock(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def summary(episode: Episode) -> str:
    """One sentence saying what happened, the same in every medium (before escaping)."""
    if episode.kind is EpisodeEnd.FIRING:
        return (
            f"No call-ended webhook for {episode.lasted} ({episode.group}), since "
            f"{_clock(episode.started)}."
        )
    if episode.flatline:
        return (
            f"Calls resumed ({episode.group}) after {episode.lasted} without any, since "
            f"{_clock(episode.started)}."
        )
    calls = f"{episode.calls} call{'s' if episode.calls != 1 else ''}"
    return (
        f"Resolved ({episode.group}): the condition no longer holds. It lasted "
        f"{episode.lasted}, from {_clock(episode.started)}, and covered {calls}."
    )


def title(episode: Episode) -> str:
    if episode.kind is EpisodeEnd.FIRING:
        text = f"[{episode.severity.upper()}] {episode.rule}: no calls for {episode.lasted}"
    else:
        text = f"[RESOLVED] {episode.rule}: after {episode.lasted}"
    return bound(one_line(f"{text} ({episode.group})"), TITLE_CHARS)


def message(episode: Episode) -> Message:
    return finished(
        Message(
            title(episode),
            episode.severity,
            slack_payload(episode),
            email_html(episode),
            plain_text(episode),
            key=episode.key,
            resolved=episode.kind is EpisodeEnd.RESOLVED,
        )
    )


def _colour(episode: Episode) -> str:
    if episode.kind is EpisodeEnd.RESOLVED:
        return RESOLVED_COLOUR
    return SEVERITY_COLOURS[episode.severity]


def slack_payload(episode: Episode) -> dict[str, Any]:
    if episode.kind is EpisodeEnd.RESOLVED:
        text = bound(f"✅ RESOLVED · {episode.rule}", SLACK_HEADER_CHARS)
        header = {"type": "header", "text": {"type": "plain_text", "text": text, "emoji": True}}
    else:
        header = header_block(episode.severity, episode.rule)
    blocks: list[dict[str, Any]] = [header, section(slack_escape(summary(episode)))]
    if episode.description:
        blocks.append(section(slack_escape(episode.description)))
    blocks.append(context(f"Key: {slack_escape(episode.key)}"))
    return {"color": _colour(episode), "fallback": fallback(title(episode)), "blocks": blocks}


def email_html(episode: Episode) -> str:
    state = "RESOLVED" if episode.kind is EpisodeEnd.RESOLVED else episode.severity.upper()
    return render_email(
        "episode_email.html",
        episode=episode,
        colour=_colour(episode),
        state=state,
        summary=summary(episode),
    )


def plain_text(episode: Episode) -> str:
    d = defuse_mentions
    state = "resolved" if episode.kind is EpisodeEnd.RESOLVED else episode.severity.value
    lines = [f"Rule: {episode.rule} ({state})", d(one_line(summary(episode)))]
    if episode.description:
        lines.append(indented(d(episode.description)))
    lines.append(f"Key: {episode.key}")
    return "\n".join(lines)


def redacted(episode: Episode, r: Redactor) -> Episode:
    return dataclasses.replace(episode, description=r(episode.description), group=r(episode.group))
