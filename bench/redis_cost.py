"""Cost per call in Redis: commands, bytes and memory for the whole pipeline (api and
worker), one alert per call, measured on the embedded server with INFO deltas."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import httpx
import redis

from bench.common import PY, pipeline, process, table, wait_http
from bench.worker import post_calls

CALLS = 1000


def run(redis_url: str, workdir: Path) -> str:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    setup = pipeline(redis_url, workdir, "redis")
    diga_port, hook_port, api_port, env = (
        setup.diga_port,
        setup.hook_port,
        setup.api_port,
        setup.env,
    )
    with (
        process([PY, "-m", "bench.servers", "diga", "--port", str(diga_port), "--latency", "0.01"]),
        process([PY, "-m", "bench.servers", "receiver", "--port", str(hook_port)]),
        process([PY, "-m", "alerter.cli", "api"], env=env),
        process([PY, "-m", "alerter.cli", "worker"], env=env),
    ):
        for url in (
            f"http://127.0.0.1:{hook_port}/stats",
            f"http://127.0.0.1:{diga_port}/stats",
            f"http://127.0.0.1:{api_port}/health",
        ):
            wait_http(url)
        time.sleep(2)  # workers idle: only their polls run now
        idle_start = _stats(client)
        time.sleep(5)
        idle = _delta(idle_start, _stats(client))
        idle_per_second = {k: v / 5 for k, v in idle.items()}
        memory_before = client.info("memory")["used_memory"]
        before = _stats(client)
        started = time.time()
        asyncio.run(
            post_calls(f"http://127.0.0.1:{api_port}", [str(uuid.uuid4()) for _ in range(CALLS)])
        )
        while httpx.get(f"http://127.0.0.1:{hook_port}/stats").json()["posts"] < CALLS:
            time.sleep(0.2)
        time.sleep(0.5)
        elapsed = time.time() - started
        used = _delta(before, _stats(client))
        memory_after = client.info("memory")["used_memory"]
        keys = client.dbsize()
    # Take out what idle polling would have cost over the same time.
    per_call = {k: (v - idle_per_second.get(k, 0) * elapsed) / CALLS for k, v in used.items()}
    rows = [
        ["commands", f"{per_call['commands']:.1f}"],
        ["bytes to Redis", f"{per_call['net_in']:,.0f}"],
        ["bytes from Redis", f"{per_call['net_out']:,.0f}"],
        [
            "memory kept (7-day markers, 24 h job results, history)",
            f"{(memory_after - memory_before) / CALLS:,.0f} B",
        ],
    ]
    top = sorted(
        ((k[4:], v) for k, v in per_call.items() if k.startswith("cmd:")), key=lambda kv: -kv[1]
    )[:8]
    return (
        f"{CALLS:,} calls through api and one worker, one alert each; idle polling "
        f"({idle_per_second['commands']:.0f} commands/s for one worker) taken out.\n\n"
        + table(["per call", "value"], rows)
        + f"\n\nKeys left after {CALLS:,} calls: {keys:,}. Commands per call by name: "
        + ", ".join(f"{name} {n:.1f}" for name, n in top)
        + ".\n"
    )


def _stats(client: redis.Redis) -> dict[str, float]:
    info = client.info("commandstats")
    stats = client.info("stats")
    out = {f"cmd:{name.removeprefix('cmdstat_')}": float(v["calls"]) for name, v in info.items()}
    out["commands"] = sum(v for k, v in out.items() if k.startswith("cmd:"))
    out["net_in"] = float(stats["total_net_input_bytes"])
    out["net_out"] = float(stats["total_net_output_bytes"])
    return out


def _delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: after.get(k, 0) - before.get(k, 0) for k in after}
