"""Outages on real processes: Redis stopped and restarted, workers stopped and killed."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from alerter.rules.load import load_rules
from alerter.rules.model import RuleSet
from alerter.store import keys
from alerter.store.embedded import EmbeddedServer
from alerter.worker.app import make_worker
from alerter.worker.runner import run_worker
from tests.conftest import (
    DIGA_KEY,
    SLACK_URL,
    TRANSFER_RULES,
    ApiServer,
    child_env,
    make_settings,
    rules_from,
    run_worker_until_idle,
    write_rules,
)
from tests.kit.budgets import FAST
from tests.kit.poll import wait_until
from tests.standins import DigaStandIn, Receiver, make_log


@pytest.fixture
def rules(tmp_path: Path) -> RuleSet:
    return rules_from(tmp_path, TRANSFER_RULES, {"SLACK_URL": SLACK_URL})


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedServer]:
    """A server of this test's own, to stop and start again on the same port and data."""
    server = EmbeddedServer(tmp_path / "valkey", persist=True)
    server.start()
    yield server
    server.stop()


async def test_redis_outage_answers_503_and_work_resumes_without_restart(
    own_redis: EmbeddedServer, diga: DigaStandIn, slack: Receiver, rules: RuleSet
) -> None:
    settings = make_settings(diga.url)
    api = ApiServer(settings, own_redis.url, rules)
    api.start()
    stop = asyncio.Event()
    worker = asyncio.create_task(
        run_worker(lambda: make_worker(settings, rules, own_redis.url, budgets=FAST), stop)
    )
    try:
        async with httpx.AsyncClient(base_url=api.url) as client:
            first, second = str(uuid.uuid4()), str(uuid.uuid4())
            for call_id in (first, second):
                diga.add_call(call_id, [make_log(call_id)])
            assert (await client.post("/webhooks/diga", json={"call_id": first})).status_code == 202
            await asyncio.to_thread(slack.wait_for, 1)

            own_redis.kill()  # a crash, not a clean stop
            down = await client.post("/webhooks/diga", json={"call_id": second})
            assert down.status_code == 503 and down.json()["error_code"] == "QUEUE_UNAVAILABLE"
            assert (await client.get("/ready")).status_code == 503
            assert (await client.get("/health")).status_code == 200

            own_redis.start()  # same port, same data
            assert (await client.get("/ready")).status_code == 200
            again = await client.post("/webhooks/diga", json={"call_id": second})
            assert again.status_code == 202  # Diga's retry is accepted: nothing lost
            messages = await asyncio.to_thread(slack.wait_for, 2, 30)
            assert len(messages) == 2 and second in str(messages[1])
    finally:
        stop.set()
        await worker
        api.stop()


