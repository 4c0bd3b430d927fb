"""The worker's long-lived clients (`worker.app.make_deps`): what every alerting call reads
and counts in Redis goes in round trips shared with other jobs' commands."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alerter.clock import system_clock, system_monotonic
from alerter.rules.reload import RulesHolder
from alerter.store.coalesce import Coalescer
from alerter.worker.app import close_deps, make_deps
from tests.conftest import make_settings, rules_from
from tests.kit.redis import CountingRedis

ONE_RULE = """
destinations:
  hook: json://127.0.0.1:9/alerts
rules:
  - name: transfer-failed
    match: {category: [TRANSFER]}
    notify: [hook]
"""


async def test_an_alerting_calls_silences_and_signature_share_round_trips(
    redis: CountingRedis, redis_url: str, tmp_path: Path
) -> None:
    coalescer = Coalescer(redis)
    holder = RulesHolder.of(rules_from(tmp_path, ONE_RULE))
    deps = make_deps(
        make_settings("http://127.0.0.1:9"),
        holder,
        redis,
        coalescer,
        redis_url,
        outbox=None,
        clock=system_clock,
        monotonic=system_monotonic,
        claim_lease_seconds=30,
    )
    try:
        await deps.noise.signatures.seen("d0", "TRANSFER x", "c0", 14, 1_234_567_800.0, "e")
        # signature.lua loaded: a fresh server answered NOSCRIPT first
        redis.pipelines = redis.commands = 0
        silences, seen, _ = await asyncio.gather(
            deps.noise.silences.all(),
            deps.noise.signatures.seen("d1", "TRANSFER x", "c1", 14, 1_234_567_800.0, "e"),
            coalescer.execute(lambda pipe: pipe.set("other", "1")),
        )
        assert redis.pipelines == 1 and redis.commands == 0  # neither a round trip of its own
        assert silences == [] and seen == (True, 1)
    finally:
        await close_deps(deps)
