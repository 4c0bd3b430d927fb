"""Diga requests a call: a call's first page asked for every level at once, or one request per
level, or chosen by the calls seen lately (`alerter.pipeline.first_page`).

The real `DigaClient` fetches calls from the Diga stand-in (10 ms, 40 ERROR logs a call and
2,500 for one call in 50) on mixes with few and many INFO logs a call, each mode in turn;
the stand-in counts requests and bytes, this process's CPU is the client's (decoding
included). `python -m bench diga`.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from pathlib import Path

import httpx

from alerter.pipeline.fetch import DigaClient
from alerter.pipeline.first_page import FirstPage
from bench.common import PY, free_port, process, table, wait_http

CALLS = int(os.environ.get("BENCH_DIGA_CALLS", "1000"))
INFO_MIXES = tuple(int(n) for n in os.environ.get("BENCH_DIGA_INFO", "0,60,400,1500").split(","))
ROUNDS = int(os.environ.get("BENCH_DIGA_ROUNDS", "2"))
IN_FLIGHT = 64


async def _fetch_all(base: str, mode: FirstPage, calls: int) -> tuple[int, float]:
    client = DigaClient(base, "bench", max_connections=IN_FLIGHT, first_page=mode)
    draw = random.Random(calls)  # the same calls for every mode
    ids = [str(uuid.UUID(int=draw.getrandbits(128), version=4)) for _ in range(calls)]
    slots = asyncio.Semaphore(IN_FLIGHT)
    kept = 0

    async def one(call_id: str) -> None:
        nonlocal kept
        async with slots:
            fetched = await client.fetch_call_logs(call_id)
        kept += len(fetched.logs)  # after the await: `+=` reads before it

    cpu = time.process_time()
    try:
        await asyncio.gather(*(one(i) for i in ids))
    finally:
        await client.aclose()
    return kept, (time.process_time() - cpu) * 1000 / calls


def _stats(base: str) -> tuple[int, int]:
    got = httpx.get(f"{base}/stats", timeout=10).json()
    return int(got["requests"]), int(got["bytes"])


def run(redis_url: str, workdir: Path) -> str:
    rows = []
    for info in INFO_MIXES:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        command = [PY, "-m", "bench.servers", "diga", "--port", str(port), "--latency", "0.01"]
        with process([*command, "--info", str(info)]):
            wait_http(f"{base}/stats")
            measured: dict[FirstPage, list[tuple[float, float, float, int]]] = {}
            for _ in range(ROUNDS):  # the modes in turns
                for mode in FirstPage:
                    before = _stats(base)
                    kept, cpu_ms = asyncio.run(_fetch_all(base, mode, CALLS))
                    after = _stats(base)
                    requests = (after[0] - before[0]) / CALLS
                    kb = (after[1] - before[1]) / CALLS / 1024
                    measured.setdefault(mode, []).append((requests, kb, cpu_ms, kept))
            for mode, runs in measured.items():
                best_cpu = min(r[2] for r in runs)
                requests, kb, _, kept = runs[-1]
                rows.append(
                    [
                        f"{info:,}",
                        mode.value,
                        f"{requests:.2f}",
                        f"{kb:,.1f}",
                        f"{best_cpu:.2f}",
                        f"{kept / CALLS:.0f}",
                    ]
                )
    return (
        f"{CALLS:,} calls a mode and mix, {IN_FLIGHT} at once, the modes in turns ({ROUNDS} "
        "rounds; CPU: the best round). Every call holds 40 ERROR logs (2,500 for one in 50) "
        "and the INFO logs of its mix, spread among them.\n\n"
        + table(
            [
                "INFO logs a call",
                "first page",
                "requests a call",
                "KB a call",
                "client CPU ms a call",
                "logs kept a call",
            ],
            rows,
        )
        + "\n"
    )
