"""`python -m bench scale`: docs/scale.md's partitions by agent, simulated on this machine.

N Redis-compatible servers (the embedded server the tests use) are N partitions, and one
more is the single partition alerter is today. The same calls (many agents, an hour of
simulated time) go through the real intake (`CallQueue.enqueue`, with the rate rules'
ended-call counters), the real `evaluate` and the real `decide` in both: in the partitions,
each call in the one its agent's crc32 names, the partitions run concurrently. Then:

- per-agent rules (grouped by `agent_id`): every decision (outcome, why, group, headline,
  window) compared with the single partition's;
- a fleet-wide rate rule: decided inside a partition it sees only its share of the fleet
  (counted, to show why it cannot be decided there). A fleet evaluator's read across the
  partitions is compared with the counts the single partition decided on: ZCOUNT of the
  rule's own window keys in each partition, summed (exact: each call is in one partition),
  and per-bucket counters (ended and matched calls a 10-second bucket, HINCRBY), summed.

BENCH_SCALE_PARTITIONS (4), BENCH_SCALE_CALLS (6000), BENCH_SCALE_AGENTS (200).
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import time
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from redis.asyncio import Redis

from alerter.models import CallEnded, LogEntry
from alerter.pipeline.decide import CallContext, Decision, NoiseStores, decide
from alerter.pipeline.evaluate import ended_counters, evaluate
from alerter.rules.fired import fired_rules
from alerter.rules.load import load_rules_text
from alerter.rules.model import RuleSet
from alerter.rules.noise import group_key
from alerter.store import keys
from alerter.store.embedded import EmbeddedServer
from alerter.store.episodes import Episodes
from alerter.store.queue import CallQueue
from alerter.store.signature_counts import SignatureCounts
from alerter.store.silences import Silences
from alerter.store.windows import Windows, millis
from bench.common import table
from bench.intake import cpu_seconds

PARTITIONS = int(os.environ.get("BENCH_SCALE_PARTITIONS", "4"))
CALLS = int(os.environ.get("BENCH_SCALE_CALLS", "6000"))
AGENTS = int(os.environ.get("BENCH_SCALE_AGENTS", "200"))
SPAN = 3600.0  # simulated seconds the calls are spread over
BUCKET = 10  # seconds: the fleet counters' bucket (docs/scale.md)
FLEET_RULE = "fleet-failure-rate"
FLEET_WITHIN = 900.0

RULES = f"""
destinations: {{d: 'json://127.0.0.1:9/x'}}
rules:
  - name: agent-transfers
    match: {{category: TRANSFER}}
    group_by: [agent_id]
    when: {{count: 3, within: 10m}}
    repeat_interval: 15m
    notify: [d]
  - name: agent-errors
    match: {{category: AGENT}}
    group_by: [agent_id, event]
    repeat_interval: 10m
    notify: [d]
  - name: agent-failure-rate
    match: {{category: [TRANSFER, AGENT]}}
    group_by: [agent_id]
    when: {{rate: 0.3, within: 15m, min_calls: 8}}
    notify: [d]
  - name: {FLEET_RULE}
    match: {{category: [TRANSFER, AGENT]}}
    when: {{rate: 0.12, within: 15m, min_calls: 40}}
    notify: [d]
