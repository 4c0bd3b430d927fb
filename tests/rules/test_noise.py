"""Noise control, the pure parts: durations, group keys, mute windows."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from alerter.durations import parse_duration
from alerter.models import CallEnded, LogEntry
from alerter.rules.noise import group_key, labels_of, muted
from tests.conftest import rules_from


def test_durations() -> None:
    assert parse_duration("30s") == 30 and parse_duration("10m") == 600
    assert parse_duration("2h") == 7200 and parse_duration("1d") == 86400
    assert parse_duration("500ms") == 0.5 and parse_duration(45) == 45
    for bad in ("soon", "-1s", "0", True, "10 weeks"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_group_key_reads_call_and_log_fields() -> None:
    call = CallEnded(
        call_id=str(uuid.uuid4()), fields={"agent_id": "ag-1", "contact.country": "ES"}
    )
    log = LogEntry(
        id="1",
        timestamp=datetime(2026, 1, 1),
        level="ERROR",
        category="TRANSFER",
        event="transfer_failed",
        data={"failure_reason": "busy", "sip": {"code": 486}},
    )
    key = group_key(
        ("agent_id", "event", "data.failure_reason", "data.sip.code", "contact.country"), call, log
    )
    assert key.labels == (
        ("agent_id", "ag-1"),
        ("event", "transfer_failed"),
        ("data.failure_reason", "busy"),
        ("data.sip.code", "486"),
        ("contact.country", "ES"),
    )
    assert (
        key.describe()
        == "agent_id=ag-1, event=transfer_failed, data.failure_reason=busy, data.sip.code=486, contact.country=ES"
    )
    assert group_key((), call, log).describe() == "all calls"
    assert (
        group_key(("agent_id",), call, None).digest
        != group_key(("agent_id",), CallEnded(call_id=call.call_id), None).digest
    )
    assert labels_of(call, log)["data.failure_reason"] == "busy"


def rule_with(tmp_path: Path, body: str):  # type: ignore[no-untyped-def]
    text = "destinations:\n  d: json://127.0.0.1/x\nrules:\n  - name: r\n    notify: [d]\n"
    text += "".join(f"    {line}\n" for line in body.strip().splitlines())
    return rules_from(tmp_path, text).rules[0]


def at(text: str, zone: str = "Europe/Madrid") -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp()


def test_mute_windows_days_hours_and_zones(tmp_path: Path) -> None:
    rule = rule_with(
        tmp_path,
        """
mute_windows:
  - {days: [sat, sun], timezone: Europe/Madrid}
  - {days: [mon, tue, wed, thu, fri], hours: "22:00-06:00", timezone: Europe/Madrid}
""",
    )
    noise = rule.noise
    assert muted(noise, at("2026-11-28T12:00"))  # Saturday
    assert not muted(noise, at("2026-11-27T12:00"))  # Friday noon
    assert muted(noise, at("2026-11-27T23:30"))  # Friday night
    assert muted(noise, at("2026-11-25T05:59"))  # Wednesday early: Tuesday's night
    assert not muted(noise, at("2026-11-25T06:00"))
    assert muted(noise, at("2026-11-24T05:00"))  # Tuesday early: Monday's night
    assert not muted(noise, at("2026-11-23T05:00"))  # Monday early: Sunday night not listed
    # The window's zone decides, not UTC: 21:30 UTC is 22:30 in Madrid.
    assert muted(noise, at("2026-11-27T21:30", "UTC"))
    assert not muted(noise, at("2026-11-27T20:59", "UTC"))
