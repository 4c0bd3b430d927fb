"""Evaluation (pure): match keys, call conditions, thresholds."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alerter.models import CallEnded, LogEntry
from alerter.pipeline.evaluate import evaluate
from tests.conftest import rules_from

CALL = CallEnded(
    call_id=str(uuid.uuid4()),
    fields={"agent_id": "ag-1", "status": "failed", "contact.identifier": ("+34600",), "dur": 12},
)


def log(**over: Any) -> LogEntry:
    values: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "timestamp": datetime(2026, 1, 1, tzinfo=UTC),
        "level": "ERROR",
        "category": "TRANSFER",
        "event": "transfer_failed",
        "data": {"failure_reason": "SIP timeout after 30s", "code": 408, "nested": {"k": "v"}},
    }
    values.update(over)
    return LogEntry(**values)


def fired(tmp_path: Path, rule_body: str, logs: list[LogEntry], call: CallEnded = CALL) -> bool:
    text = "destinations:\n  d: json://127.0.0.1/x\nrules:\n  - name: r\n    notify: [d]\n"
    text += "".join(f"    {line}\n" for line in rule_body.strip().splitlines())
    ruleset = rules_from(tmp_path, text)
    return any(m.fired for m in evaluate(ruleset, call, tuple(logs)))


def test_level_category_event(tmp_path: Path) -> None:
    assert fired(tmp_path, "match: {level: ERROR}", [log()])
    assert not fired(tmp_path, "match: {level: CRITICAL}", [log()])
    assert fired(tmp_path, "match: {category: [AGENT, TRANSFER]}", [log()])
    assert not fired(tmp_path, "match: {category: [AGENT]}", [log()])


def test_event_exact_glob_regex(tmp_path: Path) -> None:
    assert fired(tmp_path, "match: {event: transfer_failed}", [log()])
    assert not fired(tmp_path, "match: {event: transfer}", [log()])
    assert fired(tmp_path, 'match: {event: ["transfer_*"]}', [log()])
    assert not fired(tmp_path, 'match: {event: ["*_ok"]}', [log()])
    assert fired(tmp_path, 'match: {event: ["re:^trans.*fail"]}', [log()])
    assert not fired(tmp_path, 'match: {event: ["re:^fail"]}', [log()])


def test_regexes_with_groups_search_and_globs_take_the_whole_event(tmp_path: Path) -> None:
    # RE2 is asked yes or no with no groups captured: groups still group, globs still anchor.
    reason = {"data": {"failure_reason": "Fehler: Straße 5 (SIP 408)"}}
    assert fired(
        tmp_path, "match: {data: {failure_reason: {regex: '(SIP|sip) (4\\d\\d)'}}}", [log(**reason)]
    )
    assert fired(tmp_path, "match: {data: {failure_reason: {regex: 'ß. (5|6)'}}}", [log(**reason)])
    assert not fired(
        tmp_path, "match: {data: {failure_reason: {regex: '^(SIP)'}}}", [log(**reason)]
    )
    assert not fired(tmp_path, 'match: {event: ["fail*"]}', [log()])
    assert fired(tmp_path, 'match: {event: ["*fail*"]}', [log()])
    assert fired(tmp_path, 'match: {event: ["re:(fail)"]}', [log()])


def test_data_conditions(tmp_path: Path) -> None:
    cases = {
        "{code: 408}": True,
        "{code: 500}": False,
        "{code: [500, 408]}": True,
        "{failure_reason: {contains: TIMEOUT}}": True,
        "{failure_reason: {regex: 'after \\d+s$'}}": True,
        "{failure_reason: {regex: '^after'}}": False,
        "{failure_reason: {exists: true}}": True,
        "{message_text: {exists: true}}": False,
        "{message_text: {exists: false}}": True,
        "{nested.k: v}": True,
        "{code: {in: [1, 2]}}": False,
        "{failure_reason: {contains: SIP, regex: '30s'}}": True,
    }
    for condition, expected in cases.items():
        assert fired(tmp_path, f"match: {{data: {condition}}}", [log()]) is expected, condition


def test_call_conditions(tmp_path: Path) -> None:
    assert fired(tmp_path, "call: {agent_id: [ag-1, ag-2]}", [log()])
    assert not fired(tmp_path, "call: {agent_id: ag-2}", [log()])
    assert fired(tmp_path, "call: {contact.identifier: ['+34600']}", [log()])
    assert fired(tmp_path, "call: {dur: 12, status: {contains: fail}}", [log()])
    assert not fired(tmp_path, "call: {end_reason: {exists: true}}", [log()])


def test_list_fields_match_by_item_never_by_their_text(tmp_path: Path) -> None:
    tags = CallEnded(call_id=CALL.call_id, fields={"tags": ("vip", "es"), "none": ()})
    assert fired(tmp_path, "call: {tags: es}", [log()], tags)
    assert fired(tmp_path, "call: {tags: {contains: VI}}", [log()], tags)
    # The list's own text ("('vip', 'es')") must not be what is searched.
    assert not fired(tmp_path, "call: {tags: {contains: ','}}", [log()], tags)
    assert not fired(tmp_path, "call: {tags: {regex: '^\\('}}", [log()], tags)
    assert fired(tmp_path, "call: {none: {exists: false}}", [log()], tags)
    assert not fired(tmp_path, "call: {none: {exists: true}}", [log()], tags)


def test_min_matches(tmp_path: Path) -> None:
    assert not fired(tmp_path, "min_matches: 3", [log(), log()])
    assert fired(tmp_path, "min_matches: 3", [log(), log(), log()])


def test_matches_keep_log_order_and_count(tmp_path: Path) -> None:
    logs = tuple(log(event=f"transfer_{i}") for i in range(5)) + (log(category="AGENT"),)
    ruleset = rules_from(
        tmp_path,
        "destinations: {d: 'json://127.0.0.1/x'}\nrules:\n"
        "  - {name: r, notify: [d], match: {category: TRANSFER}}\n",
    )
    [match] = evaluate(ruleset, CALL, logs)
    assert [entry.event for entry in match.logs] == [f"transfer_{i}" for i in range(5)]
