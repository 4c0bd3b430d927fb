"""A call's decided sends held while its own job makes their first tries (`worker.first_try`),
and a send handed to the outbox after its first try, with that try counted.

The held sends are one key per call, written once the call is decided: a retry of the call's
job (after a crash, a timeout, an error) finds them and puts them in the outbox instead of
deciding again. The call job's finish deletes the key in the DEL that drops the job's own
keys (`store.jobs`), so it lives as long as the job can run again; its expiry is a backstop.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from alerter.clock import arq_clock
from alerter.store import keys
from alerter.store.coalesce import Coalescer
from alerter.store.queue import JOB_EXPIRES_EXTRA_MS, deserialize_job, serialize_job

HELD_KEEP_SECONDS = 86_400  # a backstop: the call job's finish deletes the key
# arq's try counter lives this long (its own `expires_extra_ms`, as `claim.lua` sets it).
RETRY_KEEP_SECONDS = 88_400


async def hold(
    redis: Redis,
    call_id: str,
    sends: Sequence[dict[str, Any]],
    markers: Sequence[str],
    lease_seconds: int,
    coalescer: Coalescer | None = None,
) -> list[str | None]:
    """The call's decided sends (each `Send.to_job()`) held, and the claims of the
    `markers` of those its job tries itself taken (each a lease, as `State.claim`'s), in one
    round trip: the hold first, so no claim is ever taken without it. Answers per marker
    its claim's token, or None when the marker was there already (`State.claim` says
    whose). With a `coalescer` (a worker's), the round trip is shared with other jobs'
    writes: the commands stay together and in order."""
    raw = serialize_job({"sends": list(sends)})
    tokens = [f"sending:{uuid.uuid4().hex}" for _ in markers]

    def fill(pipe: Pipeline) -> None:
        pipe.set(keys.held_sends(call_id), raw, ex=HELD_KEEP_SECONDS)
        for marker, token in zip(markers, tokens, strict=True):
            pipe.set(marker, token, nx=True, ex=lease_seconds)

    if coalescer is not None:
        answers = await coalescer.execute(fill)
    else:
        async with redis.pipeline(transaction=False) as pipe:
            fill(pipe)
            answers = await pipe.execute()
    return [token if taken else None for token, taken in zip(tokens, answers[1:], strict=True)]


async def held(redis: Redis, call_id: str) -> list[dict[str, Any]] | None:
    """The sends an earlier try of the call's job decided; None: it decided none (or its
    job finished)."""
    raw = await redis.get(keys.held_sends(call_id))
    if raw is None:
        return None
    sends = deserialize_job(raw).get("sends")
    return [one for one in sends if isinstance(one, dict)] if isinstance(sends, list) else []


async def put_tried(
    redis: Redis,
    job_id: str,
    payload: bytes,
    *,
    defer_ms: int,
    tries: int,
    queue_name: str = keys.ARQ_QUEUE,
) -> bool:
    """A send whose first `tries` were made outside arq, into the outbox as the job arq
    would hold after them: due in `defer_ms`, its try counter at `tries` (its next run is
    try `tries + 1`, with the backoff and give-up of that try). Nothing changes when the
    send's job is already queued or running; answers whether it was put."""
    now_ms = int(arq_clock() * 1000)
    expires_ms = defer_ms + JOB_EXPIRES_EXTRA_MS
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(keys.ARQ_JOB + job_id, payload, nx=True, px=expires_ms)
        pipe.zadd(queue_name, {job_id: now_ms + defer_ms}, nx=True)
        if tries > 0:
            pipe.set(keys.ARQ_RETRY + job_id, tries, nx=True, ex=RETRY_KEEP_SECONDS)
        answers = await pipe.execute()
    return bool(answers[0])
