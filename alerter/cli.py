"""The `alerter` command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from alerter.settings import Settings, load_settings

if TYPE_CHECKING:
    import uvicorn
    from litestar import Litestar

    from alerter.rules import RuleSet

log = logging.getLogger("alerter")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # httpx logs every request URL at INFO; keep the worker's log about calls, not requests.
    logging.getLogger("httpx").setLevel(logging.WARNING)
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
    worker.set_defaults(handler=_worker)

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

    history = sub.add_parser("history", help="what was decided for recent calls, newest first")
    history.add_argument("--call-id")
    history.add_argument("--rule")
    history.add_argument("--limit", type=int, default=50)
    history.set_defaults(handler=_history)
    return parser


# ---------------------------------------------------------------- running


def _load_rules_or_exit(settings: Settings, path: Path | None = None) -> RuleSet:
    from alerter.rules import RulesInvalid, load_rules

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


def _warn_setup(settings: Settings) -> None:
    if settings.diga_api_key is None:
        log.warning("DIGA_API_KEY is not set: Diga will refuse to give logs")
    if settings.webhook_secret is None:
        log.warning("ALERTER_WEBHOOK_SECRET is not set: webhooks are accepted unsigned")


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from alerter.embedded import URL_FILE, EmbeddedServer
    from alerter.rules import RulesInvalid, load_rules

    # One machine, often a first try: invalid rules are reported, and the api still
    # queues webhooks (nothing lost) while /ready says why no worker runs.
    rules: RuleSet | None
    try:
        rules = load_rules(settings.rules_path)
    except RulesInvalid as exc:
        for error in exc.errors:
            log.error("%s", error)
        log.error("rules are invalid: webhooks are queued, not processed; fix them and restart")
        rules = None
    _warn_setup(settings)
    if settings.redis_url:
        asyncio.run(_serve_both(settings, rules, settings.redis_url))
        return 0
    url_file = settings.state_dir / URL_FILE
    with EmbeddedServer(settings.state_dir / "data") as server:
        log.info("embedded server at %s (data in %s)", server.url, server.data_dir)
        url_file.write_text(server.url + "\n")
        try:
            asyncio.run(_serve_both(settings, rules, server.url))
        finally:
            url_file.unlink(missing_ok=True)
    return 0


def _http_server(app: Litestar, settings: Settings) -> uvicorn.Server:
    import uvicorn

    class Server(uvicorn.Server):
        # uvicorn re-raises SIGTERM after shutting down, so the process would die by the
        # signal; `runner.stop_on_signals` handles them and we exit 0 after a clean stop.
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning")
    return Server(config)


async def _serve_both(settings: Settings, rules: RuleSet | None, redis_url: str) -> None:
    from alerter.api import create_app
    from alerter.runner import run_worker, stop_on_signals
    from alerter.worker import make_worker

    server = _http_server(create_app(settings, redis_url, rules), settings)
    stop = asyncio.Event()
    stop_on_signals(stop, lambda: setattr(server, "should_exit", True))
    log.info("listening on http://%s:%d", settings.host, settings.port)
    if rules is None:
        await server.serve()
        return
    worker_ruleset = rules
    await asyncio.gather(
        server.serve(),
        run_worker(lambda: make_worker(settings, worker_ruleset, redis_url), stop),
    )


def _api(settings: Settings, args: argparse.Namespace) -> int:
    from alerter.api import create_app
    from alerter.runner import stop_on_signals

    redis_url = _require_redis(settings)
    rules = _load_rules_or_exit(settings)
    _warn_setup(settings)

    async def run() -> None:
        server = _http_server(create_app(settings, redis_url, rules), settings)
        stop_on_signals(asyncio.Event(), lambda: setattr(server, "should_exit", True))
        await server.serve()

    asyncio.run(run())
    return 0


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    from alerter.runner import run_worker, stop_on_signals
    from alerter.worker import make_worker

    redis_url = _require_redis(settings)
    rules = _load_rules_or_exit(settings)
    _warn_setup(settings)

    async def run() -> None:
        stop = asyncio.Event()
        stop_on_signals(stop)
        await run_worker(lambda: make_worker(settings, rules, redis_url), stop)

    asyncio.run(run())
    return 0


# ---------------------------------------------------------------- rules


def _rules_check(settings: Settings, args: argparse.Namespace) -> int:
    rules = _load_rules_or_exit(settings, args.path)
    print(
        f"ok: {len(rules.rules)} rules, {len(rules.destinations)} destinations "
        f"(version {rules.version})"
    )
    return 0


def _rules_test(settings: Settings, args: argparse.Namespace) -> int:
    from alerter.dryrun import run_dry

    rules = _load_rules_or_exit(settings, args.rules)
    try:
        report = asyncio.run(run_dry(settings, rules, args.call_id, args.logs, args.call_json))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report)
    return 0


# ---------------------------------------------------------------- operator state


def _state_redis_url(settings: Settings) -> str:
    from alerter.embedded import recorded_url

    url = settings.redis_url or recorded_url(settings.state_dir)
    if not url:
        print(
            "no Redis: set REDIS_URL, or run this where `alerter serve` is running",
            file=sys.stderr,
        )
        raise SystemExit(2)
    return url


def _failed_list(settings: Settings, args: argparse.Namespace) -> int:
    from alerter.ops import failed_calls

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
    from alerter.ops import retry_failed

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
    from alerter.ops import history

    rows = asyncio.run(history(_state_redis_url(settings), args.call_id, args.rule, args.limit))
    for row in rows:
        when = datetime.fromtimestamp(float(row.get("at", 0)), UTC).strftime("%Y-%m-%d %H:%M:%S")
        print(json.dumps({"at": when + "Z", **{k: v for k, v in row.items() if v and k != "at"}}))
    if not rows:
        print("no history")
    return 0


def _silence_add(settings: Settings, args: argparse.Namespace) -> int:
    import time

    from alerter.noise import parse_duration
    from alerter.ops import add_silence

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

    from alerter.ops import silences

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
    from alerter.ops import expire_silence

    if asyncio.run(expire_silence(_state_redis_url(settings), args.silence_id)):
        print(f"silence {args.silence_id} expired")
        return 0
    print(f"no silence {args.silence_id}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
