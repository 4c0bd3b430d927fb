"""`alerter serve` as a user runs it: a real process with its embedded server."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from alerter.store import keys
from alerter.store.embedded import free_port
from tests.conftest import DIGA_KEY, child_env, make_settings, metric_samples
from tests.kit.poll import wait_until
from tests.standins import DigaStandIn, Receiver, make_log


class Served:
    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir, self.env = workdir, env
        self.port = int(env["ALERTER_PORT"])
        self.process: subprocess.Popen[bytes] | None = None
        self.log = workdir / "serve.log"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "alerter.cli", "serve"],
            cwd=self.workdir,
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        ready = wait_until(self._ready, timeout=30)
        assert ready, self.log.read_text()

    def _ready(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(30)


@pytest.fixture
def served(tmp_path: Path, diga: DigaStandIn, hook: Receiver) -> Iterator[Served]:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(
        "destinations:\n  hook: ${HOOK_URL}\n"
        "rules:\n  - name: transfer-failed\n    match: {category: TRANSFER}\n    notify: [hook]\n"
    )
    env = {
        **child_env(),
        "DIGA_API_URL": diga.url,
        "DIGA_API_KEY": DIGA_KEY,
        "ALERTER_PORT": str(free_port()),
        "ALERTER_SETTLE_SECONDS": "0",
        "HOOK_URL": hook.url.replace("http://", "json://") + "/alerts",
    }
    server = Served(tmp_path, env)
    yield server
    if server.process and server.process.poll() is None:
        server.process.kill()


def test_serve_alerts_end_to_end_and_stops_cleanly(
    served: Served, diga: DigaStandIn, hook: Receiver
) -> None:
    served.start()
    url_file = served.workdir / ".alerter" / "redis-url"
    url = url_file.read_text().strip()
    assert url.startswith("redis://:") and "@127.0.0.1:" in url  # a password, loopback only
    assert url_file.stat().st_mode & 0o777 == 0o600
    assert (served.workdir / ".alerter").stat().st_mode & 0o777 == 0o700
    with redis.Redis.from_url(url.replace(url.split("@")[0] + "@", "redis://")) as anonymous:
        with pytest.raises(redis.AuthenticationError):
            anonymous.ping()
    password = url.split("@")[0].removeprefix("redis://:")
    assert password not in served.log.read_text()
    call_id = str(uuid.uuid4())
    diga.add_call(call_id, [make_log(call_id, data={"message_text": "no human answered"})])
    answer = httpx.post(
        f"http://127.0.0.1:{served.port}/webhooks/diga",
        json={"event": "call.ended", "call_id": call_id},
    )
    assert answer.status_code == 202
    [message] = hook.wait_for(1)
    assert "transfer-failed" in message["title"] and "no human answered" in message["message"]

    assert served.stop() == 0
    assert not url_file.exists()
    log = served.log.read_text()
    assert DIGA_KEY not in log


def test_serve_keeps_accepted_calls_across_a_restart(served: Served, diga: DigaStandIn) -> None:
    served.env["ALERTER_SETTLE_SECONDS"] = "3600"  # accepted, not yet processed
    served.start()
    call_id = str(uuid.uuid4())
    answer = httpx.post(f"http://127.0.0.1:{served.port}/webhooks/diga", json={"call_id": call_id})
    assert answer.status_code == 202
    assert served.stop() == 0

    served.start()
    url = (served.workdir / ".alerter" / "redis-url").read_text().strip()
    with redis.Redis.from_url(url) as client:
        assert client.zscore(keys.ARQ_QUEUE, keys.call_job(call_id)) is not None
    again = httpx.post(f"http://127.0.0.1:{served.port}/webhooks/diga", json={"call_id": call_id})
    assert again.json()["status"] == "duplicate"
    assert served.stop() == 0


def test_serve_with_invalid_rules_still_queues_and_says_why(served: Served) -> None:
    del served.env["HOOK_URL"]  # the rules now name an unset variable
    assert served.process is None
    served.process = subprocess.Popen(
        [sys.executable, "-m", "alerter.cli", "serve"],
        cwd=served.workdir,
        env=served.env,
        stdout=served.log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{served.port}"

    def healthy() -> bool:
        try:
            return httpx.get(f"{base}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    assert wait_until(healthy, timeout=30), served.log.read_text()
    ready = httpx.get(f"{base}/ready")
    assert ready.status_code == 503 and ready.json()["error_code"] == "RULES_NOT_LOADED"
    answer = httpx.post(f"{base}/webhooks/diga", json={"call_id": str(uuid.uuid4())})
    assert answer.status_code == 202
    assert served.stop() == 0
    assert "${HOOK_URL} is not set" in served.log.read_text()


def test_a_second_serve_in_the_same_folder_refuses_and_leaves_the_first_alone(
    served: Served,
) -> None:
    served.start()
    url_file = served.workdir / ".alerter" / "redis-url"
    url = url_file.read_text()
    second = subprocess.run(
        [sys.executable, "-m", "alerter.cli", "serve"],
        cwd=served.workdir,
        env={**served.env, "ALERTER_PORT": str(free_port())},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert second.returncode == 1
    assert "another `alerter serve`" in second.stderr and "ALERTER_STATE_DIR" in second.stderr
    assert url_file.read_text() == url
    assert served.stop() == 0


@pytest.mark.parametrize("command", ["serve", "api"])
def test_unsigned_intake_off_loopback_refuses_to_start(command: str, tmp_path: Path) -> None:
    env = {
        **child_env(),
        "ALERTER_HOST": "0.0.0.0",
        "ALERTER_PORT": str(free_port()),
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "ALERTER_RULES": str(tmp_path),
    }
    env.pop("ALERTER_WEBHOOK_SECRET", None)
    done = subprocess.run(
        [sys.executable, "-m", "alerter.cli", command],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "ALERTER_WEBHOOK_SECRET" in done.stderr and "ALERTER_ALLOW_UNSIGNED" in done.stderr


def test_unsigned_exposure_rules() -> None:
    from alerter.cli.serve import unsigned_exposure
    from tests.conftest import make_settings

    assert unsigned_exposure(make_settings("http://x", ALERTER_HOST="127.0.0.1")) is None
    assert unsigned_exposure(make_settings("http://x", ALERTER_HOST="::1")) is None
    assert unsigned_exposure(make_settings("http://x", ALERTER_HOST="0.0.0.0")) is not None
    allowed = make_settings("http://x", ALERTER_HOST="0.0.0.0", ALERTER_ALLOW_UNSIGNED="1")
    assert unsigned_exposure(allowed) is None
    secret = "whsec_" + "c2VjcmV0LWtleS0xMjM0NTY"  # base64 without its '=' padding
    signed = make_settings("http://x", ALERTER_HOST="0.0.0.0", ALERTER_WEBHOOK_SECRET=secret)
    assert unsigned_exposure(signed) is None


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
        except (OSError, NotADirectoryError):
            continue
        if entry.name.isdigit() and int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(entry.name))
    return sorted(out)


@pytest.fixture
def api_processes(tmp_path: Path, redis_url: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(
        "destinations: {d: 'json://127.0.0.1:9/x'}\n"
        "rules:\n  - {name: r, match: {category: TRANSFER}, notify: [d]}\n"
    )
    port = free_port()
    env = {
        **child_env(),
        "REDIS_URL": redis_url,
        "ALERTER_PORT": str(port),
        "ALERTER_RULES": str(rules),
        "ALERTER_SETTLE_SECONDS": "3600",
        "ALERTER_API_PROCESSES": "2",
    }
    log = tmp_path / "api.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "alerter.cli", "api"],
        cwd=tmp_path,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )

    def ready() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        assert wait_until(ready, timeout=30), log.read_text()
        assert wait_until(lambda: len(_children(process.pid)) == 2), log.read_text()
        yield process, port
    finally:
        for child in _children(process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGCONT)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def test_api_processes_take_webhooks_on_one_port_and_scrapes_count_them_all(
    api_processes: tuple[subprocess.Popen[bytes], int], redis_url: str
) -> None:
    """Each process writes the webhook to the shared Redis before its 202, and any one of
    them answering a scrape counts every process's webhooks. Which process accepts a
    connection is the kernel's choice: one is stopped while the other takes its share."""
    process, port = api_processes
    first, second = _children(process.pid)
    store = redis.Redis.from_url(redis_url)
    url = f"http://127.0.0.1:{port}"
    for stopped in (first, second):
        os.kill(stopped, signal.SIGSTOP)
        try:
            for _ in range(5):
                call_id = str(uuid.uuid4())
                body = {"event": "call.ended", "call": {"id": call_id, "agent_id": "a"}}
                answer = httpx.post(f"{url}/webhooks/diga", json=body, timeout=10)
                assert answer.status_code == 202
                assert store.exists(keys.ARQ_JOB + keys.call_job(call_id))
            # The stopped one cannot answer: this scrape is the other's.
            scraped = metric_samples(httpx.get(f"{url}/metrics", timeout=10).text)
            queued = scraped[("alerter_webhooks_total", (("outcome", "queued"),))]
            assert queued == (5 if stopped == first else 10)
        finally:
            os.kill(stopped, signal.SIGCONT)
    store.close()


