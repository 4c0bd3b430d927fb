"""Writes from concurrent jobs sent to Redis together: one round trip for every batch that
gathers while the previous one is on the wire.

A worker runs hundreds of calls at once, and each ends with a few writes of its own (its
record, its job's finish). Sent one pipeline each, every call pays a round trip's fixed
cost in the client (a connection checkout, a pipeline, socket calls, an event-loop wake-up);
gathered, many calls share it. The commands and their answers are each call's own: a
failed command fails only the call whose command it was, a lost connection every call of
the batch (each then retries as it would have).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

Fill = Callable[[Pipeline], object]  # adds one caller's commands to the shared pipeline

BATCH_MAX = 256  # callers a round trip carries at most


class Coalescer:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._waiting: list[tuple[Fill, asyncio.Future[list[Any]]]] = []
        self._sender: asyncio.Task[None] | None = None

    async def execute(self, fill: Fill) -> list[Any]:
        """The answers to the commands `fill` adds, in order, as `Pipeline.execute` gives."""
        done: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._waiting.append((fill, done))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_batches())
        return await done

    async def _send_batches(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[:BATCH_MAX], self._waiting[BATCH_MAX:]
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    spans = []
                    for fill, _ in batch:
                        start = len(pipe)
                        fill(pipe)
                        spans.append((start, len(pipe)))
                    answers = await pipe.execute(raise_on_error=False)
            except Exception as exc:  # every caller of the batch hears it
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            except BaseException:  # cancelled (shutting down): so are the callers' waits
                for _, done in [*batch, *self._waiting]:
                    done.cancel()
                raise
            for (start, end), (_, done) in zip(spans, batch, strict=True):
                if done.done():  # its caller was cancelled meanwhile
                    continue
                own = answers[start:end]
                failed = next((a for a in own if isinstance(a, Exception)), None)
                if failed is not None:
                    done.set_exception(failed)
                else:
                    done.set_result(own)
