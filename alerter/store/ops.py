"""The store's side of operator commands: reads for `alerter failed`, `history`,
`silence list`, `signatures` and `rules report`, and the queueing a retry does.

Changes an operator makes go through `alerter.operations` (audited, with the actor);
`Operations` works on a client the caller owns, the functions below open one for a single
CLI command.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from redis.asyncio import Redis

from alerter.clock import Clock, system_clock
from alerter.rules.matchers import Matcher
from alerter.store import connect
from alerter.store.history import HistoryEntry
from alerter.store.queue import CallQueue, put_sends
from alerter.store.signature_counts import SignatureCounts
from alerter.store.silences import Silence, Silences
from alerter.store.state import FailedCall, State


class Operations:
    def __init__(self, redis: Redis, *, clock: Clock = system_clock) -> None:
        self._redis = redis
        self._clock = clock
        self.state = State(redis, clock=clock)

    async def retry_failed(self, call_id: str | None) -> tuple[list[str], list[str]]:
        """Queue failed calls again (now, without the settle delay); (queued, not found).
        A call whose sends gave up queues only those sends (its decision stands)."""
        queue = CallQueue(self._redis, settle_seconds=0, clock=self._clock)
        if call_id is None:
            targets = await self.state.failures()
            missing: list[str] = []
        else:
            found = await self.state.failure(call_id)
            targets = [found] if found else []
            missing = [] if found else [call_id]
        queued = []
        for failed in targets:
            if failed.sends:
                jobs = [(send.job_id, send.payload.encode()) for send in failed.sends]
                await put_sends(self._redis, jobs)
                await self.state.clear_failure(failed.call.call_id)
                queued.append(failed.call.call_id)
                continue
            # The finished job's result would make the queue call this a duplicate.
            await queue.forget_result(failed.call.call_id)
            if await queue.enqueue(failed.call, defer_ms=0):
                await self.state.clear_failure(failed.call.call_id)
                queued.append(failed.call.call_id)
        return queued, missing

    async def rules_report(self, since: float) -> dict[str, dict[str, int]]:
        """Per rule: distinct calls matched, and decisions by outcome, from the history."""
        rows = await self.state.history_since(since)
        calls: dict[str, set[str]] = {}
        counts: dict[str, dict[str, int]] = {}
        for row in rows:
            if not row.rule:
                continue
            per_rule = counts.setdefault(row.rule, {})
            if row.is_call:  # a digest's or an episode's entries are not a call matched
                calls.setdefault(row.rule, set()).add(row.subject)
            if row.outcome != "retrying":
                per_rule[row.outcome] = per_rule.get(row.outcome, 0) + 1
        for rule, seen in calls.items():
            counts[rule]["matched"] = len(seen)
        return counts


async def failed_calls(redis_url: str) -> list[FailedCall]:
    async with connect.client(redis_url) as redis:
        return await State(redis).failures()


async def retry_failed(redis_url: str, call_id: str | None) -> tuple[list[str], list[str]]:
    async with connect.client(redis_url) as redis:
        return await Operations(redis).retry_failed(call_id)


async def history(
    redis_url: str, call_id: str | None, rule: str | None, limit: int, since: float | None = None
) -> list[HistoryEntry]:
    async with connect.client(redis_url) as redis:
        return await State(redis).history(call_id, limit, rule=rule, since=since)


async def add_silence(  # for tests: a silence with no actor and no audit entry
    redis_url: str,
    rule: str | None,
    matchers: Mapping[str, str] | Iterable[Matcher],
    starts: float,
    ends: float,
    comment: str,
) -> Silence:
    async with connect.client(redis_url) as redis:
        return await Silences(redis).add(rule, matchers, starts, ends, comment)


async def silences(redis_url: str) -> list[Silence]:
    async with connect.client(redis_url) as redis:
        return await Silences(redis).all()


async def rules_report(redis_url: str, since: float) -> dict[str, dict[str, int]]:
    async with connect.client(redis_url) as redis:
        return await Operations(redis).rules_report(since)


async def top_signatures(
    redis_url: str, since: float, now: float, limit: int
) -> list[tuple[str, int, str]]:
    async with connect.client(redis_url) as redis:
        return await SignatureCounts(redis).top(since, now, limit)
