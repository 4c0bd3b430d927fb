"""Console: page and API latency with a full store (100,000 history entries, 1,000 silences,
5,000 call stories, a day of counts), against `GET /health` on the same api in the same run.

Target (issue "The operator console"): every page's p95 under 100 ms.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
import uuid
from pathlib import Path

import httpx
from redis.asyncio import Redis

from alerter.models import CallEnded, Outcome
from alerter.store import keys
from alerter.store.silences import Silences
from alerter.store.state import State
from bench.common import PY, free_port, process, table, wait_http

HISTORY_ENTRIES = 100_000
SILENCES = 1_000
CALLS = 5_000
REQUESTS = 60  # per page, one after another (a person clicking, not a load test)
RULES_YAML = """
destinations: {d: 'json://127.0.0.1:9/x'}
rules:
""" + "".join(
    f"  - {{name: rule-{i}, match: {{category: TRANSFER}}, group_by: [agent_id], notify: [d]}}\n"
    for i in range(20)
)
OUTCOMES = [Outcome.SENT, Outcome.THROTTLED, Outcome.NO_MATCH, Outcome.SILENCED, Outcome.GROUPED]


async def fill(redis_url: str) -> list[str]:
    """The store as a busy day leaves it; returns some call ids with a story."""
    async with Redis.from_url(redis_url) as redis:
        await redis.flushdb()
        state = State(redis)
        now = time.time()
        call_ids = []
        for start in range(0, CALLS, 500):
            for i in range(start, start + 500):
                call = CallEnded(
                    call_id=str(uuid.uuid4()),
                    fields={"agent_id": f"ag-{i % 50}", "status": "failed"},
                    accepted_at=now - (CALLS - i) * 10,
                )
                call_ids.append(call.call_id)
                rule = f"rule-{i % 20}"
                await state.evaluated(call, 40, 2, None, {rule: {"agent_id": f"ag-{i % 50}"}})
                await state.record(call.call_id, random.choice(OUTCOMES), rule=rule, detail="x")
        # The history stream filled to its cap with older decisions.
        async with redis.pipeline(transaction=False) as pipe:
            for i in range(HISTORY_ENTRIES - CALLS):
                pipe.xadd(
                    keys.HISTORY,
                    {
                        "call_id": str(uuid.uuid4()),
                        "outcome": random.choice(OUTCOMES).value,
                        "rule": f"rule-{i % 20}",
                        "destination": "d",
                        "detail": "3 matching logs",
                        "at": f"{now - 86400 + i * 0.8:.3f}",
                    },
                )
                if i % 5000 == 4999:
                    await pipe.execute()
            await pipe.execute()
        silences = Silences(redis)
        for i in range(SILENCES):
            await silences.add(
                f"rule-{i % 20}",
                {"agent_id": f"ag-{i}"},
                now - 60,
                now + 3600 * (i % 48 - 24),
                "maintenance",
                created_by="bench",
            )
        return call_ids


def timed(client: httpx.Client, path: str) -> tuple[float, float]:
    """(p50, p95) in milliseconds over REQUESTS sequential requests."""
    client.get(path)  # warm
    samples = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        answer = client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        if answer.status_code >= 400:
            raise RuntimeError(f"{path}: {answer.status_code} {answer.text[:200]}")
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def run(redis_url: str, workdir: Path) -> str:
    call_ids = asyncio.run(fill(redis_url))
    rules = workdir / "console-rules"
    rules.mkdir(exist_ok=True)
    (rules / "r.yaml").write_text(RULES_YAML)
    port = free_port()
    env = {
        "REDIS_URL": redis_url,
        "ALERTER_PORT": str(port),
        "ALERTER_RULES": str(rules),
        "ALERTER_LOG_LEVEL": "WARNING",
        "ALERTER_CONSOLE_AUTH": "none",
    }
    pages = [
        "/health",
        "/ui/",
        f"/ui/calls/{call_ids[-1]}",
        "/ui/history",
        "/ui/history?rule=rule-3&outcome=silenced",
        f"/ui/history?call_id={call_ids[10]}",
        "/ui/rules",
        "/ui/rules/rule-3",
        "/ui/signatures",
        "/ui/silences",
        "/ui/failed",
        "/ui/destinations",
        "/ui/audit",
        f"/api/v1/calls/{call_ids[-1]}",
        "/api/v1/history?limit=100",
        "/api/v1/silences",
        "/api/v1/rules",
    ]
    rows = []
    with process([PY, "-m", "alerter.cli", "api"], env=env, log=workdir / "console-api.log"):
        wait_http(f"http://127.0.0.1:{port}/health")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            base50, base95 = timed(client, "/health")
            for path in pages:
                p50, p95 = (base50, base95) if path == "/health" else timed(client, path)
                rows.append(
                    [
                        f"`{path if len(path) < 48 else path[:45] + '…'}`",
                        f"{p50:.1f}",
                        f"{p95:.1f}",
                        f"{p95 / base95:.1f} ×",
                        "yes" if p95 < 100 else "**no**",
                    ]
                )
    head = (
        f"{HISTORY_ENTRIES:,} history entries, {SILENCES:,} silences, {CALLS:,} call stories, "
        f"20 rules; {REQUESTS} sequential requests per page after one warm-up, "
        "`ALERTER_CONSOLE_AUTH=none` (a token adds one Redis read).\n\n"
    )
    return head + table(["page", "p50 ms", "p95 ms", "p95 / `/health` p95", "p95 < 100 ms"], rows)
