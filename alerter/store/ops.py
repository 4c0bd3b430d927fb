"""Operator actions behind `alerter failed` and `alerter history`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from alerter.store import connect
from alerter.store.queue import CallQueue
from alerter.store.signature_counts import SignatureCounts
from alerter.store.silences import Matcher, Silence, Silences
from alerter.store.state import FailedCall, State


async def failed_calls(redis_url: str) -> list[FailedCall]:
    async with connect.client(redis_url) as redis:
        return await State(redis).failures()


async def retry_failed(redis_url: str, call_id: str | None) -> tuple[list[str], list[str]]:
    """Queue failed calls again (now, without the settle delay); returns (queued, not found)."""
    async with connect.client(redis_url) as redis:
        state = State(redis)
        queue = CallQueue(redis, settle_seconds=0)
        if call_id is None:
            targets = await state.failures()
            missing: list[str] = []
        else:
            found = await state.failure(call_id)
            targets = [found] if found else []
            missing = [] if found else [call_id]
        queued = []
        for failed in targets:
            # The finished job's result would make the queue call this a duplicate.
            await queue.forget_result(failed.call.call_id)
            if await queue.enqueue(failed.call, defer_ms=0):
                await state.clear_failure(failed.call.call_id)
                queued.append(failed.call.call_id)
        return queued, missing


async def history(
    redis_url: str, call_id: str | None, rule: str | None, limit: int, since: float | None = None
) -> list[dict[str, str]]:
    async with connect.client(redis_url) as redis:
        return await State(redis).history(call_id, limit, rule=rule, since=since)


async def add_silence(
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


async def expire_silence(redis_url: str, silence_id: str) -> bool:
    async with connect.client(redis_url) as redis:
        return await Silences(redis).expire(silence_id)


async def rules_report(redis_url: str, since: float) -> dict[str, dict[str, int]]:
    """Per rule: distinct calls matched, and decisions by outcome, from the history."""
    async with connect.client(redis_url) as redis:
        rows = await State(redis).history_since(since)
    calls: dict[str, set[str]] = {}
    counts: dict[str, dict[str, int]] = {}
    for row in rows:
        rule = row.get("rule")
        if not rule:
            continue
        outcome = row.get("outcome", "")
        per_rule = counts.setdefault(rule, {})
        if not row.get("call_id", "").startswith("digest-"):
            calls.setdefault(rule, set()).add(row.get("call_id", ""))
        if outcome != "retrying":
            per_rule[outcome] = per_rule.get(outcome, 0) + 1
    for rule, seen in calls.items():
        counts[rule]["matched"] = len(seen)
    return counts


async def top_signatures(
    redis_url: str, since: float, now: float, limit: int
) -> list[tuple[str, int, str]]:
    async with connect.client(redis_url) as redis:
        return await SignatureCounts(redis).top(since, now, limit)
