"""Worker throughput, floors and end-to-end latency.

A Diga stand-in answers after a latency with 40 error logs a call, 2,500 for one call in 50;
on the realistic mix 1 call in 10 alerts (its logs are TRANSFER failures, the rest LLM
errors no rule matches); a receiver counts alerts (json://). Calls go through the
real api; the queue is filled first, then N worker processes drain it. A call is done when
it is recorded (its story is written) and, when it alerts, its alert has arrived. Calls/s
are timed from the first call recorded (the floors, too, start with their client made):
the processes' start-up (imports, rules, connections) is its own column.

Floors, measured in the same run: a bare loop in this process that only fetches each call's
pages as the worker asks by default (the first page of every level, then each
level apart, following `has_more`, when a call's logs go past it), as many calls at once as the worker's
jobs, on the same number of connections, with httpx on its default transport (httpcore)
and on the one the worker uses (aiohttp, through `httpx-aiohttp`).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis
from httpx_aiohttp import AiohttpTransport

from alerter.settings import Settings
from bench.common import (
    PY,
    cpu_seconds,
    free_port,
    peak_rss_mb,
    percentile,
    pipeline,
    process,
    table,
    wait_http,
)
from bench.servers import alerts

CALLS = int(os.environ.get("BENCH_CALLS", "5000"))
RSS_CALLS = int(os.environ.get("BENCH_RSS_CALLS", "20000"))
SCALING = tuple(int(n) for n in os.environ.get("BENCH_WORKERS", "1,2").split(","))
LATENCIES = tuple(float(n) for n in os.environ.get("BENCH_LATENCIES", "0.01,0.05,0.2").split(","))
LATENCY_RUN_SECONDS = float(os.environ.get("BENCH_LATENCY_SECONDS", "20"))
MIX_ALERT_EVERY = 10
# Which rows to run (a part of the section, for a before/after pair): mix (the scaling rows),
# every (every call alerting), latency (the 10 and 200 ms rows), e2e (webhook → alert).
ROWS = set(os.environ.get("BENCH_WORKER_ROWS", "mix,every,latency,e2e").split(","))
DEFAULTS = Settings(_env_file=None)  # type: ignore[call-arg]


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


@dataclass
class Drained:
    rate: float
    requests_per_call: float
    rss_mb: float
    alerts: int
    startup: float  # seconds from starting the worker processes to their first call recorded
    cpu_ms: float  # the worker processes' CPU a call, from the first call recorded to the last


def drain(
    redis_url: str,
    workdir: Path,
    *,
    latency: float,
    alert_every: int,
    workers: int,
    calls: int,
) -> Drained:
    """Fill the queue with `calls`, then time `workers` worker processes draining it."""
    setup = pipeline(redis_url, workdir, "worker")
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    diga = f"http://127.0.0.1:{setup.diga_port}"
    hook = f"http://127.0.0.1:{setup.hook_port}"
    servers = [
        [
            PY,
            "-m",
            "bench.servers",
            "diga",
            "--port",
            str(setup.diga_port),
            "--latency",
            str(latency),
            "--alert-every",
            str(alert_every),
        ],
        [PY, "-m", "bench.servers", "receiver", "--port", str(setup.hook_port)],
    ]
    with (
        process(servers[0]),
        process(servers[1]),
        process([PY, "-m", "alerter.cli", "api"], env=setup.env, log=workdir / "api.log"),
    ):
        for url in (f"{hook}/stats", f"{diga}/stats", f"http://127.0.0.1:{setup.api_port}/health"):
            wait_http(url)
        ids = [str(uuid.uuid4()) for _ in range(calls)]
        expected_alerts = sum(alerts(i, alert_every) for i in ids)
        asyncio.run(post_calls(f"http://127.0.0.1:{setup.api_port}", ids))
        started = time.time()
        procs = [
            process([PY, "-m", "alerter.cli", "worker"], env=setup.env, log=workdir / f"w{i}.log")
            for i in range(workers)
        ]
        running = [p.__enter__() for p in procs]
        recorded_at = None
        first_at, done_at_first, cpu_at_first = 0.0, 0, 0.0
        try:
            while True:
                done = int(client.zcard("alerter:calls")) if recorded_at is None else calls  # type: ignore[arg-type]
                if not first_at and done:
                    # Throughput is timed from here: a process's start-up is reported apart.
                    first_at, done_at_first = time.time(), done
                    cpu_at_first = sum(cpu_seconds(p.pid) for p in running)
                if recorded_at is None and done >= calls:
                    recorded_at = time.time()
                stats = receiver_stats(hook)
                if recorded_at is not None and int(stats["posts"]) >= expected_alerts:  # type: ignore[call-overload]
                    break
                if time.time() - started > 900:
                    raise RuntimeError("workers did not finish in 15 minutes")
                time.sleep(0.05)
            arrivals: dict[str, float] = stats["arrivals"]  # type: ignore[assignment]
            finished = max([recorded_at, *arrivals.values()])
            rss = max(peak_rss_mb(p.pid) for p in running)
            cpu = sum(cpu_seconds(p.pid) for p in running) - cpu_at_first
        finally:
            for p in procs:
                p.__exit__(None, None, None)
        requests = int(httpx.get(f"{diga}/stats").json()["requests"])
    rate = (calls - done_at_first) / (finished - first_at)
    cpu_ms = cpu * 1000 / max(1, calls - done_at_first)
    return Drained(rate, requests / calls, rss, expected_alerts, first_at - started, cpu_ms)


async def _floor_loop(
    base: str, transport: str, calls: int, jobs: int, connections: int
) -> tuple[float, float]:
    """Calls/s of a loop that only fetches each call's pages, like the worker does, and its
    CPU a call in ms (this process's: the loop is all it runs then)."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    chosen = AiohttpTransport(limits=limits) if transport == "aiohttp" else None
    async with httpx.AsyncClient(
        base_url=base, limits=limits, transport=chosen, timeout=30
    ) as client:
        in_flight = asyncio.Semaphore(connections)
        queue: asyncio.Queue[str] = asyncio.Queue()
        for _ in range(calls):
            queue.put_nowait(str(uuid.uuid4()))

        async def level(call_id: str, name: str | None) -> bool:
            """Every page of one level (None: the first page of every level); whether the
            call's logs went past that page."""
            after = None
            while True:
                params = {"order": "asc", "limit": "1000"}
                if name:
                    params["level"] = name
                if after:
                    params["after"] = after
                for attempt in range(3):  # as the worker does: a dropped connection is asked again
                    try:
                        async with in_flight:
                            answer = await client.get(f"/v1/log/call/{call_id}", params=params)
                        break
                    except httpx.TransportError:
                        if attempt == 2:
                            raise
                page = answer.json()
                if not page["has_more"] or name is None:
                    return bool(page["has_more"])
                after = page["last_id"]

        async def job() -> None:
            # As the worker asks by default: the first page of every level, then each level
            # apart when the call's logs go past it (FirstPage; 2 requests a call by level).
            while not queue.empty():
                call_id = queue.get_nowait()
                if FLOOR_WHOLE_FIRST and not await level(call_id, None):
                    continue
                await asyncio.gather(level(call_id, "ERROR"), level(call_id, "CRITICAL"))

        started, cpu_started = time.perf_counter(), time.process_time()
        await asyncio.gather(*(job() for _ in range(jobs)))
        cpu_ms = (time.process_time() - cpu_started) * 1000 / calls
        return calls / (time.perf_counter() - started), cpu_ms


# The floor asks as the worker's default does (whole first page); 0: one request per level.
FLOOR_WHOLE_FIRST = os.environ.get("BENCH_FLOOR_WHOLE_FIRST", "1") == "1"
FLOOR_CALLS = int(os.environ.get("BENCH_FLOOR_CALLS", "4000"))
# httpcore's floor is the slow one (a minute at 50 ms): a partial run may leave it out.
FLOOR_TRANSPORTS = tuple(os.environ.get("BENCH_FLOOR_TRANSPORTS", "httpcore,aiohttp").split(","))


def floors(latency: float, calls: int = FLOOR_CALLS) -> dict[str, float]:
    port = free_port()
    command = [PY, "-m", "bench.servers", "diga", "--port", str(port), "--latency", str(latency)]
    jobs, connections = DEFAULTS.worker_max_jobs, DEFAULTS.diga_max_connections
    with process(command):
        wait_http(f"http://127.0.0.1:{port}/stats")
        measured: dict[str, float] = {}
        for name in FLOOR_TRANSPORTS:
            base = f"http://127.0.0.1:{port}"
            rate, cpu_ms = asyncio.run(_floor_loop(base, name, calls, jobs, connections))
            measured[name], measured[f"{name} cpu ms"] = rate, cpu_ms
        return measured


def run(redis_url: str, workdir: Path) -> str:
    rows = []
    floor_rows = []
    latency_rows = []
    floor_at: dict[float, dict[str, float]] = {}
    for latency in LATENCIES if "latency" in ROWS else (0.05,):
        floor_at[latency] = floors(latency)
        floor_rows.append(
            [
                f"{latency * 1000:.0f}",
                f"{floor_at[latency].get('httpcore', 0):,.0f}",
                f"{floor_at[latency]['aiohttp']:,.0f}",
                f"{floor_at[latency]['aiohttp cpu ms']:.2f}",
            ]
        )
    mix = f"1 in {MIX_ALERT_EVERY} alerting"
    one_worker_rate = 0.0
    for workers in SCALING if "mix" in ROWS else ():
        calls = RSS_CALLS if workers == 1 else CALLS
        result = drain(
            redis_url,
            workdir,
            latency=0.05,
            alert_every=MIX_ALERT_EVERY,
            workers=workers,
            calls=calls,
        )
        if workers == 1:
            one_worker_rate = result.rate
        floor = floor_at[0.05]
        rows.append(
            _row(mix, workers, calls, result, floor["aiohttp"] * workers, floor["aiohttp cpu ms"])
        )
    if "every" in ROWS:
        every = drain(redis_url, workdir, latency=0.05, alert_every=1, workers=1, calls=CALLS)
        floor = floor_at[0.05]
        rows.append(
            _row("every call alerting", 1, CALLS, every, floor["aiohttp"], floor["aiohttp cpu ms"])
        )
    for latency in LATENCIES if "latency" in ROWS else ():
        result = (
            drain(
                redis_url,
                workdir,
                latency=latency,
                alert_every=MIX_ALERT_EVERY,
                workers=1,
                calls=CALLS,
            )
            if latency != 0.05
            else None
        )
        rate = one_worker_rate if result is None else result.rate
        floor = floor_at[latency]["aiohttp"]
        latency_rows.append(
            [f"{latency * 1000:.0f}", f"{rate:,.0f}", f"{floor:,.0f}", f"{rate / floor:.2f}"]
        )
    latency_row = (
        measure_latency(redis_url, workdir, one_worker_rate / 2)
        if "e2e" in ROWS and one_worker_rate
        else ["-", 0, "-", "-", "-"]
    )
    jobs, connections = DEFAULTS.worker_max_jobs, DEFAULTS.diga_max_connections
    minimum = (49 * 2 + 4) / 50
    return (
        f"Diga stand-in at 50 ms, 40 error logs a call and 2,500 for one call in 50; {mix} "
        f"(the realistic mix) or every call alerting, to a local receiver (json://, posted on the event loop). "
        f"Worker defaults: {jobs} jobs, {connections} Diga connections.\n\n"
        + table(
            [
                "workload",
                "worker processes",
                "calls",
                "calls/s",
                "× floor (aiohttp)",
                "Diga requests per call",
                "peak RSS MB (each)",
                "start-up s",
                "worker CPU ms a call",
                "× floor by CPU",
            ],
            rows,
        )
        + f"\n\nThe fewest requests the API allows: {minimum:.2f} per call (one per level, "
        "1,000 logs a page). Peak RSS of the one-worker run is after "
        f"{RSS_CALLS:,} calls.\n\n**Floors**: the bare fetch loop, {jobs} calls at once on "
        f"{connections} connections, calls/s.\n\n"
        + table(
            ["Diga latency ms", "httpx + httpcore", "httpx + aiohttp", "aiohttp CPU ms a call"],
            floor_rows,
        )
        + "\n\n**Latency**: one worker process on the mix, defaults untouched.\n\n"
        + table(["Diga latency ms", "calls/s", "floor (aiohttp)", "worker / floor"], latency_rows)
        + "\n\n"
        + table(["sent at (calls/s)", "calls", "p50 ms", "p95 ms", "p99 ms"], [latency_row])
        + "\n\nEnd to end, alerting calls only: webhook accepted → alert received, one worker "
        f"process on the mix at half its measured throughput ({one_worker_rate / 2:,.0f} "
        "calls/s).\n"
    )


def _row(
    name: str, workers: int, calls: int, result: Drained, floor: float, floor_cpu_ms: float
) -> list[object]:
    return [
        name,
        workers,
        f"{calls:,}",
        f"{result.rate:,.0f}",
        f"{result.rate / floor:.2f}",
        f"{result.requests_per_call:.2f}",
        f"{result.rss_mb:.0f}",
        f"{result.startup:.1f}",
        f"{result.cpu_ms:.2f}",
        f"{floor_cpu_ms / result.cpu_ms:.2f}" if result.cpu_ms else "-",
    ]


def measure_latency(redis_url: str, workdir: Path, rate: float) -> list[object]:
    setup = pipeline(redis_url, workdir, "latency")
    redis.Redis.from_url(redis_url).flushdb()
    hook = f"http://127.0.0.1:{setup.hook_port}"
    count = max(200, int(rate * LATENCY_RUN_SECONDS))
    ids = [str(uuid.uuid4()) for _ in range(count)]
    alerting = [i for i in ids if alerts(i, MIX_ALERT_EVERY)]
    diga = [PY, "-m", "bench.servers", "diga", "--port", str(setup.diga_port), "--latency", "0.05"]
    with (
        process([*diga, "--alert-every", str(MIX_ALERT_EVERY)]),
        process([PY, "-m", "bench.servers", "receiver", "--port", str(setup.hook_port)]),
        process([PY, "-m", "alerter.cli", "api"], env=setup.env, log=workdir / "api-l.log"),
        process([PY, "-m", "alerter.cli", "worker"], env=setup.env, log=workdir / "w-l.log"),
    ):
        wait_http(f"{hook}/stats")
        wait_http(f"http://127.0.0.1:{setup.api_port}/health")
        time.sleep(1.0)  # the worker started and polls
        accepted = asyncio.run(post_calls(f"http://127.0.0.1:{setup.api_port}", ids, rate))
        deadline = time.time() + 60
        while time.time() < deadline:
            arrivals: dict[str, float] = receiver_stats(hook)["arrivals"]  # type: ignore[assignment]
            if all(i in arrivals for i in alerting):
                break
            time.sleep(0.2)
    latencies = [(arrivals[i] - accepted[i]) * 1000 for i in alerting if i in arrivals]
    return [
        f"{rate:,.0f}",
        len(latencies),
        f"{percentile(latencies, 50):.0f}",
        f"{percentile(latencies, 95):.0f}",
        f"{percentile(latencies, 99):.0f}",
    ]
