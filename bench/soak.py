"""A fault soak: thousands of calls through the real api and workers while things break,
then every call accounted for.

    .venv/bin/python -m bench.soak                 # 5,000 calls, about 6 minutes here
    .venv/bin/python -m bench.soak --calls 500     # a quick look
    .venv/bin/python -m bench.soak --write         # and write docs/soak.md

Faults, all at once: Diga answers 5 % of requests 503, 2 % 429 (Retry-After 1), and 3 % too
slowly for the worker's 1 s timeout; one destination refuses half of what it is sent; one
worker is killed (SIGKILL) a third of the way in and started again; Redis is stopped and
started again two thirds of the way in (the sender, like Diga, retries a 503).

Then per call: a rule fired → exactly one alert per destination URL, or a recorded failure;
no rule fired → a recorded no-match. Lost calls must be 0; duplicates are counted (only a
worker killed between a destination's acceptance and the marker may cause one).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import redis
import uvicorn

from alerter.store.embedded import EmbeddedServer
from bench.common import PY, ROOT, free_port, machine, table, wait_http
from bench.servers import read_body

Scope = dict[str, Any]


def share(call_id: str, salt: str) -> float:
    """A stable number in [0, 1) per call and purpose."""
    return int(hashlib.sha256(f"{salt}:{call_id}".encode()).hexdigest()[:8], 16) / 2**32


def fires(call_id: str) -> bool:
    return share(call_id, "fires") >= 0.2  # 80 % of calls have a TRANSFER failure


class FaultyDiga:
    def __init__(self) -> None:
        self.rng = random.Random(7)
        self.requests = 0
        self.faults: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.requests += 1
        roll = self.rng.random()
        if roll < 0.05:
            self.faults["503"] += 1
            await _answer(send, 503, b'{"status":"error","error_code":"UNAVAILABLE","message":"x"}')
            return
        if roll < 0.07:
            self.faults["429"] += 1
            await _answer(send, 429, b"{}", [(b"retry-after", b"1")])
            return
        if roll < 0.10:
            self.faults["slow"] += 1
            await asyncio.sleep(1.5)  # past the worker's 1 s timeout
        call_id = scope["path"].rsplit("/", 1)[-1]
        query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
        rows = []
        if query.get("level") == "ERROR" and fires(call_id):
            rows = [
                {
                    "id": str(uuid.UUID(int=int(share(call_id, str(i)) * 2**64))),
                    "timestamp": f"2026-11-25T12:00:0{i}.000Z",
                    "level": "ERROR",
                    "category": "TRANSFER",
                    "event": "transfer_failed",
                    "trace_id": "t",
                    "data": {"message_text": f"transfer {i} failed"},
                }
                for i in range(3)
            ]
        body = {"data": rows, "has_more": False, "first_id": None, "last_id": None}
        await _answer(send, 200, json.dumps(body).encode())


class Destination:
    """Counts alerts per call; `refuse` of them (at random) answered 500 first."""

    def __init__(self, refuse: float) -> None:
        self.refuse = refuse
        self.rng = random.Random(11)
        self.accepted: Counter[str] = Counter()
        self.refused = 0

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        if self.rng.random() < self.refuse:
            self.refused += 1
            await _answer(send, 500, b"no")
            return
        title = json.loads(body or b"{}").get("title", "")
        self.accepted[title.rsplit(" ", 1)[-1]] += 1
        await _answer(send, 200, b"ok")


async def _answer(
    send: Any, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": body})


def serve_in_thread(app: Any, port: int) -> uvicorn.Server:
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", access_log=False)
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    return server


class Worker:
    def __init__(self, name: str, env: dict[str, str], log: Path) -> None:
        self.name, self.env, self.log = name, env, log
        self.proc: Any = None

    def start(self) -> None:
        import subprocess

        self.proc = subprocess.Popen(
            [PY, "-m", "alerter.cli", "worker"],
            env={**os.environ, **self.env, "ALERTER_WORKER_NAME": self.name},
            cwd=ROOT,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(60)


async def post_all(api: str, ids: list[str], on_progress: Any) -> Counter[str]:
    """Send every call until it is accepted (202, or 200 duplicate), retrying 503s."""
    answers: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(base_url=api, timeout=10, limits=limits) as client:
        queue: asyncio.Queue[str] = asyncio.Queue()
        for call_id in ids:
            queue.put_nowait(call_id)
        done = 0

        async def sender() -> None:
            nonlocal done
            while not queue.empty():
                call_id = queue.get_nowait()
                body = {"event": "call.ended", "call": {"id": call_id, "agent_id": "a1"}}
                while True:
                    try:
                        answer = await client.post("/webhooks/diga", json=body)
                        answers[str(answer.status_code)] += 1
                        if answer.status_code in (200, 202):
                            break
                    except httpx.HTTPError:
                        answers["unreachable"] += 1
                    await asyncio.sleep(0.5)
                done += 1
                on_progress(done)
                await asyncio.sleep(0.004)  # about 200 calls/s offered at most

        await asyncio.gather(*(sender() for _ in range(4)))
    return answers


def run(calls: int) -> str:
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="alerter-soak-") as tmp:
        workdir = Path(tmp)
        diga, good, flaky = FaultyDiga(), Destination(0.0), Destination(0.5)
        ports = {name: free_port() for name in ("diga", "good", "flaky", "api")}
        servers = [
            serve_in_thread(diga, ports["diga"]),
            serve_in_thread(good, ports["good"]),
            serve_in_thread(flaky, ports["flaky"]),
        ]
        rules = workdir / "rules"
        rules.mkdir()
        (rules / "r.yaml").write_text(
            "destinations:\n"
            f"  good: json://127.0.0.1:{ports['good']}/a\n"
            f"  flaky: json://127.0.0.1:{ports['flaky']}/b\n"
            "rules:\n  - {name: transfer-failed, match: {category: TRANSFER}, "
            "notify: [good, flaky]}\n"
        )
        redis_port = free_port()
        valkey = EmbeddedServer(workdir / "valkey", port=redis_port)
        valkey.start()
        env = {
            "REDIS_URL": valkey.url,
            "DIGA_API_URL": f"http://127.0.0.1:{ports['diga']}",
            "DIGA_API_KEY": "soak",
            "ALERTER_RULES": str(rules),
            "ALERTER_SETTLE_SECONDS": "0",
            "ALERTER_LOG_LEVEL": "WARNING",
            "ALERTER_WORKER_METRICS_PORT": "0",
            "ALERTER_PORT": str(ports["api"]),
            "ALERTER_DIGA_TIMEOUT": "1",
            "ALERTER_JOB_TIMEOUT": "20",
        }
        import subprocess

        api = subprocess.Popen(
            [PY, "-m", "alerter.cli", "api"],
            env={**os.environ, **env},
            cwd=ROOT,
            stdout=(workdir / "api.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        workers = [Worker(f"soak-{i}", env, workdir / f"worker-{i}.log") for i in range(2)]
        for worker in workers:
            worker.start()
        wait_http(f"http://127.0.0.1:{ports['api']}/health")
        ids = [str(uuid.uuid4()) for _ in range(calls)]
        events: list[str] = []

        def on_progress(done: int) -> None:
            if done == calls // 3 and "kill" not in events:
                events.append("kill")
                workers[0].kill()
                workers[0].start()
            if done == 2 * calls // 3 and "restart" not in events:
                events.append("restart")
                threading.Thread(target=restart_redis, args=(valkey,), daemon=True).start()

        answers = asyncio.run(post_all(f"http://127.0.0.1:{ports['api']}", ids, on_progress))
        sent_at = time.time()
        settled = wait_settled(valkey.url, good, flaky, timeout=600)
        drained_at = time.time()
        report = account(valkey.url, ids, good, flaky)
        for worker in workers:
            worker.stop()
        api.terminate()
        api.wait(30)
        for server in servers:
            server.should_exit = True
        valkey.stop()
    rows = [
        ("calls sent", calls),
        ("answers from the api", dict(answers)),
        ("Diga requests / faults", f"{diga.requests} / {dict(diga.faults)}"),
        ("refused by the flaky destination", flaky.refused),
        ("faults injected", ", ".join(events)),
        ("calls that fired a rule", report["fired"]),
        ("alerts: exactly one per destination", report["exact"]),
        ("recorded failed (visible, retryable)", f"{report['failed']} {report['failed_kinds']}"),
        ("recorded no-match", report["no_match"]),
        ("lost (no alert, no record)", report["lost"]),
        ("duplicate alerts", report["duplicates"]),
        ("queue drained", "yes" if settled else "NO (timed out)"),
        (
            "sending took / draining took",
            f"{sent_at - started:.0f} s / {drained_at - sent_at:.0f} s",
        ),
    ]
    return table(["measure", "result"], rows) + f"\n\nran {time.time() - started:.0f} s"


def restart_redis(server: EmbeddedServer) -> None:
    server.stop()  # SIGTERM: the append-only file is flushed
    time.sleep(2)
    server.start()


def wait_settled(url: str, good: Destination, flaky: Destination, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    last, still = None, 0
    while time.monotonic() < deadline:
        try:
            with redis.Redis.from_url(url) as client:
                depth = client.zcard("arq:queue")
                running = len(client.keys("arq:in-progress:*"))
        except redis.RedisError:
            time.sleep(1)
            continue
        state = (depth, running, sum(good.accepted.values()), sum(flaky.accepted.values()))
        still = still + 1 if state == last and depth == 0 and running == 0 else 0
        if still >= 5:
            return True
        last = state
        time.sleep(1)
    return False


def account(url: str, ids: list[str], good: Destination, flaky: Destination) -> dict[str, Any]:
    with redis.Redis.from_url(url) as client:
        failed_records = {
            k.decode(): json.loads(v) for k, v in client.hgetall("alerter:failed").items()
        }
        failed = set(failed_records)
        outcomes: dict[str, set[str]] = {}
        for _, fields in client.xrange("alerter:history", count=10_000_000):
            row = {k.decode(): v.decode() for k, v in fields.items()}
            outcomes.setdefault(row.get("call_id", ""), set()).add(row.get("outcome", ""))
    report = Counter[str]()
    for call_id in ids:
        counts = (good.accepted[call_id], flaky.accepted[call_id])
        report["duplicates"] += sum(max(0, n - 1) for n in counts)
        if fires(call_id):
            report["fired"] += 1
            if counts == (1, 1):
                report["exact"] += 1
            elif call_id in failed:
                report["failed"] += 1
            elif min(counts) >= 1:
                report["exact"] += 1  # delivered everywhere; the duplicates are counted above
            else:
                report["lost"] += 1
        elif "no_match" in outcomes.get(call_id, set()):
            report["no_match"] += 1
        elif call_id in failed:
            report["failed"] += 1
        else:
            report["lost"] += 1
    kinds = Counter(str(record.get("kind")) for record in failed_records.values())
    return {
        **{
            key: report[key]
            for key in ("fired", "exact", "failed", "no_match", "lost", "duplicates")
        },
        "failed_kinds": dict(kinds),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--write", action="store_true", help="also write docs/soak.md")
    args = parser.parse_args(argv)
    result = run(args.calls)
    print(result)
    if args.write:
        (ROOT / "docs" / "soak.md").write_text(
            "# Fault soak\n\n"
            "Written by `.venv/bin/python -m bench.soak --write` "
            f"({time.strftime('%Y-%m-%d', time.gmtime())}, {machine()}).\n\n"
            + (__doc__ or "").split("\n\n", 2)[2].strip()
            + "\n\n"
            + result
            + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
