"""Cost per call in Redis, for a call that does not alert (most calls) and one that does:
commands by name (INFO commandstats: those run inside Lua scripts count too), bytes, memory
kept, and Redis's own CPU per call (INFO cpu), whole pipeline (api and one worker).

`BENCH_REDIS_TRACE=1` also prints, per kind, every command one more call costs, in order
(MONITOR; `lua` marks those a script ran), its call id elided: where the commands go."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from pathlib import Path

import httpx
import redis

from bench.common import PY, pipeline, process, table, wait_http
from bench.servers import alerts
from bench.worker import post_calls

CALLS = int(os.environ.get("BENCH_REDIS_CALLS", "2000"))
NEVER = 10**9  # --alert-every: no call alerts
TRACE = os.environ.get("BENCH_REDIS_TRACE") == "1"
# Polls and heartbeats, and the trace's own waiting: not the call's.
IDLE = (
    "ZRANGEBYSCORE",
    "ZCARD alerter:calls",
    "ZSCORE alerter:calls",
    "PING",
    "CLIENT SETINFO",
    "PSETEX arq:queue:",
)


def run(redis_url: str, workdir: Path) -> str:
    client = redis.Redis.from_url(redis_url)
    results = {
        kind: _measure(client, redis_url, workdir, every)
        for kind, every in (("not alerting", NEVER), ("alerting", 1))
    }
    quiet, loud = results["not alerting"], results["alerting"]
    rows = [
        [
            "commands (script-inner ones included)",
            f"{quiet['commands']:.1f}",
            f"{loud['commands']:.1f}",
        ],
        ["bytes to Redis", f"{quiet['net_in']:,.0f}", f"{loud['net_in']:,.0f}"],
        ["bytes from Redis", f"{quiet['net_out']:,.0f}", f"{loud['net_out']:,.0f}"],
        ["memory kept", f"{quiet['memory']:,.0f} B", f"{loud['memory']:,.0f} B"],
        ["Redis CPU (user + sys) µs", f"{quiet['cpu'] * 1e6:.0f}", f"{loud['cpu'] * 1e6:.0f}"],
    ]
    mix_cpu = 0.9 * quiet["cpu"] + 0.1 * loud["cpu"]
    text = (
        f"{CALLS:,} calls of each kind through the api and one worker; idle polling taken out. "
        "Commands by name, per call:\n\n"
        + table(["per call", "not alerting", "alerting"], rows)
        + "\n\n"
        + table(
            ["command", "not alerting", "alerting"],
            [
                [name, f"{quiet.get('cmd:' + name, 0):.1f}", f"{loud.get('cmd:' + name, 0):.1f}"]
                for name in sorted(
                    {k[4:] for k in (*quiet, *loud) if k.startswith("cmd:")},
                    key=lambda n: -(quiet.get("cmd:" + n, 0) + loud.get("cmd:" + n, 0)),
                )
                if quiet.get("cmd:" + name, 0) + loud.get("cmd:" + name, 0) >= 0.05
            ],
        )
        + f"\n\nOn the realistic mix (1 call in 10 alerting) Redis spends about "
        f"{mix_cpu * 1e6:.0f} µs of CPU a call: one Redis core sustains about "
        f"{1 / mix_cpu:,.0f} calls/s.\n"
    )
    return text


def _measure(client: redis.Redis, redis_url: str, workdir: Path, every: int) -> dict[str, float]:
    client.flushdb()
    setup = pipeline(redis_url, workdir, "redis")
    diga = [PY, "-m", "bench.servers", "diga", "--port", str(setup.diga_port)]
    with (
        process([*diga, "--latency", "0.01", "--alert-every", str(every)]),
        process([PY, "-m", "bench.servers", "receiver", "--port", str(setup.hook_port)]),
        process([PY, "-m", "alerter.cli", "api"], env=setup.env),
        process([PY, "-m", "alerter.cli", "worker"], env=setup.env),
    ):
        wait_http(f"http://127.0.0.1:{setup.hook_port}/stats")
        wait_http(f"http://127.0.0.1:{setup.diga_port}/stats")
        wait_http(f"http://127.0.0.1:{setup.api_port}/health")
        time.sleep(2)  # workers idle: only their polls run now
        idle_start = _stats(client)
        time.sleep(5)
        idle_per_second = {k: v / 5 for k, v in _delta(idle_start, _stats(client)).items()}
        memory_before = client.info("memory")["used_memory"]
        ids = [str(uuid.uuid4()) for _ in range(CALLS)]
        alerting = sum(alerts(i, every) for i in ids)
        before = _stats(client)
        started = time.time()
        asyncio.run(post_calls(f"http://127.0.0.1:{setup.api_port}", ids))
        hook = f"http://127.0.0.1:{setup.hook_port}/stats"
        while client.zcard("alerter:calls") < CALLS or httpx.get(hook).json()["posts"] < alerting:
            time.sleep(0.1)
        time.sleep(0.5)
        elapsed = time.time() - started
        used = _delta(before, _stats(client))
        memory_after = client.info("memory")["used_memory"]
        if TRACE:
            api = f"http://127.0.0.1:{setup.api_port}"
            print(_trace(client, redis_url, api, hook, every), flush=True)
    per_call = {k: (v - idle_per_second.get(k, 0) * elapsed) / CALLS for k, v in used.items()}
    per_call["memory"] = (memory_after - memory_before) / CALLS
    return per_call


def _stats(client: redis.Redis) -> dict[str, float]:
    info = client.info("commandstats")
    stats = client.info("stats")
    cpu = client.info("cpu")
    out = {f"cmd:{name.removeprefix('cmdstat_')}": float(v["calls"]) for name, v in info.items()}
    out.pop("cmd:info", None)  # this measurement's own
    out["commands"] = sum(v for k, v in out.items() if k.startswith("cmd:"))
    out["net_in"] = float(stats["total_net_input_bytes"])
    out["net_out"] = float(stats["total_net_output_bytes"])
    out["cpu"] = float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])
    return out


def _delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: after.get(k, 0) - before.get(k, 0) for k in after}


def _trace(client: redis.Redis, redis_url: str, api: str, hook: str, every: int) -> str:
    """Every command one more call costs, in order, its call id elided (idle polls left
    out): MONITOR, on a connection of its own."""
    call_id = str(uuid.uuid4())
    posts = httpx.get(hook).json()["posts"]
    seen: list[str] = []
    done = threading.Event()

    def watch() -> None:
        with redis.Redis.from_url(redis_url).monitor() as monitor:
            for one in monitor.listen():
                if done.is_set():
                    return
                inner = "lua " if one.get("client_type") == "lua" else ""
                seen.append(inner + str(one["command"]).replace(call_id, "<call>")[:110])

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    time.sleep(0.5)
    asyncio.run(post_calls(api, [call_id]))
    alerting = alerts(call_id, every)
    while client.zscore("alerter:calls", call_id) is None or (
        alerting and httpx.get(hook).json()["posts"] <= posts
    ):
        time.sleep(0.05)
    time.sleep(0.5)
    done.set()
    client.ping()  # wakes the watcher
    watcher.join(5)
    lines = [line for line in seen if not line.removeprefix("lua ").startswith(IDLE)]
    kind = "alerting" if alerting else "not alerting"
    return f"One more call ({kind}), {len(lines)} commands:\n" + "\n".join(lines) + "\n"
