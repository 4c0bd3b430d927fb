"""A real worker running (not in burst mode: the tick is a cron job) while a block runs,
and counting its ticks: each tick is a chance to send what must not be sent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import redis

from alerter.clock import Clock, system_clock
from alerter.rules.model import RuleSet
from alerter.settings import Settings
from alerter.store import keys
from alerter.worker.app import make_worker
from alerter.worker.episodes import TICK_FUNCTION
from alerter.worker.runner import run_worker
from tests.kit.budgets import FAST
from tests.kit.poll import until


@asynccontextmanager
async def running_worker(
    settings: Settings, rules: RuleSet, redis_url: str, clock: Clock = system_clock, **options: Any
) -> AsyncIterator[None]:
    """The real arq worker until the block ends. `options`: more of `make_worker`'s
    (`budgets`: the suite's fast retries unless given)."""
    stop = asyncio.Event()
    options.setdefault("budgets", FAST)
    made = partial(make_worker, settings, rules, redis_url, clock=clock, **options)
    task = asyncio.create_task(run_worker(made, stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


def ticks_run(redis_url: str) -> int:
    """Ticks that have run (each keeps its result, under its period's job id)."""
    with redis.Redis.from_url(redis_url) as client:
        return sum(1 for _ in client.scan_iter(f"{keys.ARQ_RESULT}{TICK_FUNCTION}:*", count=1000))


async def more_ticks(redis_url: str, count: int = 2) -> None:
    """Wait for `count` more ticks."""
    start = ticks_run(redis_url)
    assert await until(lambda: ticks_run(redis_url) >= start + count)
