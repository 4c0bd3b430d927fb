"""A call's held sends and its first tries' claims (`store.outbox.hold`): in a worker, their
round trip is shared with other jobs' writes, the hold still first and the claims answered."""

from __future__ import annotations

import asyncio
import uuid

from alerter.store import keys
from alerter.store.coalesce import Coalescer
from alerter.store.outbox import held, hold
from tests.kit.redis import CountingRedis


async def test_the_hold_and_claims_share_a_round_trip_with_other_jobs_writes(
    redis: CountingRedis,
) -> None:
    coalescer = Coalescer(redis)
    call_id = str(uuid.uuid4())
    mine, taken = (keys.sent_marker(call_id, "r", name) for name in ("a", "b"))
    await redis.set(taken, "sending:other")
    other = f"other-{uuid.uuid4().hex[:8]}"
    sends = [{"subject": call_id, "destination": "a"}]

    redis.pipelines = 0
    claims, _ = await asyncio.gather(
        hold(redis, call_id, sends, [mine, taken], 30, coalescer),
        coalescer.execute(lambda pipe: pipe.set(other, "1")),
    )
    assert redis.pipelines == 1  # one round trip for both jobs' commands
    assert claims[0] is not None and claims[1] is None  # a claim already held is not taken
    assert await redis.get(mine) == claims[0].encode()
    assert 0 < await redis.ttl(mine) <= 30
    assert await held(redis, call_id) == sends
    assert await redis.get(other) == b"1"


async def test_without_a_coalescer_the_hold_is_its_own_round_trip(redis: CountingRedis) -> None:
    call_id = str(uuid.uuid4())
    marker = keys.sent_marker(call_id, "r", "a")
    claims = await hold(redis, call_id, [{"subject": call_id}], [marker], 30)
    assert claims[0] is not None and await redis.get(marker) == claims[0].encode()
    assert await held(redis, call_id) == [{"subject": call_id}]
