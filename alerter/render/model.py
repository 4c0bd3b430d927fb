"""What every renderer renders: an alert, its excerpts, the finished message; and the text
rules all media share (bounded, one line, mentions defused, bidi controls out). Pure."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from alerter.models import Severity
from alerter.render.links import Link
from alerter.render.text import bidi_free, bidi_free_json

MAX_EXCERPTS = 5
EXCERPT_TEXT_CHARS = 600
FIELD_CHARS = 200

# Slack's limits (Block Kit reference).
SLACK_HEADER_CHARS = 150
TITLE_CHARS = 250  # e-mail subjects and titles
FALLBACK_CHARS = 300
SLACK_SECTION_CHARS = 3000
SLACK_FIELD_CHARS = 2000
SLACK_MAX_BLOCKS = 50
# apprise refuses Slack payload templates above 35,000 characters; stay well inside.
SLACK_PAYLOAD_CHARS = 30_000

SEVERITY_COLOURS = {
    Severity.CRITICAL: "#E01E5A",
    Severity.WARNING: "#ECB22E",
    Severity.INFO: "#36C5F0",
}
ROLE_MARKS = {"context": "_before the failure_ ", "first": "*first failure* "}
TEXT_ROLES = {"context": "(before the failure) ", "first": "(first failure) "}
SEVERITY_MARKS = {Severity.CRITICAL: "🔴", Severity.WARNING: "🟠", Severity.INFO: "🔵"}


@dataclass(frozen=True, slots=True)
class Excerpt:
    time: str
    level: str
    category: str
    event: str
    text: str | None
    trace_id: str | None
    repeat: int = 1  # consecutive identical lines collapsed into this one ("x 12")
    role: str = "match"  # "context" (a WARNING before the failure), "first" (call's first failure)


@dataclass(frozen=True, slots=True)
class Alert:
    """What every renderer needs, with untrusted text already bounded (not yet escaped)."""

    rule: str
    description: str
    severity: Severity
    call_id: str
    call_fields: tuple[tuple[str, str], ...]
    match_count: int
    excerpts: tuple[Excerpt, ...]
    note: str | None = None  # from noise control: "and 37 more calls since 14:02", ...
    headline: str | None = None  # a group's alert (frequency, rate): the title says the group
    links: tuple[Link, ...] = ()
    key: str | None = None  # the episode's key (rules with resolved messages)

    @property
    def more(self) -> int:
        return self.match_count - sum(x.repeat for x in self.excerpts if x.role == "match")


@dataclass(frozen=True, slots=True)
class Message:
    """One notification, rendered for every medium; `deliver` picks what a URL takes."""

    title: str
    severity: Severity
    slack: dict[str, Any]
    html: str
    text: str
    # The same for an episode's firing and resolved messages: destinations that close
    # incidents (PagerDuty's dedup key, Opsgenie's alias) are given it.
    key: str | None = None
    resolved: bool = False


def finished(message: Message) -> Message:
    """Unicode bidi controls out of every medium (subject, Slack and its fallback, HTML,
    text): whatever a renderer wrote, from whatever source."""
    return dataclasses.replace(
        message,
        title=bidi_free(message.title),
        slack=bidi_free_json(message.slack),
        html=bidi_free(message.html),
        text=bidi_free(message.text),
    )


def bound(text: str, limit: int) -> str:
    """Cut to `limit` characters, marking the cut; control characters become spaces."""
    text = _CONTROL.sub(" ", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029]")


def title(alert: Alert) -> str:
    if alert.headline:  # a group's alert: say the group, not the call that tipped it
        text = f"[{alert.severity.upper()}] {alert.rule}: {alert.headline}"
    else:
        text = f"[{alert.severity.upper()}] {alert.rule} on call {alert.call_id}"
    return bound(one_line(text), TITLE_CHARS)


def one_line(text: str) -> str:
    """Whitespace runs (newlines, tabs) as one space: for code spans and one-line fields."""
    return " ".join(text.split())


def fallback(text: str) -> str:
    """Slack's `fallback` (notifications, old clients): one short line, mentions defused."""
    return bound(defuse_mentions(one_line(text)), FALLBACK_CHARS)


def more_line(more: int) -> str | None:
    if more <= 0:
        return None
    return f"and {more} more matching log{'s' if more != 1 else ''}"


def defuse_mentions(text: str) -> str:
    """For plain-text media (chat apps that parse `@here`, `<!channel>`, `<@U1>` themselves)."""
    text = _AT_WORD.sub("@\u200b", text)
    return text.replace("<!", "<\u200b!").replace("<@", "<\u200b@").replace("<#", "<\u200b#")


_AT_WORD = re.compile(r"@(?=\w)")
