"""A worker's clients, made by hand for a test that runs one job or the tick itself (as
`make_worker`'s `on_startup` makes them), on one clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from arq.connections import ArqRedis
from redis.asyncio import ConnectionPool

from alerter.budgets import Budgets
from alerter.clock import Clock, system_clock
from alerter.metrics import Metrics
from alerter.pipeline.decide import NoiseStores
from alerter.pipeline.deliver import Sender
from alerter.pipeline.fetch import DigaClient
from alerter.rules.model import RuleSet
from alerter.rules.reload import RulesHolder
from alerter.store.episodes import Episodes
from alerter.store.queue import serialize_job
from alerter.store.signature_counts import SignatureCounts
from alerter.store.silences import Silences
from alerter.store.state import State
from alerter.store.windows import Windows
from alerter.worker.app import close_deps
from alerter.worker.deps import Deps
from tests.kit.budgets import FAST
from tests.standins import DIGA_KEY


def noise_stores(client: ArqRedis, clock: Clock = system_clock) -> NoiseStores:
    return NoiseStores(
        Windows(client), Silences(client, clock=clock), SignatureCounts(client), Episodes(client)
    )


@asynccontextmanager
async def worker_deps(
    redis_url: str,
    diga_url: str,
    rules: RuleSet | RulesHolder,
    clock: Clock = system_clock,
    *,
    threads: int = 1,
    budgets: Budgets = FAST,
) -> AsyncIterator[tuple[Deps, ArqRedis]]:
    """(deps, client): a job's `ctx` is `{"deps": deps, "redis": client, ...}`; every client
    holds to `budgets` (the suite's fast retries unless given)."""
    pool = ConnectionPool.from_url(redis_url)
    client = ArqRedis(connection_pool=pool, job_serializer=serialize_job)
    deps = Deps(
        diga=DigaClient(diga_url, DIGA_KEY, budgets=budgets, clock=clock),
        state=State(client, clock=clock),
        noise=noise_stores(client, clock),
        sender=Sender(threads=threads, budgets=budgets),
        rules=rules if isinstance(rules, RulesHolder) else RulesHolder.of(rules),
        metrics=Metrics(),
        budget=30,
        budgets=budgets,
        clock=clock,
    )
    try:
        yield deps, client
    finally:
        await close_deps(deps)  # as the worker's on_shutdown closes them
        await client.aclose()
        await client.connection_pool.disconnect()
