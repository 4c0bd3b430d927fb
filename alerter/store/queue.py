"""The enqueue side: one arq job per call, written in one Redis round trip; and the outbox,
one arq job per due send (`put_sends`).

arq's own `enqueue_job` costs a WATCH/MULTI exchange per job. This script does the same
check-and-write atomically (job key or result key present → duplicate; else the job key and
its queue entry), in arq's key layout, so arq's worker runs the job unchanged, and for every
call of a batch in one run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from redis.asyncio import Redis

from alerter.clock import Clock, arq_clock, system_clock
from alerter.models import CallEnded
from alerter.store import job_scripts as js
from alerter.store import keys, lua
from alerter.store import scripts as s
from alerter.store.baseline import EndedCounter
from alerter.store.coalesce import Batcher
from alerter.store.windows import MAX_GROUPS

JOB_FUNCTION = "process_call"
# arq keeps a job's key this long past its start time before it expires unrun.
JOB_EXPIRES_EXTRA_MS = 86_400_000
# A finished call's job result is kept this long; redeliveries meanwhile are duplicates.
RESULT_KEEP_SECONDS = 86_400
# Enqueue batches on the wire at once, each on its own connection: with one, the api
# waited idle for Redis between batches (measured: docs/performance.md, "The intake's
# batches in flight").
ENQUEUE_FLIGHTS = 3


def _readable(value: object) -> str:
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"[:500]
    return repr(value)[:500]


# JSON, not pickle: whoever can write to Redis must not be able to run code here. A failed
# job's result is an exception: kept as its readable text. msgspec: a third of json's cost.
_JOB_ENCODER = msgspec.json.Encoder(enc_hook=_readable)
_JOB_DECODER = msgspec.json.Decoder()


def serialize_job(data: dict[str, Any]) -> bytes:
    return _JOB_ENCODER.encode(data)


def deserialize_job(raw: bytes) -> dict[str, Any]:
    value = _JOB_DECODER.decode(raw)  # a msgspec.DecodeError is a ValueError
    if not isinstance(value, dict):
        raise ValueError("job payload is not an object")
    return value


@dataclass(frozen=True, slots=True)
class _Entry:
    """One call's part of a batch (enqueue.lua), laid out once, as `lua.flat` lays out its
    `EnqueueCallKeys` and `EnqueueCallArgs`: a batch is then these lists joined."""

    keys: list[Any]
    args: list[Any]


def quiet_entry(
    job_id: str, expires_ms: int, payload: bytes, score: int, now_ms: int, call_id: str
) -> tuple[list[Any], list[Any]]:
    """A call no rule counts (most calls), laid out without walking dataclasses: `lua.flat`
    cost the api about a tenth of its CPU a webhook. Its three counts are 0."""
    keys_ = [keys.ARQ_JOB + job_id, keys.ARQ_RESULT + job_id]
    return keys_, [0, 0, expires_ms, payload, score, job_id, now_ms, call_id, 0]


class CallQueue:
    """Enqueues call jobs; shared by every request of one api process."""

    def __init__(
        self,
        redis: Redis,
        settle_seconds: float,
        queue_name: str = keys.ARQ_QUEUE,
        clock: Clock = system_clock,
    ):
        self._redis = redis
        self._clock = clock  # when a call ended: tests drive it
        self._settle_ms = round(settle_seconds * 1000)
        self._queue_name = queue_name
        # EVALSHA, and the script loaded again when a restarted server forgot it.
        self._script = lua.Script[s.EnqueueKeys, s.EnqueueArgs](redis, "enqueue")
        # Calls that arrive while a batch is on the wire go out together in the next one, in
        # one run of the script: one command, one round trip, for many webhooks under load.
        self._batches: Batcher[_Entry, bool] = Batcher(self._enqueue_batch, ENQUEUE_FLIGHTS)

    def enqueue(
        self,
        call: CallEnded,
        *,
        defer_ms: int | None = None,
        ended_counters: Sequence[tuple[str, float]] = (),
        flatline_marks: Sequence[tuple[str, str, str]] = (),
        baseline_counters: Sequence[EndedCounter] = (),
    ) -> asyncio.Future[bool]:
        """Queue the call's job; the future answers False when that call is already queued,
        running or done (or raises the Redis error). A future, not a coroutine: callers
        await it, and the webhook's fast path answers from its callback with no task.

        `ended_counters` (key, window in seconds) count the call as ended, in the same round
        trip, for failure-rate rules; `flatline_marks` (key, group, labels) record it as its
        group's last call, for flatline rules; `baseline_counters` count it as ended in a
        baseline rule's window and hourly rings.
        """
        job_id = keys.call_job(call.call_id)
        now_ms = int(self._clock() * 1000)  # when the call ended: its windows count from it
        due_ms = int(arq_clock() * 1000)
        score = due_ms + (self._settle_ms if defer_ms is None else defer_ms)
        payload = serialize_job(
            {"t": None, "f": JOB_FUNCTION, "a": [call.to_job()], "k": {}, "et": now_ms}
        )
        expires_ms = score - due_ms + JOB_EXPIRES_EXTRA_MS
        if not (ended_counters or flatline_marks or baseline_counters):
            quiet = quiet_entry(job_id, expires_ms, payload, score, now_ms, call.call_id)
            return self._batches.submit_nowait(_Entry(*quiet))
        # Two windows kept: a call decided late (a backlog) still finds its own window.
        ended = [(key, round(window * 1000)) for key, window in ended_counters]
        baselines = [(counter, round(counter.within * 1000)) for counter in baseline_counters]
        names = s.EnqueueCallKeys(
            job=keys.ARQ_JOB + job_id,
            result=keys.ARQ_RESULT + job_id,
            ended=tuple(key for key, _ in ended),
            flatline=tuple(key for key, _, _ in flatline_marks),
            baseline=tuple(
                s.BaselineCounterKeys(c.window_key, c.group_ring, c.fleet_ring)
                for c, _ in baselines
            ),
        )
        args = s.EnqueueCallArgs(
            expires_ms=expires_ms,
            payload=payload,
            score=score,
            job_id=job_id,
            now_ms=now_ms,
            call_id=call.call_id,
            ended=tuple(s.EndedCounterArgs(now_ms - 2 * ms, 3 * ms) for _, ms in ended),
            flatline=tuple(
                s.FlatlineMarkArgs(group, labels, MAX_GROUPS) for _, group, labels in flatline_marks
            ),
            baseline=tuple(
                s.BaselineCounterArgs(now_ms - 2 * ms, 3 * ms, c.slots, c.keep_ms)
                for c, ms in baselines
            ),
        )
        return self._batches.submit_nowait(_Entry(lua.flat(names), lua.flat(args)))

    async def _enqueue_batch(self, entries: list[_Entry]) -> list[bool]:
        """enqueue.lua's answer: 1 (queued) or 0 (a duplicate) per call, in order."""
        # s.EnqueueKeys and s.EnqueueArgs, flat: the queue and the count, then each call's.
        names: list[Any] = [self._queue_name]
        args: list[Any] = [len(entries)]
        for entry in entries:
            names += entry.keys
            args += entry.args
        queued = await self._script.run(names, args)
        return [bool(one) for one in queued]

    async def forget_result(self, call_id: str) -> None:
        """Drop a finished job's result so the call can be queued again (operator retry)."""
        await self._redis.delete(keys.ARQ_RESULT + keys.call_job(call_id))


