"""Silences: Alertmanager's matcher operators, stored so older readers still work."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from redis.asyncio import Redis

from alerter.rules.matchers import Matcher, parse_matcher
from alerter.store import keys
from alerter.store.coalesce import Coalescer
from alerter.store.silences import Silences
from tests.kit.redis import CountingRedis


@pytest.mark.parametrize(
    ("text", "labels", "holds"),
    [
        ("agent_id=ag-1", {"agent_id": "ag-1"}, True),
        ("agent_id=ag-1", {"agent_id": "ag-10"}, False),
        ("agent_id!=ag-1", {"agent_id": "ag-2"}, True),
        ("agent_id!=ag-1", {}, True),  # a missing field is empty
        ("event=~transfer_.*", {"event": "transfer_failed"}, True),
        ("event=~transfer", {"event": "transfer_failed"}, False),  # anchored, as Alertmanager
        ("data.failure_reason!~.*timeout.*", {"data.failure_reason": "busy"}, True),
        ("data.failure_reason!~.*timeout.*", {"data.failure_reason": "sip timeout"}, False),
        ("status = failed", {"status": "failed"}, True),
    ],
)
def test_matcher_operators(text: str, labels: dict[str, str], holds: bool) -> None:
    assert parse_matcher(text).holds(labels) is holds


@pytest.mark.parametrize("text", ["agent_id", "=x", "a!b", "event=~(unclosed"])
def test_bad_matchers_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_matcher(text)


async def test_operators_survive_storage_and_equalities_stay_readable(redis: Redis) -> None:
    now = time.time()
    silences = Silences(redis)
    made = await silences.add(
        "r", [parse_matcher("agent_id=ag-1"), parse_matcher("event=~x.*")], now, now + 60, "c"
    )
    stored = json.loads(await redis.get(keys.silence(made.id)))
    assert stored["matchers"] == {"agent_id": "ag-1"}  # the first format, for older readers
    [read] = [s for s in await silences.all() if s.id == made.id]
    assert read.matchers == (Matcher("agent_id", "=", "ag-1"), Matcher("event", "=~", "x.*"))
    assert read.matches("r", {"agent_id": "ag-1", "event": "xyz"}, now + 1)
    assert not read.matches("r", {"agent_id": "ag-1", "event": "yz"}, now + 1)


async def test_silences_stored_in_the_first_format_still_match(redis: Redis) -> None:
    now = time.time()
    old = {
        "id": "0ld5i1en",
        "rule": None,
        "matchers": {"agent_id": "ag-7"},
        "starts": now,
        "ends": now + 60,
        "comment": "before operators",
    }
    await redis.set(keys.silence("0ld5i1en"), json.dumps(old))
    await redis.sadd(keys.SILENCES, "0ld5i1en")
    [read] = [s for s in await Silences(redis).all() if s.id == "0ld5i1en"]
    assert read.matches("any", {"agent_id": "ag-7"}, now + 1)
    assert not read.matches("any", {"agent_id": "ag-8"}, now + 1)


async def test_the_store_refuses_an_end_past_90_days_from_now(redis: Redis) -> None:
    now = time.time()
    silences = Silences(redis)
    with pytest.raises(ValueError, match="90 days from now"):
        await silences.add("r", {}, now, now + 91 * 86_400, "c")
    made = await silences.add("r", {}, now, now + 60 * 86_400, "c")
    with pytest.raises(ValueError, match="90 days from now"):
        await silences.set_end(made.id, made.ends + 60 * 86_400)  # counted from now
    changed = await silences.set_end(made.id, now + 89 * 86_400)
    assert changed is not None and changed.ends == now + 89 * 86_400


async def test_a_silence_made_before_re2_that_re2_cannot_run_is_left_out(redis: Redis) -> None:
    now = time.time()
    old = {
        "id": "b4ckr3f5",
        "rule": None,
        "match": [["agent_id", "=~", r"(a)\1"]],
        "starts": now,
        "ends": now + 60,
        "comment": "made when regexes ran on re",
    }
    await redis.set(keys.silence("b4ckr3f5"), json.dumps(old))
    await redis.sadd(keys.SILENCES, "b4ckr3f5")
    assert "b4ckr3f5" not in [s.id for s in await Silences(redis).all()]


async def test_a_workers_read_shares_its_round_trips_with_other_jobs_commands(
    redis: CountingRedis,
) -> None:
    coalescer = Coalescer(redis)
    silences = Silences(redis, coalescer=coalescer)
    redis.pipelines = redis.commands = 0
    none, _ = await asyncio.gather(
        silences.all(), coalescer.execute(lambda pipe: pipe.set("other", "1"))
    )
    assert (
        none == [] and redis.pipelines == 1 and redis.commands == 0
    )  # the ids read with the other job's write
    now = time.time()
    made = await Silences(redis).add("r", {"agent_id": "ag-1"}, now, now + 60, "c")
    await redis.set(keys.silence_hits(made.id), 3)
    redis.pipelines = redis.commands = 0
    [read] = await silences.all()
    assert (
        redis.pipelines == 2 and redis.commands == 0
    )  # the ids, then every value and count in one more
    assert read.id == made.id and read.hits == 3 and read.rule == "r"
    assert read.matches("r", {"agent_id": "ag-1"}, now + 1)
