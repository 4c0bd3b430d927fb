"""What operators do, in one place for the CLI and the console's pages and API: silences
(add, expire, extend), retries, rule tests, backtests, destination tests and console tokens.

Every change is written to the audit stream with who made it: the console's identity, or the
CLI's actor (`--as NAME`, default `cli:<OS user>`). Input arrives parsed (each face reads its
own: flags, forms, JSON bodies); a request this layer cannot act on raises `ActionError`,
whose status and code the API answers with and whose message the CLI prints.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from redis.asyncio import Redis

from alerter.clock import Clock, system_clock
from alerter.models import CallEnded, LogEntry
from alerter.pipeline.fetch import DigaClient
from alerter.replay.backtest import (
    BacktestBusy,
    BacktestGate,
    BacktestRequest,
    BacktestTimedOut,
    backtest,
)
from alerter.replay.dryrun import DryRun, dry_run, notify_test, stored_call
from alerter.replay.simulate import Backtest
from alerter.rules.matchers import Matcher
from alerter.rules.model import RuleSet
from alerter.settings import Settings
from alerter.store import connect
from alerter.store.audit import Audit
from alerter.store.calls import CallRecords
from alerter.store.console_auth import ConsoleAuth
from alerter.store.ops import Operations
from alerter.store.silences import MAX_SILENCE_SECONDS, Silence, Silences, end_problem

__all__ = ["MAX_SILENCE_SECONDS", "ActionError", "OperatorActions", "SilenceRequest"]


class ActionError(Exception):
    """An action refused: an HTTP status (400, 404, 422, 429, 503), a SCREAMING_SNAKE code, a
    message that says what to fix, and headers the answer carries (`Retry-After` with a 429)."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


@dataclass(frozen=True, slots=True)
class SilenceRequest:
    rule: str | None  # None: every rule (then at least one matcher)
    matchers: tuple[Matcher, ...]
    comment: str
    ends: float


def silence_end(start: float, seconds: float, now: float) -> float:
    """The end of a silence `seconds` after `start` (now, or the end it extends): after
    `start`, and 90 days from `now` at most."""
    ends = start + seconds
    if ends <= start:
        raise ActionError(422, "INVALID_END", "the silence would end before it starts")
    if (problem := end_problem(ends, now)) is not None:
        raise ActionError(422, "INVALID_END", problem)
    return ends


