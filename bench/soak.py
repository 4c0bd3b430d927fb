"""A fault soak: thousands of calls through the real api and workers while things break,
then every call accounted for.

    .venv/bin/python -m bench.soak                 # 5,000 calls, about 10 minutes here
    .venv/bin/python -m bench.soak --calls 500     # a quick look (the drain, ~6 min, stays)
    .venv/bin/python -m bench.soak --calls 1000 --runs 2 --write   # docs/soak.md

Faults, all at once: Diga answers 5 % of requests 503, 2 % 429 (Retry-After 1), and 3 % too
slowly for the worker's 1 s timeout; one destination refuses half of what it is sent; one
is down for the whole run (503 with a body, every time); one worker is killed (SIGKILL) a
third of the way in and started again; Redis is stopped and started again two thirds of the
way in (the sender, like Diga, retries a 503).

Then per call and destination: a rule fired → exactly one alert, or a recorded failure of
that send (the down destination: always, after its 8 tries); no rule fired → a recorded
no-match. Lost must be 0. Duplicates are counted, and set beside the sends in flight (claimed,
not yet marked) at the SIGKILL: only those can repeat. Diga's requests are counted per call,
for calls that alerted and calls that did not: the down destination must not make the
first ask Diga more (each fetch is 2 requests, one per level, plus what Diga's own faults
cost). The work is done when no call, send, digest or episode job is queued or running (the
periodic tick job comes and goes) and the counts stand still.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import redis

from alerter.store.embedded import EmbeddedServer
from bench.common import PY, ROOT, free_port, machine, table, wait_http
from bench.soak_standins import Destination, FaultyDiga, fires, serve_in_thread


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
        diga = FaultyDiga()
        hooks = {"good": Destination(0.0), "flaky": Destination(0.5), "down": Destination(1.0)}
        ports = {name: free_port() for name in ("diga", *hooks, "api")}
        servers = [serve_in_thread(diga, ports["diga"])]
        servers += [serve_in_thread(hook, ports[name]) for name, hook in hooks.items()]
        rules = workdir / "rules"
        rules.mkdir()
        (rules / "r.yaml").write_text(
            "destinations:\n"
            + "".join(f"  {name}: json://127.0.0.1:{ports[name]}/{name}\n" for name in hooks)
            + "rules:\n  - {name: transfer-failed, match: {category: TRANSFER}, "
            "notify: [good, flaky, down]}\n"
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
        try:
            for worker in workers:
                worker.start()
            wait_http(f"http://127.0.0.1:{ports['api']}/health", timeout=120)
            ids = [str(uuid.uuid4()) for _ in range(calls)]
            events: list[str] = []
            in_flight = [0]

            def on_progress(done: int) -> None:
                if done == calls // 3 and "kill" not in events:
                    events.append("kill")
                    in_flight[0] = sends_in_flight(valkey.url)
                    workers[0].kill()
                    workers[0].start()
                if done == 2 * calls // 3 and "restart" not in events:
                    events.append("restart")
                    threading.Thread(target=restart_redis, args=(valkey,), daemon=True).start()

            answers = asyncio.run(post_all(f"http://127.0.0.1:{ports['api']}", ids, on_progress))
            sent_at = time.time()
            settled = wait_settled(valkey.url, list(hooks.values()), timeout=900)
            drained_at = time.time()
            report = account(valkey.url, ids, hooks, diga)
        finally:  # nothing left running, whatever ended the soak
            for worker in workers:
                worker.stop()
            api.terminate()
            api.wait(30)
            for server in servers:
                server.should_exit = True
            valkey.stop()
    faults = sum(diga.faults.values())
    rows = [
        ("calls sent", calls),
        ("answers from the api", dict(answers)),
        ("Diga requests / faults", f"{diga.requests} / {dict(diga.faults)}"),
        (
            "Diga requests per call: all / alerted / no rule fired",
            f"{diga.requests / calls:.3f} / {report['per_fired']:.3f} / {report['per_quiet']:.3f}",
        ),
        (
            "calls fetched again, no Diga fault to explain it: alerted / no rule fired",
            f"{report['refetched:fired']} / {report['refetched:quiet']} "
            "(jobs re-run after the SIGKILL or the Redis restart)",
        ),
        (
            "Diga requests per call, its own faults' retries left out",
            f"{(diga.requests - 2 * faults) / calls:.3f}",
        ),
        (
            "refused: flaky / down (503 every time)",
            f"{hooks['flaky'].refused} / {hooks['down'].refused}",
        ),
        ("faults injected", ", ".join(events)),
        ("calls that fired a rule", report["fired"]),
        (
            "sends accepted exactly once: good / flaky",
            f"{report['exact:good']} / {report['exact:flaky']}",
        ),
        ("sends recorded failed (visible, retryable), by destination", report["failed_sends"]),
        ("calls recorded failed (fetch), by kind", report["failed_kinds"]),
        ("recorded no-match", report["no_match"]),
        ("lost (no alert, no record)", report["lost"]),
        (
            "duplicate alerts / sends in flight at the SIGKILL",
            f"{report['duplicates']} / {in_flight[0]}",
        ),
        (
            "work done (no call, send, digest or episode job left)",
            "yes" if settled else "NO (timed out)",
        ),
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


def sends_in_flight(url: str) -> int:
    """Sends claimed and not yet marked sent, across workers: those a SIGKILL now could
    repeat (a destination may have accepted one whose marker is not written)."""
    with redis.Redis.from_url(url) as client:
        keys = list(client.scan_iter("alerter:sent:*", count=1000))
        values = client.mget(keys) if keys else []
    return sum(1 for value in values if value and value.startswith(b"sending:"))


WORK = (b"call:", b"send:", b"digest:", b"episode:")  # job ids of the work soaked


def outstanding(client: redis.Redis) -> int:
    """Call, send, digest and episode jobs queued or running. The periodic tick is left out:
    it comes back every few seconds whatever is left to do (and an empty `arq:queue`, the
    old test, never comes while it runs)."""
    queued = [m for m in client.zrange("arq:queue", 0, -1) if m.startswith(WORK)]
    prefix = b"arq:in-progress:"
    running = [
        k
        for k in client.scan_iter(prefix + b"*", count=1000)
        if k.removeprefix(prefix).startswith(WORK)
    ]
    return len(queued) + len(running)


def wait_settled(url: str, hooks: list[Destination], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    last, still = None, 0
    while time.monotonic() < deadline:
        try:
            with redis.Redis.from_url(url) as client:
                left = outstanding(client)
                failed = client.hlen("alerter:failed")
        except redis.RedisError:
            time.sleep(1)
            continue
        state = (left, failed, *(sum(h.accepted.values()) + h.refused for h in hooks))
        still = still + 1 if state == last and left == 0 else 0
        if still >= 5:
            return True
        last = state
        time.sleep(1)
    return False


def account(
    url: str, ids: list[str], hooks: dict[str, Destination], diga: FaultyDiga
) -> dict[str, Any]:
    with redis.Redis.from_url(url) as client:
        failed_records = {
            k.decode(): json.loads(v) for k, v in client.hgetall("alerter:failed").items()
        }
        outcomes: dict[str, set[str]] = {}
        for _, fields in client.xrange("alerter:history", count=10_000_000):
            row = {k.decode(): v.decode() for k, v in fields.items()}
            outcomes.setdefault(row.get("call_id", ""), set()).add(row.get("outcome", ""))
    report: Counter[str] = Counter()
    failed_sends: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    requests = {"fired": 0, "quiet": 0}
    for call_id in ids:
        record = failed_records.get(call_id)
        gave_up = {str(s.get("destination")) for s in (record or {}).get("sends") or []}
        if record and not gave_up:
            kinds[str(record.get("kind"))] += 1
        refetched = diga.refetched(call_id)
        if not fires(call_id):
            report["refetched:quiet"] += refetched
            requests["quiet"] += diga.per_call[call_id]
            if "no_match" in outcomes.get(call_id, set()) or record:
                report["no_match" if not record else "failed"] += 1
            else:
                report["lost"] += 1
            continue
        report["fired"] += 1
        report["refetched:fired"] += refetched
        requests["fired"] += diga.per_call[call_id]
        if record and not gave_up:
            continue  # the fetch gave up: recorded, retryable
        for name, hook in hooks.items():
            accepted = hook.accepted[call_id]
            report["duplicates"] += max(0, accepted - 1)
            if accepted:
                report[f"exact:{name}"] += 1
            elif name in gave_up:
                failed_sends[name] += 1
            else:
                report["lost"] += 1
    quiet = len(ids) - report["fired"]
    counted = (
        *("fired", "no_match", "failed", "lost", "duplicates", "exact:good", "exact:flaky"),
        *("refetched:fired", "refetched:quiet"),
    )
    return {
        **{key: report[key] for key in counted},
        "per_fired": requests["fired"] / max(1, report["fired"]),
        "per_quiet": requests["quiet"] / max(1, quiet),
        "failed_sends": dict(failed_sends),
        "failed_kinds": dict(kinds),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=1, help="soak this many times in a row")
    parser.add_argument("--write", action="store_true", help="also write docs/soak.md")
    args = parser.parse_args(argv)
    results = []
    for number in range(1, args.runs + 1):
        results.append(run(args.calls))
        print(f"run {number} of {args.runs}\n{results[-1]}\n", flush=True)
    if args.write:
        command = ".venv/bin/python -m bench.soak " + " ".join(argv)
        (ROOT / "docs" / "soak.md").write_text(page(command, results))
    return 0


def page(command: str, results: list[str]) -> str:
    """docs/soak.md: how the figures were made, what the soak does, a table per run."""
    runs = "\n\n".join(f"### Run {n}\n\n{result}" for n, result in enumerate(results, 1))
    return (
        "# Fault soak\n\n"
        f"Written by `{command.strip()}` "
        f"({time.strftime('%Y-%m-%d', time.gmtime())}, {machine()}).\n\n"
        + (__doc__ or "").split("\n\n", 2)[2].strip()
        + "\n\n"
        + runs
        + "\n"
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
