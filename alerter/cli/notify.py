"""`alerter notify test NAME`: a sample alert through one destination."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from redis.exceptions import RedisError

from alerter.cli.common import actor_of, add_actor, load_rules_or_exit
from alerter.clock import Clock
from alerter.operations import OperatorActions
from alerter.replay.dryrun import notify_test
from alerter.rules.model import RuleSet
from alerter.settings import Settings
from alerter.store.embedded import recorded_url


def register(sub: argparse._SubParsersAction[Any]) -> None:
    notify = sub.add_parser("notify", help="try destinations").add_subparsers(metavar="ACTION")
    test = notify.add_parser(
        "test", help="send a sample alert through a destination and say whether it got through"
    )
    test.add_argument("destination", help="a destination name from the rule files")
    test.add_argument("--rules", type=Path, help="file or folder (default ALERTER_RULES)")
    add_actor(test)
    test.set_defaults(handler=_notify_test)


def _notify_test(settings: Settings, args: argparse.Namespace, clock: Clock) -> int:
    rules = load_rules_or_exit(settings, args.rules)
    if args.destination not in rules.destinations:
        known = ", ".join(sorted(rules.destinations)) or "none"
        print(f"no destination {args.destination!r} (defined: {known})", file=sys.stderr)
        return 2
    ok, detail = asyncio.run(_send(settings, rules, args.destination, actor_of(args), clock))
    print(f"{args.destination}: {'sent' if ok else 'FAILED'}{f' ({detail})' if detail else ''}")
    return 0 if ok else 1


async def _send(
    settings: Settings, rules: RuleSet, name: str, actor: str, clock: Clock
) -> tuple[bool, str]:
    """Through the operator actions (audited) when this machine's state is reachable; the
    test still goes out when it is not (it needs no state), saying it was not audited."""
    url = settings.redis_url or recorded_url(settings.state_dir)
    if url is not None:
        async with OperatorActions.connected(settings, url, clock=clock) as actions:
            try:
                await actions.redis.ping()
            except (RedisError, OSError):
                print("warning: Redis does not answer; this test is not audited", file=sys.stderr)
            else:
                return await actions.send_test(actor, rules, name)
    return await notify_test(rules.destinations[name], settings.slack_api_url)
