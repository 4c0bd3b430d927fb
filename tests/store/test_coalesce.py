"""Concurrent callers' writes share round trips; each caller gets its own answers."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from alerter.store.coalesce import Batcher, Coalescer
from tests.kit.redis import CountingRedis


async def test_concurrent_callers_share_round_trips_and_get_their_own_answers(
    redis: CountingRedis,
) -> None:
    coalescer = Coalescer(redis)
    key = f"co-{uuid.uuid4().hex[:8]}"

    async def caller(n: int) -> list[Any]:
        def fill(pipe: Pipeline) -> None:
            pipe.hset(key, str(n), n)
            pipe.hget(key, str(n))

        return await coalescer.execute(fill)

    answers = await asyncio.gather(*(caller(n) for n in range(300)))
    assert answers == [[1, str(n).encode()] for n in range(300)]
    assert redis.pipelines == 2  # all gathered before the first send: 256 a round trip
    assert await caller(300) == [1, b"300"]  # alone: a batch of one, sent at once
    assert redis.pipelines == 3
    await redis.delete(key)


async def test_a_failed_command_fails_only_its_own_caller(redis: CountingRedis) -> None:
    coalescer = Coalescer(redis)
    text, counter = f"co-{uuid.uuid4().hex[:8]}", f"co-{uuid.uuid4().hex[:8]}"
    await redis.set(text, "not a number")
    wrong, right = await asyncio.gather(
        coalescer.execute(lambda pipe: pipe.incr(text)),
        coalescer.execute(lambda pipe: pipe.incr(counter)),
        return_exceptions=True,
    )
    assert isinstance(wrong, ResponseError)
    assert right == [1]
    await redis.delete(text, counter)


async def test_a_lost_connection_fails_every_caller_of_the_batch() -> None:
    from alerter.store.embedded import free_port

    unreachable = Redis(port=free_port(), socket_connect_timeout=1)
    coalescer = Coalescer(unreachable)
    results = await asyncio.gather(
        *(coalescer.execute(lambda pipe: pipe.incr("x")) for _ in range(3)),
        return_exceptions=True,
    )
    assert all(isinstance(r, RedisConnectionError) for r in results)
    await unreachable.aclose()


async def test_a_send_answering_too_few_items_fails_every_caller_instead_of_hanging() -> None:
    """A batch answered with fewer answers than it had items (a script's reply cut short)
    reaches every caller as an error: none waits for ever for an answer that never comes."""

    async def short(items: list[int]) -> list[int | Exception]:
        await asyncio.sleep(0)
        return items[:-1]

    batcher: Batcher[int, int] = Batcher(short)
    outcomes = await asyncio.wait_for(
        asyncio.gather(*(batcher.submit(n) for n in range(3)), return_exceptions=True), 10
    )
    assert all(isinstance(o, RuntimeError) for o in outcomes), outcomes
    assert "2 answers for 3 items" in str(outcomes[0])


async def test_more_flights_send_a_batch_while_another_is_on_the_wire() -> None:
    """With two flights, items that come while one batch waits for its answer go at once
    in a second batch; a third waits for one of them. With one, all wait for the first."""
    for flights, sent_early in ((1, [[0]]), (2, [[0], [1, 2]])):
        answered = asyncio.Event()
        sent: list[list[int]] = []

        async def send(items: list[int]) -> list[int | Exception]:
            sent.append(items)
            await answered.wait()
            return [n * 10 for n in items]

        batcher: Batcher[int, int] = Batcher(send, flights)
        first = batcher.submit_nowait(0)
        await asyncio.sleep(0)  # the first batch on the wire, alone
        others = [batcher.submit_nowait(n) for n in (1, 2)]
        await asyncio.sleep(0)
        third = batcher.submit_nowait(3)
        for _ in range(3):
            await asyncio.sleep(0)
        assert sent == sent_early, flights
        answered.set()
        assert await asyncio.gather(first, *others, third) == [0, 10, 20, 30]
        assert sorted(n for batch in sent for n in batch) == [0, 1, 2, 3]


async def test_a_sender_cancelled_before_it_ran_does_not_stop_the_next_batch() -> None:
    async def send(items: list[int]) -> list[int | Exception]:
        return items

    batcher: Batcher[int, int] = Batcher(send, 2)
    lost = batcher.submit_nowait(1)
    for task in asyncio.all_tasks():
        if task is not asyncio.current_task():
            task.cancel()  # a stop cancelling every task, the sender's before its first step
    await asyncio.sleep(0)
    # Its item still waits, and goes with the next caller's batch.
    assert await asyncio.wait_for(asyncio.gather(lost, batcher.submit(2)), 5) == [1, 2]


async def test_a_caller_answered_and_coming_again_at_once_is_sent() -> None:
    """The sender that answered it has ended, its done-callback not yet run: the next
    item still gets a sender of its own."""

    async def send(items: list[int]) -> list[int | Exception]:
        await asyncio.sleep(0)
        return items

    for flights in (1, 3):
        batcher: Batcher[int, int] = Batcher(send, flights)
        assert await batcher.submit(1) == 1
        again = batcher.submit_nowait(2)  # in the same step, before any other callback
        assert await asyncio.wait_for(again, 5) == 2