class OperatorActions:
    """The actions on one Redis client the caller owns (the console's, or one CLI command's)."""

    def __init__(self, settings: Settings, redis: Redis, *, clock: Clock = system_clock) -> None:
        self.settings = settings
        self.redis = redis
        self.clock = clock
        self.silences = Silences(redis, clock=clock)
        self.audit = Audit(redis, clock=clock)
        self.tokens = ConsoleAuth(redis, clock=clock)
        self._store = Operations(redis, clock=clock)
        self.backtests = BacktestGate()  # one at a time per process

    @classmethod
    @asynccontextmanager
    async def connected(
        cls, settings: Settings, redis_url: str, *, clock: Clock = system_clock
    ) -> AsyncIterator[OperatorActions]:
        """For one CLI command: a client of its own, closed after; `clock`: the command's."""
        async with connect.client(redis_url) as redis:
            yield cls(settings, redis, clock=clock)

    # ------------------------------------------------------------ silences

    async def add_silence(self, actor: str, request: SilenceRequest) -> Silence:
        if request.rule is None and not request.matchers:
            raise ActionError(422, "TOO_BROAD", "give a rule or at least one matcher")
        now = self.clock()
        if (problem := end_problem(request.ends, now)) is not None:
            raise ActionError(422, "INVALID_END", problem)
        silence = await self.silences.add(
            request.rule,
            request.matchers,
            now,
            request.ends,
            request.comment,
            created_by=actor,
        )
        await self.audit.write(
            actor,
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

    async def expire_silence(self, actor: str, silence_id: str) -> Silence:
        if not await self.silences.expire(silence_id):
            raise ActionError(404, "SILENCE_NOT_FOUND", f"no silence {silence_id[:40]!r}")
        await self.audit.write(actor, "silence.expire", silence_id)
        found = await self.silences.get(silence_id)
        assert found is not None
        return found

    async def extend_silence(self, actor: str, silence_id: str, seconds: float) -> Silence:
        """Push the end `seconds` later (from now, when it has already ended)."""
        found = await self.silences.get(silence_id)
        if found is None:
            raise ActionError(404, "SILENCE_NOT_FOUND", f"no silence {silence_id[:40]!r}")
        now = self.clock()
        ends = silence_end(max(now, found.ends), seconds, now)
        changed = await self.silences.set_end(silence_id, ends)
        if changed is None:  # expired and dropped between the two reads
            raise ActionError(404, "SILENCE_NOT_FOUND", f"no silence {silence_id[:40]!r}")
        await self.audit.write(actor, "silence.extend", silence_id, {"ends_at": ends})
        return changed

    # ------------------------------------------------------------ calls

    async def retry(self, actor: str, call_id: str | None) -> list[str]:
        """Queue one failed call again (or every one, `None`); the store decides what a retry
        re-sends."""
        queued, missing = await self._store.retry_failed(call_id)
        if missing:
            raise ActionError(404, "NOT_FAILED", f"call {missing[0][:100]!r} is not a failed call")
        await self.audit.write(
            actor,
            "failed.retry" if call_id else "failed.retry_all",
            call_id or "*",
            {"queued": len(queued)},
        )
        return queued

    # ------------------------------------------------------------ rules and destinations

    async def test_rule(
        self,
        actor: str,
        rules: RuleSet,
        rule_name: str,
        call: CallEnded,
        logs: tuple[LogEntry, ...] | None,
    ) -> DryRun:
        rule = rules.by_name.get(rule_name)
        if rule is None:
            raise ActionError(404, "RULE_NOT_FOUND", f"no rule named {rule_name[:100]!r}")
        only = RuleSet((rule,), rules.destinations, rules.version)
        records = CallRecords(self.redis, self.settings.call_retention_seconds)
        call = await stored_call(records, call)  # the fields kept when it ended, if none given
        try:
            result = await dry_run(self.settings, only, call, logs)
        except ValueError as exc:
            raise ActionError(422, "DRY_RUN_FAILED", str(exc)) from None
        await self.audit.write(
            actor,
            "rule.test",
            rule_name,
            {"call_id": call.call_id, "pasted_logs": None if logs is None else len(logs)},
        )
        return result

    async def backtest(self, actor: str, rules: RuleSet, request: BacktestRequest) -> Backtest:
        try:
            async with self.backtests.slot():
                diga = DigaClient.from_settings(self.settings, clock=self.clock)
                try:
                    records = CallRecords(self.redis, self.settings.call_retention_seconds)
                    report = await backtest(
                        rules, request, records, self.silences, diga, clock=self.clock
                    )
                finally:
                    await diga.aclose()
        except BacktestBusy as busy:
            retry = {"Retry-After": str(busy.retry_after)}
            raise ActionError(429, "BACKTEST_RUNNING", str(busy), retry) from None
        except BacktestTimedOut as exc:
            raise ActionError(503, "BACKTEST_TIMED_OUT", str(exc)) from None
        except ValueError as exc:
            raise ActionError(404, "RULE_NOT_FOUND", str(exc)) from None
        await self.audit.write(
            actor,
            "rules.backtest",
            request.rule or "*",
            {"since": request.since, "calls": report.calls, "rules_version": rules.version},
        )
        return report

    async def send_test(self, actor: str, rules: RuleSet, name: str) -> tuple[bool, str]:
        destination = rules.destinations.get(name)
        if destination is None:
            raise ActionError(404, "DESTINATION_NOT_FOUND", f"no destination {name[:100]!r}")
        ok, detail = await notify_test(destination, self.settings.slack_api_url)
        await self.audit.write(actor, "destination.test", name, {"ok": ok})
        return ok, detail

    # ------------------------------------------------------------ console tokens

    async def add_token(self, actor: str, name: str, role: str) -> str:
        """A new token (shown once; only its hash is kept). ValueError: a bad name or role."""
        token = await self.tokens.add_token(name, role)
        await self.audit.write(actor, "token.add", name, {"role": role})
        return token

    async def revoke_token(self, actor: str, name: str) -> bool:
        gone = await self.tokens.revoke(name)
        if gone:
            await self.audit.write(actor, "token.revoke", name)
        return gone
