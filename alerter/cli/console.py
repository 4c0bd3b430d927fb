"""`alerter console token add | list | revoke`: who may use the console and its API."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from typing import Any

from alerter.cli.common import actor_of, add_actor, state_redis_url, terminal_safe
from alerter.clock import Clock
from alerter.operations import OperatorActions
from alerter.settings import Settings
from alerter.store.console_auth import ROLES, TokenInfo


def register(sub: argparse._SubParsersAction[Any]) -> None:
    console = sub.add_parser(
        "console", help="the web console (/ui/) and its JSON API (/api/v1/)"
    ).add_subparsers(metavar="ACTION")
    token = console.add_parser("token", help="API and sign-in tokens").add_subparsers(
        metavar="ACTION"
    )
    add = token.add_parser("add", help="make a token (printed once; only its hash is kept)")
    add.add_argument("name", help="who or what uses it, e.g. alice or grafana")
    add.add_argument("--role", choices=ROLES, default="viewer")
    add_actor(add)
    add.set_defaults(handler=_add)
    listing = token.add_parser("list", help="names and roles of the tokens")
    listing.set_defaults(handler=_list)
    revoke = token.add_parser("revoke", help="revoke a token; its sessions end too")
    revoke.add_argument("name")
    add_actor(revoke)
    revoke.set_defaults(handler=_revoke)


def _acting(settings: Settings, clock: Clock, work: Any) -> Any:
    """Run `work(actions)` on the state's Redis (found first: exits 2 without one)."""
    url = state_redis_url(settings)

    async def run() -> Any:
        async with OperatorActions.connected(settings, url, clock=clock) as actions:
            return await work(actions)

    return asyncio.run(run())


def _add(settings: Settings, args: argparse.Namespace, clock: Clock) -> int:
    try:
        token = _acting(
            settings, clock, lambda a: a.add_token(actor_of(args), args.name, args.role)
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(token)
    print(
        f"token for {terminal_safe(args.name)} ({args.role}): shown once, keep it now",
        file=sys.stderr,
    )
    return 0


def _list(settings: Settings, args: argparse.Namespace, clock: Clock) -> int:
    tokens: list[TokenInfo] = _acting(settings, clock, lambda a: a.tokens.tokens())
    if not tokens:
        print("no tokens")
    for info in tokens:
        made = datetime.fromtimestamp(info.created, UTC).strftime("%Y-%m-%d %H:%M")
        print(f"{terminal_safe(info.name)}  {info.role}  made {made}Z")
    return 0


def _revoke(settings: Settings, args: argparse.Namespace, clock: Clock) -> int:
    gone = _acting(settings, clock, lambda a: a.revoke_token(actor_of(args), args.name))
    if not gone:
        print(f"no token named {terminal_safe(args.name)!r}", file=sys.stderr)
        return 1
    print(f"revoked {terminal_safe(args.name)}")
    return 0