def worker_process(
    redis_url: str, diga: DigaStandIn, rules_dir: Path, **env: str
) -> subprocess.Popen[bytes]:
    environment = {
        **child_env(),
        "REDIS_URL": redis_url,
        "DIGA_API_URL": diga.url,
        "DIGA_API_KEY": DIGA_KEY,
        "ALERTER_RULES": str(rules_dir),
        "SLACK_URL": "json://127.0.0.1:9/unused",
        "ALERTER_WORKER_METRICS_PORT": "0",
        **env,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "alerter.cli", "worker"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def hook_rules(tmp_path: Path, hook: Receiver) -> tuple[Path, RuleSet]:
    rules_dir = write_rules(
        tmp_path, TRANSFER_RULES.replace("${SLACK_URL}", hook.url.replace("http", "json", 1))
    )
    return rules_dir, load_rules(rules_dir, {})


async def enqueue(redis_url: str, call_id: str) -> None:
    from redis.asyncio import Redis

    from alerter.models import CallEnded
    from alerter.store.queue import CallQueue

    async with Redis.from_url(redis_url) as client:
        assert await CallQueue(client, 0).enqueue(CallEnded(call_id=call_id))


def in_progress(redis_url: str, call_id: str) -> bool:
    import redis

    with redis.Redis.from_url(redis_url) as client:
        return bool(client.exists(keys.ARQ_IN_PROGRESS + keys.call_job(call_id)))


def queued(redis_url: str, call_id: str) -> bool:
    import redis

    with redis.Redis.from_url(redis_url) as client:
        return client.zscore(keys.ARQ_QUEUE, keys.call_job(call_id)) is not None


def outbox(redis_url: str) -> int:
    """Sends queued in the outbox."""
    import redis

    with redis.Redis.from_url(redis_url) as client:
        return sum(
            1
            for m in client.zrange(keys.ARQ_QUEUE, 0, -1)
            if m.startswith(keys.SEND_JOB_PREFIX.encode())
        )


async def stop_mid_job(
    redis_url: str,
    diga: DigaStandIn,
    rules_dir: Path,
    sig: signal.Signals,
    latency: float,
    **env: str,
) -> tuple[str, int]:
    """Queue a call whose Diga answer takes `latency`, start a worker process, send it `sig`
    while the job runs; returns (call id, the process's exit code)."""
    call_id = str(uuid.uuid4())
    diga.add_call(call_id, [make_log(call_id)])
    diga.latency = latency
    await enqueue(redis_url, call_id)
    process = worker_process(redis_url, diga, rules_dir, **env)
    try:
        assert await asyncio.to_thread(wait_until, lambda: in_progress(redis_url, call_id), 20)
        process.send_signal(sig)
        code = await asyncio.to_thread(process.wait, 30)
    finally:
        process.kill()
    diga.latency = 0
    return call_id, code


async def test_sigterm_lets_a_running_job_finish_and_exits_0(
    redis_url: str, diga: DigaStandIn, hook: Receiver, tmp_path: Path
) -> None:
    rules_dir, rules = hook_rules(tmp_path, hook)
    call_id, code = await stop_mid_job(
        redis_url, diga, rules_dir, signal.SIGTERM, 1.5, ALERTER_SHUTDOWN_GRACE="10"
    )
    assert code == 0
    # It finished the call before leaving: decided, and its send's first try made in the
    # call's own job (no job left in the outbox for the next worker).
    assert not queued(redis_url, call_id) and outbox(redis_url) == 0
    assert len(hook.wait_for(1)) == 1
    requests = len(diga.requests_for(call_id))
    await run_worker_until_idle(make_settings(diga.url), rules, redis_url)
    assert len(hook.received) == 1  # not sent again
    assert len(diga.requests_for(call_id)) == requests  # not fetched again


async def test_sigterm_past_the_grace_requeues_and_another_worker_alerts_once(
    redis_url: str, diga: DigaStandIn, hook: Receiver, tmp_path: Path
) -> None:
    rules_dir, rules = hook_rules(tmp_path, hook)
    call_id, code = await stop_mid_job(
        redis_url, diga, rules_dir, signal.SIGTERM, 3.0, ALERTER_SHUTDOWN_GRACE="0"
    )
    assert code == 0
    assert hook.received == [] and queued(redis_url, call_id)  # put back, not lost
    await run_worker_until_idle(make_settings(diga.url), rules, redis_url)
    assert len(hook.wait_for(1)) == 1


async def test_a_killed_workers_job_is_taken_over_and_alerts_once(
    redis_url: str, diga: DigaStandIn, hook: Receiver, tmp_path: Path
) -> None:
    rules_dir, rules = hook_rules(tmp_path, hook)
    _, code = await stop_mid_job(
        redis_url, diga, rules_dir, signal.SIGKILL, 2.0, ALERTER_JOB_TIMEOUT="3"
    )
    assert code == -signal.SIGKILL  # no chance to clean up
    # The in-progress lock lapses (job timeout + 10 s); then another worker runs the job.
    await run_worker_until_idle(make_settings(diga.url, ALERTER_JOB_TIMEOUT=3), rules, redis_url)
    # The killed worker is gone and the burst worker has finished: nothing more can arrive.
    assert len(hook.received) == 1


async def test_a_worker_whose_metrics_port_is_taken_still_works(
    redis_url: str, diga: DigaStandIn, hook: Receiver, tmp_path: Path
) -> None:
    import socket

    rules_dir, _ = hook_rules(tmp_path, hook)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        _, code = await stop_mid_job(
            redis_url,
            diga,
            rules_dir,
            signal.SIGTERM,
            0.5,
            ALERTER_SHUTDOWN_GRACE="10",
            ALERTER_WORKER_METRICS_PORT=str(port),
        )
    assert code == 0 and outbox(redis_url) == 0  # the call done, its send made
    assert len(hook.wait_for(1)) == 1
