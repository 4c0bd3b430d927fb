"""`alerter rules check | test | schema | report`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from alerter.cli.common import (
    load_rules_or_exit,
    since_seconds,
    state_redis_url,
    terminal_safe,
)
from alerter.cli.replay_text import backtest_text, dry_run_text
from alerter.clock import Clock
from alerter.http.console.schema import backtest_json
from alerter.http.intake import Ignored, IntakeError, parse_webhook
from alerter.models import CallEnded, LogEntry, LogsInvalid, parse_logs, parse_page
from alerter.replay.backtest import BacktestRequest, parse_rate, run_backtest
from alerter.replay.dryrun import run_dry
from alerter.rules.advice import group_by_warnings
from alerter.rules.load import unset_variables
from alerter.rules.spec import rules_schema
from alerter.settings import Settings
from alerter.store.embedded import recorded_url
from alerter.store.ops import rules_report

REPORT_COLUMNS = (
    ("matched", "calls"),
    ("sent", "sent"),
    ("throttled", "throttled"),
    ("grouped", "grouped"),
    ("silenced", "silenced"),
    ("muted", "muted"),
    ("below_threshold", "below"),
    ("correlated", "correlated"),
    ("shadow", "would send"),
    ("failed", "failed"),
)


def register(sub: argparse._SubParsersAction[Any]) -> None:
    rules = sub.add_parser("rules", help="check and try rule files").add_subparsers(
        metavar="ACTION"
    )
    check = rules.add_parser("check", help="validate rule files; exit 1 listing every error")
    check.add_argument("path", nargs="?", type=Path, help="file or folder (default ALERTER_RULES)")
    check.add_argument(
        "--env-optional",
        action="store_true",
        help="check everything but destinations whose ${VAR} is unset (CI without secrets)",
    )
    check.set_defaults(handler=_check)
    test = rules.add_parser(
        "test", help="dry run on one call: which rules match, the rendered alerts; sends nothing"
    )
    test.add_argument("--call-id", required=True)
    test.add_argument("--logs", type=Path, help="a saved JSON page (or list) of logs: no Diga call")
    test.add_argument("--call-json", type=Path, help="a saved webhook body for the call's fields")
    test.add_argument("--rules", type=Path, help="file or folder (default ALERTER_RULES)")
    test.set_defaults(handler=_test)
    schema = rules.add_parser("schema", help="print the JSON Schema of rule files (editors, CI)")
    schema.set_defaults(handler=_schema)
    report = rules.add_parser(
        "report", help="per rule: calls matched, alerts sent, throttled, silenced, would-have-sent"
    )
    report.add_argument("--since", default="24h", help="how far back (default 24h)")
    report.set_defaults(handler=_report)
    backtest = rules.add_parser(
        "backtest",
        help="replay rules on the calls of a past period: per rule and day, calls matched and "
        "alerts that would have been sent; sends nothing",
    )
    backtest.add_argument(
        "path", nargs="?", type=Path, help="file or folder (default ALERTER_RULES)"
    )
    backtest.add_argument("--rule", help="only this rule")
    backtest.add_argument("--since", required=True, help="how far back, e.g. 7d or 12h")
    backtest.add_argument(
        "--max-calls",
        type=int,
        default=1000,
        help="the newest N calls of the period (default 1000)",
    )
    backtest.add_argument(
        "--rate",
        default="5/s",
        help="calls whose logs are fetched from Diga a second (default 5/s)",
    )
    backtest.add_argument("--json", action="store_true", help="the report as JSON")
    backtest.set_defaults(handler=_backtest)


def _check(settings: Settings, args: argparse.Namespace, clock: Clock) -> int:
    rules = load_rules_or_exit(settings, args.path, unset_ok=args.env_optional)
    for warning in group_by_warnings(rules):
        print(warning, file=sys.stderr)
    print(
        f"ok: {len(rules.rules)} rules, {len(rules.destinations)} destinations "
        f"(version {rules.version})"
    )
    if args.env_optional and (unset := unset_variables(args.path or settings.rules_path)):
        print(f"not set, so their URLs were not checked: {', '.join(unset)}")
    return 0


def _test(settings: Settings, args: argparse.Namespace, clock: Clock) -> int:
    rules = load_rules_or_exit(settings, args.rules)
    try:
        call = _call(args.call_id, args.call_json, settings)
        logs = _read_logs(args.logs) if args.logs else None
        # Without a saved webhook: the fields alerter kept when the call ended, if any.
        kept = None if args.call_json else settings.redis_url or recorded_url(settings.state_dir)
        dry = asyncio.run(run_dry(settings, rules, call, logs, kept))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(terminal_safe(dry_run_text(dry, rules), lines=True))
    return 0


def _call(call_id: str, call_file: Path | None, settings: Settings) -> CallEnded:
    """The call as the intake would parse it: from the id alone, or a saved webhook body."""
    try:
        if call_file is None:
            parsed = parse_webhook(json.dumps({"call_id": call_id}).encode(), frozenset())
        else:
            parsed = parse_webhook(call_file.read_bytes(), settings.call_end_events)
    except IntakeError as exc:
        raise ValueError(f"{call_file or 'call id'}: {exc}") from None
    except OSError as exc:
        raise ValueError(f"{call_file}: {exc.strerror}") from None
    if isinstance(parsed, Ignored):
        raise ValueError(f"{call_file}: event {parsed.event!r} is not a call end")
    if parsed.call_id != call_id:
        raise ValueError(
            f"{call_file} is the webhook of call {parsed.call_id}, not of --call-id {call_id}"
        )
    return parsed


def _read_logs(path: Path) -> tuple[LogEntry, ...]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{path}: {exc.strerror}") from None
    try:
        return parse_page(raw).data
    except LogsInvalid:
        pass
    try:
        return parse_logs(json.loads(raw))
    except ValueError as exc:  # LogsInvalid, or not JSON at all
        raise ValueError(f"{path}: not a page or list of Diga logs ({exc})") from None


def _schema(settings: Settings, args: argparse.Namespace, clock: Clock) -> int:
    print(json.dumps(rules_schema(), indent=2))
    return 0


def _report(settings: Settings, args: argparse.Namespace, clock: Clock) -> int:
    since = since_seconds(args.since)
    counts = asyncio.run(rules_report(state_redis_url(settings), clock() - since))
    if not counts:
        print(f"no rule decisions in the last {args.since}")
        return 0
    width = max(len(rule) for rule in counts)
    print("rule".ljust(width) + "".join(f"  {title:>10}" for _, title in REPORT_COLUMNS))
    for rule in sorted(counts):
        row = counts[rule]
        print(rule.ljust(width) + "".join(f"  {row.get(key, 0):>10}" for key, _ in REPORT_COLUMNS))
    return 0


def _backtest(settings: Settings, args: argparse.Namespace, clock: Clock) -> int:
    rules = load_rules_or_exit(settings, args.path)
    try:
        request = BacktestRequest(
            since=since_seconds(args.since),
            max_calls=max(1, args.max_calls),
            rate=parse_rate(args.rate),
            rule=args.rule,
        )
        report = asyncio.run(
            run_backtest(settings, state_redis_url(settings), rules, request, clock)
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(backtest_json(report), indent=2))
    else:
        print(terminal_safe(backtest_text(report), lines=True))
    return 0
