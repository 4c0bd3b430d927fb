"""`alerter history`: what was decided for recent calls, newest first."""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from alerter.cli.common import state_redis_url
from alerter.settings import Settings
from alerter.store.ops import history


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser("history", help="what was decided for recent calls, newest first")
    parser.add_argument("--call-id")
    parser.add_argument("--rule")
    parser.add_argument("--limit", type=int, default=50)
    parser.set_defaults(handler=_history)


def _history(settings: Settings, args: argparse.Namespace) -> int:
    rows = asyncio.run(history(state_redis_url(settings), args.call_id, args.rule, args.limit))
    for row in rows:
        when = datetime.fromtimestamp(float(row.get("at", 0)), UTC).strftime("%Y-%m-%d %H:%M:%S")
        print(json.dumps({"at": when + "Z", **{k: v for k, v in row.items() if v and k != "at"}}))
    if not rows:
        print("no history")
    return 0
