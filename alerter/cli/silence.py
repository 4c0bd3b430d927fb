"""`alerter silence add | list | expire`."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from datetime import UTC, datetime
from typing import Any

from alerter.cli.common import actor_of, add_actor, state_redis_url, terminal_safe
from alerter.clock import Clock
from alerter.durations import parse_duration
from alerter.operations import ActionError, OperatorActions, SilenceRequest, silence_end
from alerter.rules.load import load_rules
from alerter.rules.matchers import parse_matcher
from alerter.rules.messages import did_you_mean
from alerter.rules.model import RuleSet, RulesInvalid
from alerter.settings import Settings
from alerter.store.ops import silences
from alerter.store.silences import Silence


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
        metavar="MATCHER",
        help="FIELD=VALUE, FIELD!=VALUE, FIELD=~REGEX or FIELD!~REGEX on a call or log field "
        "(repeatable), e.g. agent_id=ag-1",
    )
    add.add_argument("--for", dest="duration", required=True, help="with a unit: 30m, 2h, 1d")
    add.add_argument("--comment", required=True, help="why, and who")
    add_actor(add)
    add.set_defaults(handler=_add)
    listing = silence.add_parser("list", help="active silences and what they stopped")
    listing.add_argument("--all", action="store_true", help="include expired ones")
    listing.set_defaults(handler=_list)
    expire = silence.add_parser("expire", help="end a silence now")
    expire.add_argument("silence_id")
    add_actor(expire)
    expire.set_defaults(handler=_expire)


def _add(settings: Settings, args: argparse.Namespace, clock: Clock) -> int:
    try:
        seconds = _duration(args.duration)
        matchers = [parse_matcher(text) for text in args.match]
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not args.rule and not matchers:
        print("error: give --rule or at least one --match", file=sys.stderr)
        return 2
    try:
        rules = load_rules(settings.rules_path)
    except RulesInvalid:
        rules = None
        print("warning: the rules do not load; --rule and fields not checked", file=sys.stderr)
    if rules is not None:
        if args.rule and args.rule not in rules.by_name:
            print(
                f"error: no rule {args.rule!r}{did_you_mean(args.rule, rules.by_name)}",
                file=sys.stderr,
            )
            return 2
        known = known_fields(rules)
        for matcher in matchers:
            if matcher.name not in known and not matcher.name.startswith("data."):
                print(
                    f"warning: no rule uses the field {matcher.name!r} and it is not a log "
                    "or usual call field: check that your webhooks carry it",
                    file=sys.stderr,
                )
    try:
        # The end is checked before Redis is looked for: a bad --for is the user's to fix.
        now = clock()
        wanted = SilenceRequest(
            args.rule, tuple(matchers), args.comment, silence_end(now, seconds, now)
        )
        url = state_redis_url(settings)
        silence = asyncio.run(_add_silence(settings, url, actor_of(args), wanted, clock))
    except ActionError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    ends = datetime.fromtimestamp(silence.ends, UTC).strftime("%Y-%m-%d %H:%M:%S")
    print(f"silence {silence.id} until {ends}Z")
    return 0


async def _add_silence(
    settings: Settings, url: str, actor: str, wanted: SilenceRequest, clock: Clock
) -> Silence:
    async with OperatorActions.connected(settings, url, clock=clock) as actions:
        return await actions.add_silence(actor, wanted)


_WITH_UNIT = re.compile(r"^\s*\d+(?:\.\d+)?\s*(?:ms|s|m|h|d)\s*$")
# Fields Diga's call-ended webhooks usually carry, kept under these names (see the intake).
CALL_FIELDS = frozenset(
    {"agent_id", "status", "end_reason", "duration", "contact.identifier", "recording_url"}
)


def _duration(text: str) -> float:
    """A duration with its unit: `--for 90` could mean 90 s or 90 minutes, so it is refused."""
    if not _WITH_UNIT.match(text):
        raise ValueError(f"--for {text!r}: give a unit, like 90m, 2h or 1d")
    return parse_duration(text)


def known_fields(rules: RuleSet) -> frozenset[str]:
    """Fields a silence can sensibly match: log fields, usual call fields, and every field a
    rule groups by or tests on the call."""
    named = {name for rule in rules.rules for name in rule.noise.group_by}
    named |= {".".join(c.path) for rule in rules.rules for c in rule.call}
    return frozenset({"event", "category", "level", "trace_id"} | CALL_FIELDS | named)


def _list(settings: Settings, args: argparse.Namespace, clock: Clock) -> int:
    now = clock()
    rows = [s for s in asyncio.run(silences(state_redis_url(settings))) if args.all or s.ends > now]
    if not rows:
        print("no silences")
    for s in rows:
        ends = datetime.fromtimestamp(s.ends, UTC).strftime("%Y-%m-%d %H:%M:%S")
        state = "active" if s.starts <= now < s.ends else "expired"
        matchers = " ".join(str(m) for m in s.matchers) or "-"
        print(
            terminal_safe(
                f"{s.id}  {state}  until {ends}Z  rule={s.rule or '*'}  {matchers}  "
                f"silenced={s.hits}  {s.comment}"
            )
        )
    return 0


def _expire(settings: Settings, args: argparse.Namespace, clock: Clock) -> int:
    url = state_redis_url(settings)

    async def expire() -> Silence:
        async with OperatorActions.connected(settings, url, clock=clock) as actions:
            return await actions.expire_silence(actor_of(args), args.silence_id)

    try:
        asyncio.run(expire())
    except ActionError:
        print(f"no silence {terminal_safe(args.silence_id)}", file=sys.stderr)
        return 1
    print(f"silence {terminal_safe(args.silence_id)} expired")
    return 0
