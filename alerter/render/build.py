"""Building an alert: a fired rule and its call → the `Alert` every medium renders, with
untrusted text bounded (not yet escaped) and the rule's templates rendered. Pure."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from alerter.models import CallEnded, FieldValue, LogEntry
from alerter.render.links import Link, checked_links, templated_links
from alerter.render.model import (
    EXCERPT_TEXT_CHARS,
    FIELD_CHARS,
    MAX_EXCERPTS,
    Alert,
    Excerpt,
    bound,
)
from alerter.rules.fired import FiredRule, RuleMatch


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
