"""The render stage: a fired rule → an alert (build) → every medium: Slack Block Kit
(slack), e-mail HTML (email), plain text (plain); and each destination's redaction of it
(redaction). Pure.

Everything from logs and webhooks is untrusted: it is escaped for the medium and cut to the
medium's limits there, so no log line can mention anyone or break a message's layout.
"""

from __future__ import annotations

from alerter.render.build import build_alert, excerpt
from alerter.render.email import email_html
from alerter.render.links import Link, console_links
from alerter.render.model import Alert, Excerpt, Message, finished, title
from alerter.render.plain import plain_text
from alerter.render.redaction import redacted, redacted_excerpt
from alerter.render.slack import slack_payload

# What the pipeline and the worker use of rendering, in one place (`render.message(...)`).
__all__ = [
    "Alert",
    "Excerpt",
    "Link",
    "Message",
    "build_alert",
    "console_links",
    "email_html",
    "excerpt",
    "message",
    "plain_text",
    "redacted",
    "redacted_excerpt",
    "slack_payload",
    "title",
]


def message(alert: Alert, *, html: bool = True, slack: bool = True) -> Message:
    """The alert in every medium its destinations read, bidi controls out: `html` (e-mail)
    and `slack` (Block Kit) left empty when none of them reads it (a medium left empty is
    sent as plain text, should a destination read it after all)."""
    return finished(
        Message(
            title(alert),
            alert.severity,
            slack_payload(alert) if slack else {},
            email_html(alert) if html else "",
            plain_text(alert),
            key=alert.key,
        )
    )
