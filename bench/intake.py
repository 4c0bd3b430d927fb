"""Intake: `POST /webhooks/diga` with real enqueueing, against a bare Litestar handler that
parses the same body and answers 202, on the same server (uvicorn) and settings, and against
Prometheus Alertmanager ingesting one alert per call (when installed)."""

from __future__ import annotations

import contextlib
import os
import re
import resource
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import redis

from bench.common import PY, free_port, process, table, wait_http

CONNECTIONS = 64
SECONDS = 8
WARMUP_SECONDS = 2
ROUNDS = 3  # runs of each row, taken in turns; the best is reported

WEBHOOK_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local threads = 0
function setup(thread) thread:set("tid", threads); threads = threads + 1 end
local n = 0
local nonce = os.getenv("BENCH_NONCE") or "00000000"
request = function()
  n = n + 1
  local id = string.format("%s-%04x-4000-8000-%012x", nonce, tid or 0, n)
  return wrk.format(nil, nil, nil,
    '{"event":"call.ended","call":{"id":"' .. id .. '","agent_id":"agent-7","status":"failed","end_reason":"error"}}')
end
"""

DUPLICATE_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"event":"call.ended","call":{"id":"3c90c3cc-0d44-4b50-8888-8dd25736052a","agent_id":"agent-7"}}'
"""

ALERTMANAGER_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local threads = 0
function setup(thread) thread:set("tid", threads); threads = threads + 1 end
local n = 0
request = function()
  n = n + 1
  local id = string.format("%04x-%012x", tid or 0, n)
  return wrk.format(nil, nil, nil,
    '[{"labels":{"alertname":"call_failed","call_id":"' .. id .. '","agent_id":"agent-7"},' ..
    '"annotations":{"end_reason":"error"}}]')
end
"""

# Alertmanager measured on ingestion alone, as alerter's intake is (its worker is not
# running): a receiver with no integrations, so no notification is sent during the load;
# gossip off (no cluster) and its data in a temporary folder. An earlier version grouped
# each alert into its own group and posted every one to a receiver on the same machine,
# which made Alertmanager send notifications while it was measured (errors, 1 s p99).
ALERTMANAGER_YML = """
route:
  receiver: blackhole
  group_by: [call_id]
  group_wait: 1h
receivers:
  - name: blackhole
"""


@dataclass
class Load:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_us: float  # the server's CPU (user + system, all its processes) a request
    redis_us: float = 0.0  # Redis's CPU a request, for the rows that write to it
    wrk_us: float = 0.0  # the load's own CPU a request (wrk: the same script for every row)

    def cores(self) -> float:
        """Cores kept busy by the row's server, Redis and wrk together."""
        return (self.cpu_us + self.redis_us + self.wrk_us) * self.rps / 1e6


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children so far (a server's own processes):
    unlike throughput, not lowered by a neighbour taking the machine's cores (CPU steal,
    Redis and wrk sharing the two cores)."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def best(runs: list[Load]) -> Load:
    """The best of a row's runs: the machine is shared, and a neighbour's burst in one run
    says nothing about the handler (every row is measured the same way)."""
    return max(runs, key=lambda load: load.rps)


