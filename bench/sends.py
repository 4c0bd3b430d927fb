"""Alert sends: CPU a send through the worker's real `Sender` (json://, 16 at once) to the
bench receiver, three ways in turns: through apprise with a new connection a send (as apprise
does alone), through apprise with each sending thread's connection kept (`compat.apprise`),
and on the event loop through the worker's kept httpx client (`pipeline.webhooks`, what the
worker does now). `python -m bench sends`.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from alerter.compat.apprise import KeptSessions
from alerter.models import Severity
from alerter.pipeline.deliver import Sender
from alerter.pipeline.webhooks import webhook_client
from alerter.render.alert import Message
from bench.common import PY, cpu_seconds, free_port, process, table, wait_http

SENDS = int(os.environ.get("BENCH_SENDS", "2000"))
ROUNDS = int(os.environ.get("BENCH_SENDS_ROUNDS", "3"))
AT_ONCE = 16
MESSAGE = Message(
    title="transfer-failed on call 3c90c3cc-0d44-4b50-8888-8dd25736052a",
    severity=Severity.CRITICAL,
    slack={},
    html="",
    text="3 transfer errors; last: SIP 408 timeout\n" * 5,
)


WAYS = ("new a send (apprise alone)", "kept a thread (apprise)", "httpx on the event loop")


async def _send_all(url: str, on_loop: bool) -> float:
    sender = Sender(threads=AT_ONCE, http=webhook_client() if on_loop else None)
    slots = asyncio.Semaphore(AT_ONCE)

    async def one() -> None:
        async with slots:
            delivery = await sender.send(url, MESSAGE, "hook")
            if not delivery.accepted:
                raise RuntimeError(delivery.reason)

    try:
        await asyncio.gather(*(one() for _ in range(AT_ONCE)))  # threads and sessions made
        started = time.process_time()
        await asyncio.gather(*(one() for _ in range(SENDS)))
        return (time.process_time() - started) * 1000 / SENDS
    finally:
        await sender.aclose()


def _measure(url: str, receiver_pid: int, way: str) -> tuple[float, float]:
    bind = KeptSessions.bind_thread
    if way == WAYS[0]:
        KeptSessions.bind_thread = lambda self: None  # type: ignore[method-assign]
    try:
        before = cpu_seconds(receiver_pid)
        ms = asyncio.run(_send_all(url, on_loop=way == WAYS[2]))
        return ms, (cpu_seconds(receiver_pid) - before) * 1000 / (SENDS + AT_ONCE)
    finally:
        KeptSessions.bind_thread = bind  # type: ignore[method-assign]


def run(redis_url: str, workdir: Path) -> str:
    port = free_port()
    with process([PY, "-m", "bench.servers", "receiver", "--port", str(port)]) as receiver:
        wait_http(f"http://127.0.0.1:{port}/stats")
        url = f"json://127.0.0.1:{port}/alerts"
        runs: dict[str, list[tuple[float, float]]] = {way: [] for way in WAYS}
        for _ in range(ROUNDS):
            for way in WAYS:
                runs[way].append(_measure(url, receiver.pid, way))
    rows = []
    for way in WAYS:
        sender_ms = sorted(r[0] for r in runs[way])
        receiver_ms = sorted(r[1] for r in runs[way])
        rows.append(
            [
                way,
                " / ".join(f"{v:.3f}" for v in sender_ms),
                " / ".join(f"{v:.3f}" for v in receiver_ms),
            ]
        )
    best = {way: min(r[0] for r in runs[way]) for way in WAYS}
    return (
        f"{SENDS:,} sends a run, {AT_ONCE} at once, {ROUNDS} runs of each in turns (each run's "
        "figure shown, lowest first).\n\n"
        + table(["way", "sender CPU ms a send", "receiver CPU ms a send"], rows)
        + "\n\nSender CPU, best runs: kept / new "
        + f"{best[WAYS[1]] / best[WAYS[0]]:.2f}, on the loop / kept {best[WAYS[2]] / best[WAYS[1]]:.2f}.\n"
    )