SEND_FUNCTION = "deliver_send"


def send_payload(send: dict[str, Any], now_ms: int) -> bytes:
    """An outbox send's arq job, as the worker reads it."""
    return serialize_job({"t": None, "f": SEND_FUNCTION, "a": [send], "k": {}, "et": now_ms})


async def put_sends(
    redis: Redis,
    sends: Sequence[tuple[str, bytes]],
    *,
    defer_ms: int = 0,
    queue_name: str = keys.ARQ_QUEUE,
) -> int:
    """Sends into the outbox: (job id, payload) each queued as its own job, in one round
    trip, unless that send is already queued or running (its job key is there). Answers how
    many were queued."""
    _, answers = await put_outbox(redis, sends, defer_ms=defer_ms, queue_name=queue_name)
    return sum(1 for answer in answers if answer != NOT_QUEUED)


NOT_QUEUED, QUEUED = 0, -1  # `put_outbox`'s answers; above 0: queued and claimed, at that try


async def put_outbox(
    redis: Redis,
    sends: Sequence[tuple[str, bytes]],
    *,
    defer_ms: int = 0,
    queue_name: str = keys.ARQ_QUEUE,
    claim: int = 0,
    lock_ms: int = 0,
) -> tuple[int, list[int]]:
    """`put_sends`, the first `claim` sends also claimed for the caller's worker (their
    in-progress lock taken for `lock_ms`, their try counted), all in one script. Answers
    the jobs' queue score, and per send NOT_QUEUED, QUEUED, or its try when queued and
    claimed."""
    now_ms = int(arq_clock() * 1000)
    if not sends:
        return now_ms, []
    names = js.OutboxPutKeys(
        queue=queue_name,
        sends=tuple(
            js.OutboxSendKeys(
                job=keys.ARQ_JOB + job,
                in_progress=keys.ARQ_IN_PROGRESS + job,
                retry=keys.ARQ_RETRY + job,
            )
            for job, _ in sends
        ),
    )
    args = js.OutboxPutArgs(
        expires_ms=defer_ms + JOB_EXPIRES_EXTRA_MS,
        score=now_ms + defer_ms,
        lock_ms=lock_ms,
        claims=claim if lock_ms > 0 else 0,
        sends=tuple(js.OutboxSendArgs(job_id=job, payload=payload) for job, payload in sends),
    )
    script = lua.Script[js.OutboxPutKeys, js.OutboxPutArgs](redis, "outbox_put")
    answers = await script(names, args)
    return now_ms + defer_ms, [int(answer) for answer in answers]


@dataclass(frozen=True, slots=True)
class QueueState:
    """The queue as operators read it: work due now, and work waiting its time (retries
    backing off, calls settling, digests until their window closes)."""

    due: int  # jobs whose time has come, not yet taken by a worker
    oldest_due_seconds: float  # how long the oldest of them has waited
    waiting: int  # jobs deferred to a later time
    next_due_seconds: float | None  # when the next of them is due (None: none waiting)

    @property
    def depth(self) -> int:
        return self.due + self.waiting


async def queue_state(redis: Redis, queue_name: str = keys.ARQ_QUEUE) -> QueueState:
    now_ms = arq_clock() * 1000
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zcount(queue_name, "-inf", now_ms)
        pipe.zrangebyscore(queue_name, "-inf", now_ms, start=0, num=1, withscores=True)
        pipe.zcount(queue_name, f"({now_ms}", "+inf")
        pipe.zrangebyscore(queue_name, f"({now_ms}", "+inf", start=0, num=1, withscores=True)
        due, oldest, waiting, upcoming = await pipe.execute()
    return QueueState(
        due=int(due),
        oldest_due_seconds=max(0.0, (now_ms - oldest[0][1]) / 1000) if oldest else 0.0,
        waiting=int(waiting),
        next_due_seconds=max(0.0, (upcoming[0][1] - now_ms) / 1000) if upcoming else None,
    )
