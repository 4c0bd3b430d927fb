"""Rendering a digest (many calls of one rule and group, in one window). Pure."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from alerter.models import Severity
from alerter.render.email import render_email
from alerter.render.model import (
    EXCERPT_TEXT_CHARS,
    SEVERITY_COLOURS,
    TITLE_CHARS,
    Excerpt,
    Message,
    bound,
    defuse_mentions,
    fallback,
    finished,
    one_line,
)
from alerter.render.redaction import redacted_excerpt
from alerter.render.slack import (
    add_within_limits,
    context,
    header_block,
    inline_code,
    section,
    slack_escape,
    slack_excerpt,
)
from alerter.render.text import indented
from alerter.rules.redact import Redactor

LISTED_CALLS = 10
EXCERPTS = 3
TOP_COUNTS = 5


@dataclass(frozen=True, slots=True)
class DigestCall:
    call_id: str
    match_count: int
    excerpt: Excerpt

    def to_entry(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "matches": self.match_count,
            "x": _excerpt_dict(self.excerpt),
        }

    @classmethod
    def from_entry(cls, entry: dict[str, Any]) -> DigestCall:
        x = entry.get("x") or {}
        return cls(
            call_id=str(entry.get("call_id", "")),
            match_count=int(entry.get("matches", 0)),
            excerpt=Excerpt(
                time=str(x.get("time", "")),
                level=str(x.get("level", "")),
                category=str(x.get("category", "")),
                event=str(x.get("event", "")),
                text=x.get("text"),
                trace_id=x.get("trace_id"),
            ),
        )


def _excerpt_dict(excerpt: Excerpt) -> dict[str, Any]:
    return {
        "time": excerpt.time,
        "level": excerpt.level,
        "category": excerpt.category,
        "event": excerpt.event,
        "text": excerpt.text,
        "trace_id": excerpt.trace_id,
    }


@dataclass(frozen=True, slots=True)
class Digest:
    rule: str
    description: str
    severity: Severity
    group: str  # "agent_id=ag-1", or "all calls"
    opened: float
    closed: float
    count: int  # calls in the window
    calls: tuple[DigestCall, ...]  # the first ones, in arrival order
    events: tuple[tuple[str, int], ...]
    reasons: tuple[tuple[str, int], ...]

    @property
    def more_calls(self) -> int:
        return self.count - min(len(self.calls), LISTED_CALLS)


def _clock(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S")


def title(digest: Digest) -> str:
    calls = f"{digest.count} call{'s' if digest.count != 1 else ''}"
    text = f"[{digest.severity.upper()}] {digest.rule}: {calls} ({digest.group})"
    return bound(one_line(text), TITLE_CHARS)


def _window(digest: Digest) -> str:
    return f"{_clock(digest.opened)}–{_clock(digest.closed)} UTC"


def _counts(pairs: tuple[tuple[str, int], ...]) -> list[tuple[str, int]]:
    return list(pairs[:TOP_COUNTS])


def message(digest: Digest) -> Message:
    return finished(
        Message(
            title(digest),
            digest.severity,
            slack_payload(digest),
            email_html(digest),
            plain_text(digest),
        )
    )


def slack_payload(digest: Digest) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        header_block(digest.severity, f"{digest.rule} · digest"),
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*Calls*\n{digest.count}"},
                {"type": "mrkdwn", "text": f"*Window*\n{_window(digest)}"},
                {"type": "mrkdwn", "text": f"*Group*\n{slack_escape(bound(digest.group, 1900))}"},
                {"type": "mrkdwn", "text": f"*Rule*\n{slack_escape(digest.rule)}"},
            ],
        },
    ]
    if digest.description:
        blocks.append(section(slack_escape(digest.description)))
    for heading, pairs in (("Events", digest.events), ("Failure reasons", digest.reasons)):
        if pairs:
            lines = [f"{inline_code(bound(k, 120))} × {n}" for k, n in _counts(pairs)]
            blocks.append(section(f"*{heading}*\n" + "\n".join(lines)))
    listed = digest.calls[:LISTED_CALLS]
    if listed:
        lines = [
            f"`{c.call_id}` · {c.match_count} log{'s' if c.match_count != 1 else ''} · "
            f"{inline_code(bound(c.excerpt.event, 80))}"
            for c in listed
        ]
        blocks.append(section("*Calls*\n" + "\n".join(lines)))
    blocks.append({"type": "divider"})
    add_within_limits(
        blocks,
        [section(f"`{c.call_id}`\n" + slack_excerpt(c.excerpt)) for c in digest.calls[:EXCERPTS]],
    )
    if digest.more_calls > 0:
        blocks.append(context(f"and {digest.more_calls} more calls"))
    return {
        "color": SEVERITY_COLOURS[digest.severity],
        "fallback": fallback(title(digest)),
        "blocks": blocks,
    }


def email_html(digest: Digest) -> str:
    return render_email(
        "digest_email.html",
        digest=digest,
        colour=SEVERITY_COLOURS[digest.severity],
        window=_window(digest),
        events=_counts(digest.events),
        reasons=_counts(digest.reasons),
        calls=digest.calls[:LISTED_CALLS],
        excerpts=EXCERPTS,  # the first calls show their excerpt's text
    )


def plain_text(digest: Digest) -> str:
    d = defuse_mentions
    lines = [
        f"Rule: {digest.rule} ({digest.severity.value}), digest of {digest.count} calls",
        f"Group: {d(one_line(digest.group))}",
        f"Window: {_window(digest)}",
    ]
    for heading, pairs in (("Events", digest.events), ("Failure reasons", digest.reasons)):
        if pairs:
            counted = ", ".join(f"{d(one_line(k))} x{n}" for k, n in _counts(pairs))
            lines.append(f"{heading}: {counted}")
    lines.append("")
    for i, c in enumerate(digest.calls[:LISTED_CALLS]):
        logs = f"log{'s' if c.match_count != 1 else ''}"
        lines.append(f"{c.call_id}  {c.match_count} {logs}  {d(one_line(c.excerpt.event))}")
        if c.excerpt.text and i < EXCERPTS:
            lines.append(indented(d(bound(c.excerpt.text, EXCERPT_TEXT_CHARS))))
    if digest.more_calls > 0:
        lines.append(f"and {digest.more_calls} more calls")
    return "\n".join(lines)


def redacted(digest: Digest, r: Redactor) -> Digest:
    return dataclasses.replace(
        digest,
        description=r(digest.description),
        group=r(digest.group),
        calls=tuple(
            DigestCall(c.call_id, c.match_count, redacted_excerpt(c.excerpt, r))
            for c in digest.calls
        ),
        events=tuple((r(k), n) for k, n in digest.events),
        reasons=tuple((r(k), n) for k, n in digest.reasons),
    )
