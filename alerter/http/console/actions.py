"""What operators do from the console or the API, each written to the audit stream.

Input is parsed here, at the edge, into typed requests; a bad one raises `ActionError`
with a message that says what to fix.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis.asyncio import Redis

from alerter.http.console.auth import AuthConfig
from alerter.http.errors import ErrorAnswer
from alerter.models import CallEnded, LogEntry, LogsInvalid, parse_logs
from alerter.pipeline.backtest import BacktestRequest, backtest, parse_rate
from alerter.pipeline.dryrun import DryRun, dry_run, notify_test, stored_call
from alerter.pipeline.fetch import DigaClient
from alerter.pipeline.simulate import Backtest
from alerter.rules.from_signature import candidate_beside
from alerter.rules.load import load_rules_text
from alerter.rules.model import RuleSet, RulesInvalid
from alerter.rules.noise import parse_duration
from alerter.rules.reload import RulesHolder
from alerter.settings import Settings
from alerter.store.audit import Audit
from alerter.store.calls import CallRecords
from alerter.store.console_auth import ConsoleAuth, Identity
from alerter.store.ops import Operations
from alerter.store.signature_counts import SignatureCounts
from alerter.store.silences import Matcher, Silence, Silences, parse_matcher
from alerter.store.state import State

MAX_SILENCE_SECONDS = 90 * 86_400
MAX_PASTED_LOGS = 5_000


class ActionError(ErrorAnswer):
    """A request the console cannot act on: 400, 404, 422 or 503, and what to fix."""


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
    ops: Operations
    signatures: SignatureCounts
    auth_config: AuthConfig

    def require_rules(self) -> RuleSet:
        rules = self.rules.current
        if rules is None:
            raise ActionError(503, "RULES_NOT_LOADED", "no valid rules are loaded")
        return rules


# ---------------------------------------------------------------- silences


@dataclass(frozen=True, slots=True)
class SilenceRequest:
    rule: str | None
    matchers: tuple[Matcher, ...]
    comment: str
    ends: float


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


def _end_time(body: Mapping[str, Any], now: float) -> float:
    duration, ends_at = body.get("duration"), body.get("ends_at")
    if duration not in (None, ""):
        try:
            seconds = parse_duration(duration)
        except ValueError as exc:
            raise ActionError(422, "INVALID_DURATION", f"duration: {exc}") from None
        ends = now + seconds
    elif ends_at not in (None, ""):
        ends = _timestamp(ends_at)
    else:
        raise ActionError(422, "MISSING_END", "give a duration (like 2h) or an end time")
    if ends <= now:
        raise ActionError(422, "INVALID_END", "the silence would end before it starts")
    if ends - now > MAX_SILENCE_SECONDS:
        raise ActionError(422, "INVALID_END", "a silence lasts 90 days at most")
    return ends


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


def parse_silence(
    body: Mapping[str, Any], rules: RuleSet, now: float, *, preview: bool = False
) -> SilenceRequest:
    """A silence to make; `preview`: only to count what it would stop (no comment needed)."""
    rule = body.get("rule") or None
    if rule is not None and rule not in rules.by_name:
        raise ActionError(422, "UNKNOWN_RULE", f"no rule named {str(rule)[:100]!r}")
    matchers = parse_matchers(body.get("matchers"))
    if rule is None and not matchers:
        raise ActionError(422, "TOO_BROAD", "give a rule or at least one matcher")
    comment = str(body.get("comment") or "").strip()
    if not comment and not preview:
        raise ActionError(422, "MISSING_COMMENT", "a comment is required: say why")
    return SilenceRequest(rule, matchers, comment[:500], _end_time(body, now))


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
    silence = await console.silences.add(
        request.rule,
        request.matchers,
        time.time(),
        request.ends,
        request.comment,
        created_by=who.name,
    )
    await console.audit.write(
        who.name,
        "silence.create",
        silence.id,
        {
            "rule": silence.rule,
            "match": [str(m) for m in silence.matchers],
            "ends_at": silence.ends,
            "comment": silence.comment,
        },
    )
    return silence


async def expire_silence(console: Console, who: Identity, silence_id: str) -> Silence:
    if not await console.silences.expire(silence_id):
        raise ActionError(404, "SILENCE_NOT_FOUND", f"no silence {silence_id[:40]!r}")
    await console.audit.write(who.name, "silence.expire", silence_id)
    found = await console.silences.get(silence_id)
    assert found is not None
    return found


async def extend_silence(
    console: Console, who: Identity, silence_id: str, duration: object
) -> Silence:
    found = await console.silences.get(silence_id)
    if found is None:
        raise ActionError(404, "SILENCE_NOT_FOUND", f"no silence {silence_id[:40]!r}")
    now = time.time()
    ends = _end_time({"duration": duration}, max(now, found.ends))
    changed = await console.silences.set_end(silence_id, ends)
    assert changed is not None
    await console.audit.write(who.name, "silence.extend", silence_id, {"ends_at": ends})
    return changed


# ---------------------------------------------------------------- calls, rules, destinations


async def retry(console: Console, who: Identity, call_id: str | None) -> list[str]:
    queued, missing = await console.ops.retry_failed(call_id)
    if missing:
        raise ActionError(404, "NOT_FAILED", f"call {missing[0][:100]!r} is not a failed call")
    await console.audit.write(
        who.name,
        "failed.retry" if call_id else "failed.retry_all",
        call_id or "*",
        {"queued": len(queued)},
    )
    return queued


def parse_trial(body: Mapping[str, Any]) -> tuple[CallEnded, tuple[LogEntry, ...] | None]:
    """`{"call_id": ...}` (logs fetched from Diga), or `{"logs": [...], "call": {...}}`."""
    raw_logs = body.get("logs")
    fields = body.get("call") or {}
    if not isinstance(fields, Mapping):
        raise ActionError(422, "INVALID_CALL", "call: an object of the call's fields")
    call_id = str(body.get("call_id") or fields.get("id") or "").strip()
    if raw_logs is None:
        if not call_id:
            raise ActionError(422, "MISSING_INPUT", "give a call id, or logs to test on")
        return CallEnded(call_id=call_id[:200], fields=_flat(fields)), None
    if isinstance(raw_logs, Mapping) and "data" in raw_logs:  # a whole page, pasted
        raw_logs = raw_logs["data"]
    if not isinstance(raw_logs, list):
        raise ActionError(422, "INVALID_LOGS", "logs: a list of log objects (or a page)")
    if len(raw_logs) > MAX_PASTED_LOGS:
        raise ActionError(422, "INVALID_LOGS", f"at most {MAX_PASTED_LOGS} logs at a time")
    try:
        logs = parse_logs(raw_logs)
    except LogsInvalid as exc:
        raise ActionError(422, "INVALID_LOGS", f"logs.{exc}") from None
    return CallEnded(call_id=(call_id or "pasted-logs")[:200], fields=_flat(fields)), logs


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
    rules = console.require_rules()
    rule = rules.by_name.get(rule_name)
    if rule is None:
        raise ActionError(404, "RULE_NOT_FOUND", f"no rule named {rule_name[:100]!r}")
    only = RuleSet((rule,), rules.destinations, rules.version)
    records = CallRecords(console.redis, console.settings.call_retention_seconds)
    call = await stored_call(records, call)  # the fields kept when it ended, if none given
    try:
        result = await dry_run(console.settings, only, call, logs)
    except ValueError as exc:
        raise ActionError(422, "DRY_RUN_FAILED", str(exc)) from None
    await console.audit.write(
        who.name,
        "rule.test",
        rule_name,
        {"call_id": call.call_id, "pasted_logs": None if logs is None else len(logs)},
    )
    return result


# ---------------------------------------------------------------- backtests

BACKTEST_RATE = "10/s"  # calls a second whose logs are fetched, unless the request says
BACKTEST_SECONDS = 60.0  # of fetching in one request; then the calls fetched are replayed
BACKTEST_MAX_CALLS = 2_000


def parse_backtest(body: Mapping[str, Any], rule: str | None = None) -> BacktestRequest:
    """`{"since": "7d", "rule": ..., "max_calls": 500, "rate": "10/s"}`, all optional."""
    try:
        since = parse_duration(body.get("since") or "7d")
    except ValueError as exc:
        raise ActionError(422, "INVALID_SINCE", f"since: {exc}") from None
    try:
        rate = parse_rate(str(body.get("rate") or BACKTEST_RATE))
    except ValueError as exc:
        raise ActionError(422, "INVALID_RATE", f"rate: {exc}") from None
    raw_max = body.get("max_calls") or 500
    try:
        max_calls = int(raw_max)
    except (TypeError, ValueError):
        max_calls = 0
    if not 1 <= max_calls <= BACKTEST_MAX_CALLS:
        raise ActionError(
            422, "INVALID_MAX_CALLS", f"max_calls: a whole number, 1 to {BACKTEST_MAX_CALLS}"
        )
    chosen = rule or body.get("rule") or None
    return BacktestRequest(
        since=since,
        max_calls=max_calls,
        rate=rate,
        rule=str(chosen)[:100] if chosen else None,
        time_limit=BACKTEST_SECONDS,
    )


DESTINATIONS = re.compile(r"^destinations\s*:", re.M)


def candidate_rules(console: Console, text: object) -> RuleSet:
    """The rules to replay: a rule file's text when given, else those in force."""
    if text in (None, ""):
        return console.require_rules()
    if not isinstance(text, str):
        raise ActionError(422, "INVALID_RULES", "rules: a rule file's YAML, as text")
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
    diga = DigaClient.from_settings(console.settings)
    try:
        records = CallRecords(console.redis, console.settings.call_retention_seconds)
        report = await backtest(rules, request, records, console.silences, diga)
    except ValueError as exc:
        raise ActionError(404, "RULE_NOT_FOUND", str(exc)) from None
    finally:
        await diga.aclose()
    await console.audit.write(
        who.name,
        "rules.backtest",
        request.rule or "*",
        {"since": request.since, "calls": report.calls, "rules_version": rules.version},
    )
    return report


async def send_test(console: Console, who: Identity, name: str) -> tuple[bool, str]:
    rules = console.require_rules()
    destination = rules.destinations.get(name)
    if destination is None:
        raise ActionError(404, "DESTINATION_NOT_FOUND", f"no destination {name[:100]!r}")
    ok, detail = await notify_test(destination)
    await console.audit.write(who.name, "destination.test", name, {"ok": ok})
    return ok, detail
