"""Builders of what tests feed the pipeline: rules (parsed, or as YAML files), logs, calls,
alerts, and the addresses of the stand-in receivers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alerter.models import CallEnded, LogEntry, Severity
from alerter.render.alert import Alert, build_alert
from alerter.rules.fired import RuleMatch
from alerter.rules.load import load_rules
from alerter.rules.model import Rule, RuleSet
from tests.standins import Receiver

DAY = 1_795_000_000.0  # 2026-11-18 11:06:40 UTC, a Wednesday: replays' and rings' epoch
SLACK_URL = "slack://T0ALERTER/B0ALERTER/slacksecrettoken9d2e"
CALL = CallEnded(call_id=str(uuid.uuid4()), fields={"agent_id": "ag-1", "status": "failed"})

# ---------------------------------------------------------------- rules


def write_rules(tmp_path: Path, text: str, name: str = "rules.yaml") -> Path:
    folder = tmp_path / "rules"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text)
    return folder


def rules_from(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> RuleSet:
    return load_rules(write_rules(tmp_path, text), env or {})


def rule_yaml(extra: str, destination: str = "${SLACK_URL}") -> str:
    """One rule, `transfer-failed` to `slack-ops`, with `extra` lines (noise control)."""
    body = "".join(f"    {line}\n" for line in extra.strip().splitlines())
    return (
        f"destinations:\n  slack-ops: {destination}\nrules:\n"
        "  - name: transfer-failed\n    severity: critical\n"
        "    match: {category: TRANSFER}\n    notify: [slack-ops]\n" + body
    )


def noise_rules(tmp_path: Path, extra: str) -> RuleSet:
    return rules_from(tmp_path, rule_yaml(extra), {"SLACK_URL": SLACK_URL})


def rule(name: str = "transfer-failed", **over: Any) -> Rule:
    """A parsed rule, as the loader would give it."""
    values: dict[str, Any] = {
        "name": name,
        "description": "Transfers that failed",
        "severity": Severity.CRITICAL,
        "levels": frozenset({"ERROR"}),
        "categories": None,
        "events": None,
        "data": (),
        "call": (),
        "min_matches": 1,
        "notify": ("ops",),
        "source": "x.yaml:1",
    }
    values.update(over)
    return Rule(**values)


# ---------------------------------------------------------------- logs, alerts


def log(text: str = "transfer failed", **over: Any) -> LogEntry:
    """A parsed ERROR log of a failed transfer."""
    values: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "timestamp": datetime(2026, 11, 25, 12, 0, 1, 250000, tzinfo=UTC),
        "level": "ERROR",
        "category": "TRANSFER",
        "event": "transfer_failed",
        "trace_id": "4bf92f3577b34da6",
        "data": {"message_text": text},
    }
    values.update(over)
    return LogEntry(**values)


def alert_for(logs: list[LogEntry], call: CallEnded = CALL) -> Alert:
    return build_alert(RuleMatch(rule(), tuple(logs)), call)


# ---------------------------------------------------------------- receivers


def hook_url(receiver: Receiver, path: str = "/alerts") -> str:
    """The receiver as an apprise JSON destination."""
    return receiver.url.replace("http", "json", 1) + path


def messages(hook: Receiver) -> list[dict[str, Any]]:
    """The apprise JSON messages a receiver got."""
    return [body for body in hook.bodies() if isinstance(body, dict)]
