"""Shared state in Redis: send markers, the decision history, recorded failures (calls that
gave up, and sends that gave up, each kept with what `failed retry` queues again).

Send markers make delivery effectively once per (call, rule, destination): a sender first
claims the marker with a short lease, sends, then marks it sent for 7 days. A sender that
dies mid-send leaves only the lease, which expires, so another try sends again: a repeat
is possible in that one case, a loss never.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from alerter.clock import Clock, system_clock
from alerter.models import CallEnded, Outcome
from alerter.store import job_scripts as js
from alerter.store import keys, lua
from alerter.store.calls import (
    DEFAULT_RETENTION_SECONDS,
    CallEvent,
    CallRecords,
    last_written,
)
from alerter.store.coalesce import Coalescer, Fill
from alerter.store.history import HistoryEntry, history_entry, subject_kind
from alerter.store.markers import SENT as _SENT
from alerter.store.markers import SENT_TTL_SECONDS
from alerter.store.sent import HISTORY_MAX, Recorder

CLAIM_LEASE_SECONDS = 120
HISTORY_SCAN_MAX = 10_000  # entries one filtered read looks at, at most (the newest)
STORY_ONLY = ("fetched", "matched")  # a call's story holds these; the history stream not


class Claim(StrEnum):
    MINE = "mine"  # go ahead and send
    SENT = "sent"  # already delivered: skip
    BUSY = "busy"  # another sender holds the lease: try again later


@dataclass(frozen=True, slots=True)
class FailedSend:
    """A send that gave up: whose, why, and its outbox job as queued (`failed retry` queues
    exactly this again, and nothing else of its call)."""

    rule: str
    destination: str
    reason: str
    job_id: str
    payload: str  # the send job's arq payload (JSON)


@dataclass(frozen=True, slots=True)
class FailedCall:
    call: CallEnded
    kind: str
    reason: str
    at: float
    attempts: int
    sends: tuple[FailedSend, ...] = ()  # kind "delivery": the sends that gave up


class State:
    """Markers, history and failures; every history entry also goes to its call's timeline
    and the per-rule counts (`store.sent`), in the same round trip."""

    def __init__(
        self,
        redis: Redis,
        retention_seconds: float = DEFAULT_RETENTION_SECONDS,
        coalescer: Coalescer | None = None,
        *,
        clock: Clock = system_clock,
        claim_lease_seconds: int = CLAIM_LEASE_SECONDS,
    ) -> None:
        self._redis = redis
        self.clock = clock  # every stamp this store writes (history, failures)
        self.lease_seconds = claim_lease_seconds  # a claim outlives a dead sender
        self._release = lua.Script[js.ReleaseKeys, js.ReleaseArgs](redis, "release")
        self._send_failed = lua.Script[js.FailedSendKeys, js.FailedSendArgs](redis, "failed_send")
        self.calls = CallRecords(redis, retention_seconds)
        self.coalescer = coalescer  # a worker's shared round trips (`store.coalesce`)
        self._recorder = Recorder(redis, self.calls, coalescer)

    @property
    def redis(self) -> Redis:
        return self._redis

    async def _writes(self, fill: Fill) -> None:
        await self._recorder.run(fill)

    async def evaluated(
        self,
        call: CallEnded,
        logs: int,
        requests: int,
        capped: str | None,
        fired: Mapping[str, Mapping[str, str]],
        lines: Mapping[str, str] | None = None,
        *,
        clear_failure: bool = False,
    ) -> None:
        """The call's record (kept for the console and the backtest), what was fetched, and
        each rule that fired on it with the labels silences match (the silence preview) and
        its first matching log lines (`lines`, per rule: the call page shows them).

        A call no rule fired on (most calls) ends here: its `no_match` history entry goes in
        the same round trip, with as few commands as its story allows. `clear_failure` (a
        job's try after its first: an earlier one may have recorded a failure) ends the
        call's recorded failure here, the call being decided; a first try has none to end
        (`failed retry` clears the failure it queues again), and skips that HDEL."""
        now = self.clock()
        detail = f"{logs} ERROR/CRITICAL logs in {requests} requests"
        if capped:
            detail += f" ({capped})"
        events = [CallEvent(at=now, outcome="fetched", detail=detail)]
        shown = lines or {}
        events += [
            CallEvent(now, "matched", rule, detail=shown.get(rule, ""), labels=labels)
            for rule, labels in fired.items()
        ]

        def fill(pipe: Pipeline) -> None:
            if not fired:
                no_match = f"{logs} logs, no rule fired" + (f" ({capped})" if capped else "")
                entry = history_entry(call.call_id, Outcome.NO_MATCH, detail=no_match, at=now)
                events.append(CallEvent(at=now, outcome=Outcome.NO_MATCH.value, detail=no_match))
                pipe.xadd(keys.HISTORY, entry, maxlen=HISTORY_MAX, approximate=True)  # type: ignore[arg-type]
            if clear_failure:  # decided: a failure an earlier try recorded ends
                pipe.hdel(keys.FAILED, call.call_id)
            self.calls.write_call(pipe, call, now, events)
            expiring[:] = self.calls.count_matched(pipe, fired, call.call_id, now)

        expiring: list[str] = []
        await self._writes(fill)
        self.calls.expiry_set(expiring)

    # -- send markers

    async def claim(self, key: str) -> tuple[Claim, str]:
        token = f"sending:{uuid.uuid4().hex}"
        if await self._redis.set(key, token, nx=True, ex=self.lease_seconds):
            return Claim.MINE, token
        current = await self._redis.get(key)
        if current == _SENT:
            return Claim.SENT, token
        if current is None:  # the lease ran out between our two commands
            return await self.claim(key)
        return Claim.BUSY, token

    async def lease_left(self, key: str) -> float:
        """Seconds until another sender's claim lapses (0 when there is none)."""
        ms = await self._redis.pttl(key)
        return max(0.0, ms / 1000) if ms and ms > 0 else 0.0

    async def mark_sent(
        self,
        key: str,
        history: dict[str, str] | None = None,
        *,
        clear_failure: str | None = None,
        marked: bool = False,
    ) -> None:
        """Mark the send done, and record it in the history in the same round trip (shared
        with other jobs' writes in a worker).

        `clear_failure`: a call id whose recorded failure this success ends, in that trip too.
        `marked`: the marker says `sent` already (the sending thread wrote it the moment the
        destination accepted): only the history is written.
        """
        at = f"{self.clock():.3f}"

        def fill(pipe: Pipeline) -> None:
            if not marked:
                pipe.set(key, _SENT, ex=SENT_TTL_SECONDS)
            if history is not None:
                self._recorder.log(pipe, {**history, "at": at})
            if clear_failure is not None:
                pipe.hdel(keys.FAILED, clear_failure)

        await self._writes(fill)

    async def mark_marker(self, key: str) -> None:
        """The send's marker alone marked `sent`, in the worker's shared round trip: the
        moment a post on the event loop is accepted, before its history entry."""
        await self._writes(lambda pipe: pipe.set(key, _SENT, ex=SENT_TTL_SECONDS, nx=False))

    async def release(self, key: str, token: str) -> None:
        await self._release(js.ReleaseKeys(marker=key), js.ReleaseArgs(token=token))

    # -- history: a bounded stream of every decision

    async def record(
        self,
        call_id: str,
        outcome: Outcome,
        *,
        rule: str = "",
        destination: str = "",
        detail: str = "",
        clear_failure: bool = False,
    ) -> None:
        """One history entry; `clear_failure` also ends the call's recorded failure (a later
        try got this far), in the same round trip."""
        fields = history_entry(
            call_id, outcome, rule=rule, destination=destination, detail=detail, at=self.clock()
        )
        await self.record_entries([fields], clear_failure=call_id if clear_failure else None)

    async def record_entries(
        self, entries: Sequence[dict[str, str]], *, clear_failure: str | None = None
    ) -> None:
        """History entries (`history_entry`), in their order, in one round trip;
        `clear_failure`: a call id whose recorded failure they end, in that trip too."""

        def fill(pipe: Pipeline) -> None:
            for fields in entries:
                self._recorder.log(pipe, fields)
            if clear_failure is not None:
                pipe.hdel(keys.FAILED, clear_failure)

        await self._recorder.run(fill, shared=False)

    async def history(
        self,
        call_id: str | None = None,
        count: int = 200,
        *,
        rule: str | None = None,
        outcome: str | None = None,
        destination: str | None = None,
        since: float | None = None,
        scan_max: int = HISTORY_SCAN_MAX,
        before: str | None = None,
    ) -> list[HistoryEntry]:
        """Newest first, at most `count`. A call id reads that call's own story (no scan);
        other filters read the stream back from its newest entry (or from just before the
        entry `before`, a cursor), `scan_max` entries at most, down to `since` (seconds since
        the epoch) when given. Rows read from the stream carry their entry's `id`."""

        def holds(row: HistoryEntry) -> bool:
            return (
                (rule is None or row.rule == rule)
                and (outcome is None or row.outcome == outcome)
                and (destination is None or destination in row.destination)
            )

        if call_id is not None:
            story = await self.calls.story(call_id)
            rows = (
                _story_row(call_id, event)
                for event in reversed(story.events)
                if event.outcome not in STORY_ONLY and (since is None or event.at >= since)
            )
            return [row for row in rows if holds(row)][:count]
        low = f"{int(since * 1000)}-0" if since is not None else "-"
        filtering = rule is not None or outcome is not None or destination is not None
        size = 1000 if filtering else count  # unfiltered: exactly what is asked for
        out: list[HistoryEntry] = []
        high, scanned = (f"({before}" if before else "+"), 0
        while len(out) < count and scanned < scan_max:
            batch = await self._redis.xrevrange(
                keys.HISTORY, max=high, min=low, count=min(size, scan_max - scanned)
            )
            for entry_id, raw in batch:
                row = HistoryEntry.from_stream(entry_id, raw)
                if holds(row):
                    out.append(row)
                    if len(out) >= count:
                        break
                high = f"({entry_id.decode()}"
            if len(batch) < size:
                break
            scanned += len(batch)
        return out

    async def history_since(self, since: float) -> list[HistoryEntry]:
        entries = await self._redis.xrange(
            keys.HISTORY, min=f"{int(since * 1000)}-0", count=HISTORY_MAX
        )
        return [HistoryEntry.from_stream(entry_id, raw) for entry_id, raw in entries]

    # -- failed calls: what an operator sees and retries

    async def record_failure(self, call: CallEnded, kind: str, reason: str, attempts: int) -> None:
        at = self.clock()
        value = {
            "call": call.to_job(),
            "kind": kind,
            "reason": reason[:500],
            "at": at,
            "attempts": attempts,
        }
        entry = history_entry(call.call_id, Outcome.FAILED, detail=f"{kind}: {reason}", at=at)

        def fill(pipe: Pipeline) -> None:
            pipe.hset(keys.FAILED, call.call_id, json.dumps(value))
            self._recorder.log(pipe, entry)

        await self._recorder.run(fill, shared=False)

    async def record_send_failure(self, call: CallEnded, send: FailedSend, attempts: int) -> None:
        """A send that gave up: one `failed` decision against its rule and destination (the
        rule's FAILED count), and the send added to its call's failed record (with any other
        send of the call that gave up), in one round trip."""
        at = self.clock()
        entry = history_entry(
            call.call_id,
            Outcome.FAILED,
            rule=send.rule,
            destination=send.destination,
            detail=send.reason,
            at=at,
        )
        args = js.FailedSendArgs(
            call_id=call.call_id,
            call=json.dumps(call.to_job()),
            send=json.dumps(
                {
                    "rule": send.rule,
                    "destination": send.destination,
                    "reason": send.reason[:500],
                    "job_id": send.job_id,
                    "payload": send.payload,
                }
            ),
            at=at,
            attempts=attempts,
        )
        async with self._redis.pipeline(transaction=False) as pipe:
            await self._recorder.log_loaded(pipe, entry)
            await self._send_failed(js.FailedSendKeys(failed=keys.FAILED), args, client=pipe)
            await pipe.execute()

    async def clear_failure(self, call_id: str) -> None:
        await cast(Awaitable[int], self._redis.hdel(keys.FAILED, call_id))

    async def failures(self) -> list[FailedCall]:
        raw = await cast(Awaitable[Mapping[bytes, bytes]], self._redis.hgetall(keys.FAILED))
        out = [_failed(value) for value in raw.values()]
        return sorted(out, key=lambda failed: failed.at)

    async def failure(self, call_id: str) -> FailedCall | None:
        raw = await cast(Awaitable[bytes | None], self._redis.hget(keys.FAILED, call_id))
        return _failed(raw) if raw is not None else None


def _failed(raw: bytes | str) -> FailedCall:
    value: dict[str, Any] = json.loads(raw)
    return FailedCall(
        call=CallEnded.from_job(value["call"]),
        kind=str(value.get("kind", "")),
        reason=str(value.get("reason", "")),
        at=float(value.get("at", 0)),
        attempts=int(value.get("attempts", 0)),
        sends=tuple(
            FailedSend(
                rule=str(one.get("rule", "")),
                destination=str(one.get("destination", "")),
                reason=str(one.get("reason", "")),
                job_id=str(one.get("job_id", "")),
                payload=str(one.get("payload", "")),
            )
            for one in value.get("sends") or ()
            if isinstance(one, dict)
        ),
    )


async def destination_results(redis: Redis) -> dict[str, dict[str, Any]]:
    """Per destination: the last delivery's result (at, ok, detail)."""
    raw = await last_written(redis, keys.LAST_DESTINATION, keys.DESTINATIONS_LAST)
    return {name: json.loads(value) for name, value in raw.items()}


def _story_row(call_id: str, event: CallEvent) -> HistoryEntry:
    """An event of a call's story as the history entry it was written with."""
    return HistoryEntry(
        subject=call_id,
        kind=subject_kind(call_id),
        outcome=event.outcome,
        rule=event.rule,
        destination=event.destination,
        detail=event.detail,
        at=round(event.at, 3),
    )