def _wrk(name: str, url: str, script: str, pid: int, nonce: str, redis_pid: int = 0) -> Load:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    env = {"BENCH_NONCE": nonce}
    base = ["wrk", "-t1", f"-c{CONNECTIONS}", "-s", handle.name, url]
    subprocess.run(
        [*base[:3], f"-d{WARMUP_SECONDS}s", *base[3:]],
        capture_output=True,
        env={**os.environ, **env, "BENCH_NONCE": nonce[:4] + "fff" + nonce[-1]},
    )
    cpu_before = cpu_seconds(pid)
    redis_before = cpu_seconds(redis_pid) if redis_pid else 0.0
    wrk_before = _children_cpu()
    out = subprocess.run(
        [*base[:3], f"-d{SECONDS}s", "--latency", *base[3:]],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    ).stdout
    cpu = cpu_seconds(pid) - cpu_before
    wrk_cpu = _children_cpu() - wrk_before  # the measured wrk alone: its warm-up was reaped
    redis_cpu = cpu_seconds(redis_pid) - redis_before if redis_pid else 0.0
    Path(handle.name).unlink()
    if "Requests/sec" not in out or "50%" not in out:
        raise RuntimeError(f"wrk gave no figures for {name}:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    errors = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    errors += sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    done = max(requests, 1)
    return Load(
        name, rps, p50, p99, errors, cpu / done * 1e6, redis_cpu / done * 1e6, wrk_cpu / done * 1e6
    )


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(redis_url: str, workdir: Path) -> str:
    if not shutil.which("wrk"):
        return "wrk is not installed (`apt-get install wrk`): intake benchmark skipped.\n"
    rules = workdir / "rules"
    rules.mkdir(exist_ok=True)
    (rules / "r.yaml").write_text(
        "destinations: {d: 'json://127.0.0.1:9/x'}\nrules:\n  - {name: r, match: {category: TRANSFER}, notify: [d]}\n"
    )
    redis_pid = int(redis.Redis.from_url(redis_url).info("server")["process_id"])
    # Every server up at once and measured in turns, ROUNDS times each: a shared machine's
    # speed drifts over a minute, and measured one after the other each row would get a
    # different machine. Alertmanager takes its turn in the same rounds.
    with contextlib.ExitStack() as stack:
        rows: list[Row] = []
        for server in SERVERS:
            for processes in PROCESSES:
                rows.append(_bare(stack, processes, server))
            for processes in PROCESSES:
                rows.extend(
                    _alerter(stack, processes, redis_url, rules, workdir, redis_pid, server)
                )
        if shutil.which("prometheus-alertmanager"):
            rows.append(_alertmanager(stack, workdir))
        for row in rows:
            wait_http(row.ready)
        runs: dict[str, list[Load]] = {row.name: [] for row in rows}
        for n in range(ROUNDS):
            for row in rows:
                # Each run's call ids its own (the nonce's last digit): unique stays unique.
                runs[row.name].append(
                    _wrk(row.name, row.url, row.script, row.pid, f"{row.nonce[:7]}{n}", row.redis)
                )
    return _report(rows, {name: best(got) for name, got in runs.items()}, runs)


PROCESSES = tuple(int(n) for n in os.environ.get("BENCH_INTAKE_PROCESSES", "1,2").split(","))
AM_NAME = "Alertmanager, one alert per call"
ROUTE_NAME = "alerter intake, unique call ids, Litestar route (no door), 1 process"
# Granian (not a dependency: `pip install granian`) beside uvicorn when installed.
SERVERS = ("uvicorn",) + (("granian",) if (Path(PY).parent / "granian").exists() else ())


@dataclass
class Row:
    name: str
    url: str
    script: str
    pid: int
    nonce: str
    ready: str
    processes: int
    redis: int = 0  # Redis's pid, for the rows that write to it


def _plural(processes: int) -> str:
    return f"{processes} process{'es' if processes > 1 else ''}"


def _granian(processes: int, port: int, factory: str) -> list[str]:
    return [str(Path(PY).parent / "granian"), "--interface", "asgi", "--host", "127.0.0.1",
            "--port", str(port), "--workers", str(processes), "--loop", "uvloop",
            "--log-level", "warning", "--backlog", "2048", "--no-ws", "--factory", factory]  # fmt: skip


def _bare(stack: contextlib.ExitStack, processes: int, server: str = "uvicorn") -> Row:
    port = free_port()
    if server == "granian":
        command = _granian(processes, port, "bench.servers:bare_app")
    elif processes == 1:
        command = [PY, "-m", "bench.servers", "bare", "--port", str(port)]
    else:
        # uvicorn's own workers: one socket shared by forked processes, as the api's.
        command = [PY, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port),
                   "--workers", str(processes), "--log-level", "warning", "--no-access-log",
                   "--backlog", "2048", "--factory", "bench.servers:bare_app"]  # fmt: skip
    proc = stack.enter_context(process(command))
    url = f"http://127.0.0.1:{port}/webhooks/diga"
    name = f"bare Litestar handler, {_plural(processes)}" + _on(server)
    return Row(name, url, WEBHOOK_LUA, proc.pid, "0000000", f"http://127.0.0.1:{port}/", processes)


def _on(server: str) -> str:
    return ", Granian" if server == "granian" else ""


def _alerter(
    stack: contextlib.ExitStack,
    processes: int,
    redis_url: str,
    rules: Path,
    workdir: Path,
    redis_pid: int,
    server: str = "uvicorn",
) -> list[Row]:
    port = free_port()
    env = {
        "REDIS_URL": redis_url,
        "ALERTER_PORT": str(port),
        "ALERTER_RULES": str(rules),
        "ALERTER_LOG_LEVEL": "WARNING",
        "ALERTER_SETTLE_SECONDS": "3600",
        "ALERTER_API_PROCESSES": str(processes),
    }
    log = workdir / f"api-{server}-{processes}.log"
    command = [PY, "-m", "alerter.cli", "api"]
    if server == "granian":
        command = _granian(processes, port, "bench.servers:alerter_app")
    proc = stack.enter_context(process(command, env=env, log=log))
    url, ready = f"http://127.0.0.1:{port}/webhooks/diga", f"http://127.0.0.1:{port}/health"
    unique = uuid.uuid4().hex[:7]
    rows = [
        Row(f"alerter intake, unique call ids, {_plural(processes)}{_on(server)}", url,
            WEBHOOK_LUA, proc.pid, unique, ready, processes, redis_pid),
    ]  # fmt: skip
    if processes == 1 and server == "uvicorn":
        # The same api with its webhook through uvicorn's ASGI path and the Litestar route.
        route_port = free_port()
        route = stack.enter_context(
            process(
                [PY, "-m", "bench.servers", "route", "--port", str(route_port)],
                env=env,
                log=workdir / "api-route.log",
            )
        )
        rows.append(
            Row(
                ROUTE_NAME,
                f"http://127.0.0.1:{route_port}/webhooks/diga",
                WEBHOOK_LUA,
                route.pid,
                uuid.uuid4().hex[:7],
                f"http://127.0.0.1:{route_port}/health",
                processes,
                redis_pid,
            )
        )
        rows.append(
            Row(
                "alerter intake, one call id repeated, 1 process",
                url,
                DUPLICATE_LUA,
                proc.pid,
                "0",
                ready,
                processes,
                redis_pid,
            )
        )
    return rows


