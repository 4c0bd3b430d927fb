"""Correlated incidents on real servers: many agents failing the same way give one incident
message, later alerts fold into it, and it resolves once its window passes (injected clock)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import redis

from alerter.store import keys
from alerter.worker.episodes import episode_tick
from tests.conftest import make_settings, rules_from, run_worker_until_idle
from tests.kit.build import hook_url, messages
from tests.kit.clock import AheadClock
from tests.kit.stores import worker_deps
from tests.kit.webhook import post_calls
from tests.standins import DigaStandIn, Receiver, make_log

RULES = """
destinations:
  hooks: ${HOOKS}
rules:
  - name: tts-down
    match: {category: TRANSFER}
    group_by: [agent_id]
    call: {agent_id: [ag-1, ag-2, ag-3, ag-4, ag-5]}
    correlate: {by: signature, min_groups: 3, within: 10m}
    notify: [hooks]
  - name: transfers-elsewhere
    match: {category: TRANSFER}
    call: {agent_id: ag-6}
    inhibited_by: [tts-down]
    notify: [hooks]
"""
AGENTS = ("ag-1", "ag-2", "ag-3", "ag-4", "ag-5")


def outcomes(redis_url: str, rule: str = "tts-down") -> list[str]:
    with redis.Redis.from_url(redis_url) as client:
        rows = client.xrange(keys.HISTORY)
    return sorted(row[b"outcome"].decode() for _, row in rows if row.get(b"rule") == rule.encode())


async def tick(rules: Any, redis_url: str, diga: DigaStandIn, clock: Any) -> str:
    async with worker_deps(redis_url, diga.url, rules, clock) as (deps, client):
        return await episode_tick({"deps": deps, "redis": client})


async def test_five_agents_failing_alike_give_one_incident_and_at_most_two_single_alerts(
    tmp_path: Path, api_for: Any, diga: DigaStandIn, hook: Receiver, redis_url: str
) -> None:
    rules = rules_from(tmp_path, RULES, {"HOOKS": hook_url(hook)})
    clock = AheadClock()
    api = api_for(rules, clock=clock)

    settings = make_settings(diga.url)
    await post_calls(api.url, diga, AGENTS)
    await run_worker_until_idle(settings, rules, redis_url, clock=clock)
    sent = messages(hook)
    incidents = [m for m in sent if "incident: 3 groups fail alike" in m["title"]]
    assert len(incidents) == 1, [m["title"] for m in sent]
    assert len(sent) - len(incidents) == 2  # min_groups - 1 single alerts, then the incident
    named = [agent for agent in AGENTS if f"agent_id={agent}" in incidents[0]["message"]]
    singles = {agent for m in sent if m not in incidents for agent in AGENTS if agent in m["title"]}
    assert len(named) >= 3 and singles <= set(named)  # every group that alerted by then
    assert outcomes(redis_url).count("correlated") == 2  # the later groups folded into it
    # A rule inhibited by the incident's rule is quiet on the same failure while it is open.
    await post_calls(api.url, diga, ["ag-6"])
    await run_worker_until_idle(settings, rules, redis_url, clock=clock)
    assert outcomes(redis_url, "transfers-elsewhere") == ["inhibited"]
    # Once the window passes with no alert of the signature, the incident resolves, once,
    # naming every group that folded into it.
    clock.advance(11 * 60)
    assert (await tick(rules, redis_url, diga, clock)).startswith("1 resolved")
    await run_worker_until_idle(settings, rules, redis_url, clock=clock)
    resolved = [m for m in messages(hook) if "RESOLVED" in m["title"]]
    assert len(resolved) == 1
    assert all(f"agent_id={agent}" in resolved[0]["title"] for agent in AGENTS), resolved
    assert (await tick(rules, redis_url, diga, clock)).startswith("0 resolved")


def test_the_backtest_replays_an_incident_as_the_live_scripts_decide(tmp_path: Path) -> None:
    from alerter.models import CallEnded, parse_logs
    from alerter.replay.simulate import PastCall, simulate

    rules = rules_from(tmp_path, RULES, {"HOOKS": "json://127.0.0.1:9/x"})
    day = 1_795_000_000.0

    def call(agent: str, at: float) -> PastCall:
        call_id = str(uuid.uuid4())
        fields = {"agent_id": agent}
        return PastCall(
            CallEnded(call_id=call_id, fields=fields), at, parse_logs([make_log(call_id)])
        )

    calls = [call(agent, day + i) for i, agent in enumerate(AGENTS)]
    calls.append(call("ag-1", day + 11 * 60))  # the incident resolved: its own alert again
    (result, _) = simulate(rules, calls, (), day, day + 3600)
    (today,) = result.days
    assert (today.matched, today.alerts) == (6, 4)  # two own alerts, the incident, one more
    assert dict(today.suppressed) == {"correlated": 2}
