"""`alerter failed list | retry`: calls that gave up, and queueing them again."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from typing import Any

from alerter.cli.common import actor_of, add_actor, state_redis_url, terminal_safe
from alerter.clock import Clock
from alerter.operations import ActionError, OperatorActions
from alerter.settings import Settings
from alerter.store.ops import failed_calls


def register(sub: argparse._SubParsersAction[Any]) -> None:
    failed = sub.add_parser("failed", help="calls that could not be processed").add_subparsers(
        metavar="ACTION"
    )
    listing = failed.add_parser(
        "list", help="show failed calls and why (a send: its rule, destination, host, answer)"
    )
    listing.set_defaults(handler=_list)
    retry = failed.add_parser(
        "retry", help="queue failed calls again (a call whose sends gave up: only those sends)"
    )
    retry.add_argument("call_id", nargs="?")
    retry.add_argument("--all", action="store_true")
    add_actor(retry)
    retry.set_defaults(handler=_retry)


def _list(settings: Settings, args: argparse.Namespace, clock: Clock) -> int:
    rows = asyncio.run(failed_calls(state_redis_url(settings)))
    if not rows:
        print("no failed calls")
        return 0
    for failed in rows:
        when = datetime.fromtimestamp(failed.at, UTC).strftime("%Y-%m-%d %H:%M:%S")
        head = (
            f"{failed.call.call_id}  {when}Z  {terminal_safe(failed.kind)}  tries={failed.attempts}"
        )
        if not failed.sends:
            print(f"{head}  {terminal_safe(failed.reason)}")
            continue
        # One line per send that gave up: its rule, then why (destination, host, answer).
        for send in failed.sends:
            print(f"{head}  {terminal_safe(send.rule)}  {terminal_safe(send.reason)}")
    return 0


def _retry(settings: Settings, args: argparse.Namespace, clock: Clock) -> int:
    if not args.all and not args.call_id:
        print("give a call id or --all", file=sys.stderr)
        return 2
    url = state_redis_url(settings)

    async def retry() -> list[str]:
        async with OperatorActions.connected(settings, url, clock=clock) as actions:
            return await actions.retry(actor_of(args), None if args.all else args.call_id)

    try:
        queued = asyncio.run(retry())
    except ActionError:
        print(f"not a failed call: {terminal_safe(args.call_id)}", file=sys.stderr)
        return 1
    for call_id in queued:
        print(f"queued {call_id}")
    return 0
