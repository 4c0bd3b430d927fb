"""The console's and the API's side of the operator actions: their input (a form's fields,
a typed JSON body) parsed into the requests `alerter.operations` acts on, as the identity
that asks. A bad input raises `ActionError` with a message that says what to fix.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from pydantic import ValidationError
from redis.asyncio import Redis

from alerter.clock import Clock, system_clock
from alerter.durations import parse_duration
from alerter.http.console.auth import AuthConfig
from alerter.http.console.schema import BacktestIn, SilenceIn, TrialIn
from alerter.models import CallEnded, LogEntry, LogsInvalid, parse_logs
from alerter.operations import (
    MAX_SILENCE_SECONDS,
    ActionError,
    OperatorActions,
    SilenceRequest,
    silence_end,
)
from alerter.replay.backtest import BacktestRequest, parse_rate
from alerter.replay.dryrun import DryRun
from alerter.replay.simulate import Backtest
from alerter.rules.from_signature import candidate_beside
from alerter.rules.load import load_rules_text
from alerter.rules.matchers import Matcher, parse_matcher
from alerter.rules.model import RuleSet, RulesInvalid
from alerter.rules.reload import RulesHolder
from alerter.settings import Settings
from alerter.store.audit import Audit
from alerter.store.console_auth import ConsoleAuth, Identity
from alerter.store.signature_counts import SignatureCounts
from alerter.store.silences import Silence, Silences
from alerter.store.state import State

MAX_PASTED_LOGS = 5_000
__all__ = ["MAX_SILENCE_SECONDS", "ActionError", "Console", "SilenceRequest"]


@dataclass
class Console:
    """What the console's routes use, made once per api process (in the app's lifespan)."""

    settings: Settings
    redis: Redis
    rules: RulesHolder
    state: State
    silences: Silences
    auth: ConsoleAuth
    audit: Audit
    actions: OperatorActions
    signatures: SignatureCounts
    auth_config: AuthConfig
    clock: Clock = system_clock  # the api's one clock: what the pages and the API call now

    def require_rules(self) -> RuleSet:
        rules = self.rules.current
        if rules is None:
            raise ActionError(503, "RULES_NOT_LOADED", "no valid rules are loaded")
        return rules


# ---------------------------------------------------------------- silences


def parse_matchers(value: object) -> tuple[Matcher, ...]:
    """`{"field": "value"}` (equality), a list of `field=value` texts, or such texts one a
    line or comma-separated (the form's field)."""
    if value is None or value == "":
        return ()
    try:
        if isinstance(value, Mapping):
            return tuple(Matcher(str(k), "=", str(v)) for k, v in value.items())
        if isinstance(value, str):
            parts = [p for line in value.splitlines() for p in line.split(",")]
            return tuple(parse_matcher(p) for p in parts if p.strip())
        if isinstance(value, list):
            return tuple(parse_matcher(str(p)) for p in value if str(p).strip())
    except ValueError as exc:
        raise ActionError(422, "INVALID_MATCHER", str(exc)) from None
    raise ActionError(422, "INVALID_MATCHER", "matchers: an object or a list of FIELD=VALUE")


def _seconds(duration: str) -> float:
    try:
        return parse_duration(duration)
    except ValueError as exc:
        raise ActionError(422, "INVALID_DURATION", f"duration: {exc}") from None


def _end_time(duration: str | None, ends_at: str | float | None, now: float) -> float:
    if duration not in (None, ""):
        return silence_end(now, _seconds(duration), now)
    if ends_at not in (None, ""):
        return silence_end(now, _timestamp(ends_at) - now, now)
    raise ActionError(422, "MISSING_END", "give a duration (like 2h) or an end time")


def _timestamp(value: object) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    try:
        parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        raise ActionError(
            422, "INVALID_END", f"ends_at {str(value)[:40]!r}: use ISO 8601, like 2026-12-01T08:00Z"
        ) from None
    if parsed.tzinfo is None:
        raise ActionError(422, "INVALID_END", "ends_at needs a time zone (Z for UTC)")
    return parsed.timestamp()


def silence_form(form: Mapping[str, str]) -> SilenceIn:
    """The console form's fields: an empty `Rule` there means every rule."""
    return SilenceIn(
        rule=form.get("rule") or None,
        matchers=None,
        comment=form.get("comment", ""),
        duration=form.get("duration") or None,
        ends_at=form.get("ends_at") or None,
    )


def parse_silence(
    body: SilenceIn | Mapping[str, str], rules: RuleSet, now: float, *, preview: bool = False
) -> SilenceRequest:
    """A silence to make; `preview`: only to count what it would stop (no comment needed).
    A JSON body's `rule` is a rule's name or null; anything else is refused, never read as
    every rule."""
    raw_matchers: object
    if isinstance(body, SilenceIn):
        raw_matchers = body.matchers
    else:
        raw_matchers, body = body.get("matchers"), silence_form(body)
    rule = body.rule
    if rule is not None and rule not in rules.by_name:
        raise ActionError(422, "UNKNOWN_RULE", f"no rule named {rule[:100]!r}")
    matchers = parse_matchers(raw_matchers)
    if rule is None and not matchers:
        raise ActionError(422, "TOO_BROAD", "give a rule or at least one matcher")
    comment = body.comment.strip()
    if not comment and not preview:
        raise ActionError(422, "MISSING_COMMENT", "a comment is required: say why")
    return SilenceRequest(
        rule, matchers, comment[:500], _end_time(body.duration, body.ends_at, now)
    )


def draft(request: SilenceRequest, now: float, who: str) -> Silence:
    """The silence as it would be made (for the preview)."""
    return Silence(
        "preview",
        request.rule,
        request.matchers,
        now,
        request.ends,
        request.comment,
        created_by=who,
    )


async def create_silence(console: Console, who: Identity, request: SilenceRequest) -> Silence:
    return await console.actions.add_silence(who.name, request)


async def expire_silence(console: Console, who: Identity, silence_id: str) -> Silence:
    return await console.actions.expire_silence(who.name, silence_id)


async def extend_silence(
    console: Console, who: Identity, silence_id: str, duration: str
) -> Silence:
    return await console.actions.extend_silence(who.name, silence_id, _seconds(duration))


# ---------------------------------------------------------------- calls, rules, destinations


async def retry(console: Console, who: Identity, call_id: str | None) -> list[str]:
    return await console.actions.retry(who.name, call_id)


def call_id_of(value: object) -> str:
    """A Diga call id: a UUID, in its canonical text, else 422 (it goes into Diga's paths)."""
    try:
        return str(uuid.UUID(str(value).strip()))
    except ValueError:
        raise ActionError(
            422, "INVALID_CALL_ID", f"call id {str(value)[:100]!r} is not a UUID"
        ) from None


def parse_trial(body: TrialIn | Mapping[str, Any]) -> tuple[CallEnded, tuple[LogEntry, ...] | None]:
    """`{"call_id": ...}` (logs fetched from Diga), or `{"logs": [...], "call": {...}}`."""
    if not isinstance(body, TrialIn):
        try:
            body = msgspec.convert({k: v for k, v in body.items() if v not in (None, "")}, TrialIn)
        except msgspec.ValidationError as exc:
            raise ActionError(422, "INVALID_REQUEST", str(exc)) from None
    fields = body.call or {}
    given = body.call_id if body.call_id is not None else fields.get("id")
    call_id = call_id_of(given) if given not in (None, "") else ""
    raw_logs: object = body.logs
    if raw_logs is None:
        if not call_id:
            raise ActionError(422, "MISSING_INPUT", "give a call id, or logs to test on")
        return _call(call_id, fields), None
    if isinstance(raw_logs, Mapping):  # a whole page, pasted
        raw_logs = raw_logs.get("data")
    if not isinstance(raw_logs, list):
        raise ActionError(422, "INVALID_LOGS", "logs: a list of log objects (or a page)")
    if len(raw_logs) > MAX_PASTED_LOGS:
        raise ActionError(422, "INVALID_LOGS", f"at most {MAX_PASTED_LOGS} logs at a time")
    try:
        logs = parse_logs(raw_logs)
    except LogsInvalid as exc:
        raise ActionError(422, "INVALID_LOGS", f"logs.{exc}") from None
    return _call(call_id or "pasted-logs", fields), logs


def _call(call_id: str, fields: Mapping[str, Any]) -> CallEnded:
    """The call as a webhook would bring it: its fields texts, numbers, booleans or lists of
    them (nested objects become dotted names)."""
    try:
        return CallEnded(call_id=call_id, fields=_flat(fields))
    except ValidationError as exc:
        where = ".".join(str(p) for p in exc.errors()[0]["loc"][1:]) or "call"
        raise ActionError(
            422, "INVALID_CALL", f"call.{where}: a text, number, boolean or list of them"
        ) from None


def _flat(fields: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{prefix}{key}."))
        elif key != "id" or prefix:
            out[f"{prefix}{key}"] = value
    return out


async def test_rule(
    console: Console,
    who: Identity,
    rule_name: str,
    call: CallEnded,
    logs: tuple[LogEntry, ...] | None,
) -> DryRun:
    return await console.actions.test_rule(who.name, console.require_rules(), rule_name, call, logs)


async def send_test(console: Console, who: Identity, name: str) -> tuple[bool, str]:
    return await console.actions.send_test(who.name, console.require_rules(), name)


# ---------------------------------------------------------------- backtests

BACKTEST_RATE = "10/s"  # calls a second whose logs are fetched, unless the request says
BACKTEST_SECONDS = 60.0  # of fetching in one request; then the calls fetched are replayed


def backtest_form(form: Mapping[str, str]) -> BacktestIn:
    """The console form's fields (text), as the API's body."""
    try:
        max_calls = int(form.get("max_calls") or 500)
        return msgspec.convert(
            {
                "since": form.get("since") or "7d",
                "max_calls": max_calls,
                "rate": form.get("rate") or None,
            },
            BacktestIn,
        )
    except (ValueError, msgspec.ValidationError):
        raise ActionError(
            422, "INVALID_MAX_CALLS", "max_calls: a whole number, 1 to 2000"
        ) from None


def parse_backtest(
    body: BacktestIn | Mapping[str, str], rule: str | None = None
) -> BacktestRequest:
    """`{"since": "7d", "rule": ..., "max_calls": 500, "rate": "10/s"}`, all optional."""
    if not isinstance(body, BacktestIn):
        body = backtest_form(body)
    try:
        since = parse_duration(body.since)
    except ValueError as exc:
        raise ActionError(422, "INVALID_SINCE", f"since: {exc}") from None
    try:
        rate = parse_rate(body.rate or BACKTEST_RATE)
    except ValueError as exc:
        raise ActionError(422, "INVALID_RATE", f"rate: {exc}") from None
    return BacktestRequest(
        since=since,
        max_calls=body.max_calls,
        rate=rate,
        rule=rule or body.rule,
        time_limit=BACKTEST_SECONDS,
    )


DESTINATIONS = re.compile(r"^destinations\s*:", re.M)


def candidate_rules(console: Console, text: str | None) -> RuleSet:
    """The rules to replay: a rule file's text when given, else those in force."""
    if text in (None, ""):
        return console.require_rules()
    try:
        if DESTINATIONS.search(text):
            return load_rules_text(text)
        # Rules only (a rule from a signature): they notify the destinations in force.
        return candidate_beside(console.require_rules(), text)
    except RulesInvalid as exc:
        detail = "; ".join(f"line {e.line}: {e.message}" for e in exc.errors[:10])
        raise ActionError(422, "INVALID_RULES", f"rules: {detail}") from None


async def run_backtest(
    console: Console, who: Identity, rules: RuleSet, request: BacktestRequest
) -> Backtest:
    return await console.actions.backtest(who.name, rules, request)