def _alertmanager(stack: contextlib.ExitStack, workdir: Path) -> Row:
    port = free_port()
    config = workdir / "alertmanager.yml"
    config.write_text(ALERTMANAGER_YML)
    command = [
        "prometheus-alertmanager",
        f"--config.file={config}",
        f"--storage.path={workdir / 'am'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=warn",
    ]
    proc = stack.enter_context(process(command))
    return Row(AM_NAME, f"http://127.0.0.1:{port}/api/v2/alerts", ALERTMANAGER_LUA, proc.pid,
               "0", f"http://127.0.0.1:{port}/-/ready", 1)  # fmt: skip


def _report(rows: list[Row], loads: dict[str, Load], runs: dict[str, list[Load]]) -> str:
    bare = {
        (row.processes, row.name.endswith("Granian")): loads[row.name]
        for row in rows
        if row.name.startswith("bare")
    }
    lines = []
    for row in rows:
        load, base = loads[row.name], bare[(row.processes, row.name.endswith("Granian"))]
        lines.append(
            [
                row.name,
                f"{load.rps:,.0f}",
                " / ".join(f"{r.rps:,.0f}" for r in runs[row.name]),
                f"{load.rps / base.rps:.2f}",
                f"{load.p50_ms:.1f}",
                f"{load.p99_ms:.1f}",
                load.errors,
                f"{load.cpu_us:,.0f}",
                f"{load.redis_us:,.0f}" if row.redis else "—",
                f"{base.cpu_us / load.cpu_us:.2f}",
            ]
        )
    text = table(
        ["load", "requests/s (best)", "each round", "× bare (same processes)", "p50 ms",
         "p99 ms", "errors", "server CPU µs a request", "Redis CPU µs a request",
         "× bare (by CPU)"],
        lines,
    )  # fmt: skip
    text += _against_alertmanager(rows, loads)
    return (
        f"wrk, 1 thread, {CONNECTIONS} connections, {SECONDS} s after a {WARMUP_SECONDS} s "
        f"warm-up; every row's server up at once and the rows run in turns, {ROUNDS} rounds, "
        "the best of each shown (every round's figure beside it); servers on 127.0.0.1, "
        "uvicorn (httptools, uvloop) or Granian (uvloop, its ASGI interface, the same app "
        "made by `bench.servers`); the api's processes by `ALERTER_API_PROCESSES`, the "
        "bare handler's and Granian's by their `--workers`. The machine has two cores, shared by wrk, "
        "the server and (for alerter) Redis: the server's own CPU a request (all its "
        "processes, read from /proc) compares the handlers without their neighbours.\n\n"
        + text
        + "\n"
    )


def _against_alertmanager(rows: list[Row], loads: dict[str, Load]) -> str:
    if AM_NAME not in loads:
        return "\n\nAlertmanager is not installed (`apt-get install prometheus-alertmanager`).\n"
    am = loads[AM_NAME]
    out = "\n\n| alerter intake (unique call ids) against Alertmanager | by throughput | by CPU a request (api) | by CPU a request (api + Redis) | CPU µs a request: api / Redis / wrk (Alertmanager's) | cores busy (Alertmanager's) |\n|---|---|---|---|---|---|\n"
    for row in rows:
        if row.name.startswith("alerter intake, unique"):
            load = loads[row.name]
            out += (
                f"| {row.name.removeprefix('alerter intake, unique call ids, ')} | {load.rps / am.rps:.2f} × | "
                f"{am.cpu_us / load.cpu_us:.2f} × | {am.cpu_us / (load.cpu_us + load.redis_us):.2f} × | "
                f"{load.cpu_us:.0f} / {load.redis_us:.0f} / {load.wrk_us:.0f} ({am.cpu_us:.0f} / — / {am.wrk_us:.0f}) | "
                f"{load.cores():.2f} ({am.cores():.2f}) |\n"
            )
    return out + "\n(above 1: alerter ahead.)\n"
