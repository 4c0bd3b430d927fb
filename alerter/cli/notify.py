"""`alerter notify test NAME`: a sample alert through one destination."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from alerter.cli.common import load_rules_or_exit
from alerter.pipeline.dryrun import notify_test
from alerter.settings import Settings


def register(sub: argparse._SubParsersAction[Any]) -> None:
    notify = sub.add_parser("notify", help="try destinations").add_subparsers(metavar="ACTION")
    test = notify.add_parser(
        "test", help="send a sample alert through a destination and say whether it got through"
    )
    test.add_argument("destination", help="a destination name from the rule files")
    test.add_argument("--rules", type=Path, help="file or folder (default ALERTER_RULES)")
    test.set_defaults(handler=_notify_test)


def _notify_test(settings: Settings, args: argparse.Namespace) -> int:
    rules = load_rules_or_exit(settings, args.rules)
    if args.destination not in rules.destinations:
        known = ", ".join(sorted(rules.destinations)) or "none"
        print(f"no destination {args.destination!r} (defined: {known})", file=sys.stderr)
        return 2
    destination = rules.destinations[args.destination]
    ok, detail = asyncio.run(notify_test(destination, settings.slack_api_url))
    print(f"{args.destination}: {'sent' if ok else 'FAILED'}{f' ({detail})' if detail else ''}")
    return 0 if ok else 1
