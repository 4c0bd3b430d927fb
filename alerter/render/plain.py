"""An alert as plain text (e-mail's text part, chat apps that take text). Pure."""

from __future__ import annotations

from alerter.render.model import TEXT_ROLES, Alert, defuse_mentions, more_line, one_line
from alerter.render.text import indented


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
