"""Two `alerter api` processes on one Redis, as two replicas behind a Kubernetes Service:
with one ALERTER_CONSOLE_SECRET (read from a file, as the manifests mount it) a console form
served by one is accepted by the other; and each exports only the api's metric families."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from alerter.store.embedded import free_port
from tests.conftest import child_env, metric_samples, write_rules
from tests.http.console_kit import csrf_of, token
from tests.kit.poll import wait_until

RULES = """
destinations:
  hook: json://127.0.0.1:9/hooks
rules:
  - {name: transfer-failed, match: {category: TRANSFER}, notify: [hook]}
"""


def start_api(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    api = subprocess.Popen(
        [sys.executable, "-m", "alerter.cli", "api"],
        env={**env, "ALERTER_PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{url}/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    assert wait_until(ready, 30), "the api did not become ready"
    return api, url


@pytest.fixture
def replicas(tmp_path: Path, redis_url: str) -> Iterator[tuple[str, str]]:
    secret = tmp_path / "ALERTER_CONSOLE_SECRET"
    secret.write_text("one-secret-for-every-replica-" + "7" * 32 + "\n")
    env = {
        **child_env(),
        "REDIS_URL": redis_url,
        "ALERTER_RULES": str(write_rules(tmp_path, RULES)),
        "ALERTER_CONSOLE_AUTH": "token",
        "ALERTER_CONSOLE_SECRET_FILE": str(secret),
        "ALERTER_WORKER_METRICS_PORT": "0",
    }
    started = [start_api(env), start_api(env)]
    try:
        yield started[0][1], started[1][1]
    finally:
        for process, _ in started:
            process.terminate()
            process.wait(30)


async def test_a_form_from_one_replica_is_accepted_by_the_other_and_metrics_are_the_apis(
    replicas: tuple[str, str], redis_url: str
) -> None:
    one, other = replicas
    secret = await token(redis_url, "alice", "operator")
    # One browser (one cookie jar); the Service sends each request to either replica.
    async with httpx.AsyncClient(timeout=10) as browser:
        login = await browser.get(f"{one}/ui/login")
        signed = await browser.post(
            f"{other}/ui/login",
            data={"token": secret, "next": "/ui/", "_csrf_token": csrf_of(login.text)},
        )
        assert signed.status_code == 303, signed.text
        form = await browser.get(f"{other}/ui/silences/new")
        created = await browser.post(
            f"{one}/ui/silences/new",
            data={
                "rule": "transfer-failed",
                "comment": "maintenance",
                "duration": "1h",
                "action": "create",
                "_csrf_token": csrf_of(form.text),
            },
        )
        assert created.status_code == 303, created.text
        listed = await browser.get(f"{other}/api/v1/silences")
    [silence] = listed.json()["silences"]
    assert silence["comment"] == "maintenance" and silence["created_by"] == "alice"
    # The same two processes (started once: each start costs seconds): each exports the
    # api's metric families only.
    for url in replicas:
        values = metric_samples(httpx.get(f"{url}/metrics").text)
        names = {name for name, _ in values}
        assert {"alerter_queue_depth", "alerter_workers_live", "alerter_rules_loaded"} <= names
        assert not {n for n in names if n.startswith(("alerter_job", "alerter_diga_"))}
        assert "alerter_logs_fetched_total" not in names
        assert values[("alerter_workers_live", ())] == 0  # no worker runs here
