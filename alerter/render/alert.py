"""The render stage: a fired rule → an alert → Slack Block Kit (render_slack), e-mail HTML,
plain text; and each destination's redaction of it. Pure.

Everything from logs and webhooks is untrusted: it is escaped for the medium and cut to the
medium's limits here, so no log line can mention anyone or break a message's layout.
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Callable, Mapping
from typing import Any

from alerter.models import CallEnded, FieldValue, LogEntry
from alerter.pipeline.evaluate import FiredRule, RuleMatch
from alerter.render.links import (
    Link,
    checked_links,
    console_links,
    redacted_link,
    silence_path,
    templated_links,
)
from alerter.render.model import (
    EXCERPT_TEXT_CHARS,
    FIELD_CHARS,
    MAX_EXCERPTS,
    SEVERITY_COLOURS,
    SLACK_HEADER_CHARS,
    SLACK_MAX_BLOCKS,
    SLACK_PAYLOAD_CHARS,
    SLACK_SECTION_CHARS,
    TEXT_ROLES,
    TITLE_CHARS,
    Alert,
    Excerpt,
    Message,
    bound,
    defuse_mentions,
    fallback,
    finished,
    more_line,
    one_line,
    title,
)
from alerter.render.slack import (
    add_within_limits,
    context,
    header_block,
    inline_code,
    section,
    slack_escape,
    slack_excerpt,
    slack_payload,
)
from alerter.render.text import indented
from alerter.rules.redact import Redactor

# Where the pipeline, the console and the other renderers find what an alert is made of.
__all__ = [
    "EXCERPT_TEXT_CHARS",
    "SEVERITY_COLOURS",
    "SLACK_HEADER_CHARS",
    "SLACK_MAX_BLOCKS",
    "SLACK_PAYLOAD_CHARS",
    "SLACK_SECTION_CHARS",
    "TITLE_CHARS",
    "Alert",
    "Excerpt",
    "Link",
    "Message",
    "add_within_limits",
    "bound",
    "build_alert",
    "console_links",
    "context",
    "defuse_mentions",
    "email_html",
    "excerpt",
    "fallback",
    "finished",
    "header_block",
    "inline_code",
    "message",
    "one_line",
    "plain_text",
    "redacted",
    "redacted_excerpt",
    "section",
    "silence_path",
    "slack_escape",
    "slack_excerpt",
    "slack_payload",
    "title",
]


def message(alert: Alert) -> Message:
    return finished(
        Message(
            title(alert),
            alert.severity,
            slack_payload(alert),
            email_html(alert),
            plain_text(alert),
            key=alert.key,
        )
    )


def template_context(
    match: RuleMatch,
    call: CallEnded,
    window: Mapping[str, Any] | None = None,
    fired: FiredRule | None = None,
) -> dict[str, Any]:
    """What a rule's templates see (rules.templates.NAMES): plain values, no objects.
    `window`: what a `when` rule's window counted; `count` is then its matching calls (the
    number the alert's title and body speak of), not the logs of the call that tipped it.
    `fired`: the rule's labels and signature, as the call job worked them out."""
    rule, first = match.rule, match.logs[0]
    fired = fired or FiredRule.of(match, call)
    labels = fired.labels
    return {
        "rule": {
            "name": rule.name,
            "severity": rule.severity.value,
            "description": rule.description,
        },
        "call": {"id": call.call_id, **dict(call.fields)},
        "log": {
            "time": first.timestamp.isoformat(),
            "level": first.level,
            "category": first.category,
            "event": first.event,
            "trace_id": first.trace_id or "",
            "text": first.text() or "",
            "data": dict(first.data or {}),
        },
        "count": window["count"] if window else len(match.logs),
        "signature": fired.signature.text,
        "group": {name: labels.get(name, "") for name in rule.noise.group_by},
        "window": dict(window or {}),
    }


def build_alert(
    match: RuleMatch,
    call: CallEnded,
    max_excerpts: int = MAX_EXCERPTS,
    note: str | None = None,
    first_failure: LogEntry | None = None,
    context: tuple[LogEntry, ...] = (),
    headline: str | None = None,
    links: tuple[Link, ...] = (),
    key: str | None = None,
    window: Mapping[str, Any] | None = None,
    fired: FiredRule | None = None,
) -> Alert:
    """The causal excerpt: WARNING context lines (when the rule asks), the call's first
    failure (when the rule did not match it), then the matching logs with repeats collapsed.
    `fired`: `match` on `call` as the call job worked it out (else worked out here)."""
    lead = [dataclasses.replace(x, role="context") for x in collapsed(context, len(context))]
    if first_failure is not None and first_failure.id != match.logs[0].id:
        lead.append(dataclasses.replace(excerpt(first_failure), role="first"))
    rule = match.rule
    description = rule.description
    if rule.title or rule.summary or rule.links:
        seen = template_context(match, call, window, fired)
        headline = (rule.title.render(seen) if rule.title else "") or headline
        description = (rule.summary.render(seen) if rule.summary else "") or description
        links = (*templated_links(rule, seen), *links)
    return Alert(
        note=note,
        headline=headline,
        rule=match.rule.name,
        description=description,
        severity=match.rule.severity,
        call_id=call.call_id,
        call_fields=_call_fields(call.fields),
        match_count=len(match.logs),
        excerpts=(*lead, *collapsed(match.logs, max_excerpts)),
        links=checked_links(rule.name, links),
        key=key,
    )


def collapsed(logs: tuple[LogEntry, ...], limit: int) -> list[Excerpt]:
    """Consecutive logs alike but for time and id become one excerpt with a count."""
    out: list[Excerpt] = []
    for log in logs:
        current = excerpt(log)
        if out and _alike(out[-1], current):
            out[-1] = dataclasses.replace(out[-1], repeat=out[-1].repeat + 1)
            continue
        if len(out) == limit:
            break
        out.append(current)
    return out