"""


@dataclass(frozen=True)
class Call:
    at: float
    call: CallEnded
    agent: str
    logs: tuple[LogEntry, ...]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Partition:
    redis: Redis
    pid: int
    clock: Clock = field(default_factory=Clock)
    calls: int = 0

    def stores(self) -> NoiseStores:
        r = self.redis
        return NoiseStores(Windows(r), Silences(r), SignatureCounts(r), Episodes(r))


def workload(seed: int = 7) -> list[Call]:
    """An hour of calls from AGENTS agents, a few of them much worse than the rest; times
    end a minute before now, so every key's expiry is in the future."""
    rnd = random.Random(seed)
    start = time.time() - SPAN - 60
    bad = {f"agent-{i}" for i in range(0, AGENTS, 20)}
    calls = []
    for i in range(CALLS):
        at = start + SPAN * i / CALLS
        agent = f"agent-{min(int(rnd.paretovariate(1.2)) - 1, AGENTS - 1)}"
        if rnd.random() < 0.5:
            agent = f"agent-{rnd.randrange(AGENTS)}"
        failing = rnd.random() < (0.45 if agent in bad else 0.06)
        category, event = rnd.choice(
            [("TRANSFER", "transfer_failed"), ("AGENT", "llm_timeout"), ("AGENT", "llm_refused")]
        )
        logs = ()
        if failing:
            logs = (
                LogEntry(
                    id=f"log-{i}",
                    timestamp=datetime.fromtimestamp(at - 5, UTC),
                    level="ERROR",
                    category=category,
                    event=event,
                    data={"failure_reason": rnd.choice(["408", "503", "timeout"])},
                ),
            )
        call = CallEnded(
            call_id=str(uuid.UUID(int=rnd.getrandbits(128))), fields={"agent_id": agent}
        )
        calls.append(Call(at, call, agent, logs))
    return calls


def partition_of(agent: str, partitions: int) -> int:
    """The model's routing: crc32 of the agent id, the same in every api replica."""
    return zlib.crc32(agent.encode()) % partitions


Key = tuple[str, str]  # (call id, rule)


def summary(decision: Decision) -> tuple[object, ...]:
    """What a decision says, without the signature note (see `_same`)."""
    window = decision.window
    return (
        decision.outcome,
        decision.detail,
        decision.key.digest if decision.key else None,
        decision.headline,
        (window.count, window.calls) if window else None,
        decision.episode is not None,
    )


