"""How `alerter rules backtest` prints a backtest's typed result (the replay only counts)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from alerter.cli.replay_text import backtest_text
from alerter.http.console.schema import backtest_json
from alerter.replay.simulate import Backtest, RuleDay, RuleResult

SINCE = datetime(2026, 11, 1, 8, 30, tzinfo=UTC).timestamp()
UNTIL = datetime(2026, 11, 3, 9, 0, tzinfo=UTC).timestamp()
REPORT = Backtest(
    since=SINCE,
    until=UNTIL,
    calls=120,
    fetched=40,
    unfetched=2,
    rules=(
        RuleResult(
            "transfer-failed",
            (
                RuleDay("2026-11-01", 12, 3, (("throttled", 9),), (("agent_id=a1", 7),)),
                RuleDay("2026-11-02", 4, 1, (), ()),
            ),
        ),
        RuleResult("quiet", ()),
    ),
    notes=("2 calls' logs could not be fetched",),
)


def test_backtest_prints_per_rule_and_day_with_totals() -> None:
    assert backtest_text(REPORT).splitlines() == [
        "backtest: 120 calls that ended 2026-11-01 08:30 – 2026-11-03 09:00 UTC; "
        "logs fetched for 40 (2 could not be)",
        "nothing was sent and no counter was touched",
        "",
        "transfer-failed",
        "  day         matched  alerts  suppressed / top groups",
        "  2026-11-01       12       3  throttled 9; agent_id=a1 (7)",
        "  2026-11-02        4       1  ",
        "  total            16       4",
        "",
        "quiet",
        "  no call matched",
        "",
        "note: 2 calls' logs could not be fetched",
    ]


def test_backtest_json_is_the_apis_shape() -> None:
    shown = json.loads(json.dumps(backtest_json(REPORT)))
    assert shown["rules"][0] == {
        "rule": "transfer-failed",
        "matched": 16,
        "alerts": 4,
        "days": [
            {
                "day": "2026-11-01",
                "matched": 12,
                "alerts": 3,
                "suppressed": {"throttled": 9},
                "top_groups": [{"group": "agent_id=a1", "calls": 7}],
            },
            {"day": "2026-11-02", "matched": 4, "alerts": 1, "suppressed": {}, "top_groups": []},
        ],
    }
    assert (shown["calls"], shown["unfetched"], shown["notes"]) == (120, 2, list(REPORT.notes))