def _alike(a: Excerpt, b: Excerpt) -> bool:
    return (a.level, a.category, a.event, a.text) == (b.level, b.category, b.event, b.text)


def excerpt(log: LogEntry) -> Excerpt:
    return Excerpt(
        time=log.timestamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        level=bound(log.level, 20),
        category=bound(log.category, 40),
        event=bound(log.event, 120),
        text=bound(text, EXCERPT_TEXT_CHARS) if (text := log.text()) else None,
        trace_id=bound(log.trace_id, 64) if log.trace_id else None,
    )


def _call_fields(fields: Mapping[str, FieldValue]) -> tuple[tuple[str, str], ...]:
    out = []
    for key, value in list(fields.items())[:20]:
        shown = ", ".join(map(_show, value)) if isinstance(value, tuple) else _show(value)
        out.append((bound(key, 60), bound(shown, FIELD_CHARS)))
    return tuple(out)


def _show(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ---------------------------------------------------------------- e-mail and plain text


def email_html(alert: Alert) -> str:
    e = html.escape
    colour = SEVERITY_COLOURS[alert.severity]
    rows = [
        ("Rule", e(alert.rule)),
        ("Severity", e(alert.severity.value)),
        ("Call", f"<code>{e(alert.call_id)}</code>"),
        ("Matching logs", str(alert.match_count)),
        *((e(k), f"<code>{e(v)}</code>") for k, v in alert.call_fields),
    ]
    table = "".join(
        f'<tr><th align="left" style="padding:2px 12px 2px 0">{k}</th><td>{v}</td></tr>'
        for k, v in rows
    )
    excerpts = "".join(
        "<li><p>{role}<code>{time}</code> <b>{level}</b> · {category} · <code>{event}</code>"
        "{repeat}{trace}</p>"
        "{text}</li>".format(
            time=e(x.time),
            level=e(x.level),
            category=e(x.category),
            event=e(x.event),
            trace=f" · trace <code>{e(x.trace_id)}</code>" if x.trace_id else "",
            role=TEXT_ROLES.get(x.role, ""),
            repeat=f" × {x.repeat}" if x.repeat > 1 else "",
            text=f'<pre style="white-space:pre-wrap">{e(x.text)}</pre>' if x.text else "",
        )
        for x in alert.excerpts
    )
    more = f"<p>{e(line)}</p>" if (line := more_line(alert.more)) else ""
    if alert.links:
        more += (
            "<p>"
            + " · ".join(f'<a href="{e(link.url)}">{e(link.text)}</a>' for link in alert.links)
            + "</p>"
        )
    description = f"<p>{e(alert.description)}</p>" if alert.description else ""
    if alert.note:
        description = f"<p><b>{e(alert.note)}</b></p>" + description
    return (
        f'<div style="border-left:4px solid {colour};padding-left:12px;font-family:sans-serif">'
        f"<h2>{e(alert.severity.upper())} · {e(alert.rule)}</h2>{description}"
        f"<table>{table}</table><h3>First matching logs</h3><ol>{excerpts}</ol>{more}</div>"
    )


def plain_text(alert: Alert) -> str:
    """Alerter's own lines start at the margin; text from logs and templates is indented
    line by line, or kept to one line, so none of it can pass for one of alerter's lines."""
    d = defuse_mentions
    lines = [f"Rule: {alert.rule} ({alert.severity.value})"]
    if alert.note:
        lines.append(indented(d(alert.note)))  # several lines for a group: its window
    if alert.description:
        lines.append(indented(d(alert.description)))
    lines += [f"Call: {alert.call_id}", f"Matching logs: {alert.match_count}"]
    lines += [f"{d(one_line(k))}: {d(one_line(v))}" for k, v in alert.call_fields]
    lines.append("")
    for x in alert.excerpts:
        trace = f" trace={d(one_line(x.trace_id))}" if x.trace_id else ""
        repeat = f" x{x.repeat}" if x.repeat > 1 else ""
        head = " ".join(d(one_line(part)) for part in (x.level, x.category, x.event))
        lines.append(f"{TEXT_ROLES.get(x.role, '')}{x.time} {head}{repeat}{trace}")
        if x.text:
            lines.append(indented(d(x.text)))
    if (line := more_line(alert.more)) is not None:
        lines.append(line)
    if alert.links:
        lines.append("")
        lines += [f"{d(one_line(link.text))}: {link.url}" for link in alert.links]
    if alert.key:
        lines.append(f"Key: {alert.key}")
    return "\n".join(lines)


def redacted(alert: Alert, redactor: Redactor) -> Alert:
    """The alert with personal data removed from every text it shows, links and the
    Silence… prefill included. Call ids are kept (in titles and urls too): they carry no
    personal data and are what an operator looks up."""
    r = redactor.keeping(alert.call_id)
    return dataclasses.replace(
        alert,
        description=r(alert.description),
        call_fields=tuple((r(key), r(value)) for key, value in alert.call_fields),
        excerpts=tuple(redacted_excerpt(x, r) for x in alert.excerpts),
        note=r(alert.note) if alert.note else None,
        headline=r(alert.headline) if alert.headline else None,
        # Redaction can lengthen a url ("[redacted]" escaped): checked again as it leaves.
        links=checked_links(alert.rule, (redacted_link(link, r) for link in alert.links)),
    )


def redacted_excerpt(x: Excerpt, r: Callable[[str], str]) -> Excerpt:
    return dataclasses.replace(
        x,
        event=r(x.event),
        text=r(x.text) if x.text else None,
        trace_id=r(x.trace_id) if x.trace_id else None,
    )
