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
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

Fill = Callable[[Pipeline], object]  # adds one caller's commands to the shared pipeline

BATCH_MAX = 256  # callers a round trip carries at most

Item = TypeVar("Item")
Answer = TypeVar("Answer")


class Batcher(Generic[Item, Answer]):
    """Callers' items sent `send` together: those that arrive in one turn of the event loop
    go in one batch, and while `flights` batches are on the wire the rest wait for the next.
    `send` answers each item in order, an Exception for one that failed (raised to its
    caller alone); an exception `send` raises reaches every caller of its batch.

    One flight keeps the batches largest; more let the caller work while Redis does
    (measured on the intake: docs/performance.md, "The intake's batches in flight")."""

    def __init__(
        self,
        send: Callable[[list[Item]], Awaitable[Sequence[Answer | Exception]]],
        flights: int = 1,
    ):
        self._send = send
        self._waiting: list[tuple[Item, asyncio.Future[Answer]]] = []
        self._senders: set[asyncio.Task[None]] = set()
        self._starting = False  # a sender made that has not taken its batch yet
        self._flights = flights

    async def submit(self, item: Item) -> Answer:
        return await self.submit_nowait(item)

    def submit_nowait(self, item: Item) -> asyncio.Future[Answer]:
        """`submit` without a coroutine: the future its answer is set on (a caller that
        answers from the future's callback needs no task of its own)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Answer] = loop.create_future()
        self._waiting.append((item, done))
        if not self._starting and len(self._senders) < self._flights:
            self._starting = True
            sender = loop.create_task(self._send_batches())
            self._senders.add(sender)
            sender.add_done_callback(self._ended)
        return done

    def _ended(self, sender: asyncio.Task[None]) -> None:
        self._senders.discard(sender)
        if sender.cancelled():  # perhaps before it took its batch: the next caller starts one
            self._starting = False

    async def _send_batches(self) -> None:
        self._starting = False
        try:
            await self._send_waiting()
        finally:
            # Out of the count as it ends, not in its done-callback (run a step later): an
            # item that comes in between would find no sender to take it.
            self._senders.discard(asyncio.current_task())

    async def _send_waiting(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[:BATCH_MAX], self._waiting[BATCH_MAX:]
            try:
                answers = await self._send([item for item, _ in batch])
                if len(answers) != len(batch):  # else some callers would wait for ever
                    raise RuntimeError(f"{len(answers)} answers for {len(batch)} items")
            except Exception as exc:  # every caller of the batch hears it
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            except BaseException:  # cancelled (shutting down): so are the callers' waits
                for _, done in [*batch, *self._waiting]:
                    done.cancel()
                raise
            for answer, (_, done) in zip(answers, batch, strict=True):  # counted above
                if done.done():  # its caller was cancelled meanwhile
                    continue
                if isinstance(answer, Exception):
                    done.set_exception(answer)
                else:
                    done.set_result(answer)


class Coalescer:
    """Callers' commands in one pipeline a batch, each caller answered with its own."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._batcher: Batcher[Fill, list[Any]] = Batcher(self._round_trip)

    async def execute(self, fill: Fill) -> list[Any]:
        """The answers to the commands `fill` adds, in order, as `Pipeline.execute` gives."""
        return await self._batcher.submit(fill)

    async def _round_trip(self, fills: list[Fill]) -> list[list[Any] | Exception]:
        """Each fill's answers from one pipeline, or the first of its own commands' errors."""
        async with self._redis.pipeline(transaction=False) as pipe:
            spans = []
            for fill in fills:
                start = len(pipe)
                fill(pipe)
                spans.append((start, len(pipe)))
            answers = await pipe.execute(raise_on_error=False)
        owns = [answers[start:end] for start, end in spans]
        return [next((a for a in own if isinstance(a, Exception)), own) for own in owns]
