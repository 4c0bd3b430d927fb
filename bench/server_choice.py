"""The api's server: uvicorn (httptools, uvloop) and Granian (its ASGI interface, uvloop),
one and two processes, on the bare Litestar handler, in turns. `python -m bench server`.

A first look for the choice of the api's server (issue 30): the bare handler only (one
webhook body, repeated), wrk as in `bench intake`, each server's CPU summed over its
processes. Granian is not a dependency: `pip install granian` to include it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import ROOT, free_port, table, wait_http
from bench.intake import DUPLICATE_LUA, cpu_seconds

SECONDS = 6
ROUNDS = int(os.environ.get("BENCH_SERVER_ROUNDS", "2"))
BIN = Path(sys.executable).parent


def _command(server: str, processes: int, port: int) -> list[str]:
    common = ["--host", "127.0.0.1", "--port", str(port), "--workers", str(processes)]
    common += ["--loop", "uvloop", "--log-level", "warning", "--backlog", "2048"]
    if server == "uvicorn":
        return [str(BIN / "uvicorn"), *common, "--http", "httptools", "--no-access-log",
                "--factory", "bench.servers:bare_app"]  # fmt: skip
    return [str(BIN / "granian"), "--interface", "asgi", *common, "--no-ws",
            "--factory", "bench.servers:bare_app"]  # fmt: skip


def _load(server: str, processes: int, script: str) -> tuple[float, float, str]:
    port = free_port()
    proc = subprocess.Popen(
        _command(server, processes, port),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/webhooks/diga"
    try:
        wait_http(f"http://127.0.0.1:{port}/")
        subprocess.run(["wrk", "-t1", "-c64", "-d2s", "-s", script, url], capture_output=True)
        before = cpu_seconds(proc.pid)
        out = subprocess.run(
            ["wrk", "-t1", "-c64", f"-d{SECONDS}s", "--latency", "-s", script, url],
            capture_output=True,
            text=True,
        ).stdout
        cpu = cpu_seconds(proc.pid) - before
    finally:
        proc.terminate()
        proc.wait(15)
    lines = out.splitlines()
    rps = float(next(line for line in lines if line.startswith("Requests/sec")).split()[1])
    p99 = next(line for line in lines if line.strip().startswith("99%")).split()[1]
    return rps, cpu * 1e6 / (rps * SECONDS), p99


def run(redis_url: str, workdir: Path) -> str:
    if not shutil.which("wrk"):
        return "wrk is not installed (`apt-get install wrk`): skipped.\n"
    servers = ["uvicorn"] + (["granian"] if (BIN / "granian").exists() else [])
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(DUPLICATE_LUA)
    runs: dict[tuple[str, int], list[tuple[float, float, str]]] = {}
    for _ in range(ROUNDS):
        for server in servers:
            for processes in (1, 2):
                runs.setdefault((server, processes), []).append(
                    _load(server, processes, handle.name)
                )
    rows = [
        [
            f"{server}, {processes} process{'es' if processes > 1 else ''}",
            " / ".join(f"{r[0]:,.0f}" for r in got),
            " / ".join(f"{r[1]:.0f}" for r in got),
            " / ".join(r[2] for r in got),
        ]
        for (server, processes), got in runs.items()
    ]
    return (
        f"The bare handler, wrk 1 thread 64 connections {SECONDS} s after 2 s, {ROUNDS} rounds "
        "in turns (each round's figure).\n\n"
        + table(["server", "requests/s", "server CPU µs a request", "p99"], rows)
        + "\n"
    )
