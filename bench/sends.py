"""Alert sends: CPU a send through the worker's real `Sender` (apprise json://, 16 at once)
to the bench receiver, with each sending thread's connection kept (`compat.apprise`) and with
a new connection a send (as apprise does alone), in turns. `python -m bench sends`.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from alerter.compat.apprise import KeptSessions
from alerter.models import Severity
from alerter.pipeline.deliver import Sender
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


async def _send_all(url: str) -> float:
    sender = Sender(threads=AT_ONCE)
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
        sender.close()


def _measure(url: str, receiver_pid: int, kept: bool) -> tuple[float, float]:
    bind = KeptSessions.bind_thread
    if not kept:
        KeptSessions.bind_thread = lambda self: None  # type: ignore[method-assign]
    try:
        before = cpu_seconds(receiver_pid)
        ms = asyncio.run(_send_all(url))
        return ms, (cpu_seconds(receiver_pid) - before) * 1000 / (SENDS + AT_ONCE)
    finally:
        KeptSessions.bind_thread = bind  # type: ignore[method-assign]


def run(redis_url: str, workdir: Path) -> str:
    port = free_port()
    with process([PY, "-m", "bench.servers", "receiver", "--port", str(port)]) as receiver:
        wait_http(f"http://127.0.0.1:{port}/stats")
        url = f"json://127.0.0.1:{port}/alerts"
        runs: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
        for _ in range(ROUNDS):
            for kept in (False, True):
                runs[kept].append(_measure(url, receiver.pid, kept))
    rows = []
    for kept in (False, True):
        sender_ms = sorted(r[0] for r in runs[kept])
        receiver_ms = sorted(r[1] for r in runs[kept])
        rows.append(
            [
                "kept a thread" if kept else "new a send (apprise alone)",
                " / ".join(f"{v:.3f}" for v in sender_ms),
                " / ".join(f"{v:.3f}" for v in receiver_ms),
            ]
        )
    ratio = min(r[0] for r in runs[True]) / min(r[0] for r in runs[False])
    return (
        f"{SENDS:,} sends a run, {AT_ONCE} at once, {ROUNDS} runs of each in turns (each run's "
        "figure shown, lowest first).\n\n"
        + table(["connection", "sender CPU ms a send", "receiver CPU ms a send"], rows)
        + f"\n\nKept / new, sender CPU (best runs): {ratio:.2f}.\n"
    )