def test_api_processes_stop_together(api_processes: tuple[subprocess.Popen[bytes], int]) -> None:
    """One process ending unasked stops the others (a container restarts them all);
    SIGTERM to the first stops every one cleanly."""
    process, _ = api_processes
    first, second = _children(process.pid)
    os.kill(first, signal.SIGKILL)
    assert process.wait(30) == 1
    assert not Path(f"/proc/{second}").exists() or _state(second) == "Z"


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_api_processes_stop_cleanly_on_sigterm(
    api_processes: tuple[subprocess.Popen[bytes], int],
) -> None:
    process, _ = api_processes
    children = _children(process.pid)
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    assert all(not Path(f"/proc/{pid}").exists() for pid in children)


def test_api_processes_end_when_the_first_is_killed(
    api_processes: tuple[subprocess.Popen[bytes], int],
) -> None:
    """Killed, the first process passes no signal on: the others notice and stop, and none
    keeps the port."""
    process, port = api_processes
    children = _children(process.pid)
    process.kill()
    process.wait(10)
    assert wait_until(lambda: not any(_running(pid) for pid in children), timeout=30)
    with socket.create_server(("127.0.0.1", port)):
        pass  # the port is free again


def _running(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists() and _state(pid) != "Z"


def test_the_worker_collects_its_young_generation_less_often(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from alerter.cli import serve

    (tmp_path / "r.yaml").write_text(
        "destinations: {hook: 'json://127.0.0.1:9/a'}\n"
        "rules:\n  - {name: r, match: {category: TRANSFER}, notify: [hook]}\n"
    )
    settled: list[int | None] = []
    monkeypatch.setattr(serve, "settle_heap", settled.append)
    monkeypatch.setattr(serve, "stop_on_signals", lambda stop, *_: stop.set())
    monkeypatch.setattr(serve, "run_worker", lambda *_: asyncio.sleep(0))
    monkeypatch.setattr(serve, "run_fast", asyncio.run)
    settings = make_settings("http://127.0.0.1:9", ALERTER_RULES=str(tmp_path))
    assert serve.worker(settings, "redis://127.0.0.1:9", time.time) == 0
    assert settled == [serve.WORKER_YOUNG_OBJECTS]


def test_a_settled_heap_keeps_the_older_generations_thresholds() -> None:
    from alerter.cli.common import settle_heap

    before = gc.get_threshold()
    try:
        settle_heap(12_345)
        assert gc.get_threshold() == (12_345, *before[1:])
        settle_heap()
        assert gc.get_threshold() == (12_345, *before[1:])  # the api's: left as it was
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
