"""Running it in production: metrics, logs, hot reload, worker checks, notify test."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from alerter.cli import main
from alerter.logs import JsonFormatter, TextFormatter, bind, configure
from alerter.metrics import Metrics
from alerter.rules.reload import RulesHolder
from alerter.store.embedded import free_port
from tests.conftest import (
    DIGA_KEY,
    SLACK_URL,
    TRANSFER_RULES,
    ApiServer,
    child_env,
    make_settings,
    metric_samples,
    run_worker_until_idle,
    write_rules,
)
from tests.kit.poll import wait_until
from tests.standins import DigaStandIn, Fault, Receiver, make_log


async def test_metrics_after_a_pipeline_run(
    tmp_path: Path,
    redis_url: str,
    diga: DigaStandIn,
    slack: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLACK_URL", SLACK_URL)
    metrics = Metrics()
    holder = RulesHolder(write_rules(tmp_path, TRANSFER_RULES), metrics)
    assert holder.reload()
    api = ApiServer(make_settings(diga.url), redis_url, holder)
    api.start()
    try:
        ok, quiet = str(uuid.uuid4()), str(uuid.uuid4())
        diga.add_call(ok, [make_log(ok)])
        diga.add_call(quiet, [])
        diga.inject(Fault(500, {"status": "error", "error_code": "X", "message": "x"}))
        async with httpx.AsyncClient(base_url=api.url) as client:
            for call_id in (ok, quiet, ok):
                await client.post("/webhooks/diga", json={"call_id": call_id})
            await client.post(
                "/webhooks/diga", content=b"{", headers={"Content-Type": "application/json"}
            )
            await run_worker_until_idle(make_settings(diga.url), holder, redis_url)  # type: ignore[arg-type]
            scrape = await client.get("/metrics")
            text = scrape.text
    finally:
        api.stop()
    assert scrape.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    values = metric_samples(text)
    assert values[("alerter_webhooks_total", (("outcome", "queued"),))] == 2
    assert values[("alerter_webhooks_total", (("outcome", "duplicate"),))] == 1
    assert values[("alerter_webhooks_total", (("outcome", "error_400"),))] == 1
    assert values[("alerter_jobs_total", (("outcome", "sent"),))] == 1
    assert values[("alerter_jobs_total", (("outcome", "no_match"),))] == 1
    assert values[("alerter_jobs_total", (("outcome", "retry"),))] == 1
    assert values[("alerter_diga_requests_total", (("status", "500"),))] == 1
    assert values[("alerter_diga_requests_total", (("status", "200"),))] == 5
    assert values[("alerter_logs_fetched_total", ())] == 1
    assert values[("alerter_rule_matches_total", (("rule", "transfer-failed"),))] == 1
    key = (
        "alerter_alerts_total",
        (("destination", "slack-ops"), ("outcome", "sent"), ("rule", "transfer-failed")),
    )
    assert values[key] == 1
    assert values[("alerter_rules_loaded", ())] == 1
    assert values[("alerter_queue_depth", ())] == 0
    assert values[("alerter_delivery_duration_seconds_count", (("destination", "slack-ops"),))] == 1
    # Bounded labels: no call id, no URL anywhere.
    assert ok not in text and "slack://" not in text and "127.0.0.1" not in text


def test_json_and_text_log_lines_carry_the_call() -> None:
    record = logging.LogRecord(
        "alerter.worker.call", logging.WARNING, __file__, 1, "page cap %s", ("hit",), None
    )
    with bind(call_id="c-1", job_id="call:c-1", rule="r"):
        from alerter.logs import _ContextFilter

        _ContextFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "page cap hit" and line["level"] == "warning"
    assert (line["call_id"], line["job_id"], line["rule"]) == ("c-1", "call:c-1", "r")
    assert TextFormatter().format(record).endswith("call_id=c-1 job_id=call:c-1 rule=r")


def test_configure_picks_json_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    try:
        configure("INFO", "auto")
        with bind(call_id="c-9"):
            logging.getLogger("alerter.test").info("hello")
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    assert json.loads(stream.getvalue())["call_id"] == "c-9"


async def test_rules_reload_on_change_and_sighup_keeping_the_last_good(tmp_path: Path) -> None:
    folder = write_rules(tmp_path, TRANSFER_RULES.replace("${SLACK_URL}", "json://127.0.0.1:9/a"))
    metrics = Metrics()
    holder = RulesHolder(folder, metrics)
    assert holder.reload()
    first = holder.require().version
    stop = asyncio.Event()
    watcher = asyncio.create_task(holder.watch(stop, every=0.05))
    try:
        (folder / "rules.yaml").write_text(
            TRANSFER_RULES.replace("${SLACK_URL}", "json://127.0.0.1:9/b")
            + "    severity: critical\n"
        )
        assert await asyncio.to_thread(wait_until, lambda: holder.require().version != first, 5)
        second = holder.require().version
        (folder / "rules.yaml").write_text("rules:\n  - name: broken\n    notify: [nowhere]\n")
        assert await asyncio.to_thread(
            wait_until,
            lambda: (
                metric_samples(metrics.render().decode()).get(
                    ("alerter_rule_reloads_total", (("outcome", "invalid"),))
                )
                == 1
            ),
            5,
        )
        assert holder.require().version == second  # the last good set stays
        (folder / "rules.yaml").write_text(
            TRANSFER_RULES.replace("${SLACK_URL}", "json://127.0.0.1:9/c")
        )
        os.utime(folder / "rules.yaml", (1, 1))  # same size as before: mtime tells
        os.kill(os.getpid(), signal.SIGHUP)
        assert await asyncio.to_thread(
            wait_until, lambda: holder.require().version not in (first, second), 5
        )
    finally:
        stop.set()
        await watcher
    reloads = metric_samples(metrics.render().decode())
    assert reloads[("alerter_rule_reloads_total", (("outcome", "loaded"),))] == 3


async def test_api_ready_shows_the_reloaded_version(tmp_path: Path, redis_url: str) -> None:
    folder = write_rules(tmp_path, TRANSFER_RULES.replace("${SLACK_URL}", "json://127.0.0.1:9/a"))
    holder = RulesHolder(folder)
    assert holder.reload()
    api = ApiServer(make_settings("http://127.0.0.1:9"), redis_url, holder)
    api.start()
    try:
        before = httpx.get(f"{api.url}/ready").json()["rules_version"]
        (folder / "rules.yaml").write_text(
            TRANSFER_RULES.replace("${SLACK_URL}", "json://127.0.0.1:9/zz")
        )
        holder.reload("test")
        after = httpx.get(f"{api.url}/ready").json()["rules_version"]
    finally:
        api.stop()
    assert before != after == holder.require().version


def test_worker_check_follows_the_heartbeat(
    tmp_path: Path, redis_url: str, diga: DigaStandIn
) -> None:
    env = {
        **child_env(),
        "REDIS_URL": redis_url,
        "DIGA_API_URL": diga.url,
        "DIGA_API_KEY": DIGA_KEY,
        "ALERTER_RULES": str(
            write_rules(tmp_path, TRANSFER_RULES.replace("${SLACK_URL}", "json://127.0.0.1:9/a"))
        ),
        "ALERTER_WORKER_METRICS_PORT": str(free_port()),
    }
    check = [sys.executable, "-m", "alerter.cli", "worker", "--check"]
    assert subprocess.run(check, env=env, capture_output=True).returncode == 1
    worker = subprocess.Popen(
        [sys.executable, "-m", "alerter.cli", "worker"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert wait_until(
            lambda: subprocess.run(check, env=env, capture_output=True).returncode == 0, 20
        )
        scraped = httpx.get(f"http://127.0.0.1:{env['ALERTER_WORKER_METRICS_PORT']}/metrics").text
        assert "alerter_rules_loaded 1.0" in scraped
        assert "alerter_webhooks" not in scraped  # the api's, never filled here
        # The queue is the api's to report: counted once however many workers run.
        assert "alerter_queue" not in scraped and "alerter_workers_live" not in scraped
        assert "alerter_job_duration_seconds_count 0.0" in scraped
        # Another host's probe (another pod) does not see this worker's heartbeat.
        elsewhere = {**env, "ALERTER_WORKER_NAME": "another-pod"}
        assert subprocess.run(check, env=elsewhere, capture_output=True).returncode == 1
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
    output = worker.stdout.read().decode() if worker.stdout else ""
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert any("rules version" in line["msg"] for line in lines)  # JSON off a terminal


def test_notify_test_command(
    tmp_path: Path,
    hook: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = hook.url.replace("http", "json", 1) + "/alerts"
    dead = f"json://127.0.0.1:{free_port()}/x"
    folder = write_rules(
        tmp_path,
        f"destinations:\n  good: {target}\n  dead: {dead}\nrules:\n  - {{name: r, notify: [good, dead]}}\n",
    )
    monkeypatch.setenv("ALERTER_RULES", str(folder))
    assert main(["notify", "test", "good"]) == 0
    assert "good: sent" in capsys.readouterr().out
    assert "alerter-test" in hook.wait_for(1)[0]["title"]
    assert main(["notify", "test", "dead"]) == 1
    out = capsys.readouterr().out
    # Why, in the one vocabulary: destination, host, the connection error's kind; the URL's
    # path (where tokens live) never.
    port = dead.rsplit(":", 1)[1].split("/")[0]
    assert f"dead: FAILED (dead (127.0.0.1:{port}): refused)" in out and "/x" not in out
    hook.inject(Fault(503, {"error": "maintenance until 14:00 " + "x" * 300}))
    assert main(["notify", "test", "good"]) == 1
    out = capsys.readouterr().out
    assert f"good ({hook.url.removeprefix('http://')}): HTTP 503 " in out
    assert '{"error": "maintenance until 14:00 xxx' in out and "x" * 200 not in out
    assert main(["notify", "test", "nope"]) == 2


def test_a_mended_rule_set_is_said_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    folder = write_rules(
        tmp_path, "destinations: {d: 'json://127.0.0.1:9/x'}\nrules:\n  - {name: r, notify: [d]}\n"
    )
    holder = RulesHolder(folder, environ={})
    assert holder.reload("start")
    (folder / "rules.yaml").write_text("rules: [\n")
    assert not holder.reload("change")
    (folder / "rules.yaml").write_text(
        "destinations: {d: 'json://127.0.0.1:9/x'}\nrules:\n  - {name: r2, notify: [d]}\n"
    )
    with caplog.at_level(logging.INFO, logger="alerter.rules.reload"):
        assert holder.reload("change")
        assert holder.reload("change")  # unchanged: nothing more to say
    mended = [r for r in caplog.records if "valid again" in r.getMessage()]
    assert len(mended) == 1 and mended[0].levelno == logging.WARNING
