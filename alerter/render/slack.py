"""Slack: a Block Kit attachment within Slack's limits, untrusted text escaped. Pure."""

from __future__ import annotations

import json
import re
from typing import Any

from alerter.models import Severity
from alerter.render.links import Link
from alerter.render.model import (
    ROLE_MARKS,
    SEVERITY_COLOURS,
    SEVERITY_MARKS,
    SLACK_FIELD_CHARS,
    SLACK_HEADER_CHARS,
    SLACK_MAX_BLOCKS,
    SLACK_PAYLOAD_CHARS,
    SLACK_SECTION_CHARS,
    Alert,
    Excerpt,
    bound,
    fallback,
    more_line,
    one_line,
    title,
)


def slack_escape(text: str) -> str:
    """Slack's three control characters; with them escaped no `<!channel>` or `<@U…>` can form."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_code(text: str) -> str:
    # A backtick run in log text would end the code block and let mrkdwn through.
    return slack_escape(text.replace("`", "\u02cb"))


def slack_cut(text: str, limit: int) -> str:
    """Cut escaped mrkdwn without leaving half an entity or an open code block."""
    if len(text) <= limit:
        return text
    cut = re.sub(r"&[a-z]{0,4}$", "", text[: limit - 5])
    if cut.count("```") % 2:
        cut += "…\n```"
        return cut
    return cut + "…"


def header_block(severity: Severity, name: str) -> dict[str, Any]:
    text = bound(f"{SEVERITY_MARKS[severity]} {severity.upper()} · {name}", SLACK_HEADER_CHARS)
    return {"type": "header", "text": {"type": "plain_text", "text": text, "emoji": True}}


def add_within_limits(blocks: list[dict[str, Any]], candidates: list[dict[str, Any]]) -> int:
    """Append candidates while Slack's block count and payload size allow (one block is kept
    free for "and N more"); returns how many went in."""
    budget = SLACK_PAYLOAD_CHARS - len(json.dumps(blocks)) - 300
    for added, block in enumerate(candidates):
        size = len(json.dumps(block))
        if len(blocks) >= SLACK_MAX_BLOCKS - 1 or size > budget:
            return added
        blocks.append(block)
        budget -= size
    return len(candidates)


def slack_payload(alert: Alert) -> dict[str, Any]:
    """A Block Kit attachment (blocks + colour bar) within Slack's limits."""
    blocks: list[dict[str, Any]] = [
        header_block(alert.severity, alert.rule),
        {
            "type": "section",
            "fields": [
                _mrkdwn(f"*Rule*\n{slack_escape(alert.rule)}", SLACK_FIELD_CHARS),
                _mrkdwn(f"*Severity*\n{alert.severity.value}", SLACK_FIELD_CHARS),
                _mrkdwn(f"*Call*\n`{_slack_code(alert.call_id)}`", SLACK_FIELD_CHARS),
                _mrkdwn(f"*Matching logs*\n{alert.match_count}", SLACK_FIELD_CHARS),
            ],
        },
    ]
    if alert.note:
        blocks.append(context(_slack_code(alert.note)))  # holds log text: no code fences
    if alert.description:
        blocks.append(section(slack_escape(alert.description)))
    if alert.call_fields:
        lines = [f"*{slack_escape(k)}*: {inline_code(v)}" for k, v in alert.call_fields]
        blocks.append(section("\n".join(lines)))
    blocks.append({"type": "divider"})
    # Excerpts fill what Slack's limits leave, and "and N more" counts what did not fit.
    added = add_within_limits(blocks, [section(slack_excerpt(x)) for x in alert.excerpts])
    shown = sum(x.repeat for x in alert.excerpts[:added] if x.role == "match")
    if (more := more_line(alert.match_count - shown)) is not None:
        blocks.append(context(more))
    if alert.links and len(blocks) < SLACK_MAX_BLOCKS:
        blocks.append(link_buttons(alert.links))
    if alert.key and len(blocks) < SLACK_MAX_BLOCKS:
        blocks.append(context(f"Key: {slack_escape(alert.key)}"))
    return {
        "color": SEVERITY_COLOURS[alert.severity],
        "fallback": fallback(title(alert)),
        "blocks": blocks,
    }


def link_buttons(links: tuple[Link, ...]) -> dict[str, Any]:
    """URL buttons: they open a page, so no Slack app is needed to receive their clicks."""
    return {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "text": {"type": "plain_text", "text": bound(one_line(link.text), 75)},
                "url": link.url[:3000],
            }
            for link in links[:25]
        ],
    }


def inline_code(text: str) -> str:
    """A Slack code span that log text cannot end early nor break across lines."""
    return f"`{_slack_code(one_line(text))}`" if text else "—"


def slack_excerpt(excerpt: Excerpt) -> str:
    head = (
        f"{ROLE_MARKS.get(excerpt.role, '')}"
        f"`{excerpt.time}` *{slack_escape(excerpt.level)}* · {slack_escape(excerpt.category)}"
        f" · `{_slack_code(excerpt.event)}`{f' × {excerpt.repeat}' if excerpt.repeat > 1 else ''}"
    )
    parts = [head]
    if excerpt.text:
        parts.append(f"```{_slack_code(excerpt.text)}```")
    if excerpt.trace_id:
        parts.append(f"trace `{_slack_code(excerpt.trace_id)}`")
    return "\n".join(parts)


def _mrkdwn(text: str, limit: int) -> dict[str, str]:
    return {"type": "mrkdwn", "text": slack_cut(text, limit)}


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text, SLACK_SECTION_CHARS)}


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [_mrkdwn(text, SLACK_SECTION_CHARS)]}
