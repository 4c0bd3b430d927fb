"""Episodes on real servers: resolved messages of frequency rules, flatline rules, and the
tick that runs once per period whatever the number of workers, across restarts."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from alerter.rules.model import RuleSet
from alerter.settings import Settings
from alerter.store import keys
from alerter.worker import app as worker_module
from tests.conftest import ApiServer, make_settings, rules_from
from tests.kit.build import hook_url, messages
from tests.kit.clock import AheadClock
from tests.kit.poll import until
from tests.kit.webhook import accepted
from tests.kit.worker import more_ticks, running_worker
from tests.standins import DigaStandIn, Receiver, make_log

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


@pytest.fixture
def rules(tmp_path: Path, hook: Receiver) -> RuleSet:
    return rules_from(tmp_path, RULES, {"HOOKS": hook_url(hook)})


@pytest.fixture
def settings(diga: DigaStandIn) -> Settings:
    return make_settings(diga.url, ALERTER_TICK_SECONDS=1, ALERTER_WORKER_METRICS_PORT=0)


def titled(hook: Receiver, text: str) -> list[dict[str, Any]]:
    return [m for m in messages(hook) if text in m.get("title", "")]


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
            await accepted(api.url, call_id, agent_id="ag-busy")
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
        await accepted(api.url, str(uuid.uuid4()), agent_id="ag-quiet")
        await accepted(api.url, str(uuid.uuid4()), agent_id="ag-night")
        assert await until(lambda: len(titled(hook, "agent-quiet: no calls")) == 2)
        await more_ticks(redis_url)  # the silence goes on: no second alert for it
        assert len(titled(hook, "agent-quiet: no calls")) == 2
        await accepted(api.url, str(uuid.uuid4()), agent_id="ag-quiet")
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
    await accepted(api.url, str(uuid.uuid4()), agent_id="ag-quiet")
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
        outbox = await client.zcard(keys.EPISODES_OUTBOX)
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
    groups_key = keys.flatline_seen("agent-quiet")
    async with running_worker(short, rules, redis_url):
        await accepted(api.url, str(uuid.uuid4()), agent_id="ag-quiet")
        with redis.Redis.from_url(redis_url) as client:
            assert client.hlen(groups_key) == 1
            # It fires once silent for 2 s, then is dropped once unseen for 4 s.
            assert await until(lambda: len(titled(hook, "agent-quiet: no calls")) == 1)
            assert await until(lambda: client.hlen(groups_key) == 0, 15)
            episodes = client.scan_iter(keys.episode("agent-quiet", "*"))
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
    from alerter.models import CallEnded
    from alerter.store.queue import CallQueue
    from alerter.worker.episodes import episode_tick
    from tests.conftest import run_worker_until_idle
    from tests.kit.stores import worker_deps

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
        async with worker_deps(redis_url, diga.url, rules, clock) as (deps, client):
            ticked = await episode_tick({"deps": deps, "redis": client})
        assert ticked.startswith("1 resolved")
        await run_worker_until_idle(settings, rules, redis_url, clock=clock)  # its message

    await calls_then_tick(2)
    assert [("RESOLVED" in m["title"]) for m in messages(hook)] == [False, True]
    clock.advance(600)  # a second episode, well within the hour's throttle
    await calls_then_tick(2)
    assert len(messages(hook)) == 2, messages(hook)  # its firing was throttled: no resolve
