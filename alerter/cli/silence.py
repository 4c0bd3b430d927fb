"""`alerter silence add | list | expire`."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime
from typing import Any

from alerter.cli.common import state_redis_url, terminal_safe
from alerter.rules.noise import parse_duration
from alerter.settings import Settings
from alerter.store.ops import add_silence, expire_silence, silences


def register(sub: argparse._SubParsersAction[Any]) -> None:
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
    add.set_defaults(handler=_add)
    listing = silence.add_parser("list", help="active silences and what they stopped")
    listing.add_argument("--all", action="store_true", help="include expired ones")
    listing.set_defaults(handler=_list)
    expire = silence.add_parser("expire", help="end a silence now")
    expire.add_argument("silence_id")
    expire.set_defaults(handler=_expire)


def _add(settings: Settings, args: argparse.Namespace) -> int:
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
            state_redis_url(settings), args.rule, matchers, now, now + seconds, args.comment
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


def _list(settings: Settings, args: argparse.Namespace) -> int:
    now = time.time()
    rows = [
        s for s in asyncio.run(silences(state_redis_url(settings))) if args.all or s.ends > now
    ]
    if not rows:
        print("no silences")
    for s in rows:
        ends = datetime.fromtimestamp(s.ends, UTC).strftime("%Y-%m-%d %H:%M:%S")
        state = "active" if s.starts <= now < s.ends else "expired"
        matchers = " ".join(f"{k}={v}" for k, v in s.matchers.items()) or "-"
        print(
            terminal_safe(
                f"{s.id}  {state}  until {ends}Z  rule={s.rule or '*'}  {matchers}  "
                f"silenced={s.hits}  {s.comment}"
            )
        )
    return 0


def _expire(settings: Settings, args: argparse.Namespace) -> int:
    if asyncio.run(expire_silence(state_redis_url(settings), args.silence_id)):
        print(f"silence {args.silence_id} expired")
        return 0
    print(f"no silence {args.silence_id}", file=sys.stderr)
    return 1
