"""Intake: `POST /webhooks/diga` with real enqueueing, against a bare Litestar handler that
parses the same body and answers 202, on the same server (uvicorn) and settings, and against
Prometheus Alertmanager ingesting one alert per call (when installed)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

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
    cpu_us: float  # the server process's CPU (user + system) a request, over the measured run


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far: unlike throughput, not lowered by a neighbour
    taking the machine's cores (CPU steal, Redis and wrk sharing the two cores)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def best(runs: list[Load]) -> Load:
    """The best of a row's runs: the machine is shared, and a neighbour's burst in one run
    says nothing about the handler (every row is measured the same way)."""
    return max(runs, key=lambda load: load.rps)


def _wrk(name: str, url: str, script: str, pid: int, nonce: str) -> Load:
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
    out = subprocess.run(
        [*base[:3], f"-d{SECONDS}s", "--latency", *base[3:]],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    ).stdout
    cpu = cpu_seconds(pid) - cpu_before
    Path(handle.name).unlink()
    if "Requests/sec" not in out or "50%" not in out:
        raise RuntimeError(f"wrk gave no figures for {name}:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    errors = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    errors += sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return Load(name, rps, p50, p99, errors, cpu / max(requests, 1) * 1e6)


def run(redis_url: str, workdir: Path) -> str:
    if not shutil.which("wrk"):
        return "wrk is not installed (`apt-get install wrk`): intake benchmark skipped.\n"
    rules = workdir / "rules"
    rules.mkdir(exist_ok=True)
    (rules / "r.yaml").write_text(
        "destinations: {d: 'json://127.0.0.1:9/x'}\nrules:\n  - {name: r, match: {category: TRANSFER}, notify: [d]}\n"
    )
    bare_port, api_port = free_port(), free_port()
    env = {
        "REDIS_URL": redis_url,
        "ALERTER_PORT": str(api_port),
        "ALERTER_RULES": str(rules),
        "ALERTER_LOG_LEVEL": "WARNING",
        "ALERTER_SETTLE_SECONDS": "3600",
    }
    # Both servers up at once and measured in turns, ROUNDS times each: a shared machine's
    # speed drifts over a minute, and measured one after the other the baseline and the
    # intake would each get a different machine.
    with (
        process([PY, "-m", "bench.servers", "bare", "--port", str(bare_port)]) as bare,
        process([PY, "-m", "alerter.cli", "api"], env=env, log=workdir / "api.log") as api,
    ):
        wait_http(f"http://127.0.0.1:{bare_port}/")
        wait_http(f"http://127.0.0.1:{api_port}/health")
        url = f"http://127.0.0.1:{api_port}/webhooks/diga"
        unique_ids = uuid.uuid4().hex[:7]
        rows = [
            (
                "bare Litestar handler (baseline)",
                f"http://127.0.0.1:{bare_port}/webhooks/diga",
                WEBHOOK_LUA,
                bare.pid,
                "0000000",
            ),
            ("alerter intake, unique call ids", url, WEBHOOK_LUA, api.pid, unique_ids),
            ("alerter intake, one call id repeated", url, DUPLICATE_LUA, api.pid, "0"),
        ]
        runs: dict[str, list[Load]] = {row[0]: [] for row in rows}
        for n in range(ROUNDS):
            for name, target, script, pid, nonce in rows:
                # Each run's call ids its own (the nonce's last digit): unique stays unique.
                runs[name].append(_wrk(name, target, script, pid, f"{nonce[:7]}{n}"))
    loads = [best(runs[row[0]]) for row in rows]

    if shutil.which("prometheus-alertmanager"):
        am_port = free_port()
        config = workdir / "alertmanager.yml"
        config.write_text(ALERTMANAGER_YML)
        with process(
            [
                "prometheus-alertmanager",
                f"--config.file={config}",
                f"--storage.path={workdir / 'am'}",
                f"--web.listen-address=127.0.0.1:{am_port}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ]
        ) as alertmanager:
            wait_http(f"http://127.0.0.1:{am_port}/-/ready")
            am = f"http://127.0.0.1:{am_port}/api/v2/alerts"
            name = "Alertmanager, one alert per call"
            loads.append(
                best([_wrk(name, am, ALERTMANAGER_LUA, alertmanager.pid, "0") for _ in range(2)])
            )

    base = loads[0].rps
    unique = loads[1].rps
    rows = [
        [
            load.name,
            f"{load.rps:,.0f}",
            f"{load.rps / base:.2f}",
            f"{load.p50_ms:.1f}",
            f"{load.p99_ms:.1f}",
            load.errors,
            f"{load.cpu_us:,.0f}",
            f"{loads[0].cpu_us / load.cpu_us:.2f}",
        ]
        for load in loads
    ]
    text = table(
        [
            "load",
            "requests/s",
            "× bare",
            "p50 ms",
            "p99 ms",
            "errors",
            "server CPU µs a request",
            "× bare (by CPU)",
        ],
        rows,
    )
    if len(loads) > 3:
        text += f"\n\nalerter intake / Alertmanager: **{unique / loads[3].rps:.2f}×**"
    return (
        f"wrk, 1 thread, {CONNECTIONS} connections, {SECONDS} s after a {WARMUP_SECONDS} s warm-up; "
        f"the baseline and the intake rows run in turns, {ROUNDS} times each, the best of each "
        "shown (Alertmanager: the better of two); servers on 127.0.0.1, uvicorn, one process each. The machine has two cores, shared "
        "by wrk, the server and (for alerter) Redis: the server's own CPU a request, read from "
        "/proc, compares the handlers without their neighbours.\n\n" + text + "\n"
    )
