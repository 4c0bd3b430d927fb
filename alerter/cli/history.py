"""`alerter history`: what was decided for recent calls, newest first.

A table on a terminal; JSON lines when piped (or with `--json`), for scripts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from typing import Any

from alerter.cli.common import since_seconds, state_redis_url, terminal_safe
from alerter.clock import Clock
from alerter.settings import Settings
from alerter.store.history import HistoryEntry
from alerter.store.ops import history

COLUMNS = (("at", 20), ("outcome", 16), ("rule", 22), ("destination", 14), ("call_id", 36))


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser("history", help="what was decided for recent calls, newest first")
    parser.add_argument("--call-id")
    parser.add_argument("--rule")
    parser.add_argument("--since", help="how far back, e.g. 1h or 2d (default: all kept)")
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--json", action="store_true", help="JSON lines, as when piped")
    parser.set_defaults(handler=_history)


def _history(settings: Settings, args: argparse.Namespace, clock: Clock) -> int:
    since = clock() - since_seconds(args.since) if args.since else None
    rows = asyncio.run(
        history(state_redis_url(settings), args.call_id, args.rule, args.limit, since)
    )
    as_json = args.json or not sys.stdout.isatty()
    if not rows:
        print("no history", file=sys.stderr if as_json else sys.stdout)
        return 0
    if as_json:
        for row in rows:
            fields = {k: v for k, v in row.fields().items() if v and k != "at"}
            print(json.dumps({"at": _when(row), **fields}))
        return 0
    print("  ".join(title.ljust(width) for title, width in COLUMNS) + "  detail")
    for row in rows:
        shown = row.fields()
        cells = [_when(row), *(shown.get(name, "") for name, _ in COLUMNS[1:])]
        line = "  ".join(
            terminal_safe(cell)[:width].ljust(width)
            for cell, (_, width) in zip(cells, COLUMNS, strict=True)
        )
        print(f"{line}  {terminal_safe(row.detail)}")
    return 0


def _when(row: HistoryEntry) -> str:
    at = datetime.fromtimestamp(row.at, UTC)
    return at.strftime("%Y-%m-%d %H:%M:%S") + "Z"