async def ingest(
    part: Partition, calls: list[Call], rules: RuleSet, out: dict[Key, Decision], fleet: bool
) -> None:
    """One partition's calls in time order, through the intake and the decide stage."""
    queue = CallQueue(part.redis, settle_seconds=0, clock=part.clock)
    stores = part.stores()
    fleet_rule = next(rule for rule in rules.rules if rule.name == FLEET_RULE)
    for item in calls:
        part.clock.now = item.at
        part.calls += 1
        await queue.enqueue(item.call, ended_counters=ended_counters(rules, item.call))
        matches = evaluate(rules, item.call, item.logs)
        if fleet:
            bucket = int(item.at // BUCKET)
            pipe = part.redis.pipeline(transaction=False)
            pipe.hincrby(f"fleet:{FLEET_RULE}:ended", str(bucket), 1)
            if any(match.rule is fleet_rule for match in matches):
                pipe.hincrby(f"fleet:{FLEET_RULE}:matched", str(bucket), 1)
            await pipe.execute()
        fired = fired_rules(matches, item.call)
        if not fired:
            continue
        # As the call job decides: silences read once a call, every fired rule in order.
        names = frozenset(one.rule.name for one in fired)
        at = CallContext(item.at, item.at, await stores.silences.all(), names, rules)
        for one in fired:
            out[(item.call.call_id, one.rule.name)] = await decide(stores, one, at)


SLICE = 60.0  # simulated seconds the partitions ingest before the fleet evaluator reads


async def world(
    urls: list[str], calls: list[Call], rules: RuleSet, check: FleetCheck | None = None
) -> tuple[dict[Key, Decision], list[Partition], float, list[float]]:
    """Every call through its partition, the partitions concurrently a minute of calls at a
    time (the fleet evaluator, when given, reads after each minute: the window keys keep
    only the last two windows); answers the decisions, the partitions, the time spent
    ingesting, and each partition's Redis CPU over the run."""
    parts = []
    for url in urls:
        redis = Redis.from_url(url)
        parts.append(Partition(redis, int((await redis.info("server"))["process_id"])))
    out: dict[Key, Decision] = {}
    cpu = [cpu_seconds(p.pid) for p in parts]
    wall = 0.0
    start = calls[0].at
    for n in range(int(SPAN // SLICE) + 1):
        now = [c for c in calls if start + n * SLICE <= c.at < start + (n + 1) * SLICE]
        share: list[list[Call]] = [[] for _ in parts]
        for item in now:
            share[partition_of(item.agent, len(parts))].append(item)
        started = time.perf_counter()
        await asyncio.gather(
            *(
                ingest(p, s, rules, out, check is not None)
                for p, s in zip(parts, share, strict=True)
            )
        )
        wall += time.perf_counter() - started
        if check is not None:
            await check.read(parts, now)
    cpu = [cpu_seconds(p.pid) - before for p, before in zip(parts, cpu, strict=True)]
    return out, parts, wall, cpu


async def fleet_counts(parts: list[Partition], at: float) -> tuple[int, int]:
    """The fleet evaluator's read: matched and ended calls of the window ending at `at`,
    summed over every partition's buckets."""
    first, last = int((at - FLEET_WITHIN) // BUCKET) + 1, int(at // BUCKET)
    fields = [str(b) for b in range(first, last + 1)]
    matched = ended = 0
    for part in parts:
        m = await part.redis.hmget(f"fleet:{FLEET_RULE}:matched", fields)
        e = await part.redis.hmget(f"fleet:{FLEET_RULE}:ended", fields)
        matched += sum(int(v) for v in m if v)
        ended += sum(int(v) for v in e if v)
    return matched, ended


async def fleet_counts_exact(
    parts: list[Partition], at: float, keys: tuple[str, str]
) -> tuple[int, int]:
    """The same read from the rate rule's own window keys in each partition (its matched
    calls, written by `decide`, and its ended calls, written on intake): ZCOUNT over the
    window, summed. Each call is in one partition, so the sums are the fleet's counts."""
    low, high = f"({millis(at - FLEET_WITHIN)}", millis(at)
    matched = ended = 0
    for part in parts:
        matched += await part.redis.zcount(keys[0], low, high)
        ended += await part.redis.zcount(keys[1], low, high)
    return matched, max(ended, matched)  # as rate.lua counts: a matched call has ended


COUNTS = re.compile(r"(\d+) of (\d+) ended calls")


def _counts(decision: Decision) -> tuple[int, int] | None:
    if decision.window is not None and decision.window.calls is not None:
        return decision.window.count, decision.window.calls
    found = COUNTS.match(decision.detail)
    return (int(found.group(1)), int(found.group(2))) if found else None


async def measure(workdir: Path) -> str:
    rules = load_rules_text(RULES)
    calls = workload()
    servers = [EmbeddedServer(workdir / f"scale-{k}", persist=False) for k in range(PARTITIONS + 1)]
    for server in servers:
        server.start()
    try:
        one, one_parts, one_wall, one_cpu = await world([servers[0].url], calls, rules)
        # Timed without the fleet evaluator, then again from empty servers with it.
        urls = [s.url for s in servers[1:]]
        timed, parts, wall, cpu = await world(urls, calls, rules)
        for part in parts:
            await part.redis.flushall()
            await part.redis.aclose()
        fleet = FleetCheck.of(one, rules, calls[0].call)
        many, parts, _, _ = await world(urls, calls, rules, fleet)
        assert all(summary(timed[k]) == summary(many[k]) for k in timed)
        for part in one_parts + parts:
            await part.redis.aclose()
    finally:
        for server in servers:
            server.stop()
    return _report(one, many, parts, fleet, (one_wall, one_cpu), (wall, cpu))


@dataclass
class FleetCheck:
    """The fleet evaluator's reads, at each of the one partition's decisions of the fleet
    rule, against the counts that partition decided on."""

    one: dict[Key, Decision]
    keys: tuple[str, str]  # the rule's matched and ended window keys
    compared: int = 0
    exact: int = 0
    bucketed: int = 0
    worst: int = 0  # the buckets' largest difference, in calls

    @classmethod
    def of(cls, one: dict[Key, Decision], rules: RuleSet, call: CallEnded) -> FleetCheck:
        rule = next(rule for rule in rules.rules if rule.name == FLEET_RULE)
        key = group_key(rule.noise.group_by, call, None)
        return cls(
            one,
            (keys.rate_matched(FLEET_RULE, key.digest), keys.rate_ended(FLEET_RULE, key.digest)),
        )

    async def read(self, parts: list[Partition], calls: list[Call]) -> None:
        for item in calls:
            decision = self.one.get((item.call.call_id, FLEET_RULE))
            counted = _counts(decision) if decision else None
            if counted is None:
                continue
            self.compared += 1
            self.exact += await fleet_counts_exact(parts, item.at, self.keys) == counted
            summed = await fleet_counts(parts, item.at)
            self.bucketed += summed == counted
            worst = max(abs(summed[1] - counted[1]), abs(summed[0] - counted[0]))
            self.worst = max(self.worst, worst)


def _report(
    one: dict[Key, Decision],
    many: dict[Key, Decision],
    parts: list[Partition],
    fleet: FleetCheck,
    one_run: tuple[float, list[float]],
    many_run: tuple[float, list[float]],
) -> str:
    rows = []
    for rule in ("agent-transfers", "agent-errors", "agent-failure-rate", FLEET_RULE):
        keys = [key for key in one if key[1] == rule]
        same = sum(summary(one[key]) == summary(many[key]) for key in keys)
        sent_one = sum(one[key].outcome.value == "sent" for key in keys)
        sent_many = sum(many[key].outcome.value == "sent" for key in keys)
        scope = "fleet-wide" if rule == FLEET_RULE else "per agent"
        rows.append([rule, scope, len(keys), f"{same:,}", sent_one, sent_many])
    text = table(
        ["rule", "scope", "decisions", f"identical in {len(parts)} partitions", "sent (one)",
         f"sent ({len(parts)})"],
        rows,
    )  # fmt: skip
    compared, exact, bucketed, worst = fleet.compared, fleet.exact, fleet.bucketed, fleet.worst
    sizes = sorted(part.calls for part in parts)
    text += (
        f"\n\nThe fleet-wide rate read across the partitions, at each of the one partition's "
        f"{compared:,} decisions of {FLEET_RULE} (its matched and ended calls):\n\n"
        f"- the rule's own window keys in every partition, ZCOUNT over the window and summed: "
        f"**{exact:,} of {compared:,} equal**;\n"
        f"- {BUCKET}-second buckets (HINCRBY on intake), summed: {bucketed:,} equal, largest "
        f"difference {worst} calls (the window's edge falls inside a bucket).\n\n"
        f"Calls per partition: {', '.join(f'{n:,}' for n in sizes)} "
        f"(largest {max(sizes) / (CALLS / len(parts)):.2f} × an even share).\n\n"
    )
    one_cpu, many_cpu = sum(one_run[1]), sum(many_run[1])
    text += table(
        ["run", "wall s", "calls/s (one client process)", "Redis CPU µs a call (all servers)",
         "each server's Redis CPU s", "busiest server / one partition's"],
        [
            ["one partition", f"{one_run[0]:.1f}", f"{CALLS / one_run[0]:,.0f}",
             f"{one_cpu / CALLS * 1e6:,.0f}", f"{one_cpu:.2f}", "1.00"],
            [f"{len(parts)} partitions, concurrently", f"{many_run[0]:.1f}",
             f"{CALLS / many_run[0]:,.0f}", f"{many_cpu / CALLS * 1e6:,.0f}",
             " / ".join(f"{c:.2f}" for c in many_run[1]),
             f"{max(many_run[1]) / max(one_cpu, 1e-9):.2f}"],
        ],
    )  # fmt: skip
    return (
        f"{CALLS:,} calls of {AGENTS} agents over {SPAN / 3600:.0f} simulated hour, the same "
        f"calls through one partition and through {len(parts)} (crc32 of the agent id); "
        "decisions compared without the signature note (its last-hour count is the "
        "partition's, see docs/scale.md).\n\n" + text + "\n"
    )


def run(redis_url: str, workdir: Path) -> str:
    return asyncio.run(measure(workdir))
