"""The Redis client a store test works on, and reads of what the pipeline wrote."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from alerter.store.history import HistoryEntry
from alerter.store.state import State


class CountingRedis(Redis):
    """A client that counts the pipelines asked of it (round trips shared or not) and the
    commands sent alone (each a round trip of its own)."""

    pipelines = 0
    commands = 0

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        self.pipelines += 1
        return super().pipeline(transaction, shard_hint)

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        self.commands += 1
        return await super().execute_command(*args, **options)


@pytest.fixture(name="redis")
async def redis_client(redis_url: str) -> AsyncIterator[CountingRedis]:
    """A client of the test's flushed database (`redis_url`), closed after the test; it
    counts its pipelines, for the tests of shared round trips."""
    client = CountingRedis.from_url(redis_url)
    yield client
    await client.aclose()


async def history(redis_url: str, call_id: str) -> list[HistoryEntry]:
    """One call's decision history, newest first."""
    async with Redis.from_url(redis_url) as client:
        return await State(client).history(call_id)


async def outcomes(redis_url: str, call_id: str) -> list[str]:
    """The outcomes in one call's history, newest first."""
    return [row.outcome for row in await history(redis_url, call_id)]


# Commands whose packing is easy to get wrong: text, floats, big integers, a large binary
# argument, a two-word command, a memoryview. Packed the same by redis-py and by hiredis.
AWKWARD_COMMANDS: list[tuple[Any, ...]] = [
    ("SET", "key", "héllo wörld", "PX", 1500),
    ("ZADD", b"zset", 1.5, "a", 0.1, "b", 1e20, "c", -0.0, "d", float("inf"), "e"),
    ("EVALSHA", "f" * 40, 2, "k1", "k2", 2**70, b"\x00\r\n" * 5000, ""),
    ("SCRIPT LOAD", "return 1"),
    (b"CLIENT SETNAME", "x"),
    ("SET", "view", memoryview(b"bytes")),
]
