"""Waiting on a condition, never on a fixed time: each returns as soon as it holds, and
answers False (or the last result) at the timeout, for the test's assert to say what."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0, step: float = 0.02) -> bool:
    """From a thread or sync test: poll `predicate` until it holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


async def until(predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
    """From an async test, a blocking `predicate` (a sync Redis read, a receiver's list):
    polled off the event loop, which the servers under test may share."""
    return await asyncio.to_thread(wait_until, predicate, timeout)


async def eventually(check: Callable[[], Awaitable[T]], timeout: float = 10.0) -> T:
    """From an async test, an async `check`: its first truthy result, or its last one."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.05)
