"""Episodes on real servers: resolved messages of frequency rules, flatline rules, and the
tick that runs once per period whatever the number of workers, across restarts."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import redis.asyncio as aioredis

from alerter.clock import Clock, system_clock
from alerter.rules.model import RuleSet
from alerter.settings import Settings
from alerter.worker import app as worker_module
from alerter.worker.app import make_worker
from alerter.worker.runner import run_worker
from tests.conftest import ApiServer, make_settings, rules_from
from tests.kit.clock import AheadClock
from tests.standins import DigaStandIn, Receiver, make_log, wait_until

RULES = """
destinations:
  hooks: ${HOOKS}
rules:
  - name: transfer-burst
    match: {category: TRANSFER}
    group_by: [agent_id]
    when: {count: 2, within: 2s}
    notify: [hooks]
  - name: agent-quiet
    when: {no_calls: 2s}
    call: {agent_id: {in: [ag-quiet, ag-night]}}
    group_by: [agent_id]
    notify: [hooks]
  - name: agent-quiet-at-night
    when: {no_calls: 1s}
    call: {agent_id: ag-night}
    mute_windows: [{hours: "00:00-24:00"}]
    notify: [hooks]
"""


def hook_url(receiver: Receiver) -> str:
    return receiver.url.replace("http", "json", 1) + "/alerts"


@pytest.fixture
def rules(tmp_path: Path, hook: Receiver) -> RuleSet:
    return rules_from(tmp_path, RULES, {"HOOKS": hook_url(hook)})


@pytest.fixture
def settings(diga: DigaStandIn) -> Settings:
    return make_settings(diga.url, ALERTER_TICK_SECONDS=1, ALERTER_WORKER_METRICS_PORT=0)


@asynccontextmanager
async def running_worker(
    settings: Settings, rules: RuleSet, redis_url: str, clock: Clock = system_clock
) -> AsyncIterator[None]:
    """The real arq worker, not in burst mode (the tick is a cron job), until the block ends."""
    stop = asyncio.Event()
    made = partial(make_worker, settings, rules, redis_url, clock=clock)
    task = asyncio.create_task(run_worker(made, stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def post(api: ApiServer, call_id: str, **fields: Any) -> None:
    async with httpx.AsyncClient(base_url=api.url) as client:
        answer = await client.post("/webhooks/diga", json={"call": {"id": call_id, **fields}})
        assert answer.status_code == 202, answer.text


def messages(hook: Receiver) -> list[dict[str, Any]]:
    return [body for body in hook.bodies() if isinstance(body, dict)]


def titled(hook: Receiver, text: str) -> list[dict[str, Any]]:
    return [m for m in messages(hook) if text in m.get("title", "")]


async def until(predicate: Callable[[], bool], timeout: float = 20) -> bool:
    return await asyncio.to_thread(wait_until, predicate, timeout)


def ticks_run(redis_url: str) -> int:
    """Ticks that have run (each keeps its result, under its period's job id)."""
    with redis.Redis.from_url(redis_url) as client:
        return sum(1 for _ in client.scan_iter("arq:result:episode_tick:*", count=1000))


async def more_ticks(redis_url: str, count: int = 2) -> None:
    """Wait for `count` more ticks: each is a chance to send what must not be sent."""
    start = ticks_run(redis_url)
    assert await until(lambda: ticks_run(redis_url) >= start + count)


async def test_a_frequency_episode_fires_then_resolves_once_with_the_same_key(
    rules: RuleSet,
    settings: Settings,
    redis_url: str,
    diga: DigaStandIn,
    hook: Receiver,
    api_for: Callable[..., ApiServer],
) -> None:
    api = api_for(rules, ALERTER_TICK_SECONDS=1)
    async with running_worker(settings, rules, redis_url):
        for _ in range(3):
            call_id = str(uuid.uuid4())
            diga.add_call(call_id, [make_log(call_id, category="TRANSFER")])
            await post(api, call_id, agent_id="ag-busy")
        assert await until(lambda: bool(titled(hook, "transfer-burst")))
        assert await until(lambda: bool(titled(hook, "[RESOLVED] transfer-burst")), 15)
        await more_ticks(redis_url)  # nothing more to say
    firing = [m for m in titled(hook, "transfer-burst") if "RESOLVED" not in m["title"]]
    resolved = titled(hook, "[RESOLVED] transfer-burst")
    assert len(firing) == 1 and len(resolved) == 1, messages(hook)
    assert firing[0]["type"] != "success" and resolved[0]["type"] == "success"
    key = next(line for line in firing[0]["message"].splitlines() if line.startswith("Key: "))
    assert key in resolved[0]["message"]
    assert "agent_id=ag-busy" in resolved[0]["title"]
    assert "covered 3 calls" in resolved[0]["message"]


async def test_a_flatline_fires_once_per_silence_and_resolves_when_calls_resume(
    rules: RuleSet,
    settings: Settings,
    redis_url: str,
    hook: Receiver,
    api_for: Callable[..., ApiServer],
) -> None:
    api = api_for(rules)
    async with running_worker(settings, rules, redis_url):
        await post(api, str(uuid.uuid4()), agent_id="ag-quiet")
        await post(api, str(uuid.uuid4()), agent_id="ag-night")
        assert await until(lambda: len(titled(hook, "agent-quiet: no calls")) == 2)
        await more_ticks(redis_url)  # the silence goes on: no second alert for it
        assert len(titled(hook, "agent-quiet: no calls")) == 2
        await post(api, str(uuid.uuid4()), agent_id="ag-quiet")
        assert await until(lambda: bool(titled(hook, "[RESOLVED] agent-quiet")))
        await more_ticks(redis_url, 1)
    firing = titled(hook, "agent-quiet: no calls")
    assert sorted("ag-quiet" in m["title"] for m in firing) == [False, True]
    resolved = titled(hook, "[RESOLVED] agent-quiet")
    assert len(resolved) == 1 and "agent_id=ag-quiet" in resolved[0]["title"]
    assert "Calls resumed" in resolved[0]["message"]
    quiet_key = next(
        line
        for line in firing[[("ag-quiet" in m["title"]) for m in firing].index(True)][
            "message"
        ].splitlines()
        if line.startswith("Key: ")
    )
    assert quiet_key in resolved[0]["message"]
    # The rule muted all day never spoke, though its group was silent throughout.
    assert not titled(hook, "agent-quiet-at-night")


async def test_the_tick_runs_once_per_period_across_workers_and_restarts(
    rules: RuleSet,
    settings: Settings,
    redis_url: str,
    hook: Receiver,
    api_for: Callable[..., ApiServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runs: Counter[str] = Counter()
    real_tick = worker_module.episode_tick

    async def counted_tick(ctx: dict[str, Any]) -> str:
        runs[ctx["job_id"]] += 1
        return await real_tick(ctx)

    monkeypatch.setattr(worker_module, "episode_tick", counted_tick)
    clock = AheadClock()
    api = api_for(rules, clock=clock)
    await post(api, str(uuid.uuid4()), agent_id="ag-quiet")
    clock.advance(2.5)  # silent past `no_calls` while no worker runs
    async with (
        running_worker(settings, rules, redis_url, clock),
        running_worker(settings, rules, redis_url, clock),
    ):
        assert await until(lambda: len(titled(hook, "agent-quiet: no calls")) == 1)
        await more_ticks(redis_url, 3)
    async with running_worker(settings, rules, redis_url, clock):  # a restart
        await more_ticks(redis_url, 3)
    assert len(titled(hook, "agent-quiet: no calls")) == 1  # not missed, not repeated
    assert len(runs) >= 5 and set(runs.values()) == {1}, runs
    async with aioredis.Redis.from_url(redis_url) as client:
        outbox = await client.zcard("alerter:episodes:outbox")
    assert outbox == 0


async def test_a_flatline_group_unseen_for_the_retention_is_dropped(
    rules: RuleSet,
    diga: DigaStandIn,
    redis_url: str,
    hook: Receiver,
    api_for: Callable[..., ApiServer],
) -> None:
    """A group per caller must not grow forever: the tick drops a group (and its open
    episode) once no call of it came for ALERTER_CALL_RETENTION."""
    short = make_settings(
        diga.url,
        ALERTER_TICK_SECONDS=1,
        ALERTER_WORKER_METRICS_PORT=0,
        ALERTER_CALL_RETENTION="4s",
    )
    api = api_for(rules)
    groups_key = "alerter:flatline:agent-quiet:seen"
    async with running_worker(short, rules, redis_url):
        await post(api, str(uuid.uuid4()), agent_id="ag-quiet")
        with redis.Redis.from_url(redis_url) as client:
            assert client.hlen(groups_key) == 1
            # It fires once silent for 2 s, then is dropped once unseen for 4 s.
            assert await until(lambda: len(titled(hook, "agent-quiet: no calls")) == 1)
            assert await until(lambda: client.hlen(groups_key) == 0, 15)
            episodes = client.scan_iter("alerter:episode:agent-quiet:*")
            assert [k for k in episodes if not k.endswith(b":notified")] == []  # that one expires
        await more_ticks(redis_url)
    assert len(titled(hook, "agent-quiet: no calls")) == 1  # dropped, not fired again


THROTTLED = """
destinations:
  hooks: ${HOOKS}
rules:
  - name: transfer-burst
    match: {category: TRANSFER}
    when: {count: 2, within: 1m}
    repeat_interval: 1h
    notify: [hooks]
"""


async def test_an_episode_whose_firing_was_throttled_resolves_without_a_message(
    tmp_path: Path, diga: DigaStandIn, hook: Receiver, redis_url: str
) -> None:
    """Two episodes of one group an hour's throttle apart: the first fires and resolves; the
    second's firing is throttled (never sent), so its end sends nothing either. Time moves
    by the injected clock."""
    from arq.connections import ArqRedis

    from alerter.metrics import Metrics
    from alerter.models import CallEnded
    from alerter.pipeline.decide import NoiseStores
    from alerter.pipeline.deliver import Sender
    from alerter.pipeline.fetch import DigaClient
    from alerter.rules.reload import RulesHolder
    from alerter.store.episodes import Episodes
    from alerter.store.queue import CallQueue, serialize_job
    from alerter.store.signature_counts import SignatureCounts
    from alerter.store.silences import Silences
    from alerter.store.state import State
    from alerter.store.windows import Windows
    from alerter.worker.deps import Deps
    from alerter.worker.episodes import episode_tick
    from tests.conftest import DIGA_KEY, run_worker_until_idle

    rules = rules_from(tmp_path, THROTTLED, {"HOOKS": hook_url(hook)})
    clock = AheadClock()

    async def calls_then_tick(count: int) -> None:
        async with aioredis.Redis.from_url(redis_url) as client:
            for _ in range(count):
                call_id = str(uuid.uuid4())
                diga.add_call(call_id, [make_log(call_id)])
                assert await CallQueue(client, 0, clock=clock).enqueue(CallEnded(call_id=call_id))
        settings = make_settings(diga.url)
        await run_worker_until_idle(settings, rules, redis_url, clock=clock)
        clock.advance(120)  # past the window: the episode resolves at the next tick
        client = ArqRedis(
            connection_pool=redis.asyncio.ConnectionPool.from_url(redis_url),
            job_serializer=serialize_job,
        )
        deps = Deps(
            diga=DigaClient(diga.url, DIGA_KEY),
            state=State(client, clock=clock),
            noise=NoiseStores(
                Windows(client),
                Silences(client, clock=clock),
                SignatureCounts(client),
                Episodes(client),
            ),
            sender=Sender(threads=1),
            rules=RulesHolder.of(rules),
            metrics=Metrics(),
            budget=30,
            clock=clock,
        )
        try:
            assert (await episode_tick({"deps": deps, "redis": client})).startswith("1 resolved")
        finally:
            await deps.diga.aclose()
            deps.sender.close()
            await client.aclose()
            await client.connection_pool.disconnect()
        await run_worker_until_idle(settings, rules, redis_url, clock=clock)  # its message

    await calls_then_tick(2)
    assert [("RESOLVED" in m["title"]) for m in messages(hook)] == [False, True]
    clock.advance(600)  # a second episode, well within the hour's throttle
    await calls_then_tick(2)
    assert len(messages(hook)) == 2, messages(hook)  # its firing was throttled: no resolve
