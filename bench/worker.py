"""Worker throughput and end-to-end latency.

A Diga stand-in answers after a latency (50 ms) with 40 error logs per call, 2,500 for one
call in 50; a receiver counts alerts (apprise json://). Calls go through the real api.
Throughput: the queue is filled first, then N worker processes drain it. Latency: one worker,
calls sent at half its measured throughput, webhook accepted → alert received.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path

import httpx
import redis

from bench.common import PY, peak_rss_mb, percentile, pipeline, process, table, wait_http

CALLS = int(os.environ.get("BENCH_CALLS", "5000"))
LATENCY_SECONDS = 0.05
SCALING = tuple(int(n) for n in os.environ.get("BENCH_WORKERS", "1,2,4").split(","))
LATENCY_RUN_SECONDS = float(os.environ.get("BENCH_LATENCY_SECONDS", "20"))


async def post_calls(api_url: str, ids: list[str], rate: float | None = None) -> dict[str, float]:
    """POST call-ended webhooks; returns each call's acceptance time. `rate`: calls/s."""
    accepted: dict[str, float] = {}
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    async with httpx.AsyncClient(base_url=api_url, limits=limits, timeout=30) as client:
        semaphore = asyncio.Semaphore(32)
        started = time.monotonic()

        async def post(index: int, call_id: str) -> None:
            if rate:
                await asyncio.sleep(max(0.0, started + index / rate - time.monotonic()))
            async with semaphore:
                body = {
                    "event": "call.ended",
                    "call": {"id": call_id, "agent_id": f"agent-{index % 7}"},
                }
                answer = await client.post("/webhooks/diga", json=body)
                answer.raise_for_status()
                accepted[call_id] = time.time()

        await asyncio.gather(*(post(i, c) for i, c in enumerate(ids)))
    return accepted


def receiver_stats(url: str) -> dict[str, object]:
    return httpx.get(f"{url}/stats", timeout=10).json()  # type: ignore[no-any-return]


def run(redis_url: str, workdir: Path) -> str:
    setup = pipeline(redis_url, workdir, "worker")
    diga_port, hook_port, api_port, env = (
        setup.diga_port,
        setup.hook_port,
        setup.api_port,
        setup.env,
    )
    rows = []
    latency_row: list[object] | None = None
    one_worker_rate = 0.0
    for workers in SCALING:
        redis.Redis.from_url(redis_url).flushdb()
        with (
            process(
                [
                    PY,
                    "-m",
                    "bench.servers",
                    "diga",
                    "--port",
                    str(diga_port),
                    "--latency",
                    str(LATENCY_SECONDS),
                ]
            ),
            process([PY, "-m", "bench.servers", "receiver", "--port", str(hook_port)]),
            process([PY, "-m", "alerter.cli", "api"], env=env, log=workdir / "api.log"),
        ):
            hook = f"http://127.0.0.1:{hook_port}"
            diga = f"http://127.0.0.1:{diga_port}"
            wait_http(f"{hook}/stats")
            wait_http(f"{diga}/stats")
            wait_http(f"http://127.0.0.1:{api_port}/health")
            ids = [str(uuid.uuid4()) for _ in range(CALLS)]
            asyncio.run(post_calls(f"http://127.0.0.1:{api_port}", ids))
            started = time.time()
            procs = [
                process(
                    [PY, "-m", "alerter.cli", "worker"], env=env, log=workdir / f"worker{i}.log"
                )
                for i in range(workers)
            ]
            running = [p.__enter__() for p in procs]
            try:
                while int(receiver_stats(hook)["posts"]) < CALLS:  # type: ignore[call-overload]
                    if time.time() - started > 600:
                        raise RuntimeError("workers did not finish in 10 minutes")
                    time.sleep(0.2)
                arrivals = receiver_stats(hook)["arrivals"]
                finished = max(arrivals.values())  # type: ignore[attr-defined]
                rss = max(peak_rss_mb(p.pid) for p in running)
            finally:
                for p in procs:
                    p.__exit__(None, None, None)
            rate = CALLS / (finished - started)
            requests = int(httpx.get(f"{diga}/stats").json()["requests"])
            if workers == 1:
                one_worker_rate = rate
            rows.append([workers, f"{rate:,.0f}", f"{requests / CALLS:.2f}", f"{rss:.0f}"])

            if workers == 1:
                latency_row = measure_latency(env, api_port, hook, rate / 2, workdir, redis_url)
    minimum = (49 * 2 + 4) / 50
    text = (
        f"{CALLS:,} calls; Diga stand-in latency {LATENCY_SECONDS * 1000:.0f} ms, 40 error logs a call "
        "and 2,500 for one call in 50; one alert per call to a local receiver (apprise json://).\n\n"
        + table(
            ["worker processes", "calls/s", "Diga requests per call", "peak RSS MB (each)"], rows
        )
        + f"\n\nThe fewest requests the API allows: {minimum:.2f} per call (one per level, "
        "1,000 logs a page).\n"
    )
    if latency_row is not None:
        text += (
            "\n"
            + table(["sent at (calls/s)", "calls", "p50 ms", "p95 ms", "p99 ms"], [latency_row])
            + "\n\nEnd to end: webhook accepted → alert received, one worker process, at half "
            f"its measured throughput ({one_worker_rate / 2:,.0f} calls/s).\n"
        )
    return text


def measure_latency(
    env: dict[str, str], api_port: int, hook: str, rate: float, workdir: Path, redis_url: str
) -> list[object]:
    before = set(receiver_stats(hook)["arrivals"])  # type: ignore[call-overload]
    count = max(50, int(rate * LATENCY_RUN_SECONDS))
    ids = [str(uuid.uuid4()) for _ in range(count)]
    with process([PY, "-m", "alerter.cli", "worker"], env=env, log=workdir / "worker-latency.log"):
        time.sleep(1.0)  # started and polling
        accepted = asyncio.run(post_calls(f"http://127.0.0.1:{api_port}", ids, rate))
        deadline = time.time() + 60
        while time.time() < deadline:
            arrivals = receiver_stats(hook)["arrivals"]
            if all(i in arrivals for i in ids):  # type: ignore[operator]
                break
            time.sleep(0.2)
    latencies = [
        (arrivals[i] - accepted[i]) * 1000 for i in ids if i in arrivals and i not in before
    ]  # type: ignore[index]
    return [
        f"{rate:,.0f}",
        len(latencies),
        f"{percentile(latencies, 50):.0f}",
        f"{percentile(latencies, 95):.0f}",
        f"{percentile(latencies, 99):.0f}",
    ]
