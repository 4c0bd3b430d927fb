"""The `alerter` command."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from alerter.settings import Settings, load_settings

if TYPE_CHECKING:
    from alerter.rules.model import RuleSet

log = logging.getLogger("alerter")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    # Short commands print their results; long-running ones configure logging themselves.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
    except ValidationError as exc:
        for err in exc.errors():
            name = ".".join(str(part) for part in err["loc"])
            print(f"setting {name}: {err['msg']}", file=sys.stderr)
        return 2
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        result: int = handler(settings, args)
    except SystemExit as exc:  # raised by helpers that already said why
        return exc.code if isinstance(exc.code, int) else 1
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alerter",
        description="Alerts on failed Diga calls: webhook in, logs fetched, rules run, alerts out.",
    )
    sub = parser.add_subparsers(metavar="COMMAND")

    serve = sub.add_parser("serve", help="api and worker in one process, for one machine")
    serve.set_defaults(handler=_serve)
    api = sub.add_parser("api", help="the webhook api alone (needs REDIS_URL)")
    api.set_defaults(handler=_api)
    worker = sub.add_parser("worker", help="the worker alone (needs REDIS_URL)")
    worker.add_argument(
        "--check",
        action="store_true",
        help="exit 0 when a worker reported healthy in the last minute, else 1 (for probes)",
    )
    worker.set_defaults(handler=_worker)

    notify = sub.add_parser("notify", help="try destinations").add_subparsers(metavar="ACTION")
    notify_test = notify.add_parser(
        "test", help="send a sample alert through a destination and say whether it got through"
    )
    notify_test.add_argument("destination", help="a destination name from the rule files")
    notify_test.add_argument("--rules", type=Path, help="file or folder (default ALERTER_RULES)")
    notify_test.set_defaults(handler=_notify_test)

    rules = sub.add_parser("rules", help="check and try rule files").add_subparsers(
        metavar="ACTION"
    )
    check = rules.add_parser("check", help="validate rule files; exit 1 listing every error")
    check.add_argument("path", nargs="?", type=Path, help="file or folder (default ALERTER_RULES)")
    check.set_defaults(handler=_rules_check)
    test = rules.add_parser(
        "test", help="dry run on one call: which rules match, the rendered alerts; sends nothing"
    )
    test.add_argument("--call-id", required=True)
    test.add_argument("--logs", type=Path, help="a saved JSON page (or list) of logs: no Diga call")
    test.add_argument("--call-json", type=Path, help="a saved webhook body for the call's fields")
    test.add_argument("--rules", type=Path, help="file or folder (default ALERTER_RULES)")
    test.set_defaults(handler=_rules_test)

    schema = rules.add_parser("schema", help="print the JSON Schema of rule files (editors, CI)")
    schema.set_defaults(handler=_rules_schema)
    report = rules.add_parser(
        "report", help="per rule: calls matched, alerts sent, throttled, silenced, would-have-sent"
    )
    report.add_argument("--since", default="24h", help="how far back (default 24h)")
    report.set_defaults(handler=_rules_report)

    failed = sub.add_parser("failed", help="calls that could not be processed").add_subparsers(
        metavar="ACTION"
    )
    listing = failed.add_parser("list", help="show failed calls and why")
    listing.set_defaults(handler=_failed_list)
    retry = failed.add_parser("retry", help="queue failed calls again")
    retry.add_argument("call_id", nargs="?")
    retry.add_argument("--all", action="store_true")
    retry.set_defaults(handler=_failed_retry)

    silence = sub.add_parser("silence", help="silence alerts for a while").add_subparsers(
        metavar="ACTION"
    )
    add = silence.add_parser("add", help="silence a rule (or all) for matching calls")
    add.add_argument("--rule", help="rule name (default: every rule)")
    add.add_argument(
        "--match",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="call or log field that must equal VALUE (repeatable), e.g. agent_id=ag-1",
    )
    add.add_argument("--for", dest="duration", required=True, help="e.g. 30m, 2h, 1d")
    add.add_argument("--comment", required=True, help="why, and who")
    add.set_defaults(handler=_silence_add)
    silence_list = silence.add_parser("list", help="active silences and what they stopped")
    silence_list.add_argument("--all", action="store_true", help="include expired ones")
    silence_list.set_defaults(handler=_silence_list)
    expire = silence.add_parser("expire", help="end a silence now")
    expire.add_argument("silence_id")
    expire.set_defaults(handler=_silence_expire)

    sigs = sub.add_parser("signatures", help="the most frequent failure signatures, with counts")
    sigs.add_argument("--since", default="24h", help="how far back (default 24h, at most 7d)")
    sigs.add_argument("--limit", type=int, default=20)
    sigs.set_defaults(handler=_signatures)

    history = sub.add_parser("history", help="what was decided for recent calls, newest first")
    history.add_argument("--call-id")
    history.add_argument("--rule")
    history.add_argument("--limit", type=int, default=50)
    history.set_defaults(handler=_history)
    return parser


# ---------------------------------------------------------------- running


def _load_rules_or_exit(settings: Settings, path: Path | None = None) -> RuleSet:
    from alerter.rules.load import load_rules
    from alerter.rules.model import RulesInvalid

    try:
        return load_rules(path or settings.rules_path)
    except RulesInvalid as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        raise SystemExit(1) from None


def _require_redis(settings: Settings) -> str:
    if not settings.redis_url:
        print("REDIS_URL is required here (only `alerter serve` embeds a server)", file=sys.stderr)
        raise SystemExit(2)
    return settings.redis_url


def _long_running(settings: Settings) -> None:
    from alerter.logs import configure

    configure(settings.log_level, settings.log_format)


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from alerter.cli import serve as service

    _long_running(settings)
    return service.serve(settings)


def _api(settings: Settings, args: argparse.Namespace) -> int:
    from alerter.cli import serve as service

    redis_url = _require_redis(settings)
    _long_running(settings)
    return service.api(settings, redis_url)


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    from alerter.cli import serve as service

    redis_url = _require_redis(settings)
    if args.check:
        return service.worker_check(redis_url)
    _long_running(settings)
    return service.worker(settings, redis_url)


def _notify_test(settings: Settings, args: argparse.Namespace) -> int:
    from alerter.pipeline.dryrun import notify_test

    rules = _load_rules_or_exit(settings, args.rules)
    if args.destination not in rules.destinations:
        known = ", ".join(sorted(rules.destinations)) or "none"
        print(f"no destination {args.destination!r} (defined: {known})", file=sys.stderr)
        return 2
    ok, detail = asyncio.run(notify_test(rules.destinations[args.destination]))
    print(f"{args.destination}: {'sent' if ok else 'FAILED'}{f' ({detail})' if detail else ''}")
    return 0 if ok else 1


# ---------------------------------------------------------------- rules


def _rules_check(settings: Settings, args: argparse.Namespace) -> int:
    rules = _load_rules_or_exit(settings, args.path)
    print(
        f"ok: {len(rules.rules)} rules, {len(rules.destinations)} destinations "
        f"(version {rules.version})"
    )
    return 0


def _rules_test(settings: Settings, args: argparse.Namespace) -> int:
    from alerter.pipeline.dryrun import run_dry

    rules = _load_rules_or_exit(settings, args.rules)
    try:
        report = asyncio.run(run_dry(settings, rules, args.call_id, args.logs, args.call_json))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report)
    return 0


def _rules_schema(settings: Settings, args: argparse.Namespace) -> int:
    from alerter.rules.spec import rules_schema

    print(json.dumps(rules_schema(), indent=2))
    return 0


REPORT_COLUMNS = (
    ("matched", "calls"),
    ("sent", "sent"),
    ("throttled", "throttled"),
    ("grouped", "grouped"),
    ("silenced", "silenced"),
    ("muted", "muted"),
    ("below_threshold", "below"),
    ("shadow", "would send"),
    ("failed", "failed"),
)


def _since(text: str) -> float | None:
    from alerter.rules.noise import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        print(f"error: --since: {exc}", file=sys.stderr)
        return None


def _rules_report(settings: Settings, args: argparse.Namespace) -> int:
    import time

    from alerter.store.ops import rules_report

    since = _since(args.since)
    if since is None:
        return 2
    counts = asyncio.run(rules_report(_state_redis_url(settings), time.time() - since))
    if not counts:
        print(f"no rule decisions in the last {args.since}")
        return 0
    width = max(len(rule) for rule in counts)
    print("rule".ljust(width) + "".join(f"  {title:>10}" for _, title in REPORT_COLUMNS))
    for rule in sorted(counts):
        row = counts[rule]
        print(rule.ljust(width) + "".join(f"  {row.get(key, 0):>10}" for key, _ in REPORT_COLUMNS))
    return 0


# ---------------------------------------------------------------- operator state


def _state_redis_url(settings: Settings) -> str:
    from alerter.store.embedded import recorded_url

    url = settings.redis_url or recorded_url(settings.state_dir)
    if not url:
        print(
            "no Redis: set REDIS_URL, or run this where `alerter serve` is running",
            file=sys.stderr,
        )
        raise SystemExit(2)
    return url


def _failed_list(settings: Settings, args: argparse.Namespace) -> int:
    from alerter.store.ops import failed_calls

    rows = asyncio.run(failed_calls(_state_redis_url(settings)))
    if not rows:
        print("no failed calls")
        return 0
    for failed in rows:
        when = datetime.fromtimestamp(failed.at, UTC).strftime("%Y-%m-%d %H:%M:%S")
        print(
            f"{failed.call.call_id}  {when}Z  {failed.kind}  "
            f"tries={failed.attempts}  {failed.reason}"
        )
    return 0


def _failed_retry(settings: Settings, args: argparse.Namespace) -> int:
    from alerter.store.ops import retry_failed

    if not args.all and not args.call_id:
        print("give a call id or --all", file=sys.stderr)
        return 2
    queued, missing = asyncio.run(
        retry_failed(_state_redis_url(settings), None if args.all else args.call_id)
    )
    for call_id in queued:
        print(f"queued {call_id}")
    for call_id in missing:
        print(f"not a failed call: {call_id}", file=sys.stderr)
    return 1 if missing else 0


def _history(settings: Settings, args: argparse.Namespace) -> int:
    from alerter.store.ops import history

    rows = asyncio.run(history(_state_redis_url(settings), args.call_id, args.rule, args.limit))
    for row in rows:
        when = datetime.fromtimestamp(float(row.get("at", 0)), UTC).strftime("%Y-%m-%d %H:%M:%S")
        print(json.dumps({"at": when + "Z", **{k: v for k, v in row.items() if v and k != "at"}}))
    if not rows:
        print("no history")
    return 0


def _signatures(settings: Settings, args: argparse.Namespace) -> int:
    import time

    from alerter.store.ops import top_signatures

    since = _since(args.since)
    if since is None:
        return 2
    now = time.time()
    rows = asyncio.run(top_signatures(_state_redis_url(settings), now - since, now, args.limit))
    if not rows:
        print("no failure signatures recorded")
    for text, count, example in rows:
        print(f"{count:>8}  {text}")
        if example:
            print(f"{'':>8}  e.g. {example}")
    return 0


def _silence_add(settings: Settings, args: argparse.Namespace) -> int:
    import time

    from alerter.rules.noise import parse_duration
    from alerter.store.ops import add_silence

    try:
        seconds = parse_duration(args.duration)
        matchers = dict(_matcher(text) for text in args.match)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not args.rule and not matchers:
        print("error: give --rule or at least one --match", file=sys.stderr)
        return 2
    now = time.time()
    silence = asyncio.run(
        add_silence(
            _state_redis_url(settings), args.rule, matchers, now, now + seconds, args.comment
        )
    )
    ends = datetime.fromtimestamp(silence.ends, UTC).strftime("%Y-%m-%d %H:%M:%S")
    print(f"silence {silence.id} until {ends}Z")
    return 0


def _matcher(text: str) -> tuple[str, str]:
    field, sep, value = text.partition("=")
    if not sep or not field:
        raise ValueError(f"--match {text!r} must be FIELD=VALUE")
    return field.strip(), value.strip()


def _silence_list(settings: Settings, args: argparse.Namespace) -> int:
    import time

    from alerter.store.ops import silences

    now = time.time()
    rows = [
        s for s in asyncio.run(silences(_state_redis_url(settings))) if args.all or s.ends > now
    ]
    if not rows:
        print("no silences")
    for s in rows:
        ends = datetime.fromtimestamp(s.ends, UTC).strftime("%Y-%m-%d %H:%M:%S")
        state = "active" if s.starts <= now < s.ends else "expired"
        matchers = " ".join(f"{k}={v}" for k, v in s.matchers.items()) or "-"
        print(
            f"{s.id}  {state}  until {ends}Z  rule={s.rule or '*'}  {matchers}  "
            f"silenced={s.hits}  {s.comment}"
        )
    return 0


def _silence_expire(settings: Settings, args: argparse.Namespace) -> int:
    from alerter.store.ops import expire_silence

    if asyncio.run(expire_silence(_state_redis_url(settings), args.silence_id)):
        print(f"silence {args.silence_id} expired")
        return 0
    print(f"no silence {args.silence_id}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
