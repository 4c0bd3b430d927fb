"""The render stage: a fired rule → Slack Block Kit, e-mail HTML, plain text. Pure.

Everything from logs and webhooks is untrusted: it is escaped for the medium and cut to the
medium's limits here, so no log line can mention anyone or break a message's layout.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from alerter.models import CallEnded, FieldValue, LogEntry, Severity
from alerter.pipeline.evaluate import RuleMatch
from alerter.pipeline.signatures import signature
from alerter.rules.model import Rule
from alerter.rules.noise import labels_of
from alerter.rules.redact import Redactor

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
class Link:
    text: str
    url: str  # http(s) only, built by us or checked by the rules


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


def message(alert: Alert) -> Message:
    return Message(
        title(alert),
        alert.severity,
        slack_payload(alert),
        email_html(alert),
        plain_text(alert),
        key=alert.key,
    )


def group_matchers(rule: Rule, labels: Mapping[str, str]) -> list[str]:
    """Matchers that pick out one alert's group: the rule's `group_by` fields, else the
    failing event (one failure of one rule, not all of them)."""
    fields = list(rule.noise.group_by) or ["event"]
    return [f"{name}={labels[name]}" for name in fields if name in labels]


def silence_path(rule: Rule, labels: Mapping[str, str]) -> str:
    """The console's silence form, prefilled for this alert's rule and group."""
    query = {"rule": rule.name, "matchers": "\n".join(group_matchers(rule, labels))}
    return "/ui/silences/new?" + urlencode(query)


def console_links(
    public_url: str | None, call_id: str, rule: Rule, labels: Mapping[str, str]
) -> tuple[Link, ...]:
    """With `ALERTER_PUBLIC_URL`: the call's page and the prefilled silence form."""
    if not public_url:
        return ()
    return (
        Link("Open in alerter", f"{public_url}/ui/calls/{quote(call_id, safe='')}"),
        Link("Silence…", public_url + silence_path(rule, labels)),
    )


def template_context(
    match: RuleMatch, call: CallEnded, window: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """What a rule's templates see (rules.templates.NAMES): plain values, no objects.
    `window`: what a `when` rule's window counted; `count` is then its matching calls (the
    number the alert's title and body speak of), not the logs of the call that tipped it."""
    rule, first = match.rule, match.logs[0]
    labels = labels_of(call, first)
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
        "signature": signature(first).text,
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
) -> Alert:
    """The causal excerpt: WARNING context lines (when the rule asks), the call's first
    failure (when the rule did not match it), then the matching logs with repeats collapsed."""
    lead = [dataclasses.replace(x, role="context") for x in collapsed(context, len(context))]
    if first_failure is not None and first_failure.id != match.logs[0].id:
        lead.append(dataclasses.replace(excerpt(first_failure), role="first"))
    rule = match.rule
    description = rule.description
    if rule.title or rule.summary or rule.links:
        seen = template_context(match, call, window)
        headline = (rule.title.render(seen) if rule.title else "") or headline
        description = (rule.summary.render(seen) if rule.summary else "") or description
        rendered = (link.render(seen) for link in rule.links)
        links = (*(Link(text, url) for text, url in filter(None, rendered)), *links)
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
        links=links,
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


# ---------------------------------------------------------------- Slack


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


def defuse_mentions(text: str) -> str:
    """For plain-text media (chat apps that parse `@here`, `<!channel>`, `<@U1>` themselves)."""
    text = _AT_WORD.sub("@\u200b", text)
    return text.replace("<!", "<\u200b!").replace("<@", "<\u200b@").replace("<#", "<\u200b#")


_AT_WORD = re.compile(r"@(?=\w)")


def plain_text(alert: Alert) -> str:
    d = defuse_mentions
    lines = [
        f"Rule: {alert.rule} ({alert.severity.value})",
        f"Call: {alert.call_id}",
        f"Matching logs: {alert.match_count}",
    ]
    if alert.description:
        lines.insert(1, d(alert.description))
    if alert.note:
        lines.insert(1, d(alert.note))
    lines += [f"{d(k)}: {d(v)}" for k, v in alert.call_fields]
    lines.append("")
    for x in alert.excerpts:
        trace = f" trace={d(x.trace_id)}" if x.trace_id else ""
        repeat = f" x{x.repeat}" if x.repeat > 1 else ""
        lines.append(
            f"{TEXT_ROLES.get(x.role, '')}{x.time} {d(x.level)} {d(x.category)} {d(x.event)}"
            f"{repeat}{trace}"
        )
        if x.text:
            lines.append(f"    {d(x.text)}")
    if (line := more_line(alert.more)) is not None:
        lines.append(line)
    if alert.links:
        lines.append("")
        lines += [f"{d(link.text)}: {link.url}" for link in alert.links]
    if alert.key:
        lines.append(f"Key: {alert.key}")
    return "\n".join(lines)


def redacted(alert: Alert, r: Redactor) -> Alert:
    """The alert with personal data removed from every text it shows (call id kept)."""
    return dataclasses.replace(
        alert,
        description=r(alert.description),
        call_fields=tuple((key, r(value)) for key, value in alert.call_fields),
        excerpts=tuple(redacted_excerpt(x, r) for x in alert.excerpts),
        note=r(alert.note) if alert.note else None,
        headline=r(alert.headline) if alert.headline else None,
    )


def redacted_excerpt(x: Excerpt, r: Redactor) -> Excerpt:
    return dataclasses.replace(x, event=r(x.event), text=r(x.text) if x.text else None)
