"""`alerter signatures`: the most frequent kinds of failure, with counts and an example."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from alerter.cli.common import since_seconds, state_redis_url, terminal_safe
from alerter.clock import Clock
from alerter.settings import Settings
from alerter.store.ops import top_signatures


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser("signatures", help="the most frequent failure signatures, with counts")
    parser.add_argument("--since", default="24h", help="how far back (default 24h, at most 7d)")
    parser.add_argument("--limit", type=int, default=20)
    parser.set_defaults(handler=_signatures)


def _signatures(settings: Settings, args: argparse.Namespace, clock: Clock) -> int:
    since = since_seconds(args.since)
    now = clock()
    rows = asyncio.run(top_signatures(state_redis_url(settings), now - since, now, args.limit))
    if not rows:
        print("no failure signatures recorded")
    for text, count, example in rows:
        print(f"{count:>8}  {terminal_safe(text)}")
        if example:
            print(f"{'':>8}  e.g. {terminal_safe(example)}")
    return 0
