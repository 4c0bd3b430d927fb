"""The defaults the README documents are the ones the code uses.

Every other test sets its own limits; these build settings from an empty environment (no
`.env`, no ALERTER_* variables) so a changed default cannot pass unnoticed.
"""

from __future__ import annotations

import inspect
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from alerter.budgets import PRODUCTION, Budgets
from alerter.pipeline.deliver import Sender
from alerter.pipeline.fetch import DigaClient
from alerter.pipeline.webhooks import webhook_client
from alerter.rules.model import RuleSet
from alerter.settings import Settings
from alerter.store import queue, state
from alerter.worker import call as job
from alerter.worker import send
from alerter.worker.app import make_deps, make_worker
from alerter.worker.deps import Deps
from tests.conftest import ApiServer, rules_from

README = (Path(__file__).parents[1] / "README.md").read_text()
FIELDS = {  # README variable → Settings attribute
    "ALERTER_MAX_BODY_BYTES": "max_body_bytes",
    "ALERTER_SETTLE_SECONDS": "settle_seconds",
    "ALERTER_DIGA_TIMEOUT": "diga_timeout_seconds",
    "ALERTER_DIGA_CONNECTIONS": "diga_max_connections",
    "ALERTER_DIGA_PAGE_CAP": "diga_page_cap",
    "ALERTER_DIGA_FIRST_PAGE": "diga_first_page",
    "ALERTER_WORKER_JOBS": "worker_max_jobs",
    "ALERTER_JOB_TIMEOUT": "job_timeout_seconds",
    "ALERTER_SHUTDOWN_GRACE": "shutdown_grace_seconds",
    "ALERTER_WORKER_METRICS_PORT": "worker_metrics_port",
    "ALERTER_RULES_POLL": "rules_poll_seconds",
    "ALERTER_STATE_DIR": "state_dir",
    "ALERTER_RULES": "rules_path",
    "DIGA_API_URL": "diga_api_url",
}


@pytest.fixture
def empty_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Settings]:
    import os

    for name in list(os.environ):
        if name.startswith(("ALERTER_", "DIGA_", "REDIS_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env here
    yield Settings()


def readme_default(variable: str) -> str:
    row = re.search(rf"^\| `{variable}` \| `([^`]*)` \|", README, re.M)
    assert row, f"{variable} is not in the README's settings table"
    return row.group(1)


@pytest.mark.parametrize("variable", sorted(FIELDS))
def test_readme_defaults_are_the_settings_defaults(variable: str, empty_env: Settings) -> None:
    value = getattr(empty_env, FIELDS[variable])
    documented = readme_default(variable)
    if isinstance(value, Path):
        assert value == Path(documented)
    elif isinstance(value, (int, float)):
        assert float(value) == float(documented)
    else:
        assert value == documented


def test_documented_defaults_in_numbers(empty_env: Settings) -> None:
    s = empty_env
    assert s.max_body_bytes == 262_144
    assert s.settle_seconds == 5
    assert (s.host, s.port) == ("127.0.0.1", 8000)
    assert s.redis_url is None and s.webhook_secret is None and s.diga_api_key is None
    assert s.call_end_events == {
        "call.ended",
        "call_ended",
        "call.completed",
        "call_completed",
        "call.failed",
        "call_failed",
    }


def test_documented_tries_and_retention() -> None:
    # README "Alerts and delivery": 8 tries for Diga, 4 over about a minute for 404, 8 for
    # delivery 5 minutes apart at most; duplicates for 24 hours; send markers for 7 days;
    # the history keeps 100,000 entries.
    assert (job.DIGA_TRIES, job.NOT_FOUND_TRIES, send.DELIVERY_TRIES) == (8, 4, 8)
    assert 45 <= sum(PRODUCTION.not_found_delays[: job.NOT_FOUND_TRIES - 1]) <= 90
    assert PRODUCTION.backoff_cap == 300
    assert queue.RESULT_KEEP_SECONDS == 86_400
    assert state.SENT_TTL_SECONDS == 7 * 86_400
    assert state.HISTORY_MAX == 100_000
    assert "up to 8 tries" in README and "4 tries over" in README
    assert "`sent` for 7 days" in README.replace("\n", " ")


def test_the_production_budgets_are_the_ones_before_they_could_be_injected() -> None:
    # What were module constants (guard, call, deliver, webhooks, fetch) until the worker
    # took one `Budgets`: unchanged, and the ones a worker makes by default.
    assert (
        Budgets()
        == PRODUCTION
        == Budgets(
            error_tries=8,
            backoff_base=2.0,
            backoff_cap=300.0,
            not_found_delays=(10.0, 20.0, 30.0),
            send_timeout=45.0,
            connect_timeout=10.0,
            read_timeout=20.0,
            page_limit=1000,
            max_response_bytes=16 * 1024 * 1024,
        )
    )
    # The backstop waits past both socket timeouts: the sockets end a send first.
    assert PRODUCTION.send_timeout > PRODUCTION.connect_timeout + PRODUCTION.read_timeout
    for default in (
        inspect.signature(make_worker).parameters["budgets"].default,
        inspect.signature(make_deps).parameters["budgets"].default,
        inspect.signature(DigaClient).parameters["budgets"].default,
        inspect.signature(DigaClient.from_settings).parameters["budgets"].default,
        inspect.signature(Sender).parameters["budgets"].default,
        inspect.signature(webhook_client).parameters["budgets"].default,
        Deps.__dataclass_fields__["budgets"].default,
    ):
        assert default is PRODUCTION


@pytest.fixture
def rules(tmp_path: Path) -> RuleSet:
    return rules_from(
        tmp_path, "destinations: {d: 'json://127.0.0.1/x'}\nrules:\n  - {name: r, notify: [d]}\n"
    )


def padded_body(size: int) -> bytes:
    head = json.dumps({"event": "call.ended", "call_id": str(uuid.uuid4()), "pad": ""})
    body = head[:-2] + "x" * (size - len(head)) + head[-2:]
    assert len(body) == size
    return body.encode()


async def test_the_default_body_limit_through_the_real_app(
    empty_env: Settings, redis_url: str, rules: RuleSet
) -> None:
    api = ApiServer(empty_env, redis_url, rules)
    api.start()
    try:
        async with httpx.AsyncClient(base_url=api.url, timeout=10) as client:
            headers = {"Content-Type": "application/json"}
            at_limit = await client.post(
                "/webhooks/diga", content=padded_body(262_144), headers=headers
            )
            over = await client.post(
                "/webhooks/diga", content=padded_body(262_145), headers=headers
            )
    finally:
        api.stop()
    assert at_limit.status_code == 202, at_limit.text
    assert over.status_code == 413
    assert over.json() == {
        "status": "error",
        "error_code": "PAYLOAD_TOO_LARGE",
        "message": over.json()["message"],
    }


def test_secret_settings_and_rule_variables_read_from_files(
    empty_env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Docker and Kubernetes secrets arrive as files: NAME_FILE names one."""
    from alerter.settings import load_settings, rules_environment

    (tmp_path / "diga").write_text("sk-from-a-file\n")
    (tmp_path / "slack").write_text("json://127.0.0.1:9/from-a-file\n")
    monkeypatch.setenv("DIGA_API_KEY_FILE", str(tmp_path / "diga"))
    monkeypatch.setenv("SLACK_OPS_URL_FILE", str(tmp_path / "slack"))
    settings = load_settings()
    assert settings.diga_api_key is not None
    assert settings.diga_api_key.get_secret_value() == "sk-from-a-file"
    assert rules_environment()["SLACK_OPS_URL"] == "json://127.0.0.1:9/from-a-file"
    monkeypatch.setenv("DIGA_API_KEY", "sk-from-the-environment")  # the variable itself wins
    assert load_settings().diga_api_key.get_secret_value() == "sk-from-the-environment"  # type: ignore[union-attr]


def test_an_unreadable_secret_file_is_named_not_shown(
    empty_env: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from alerter.cli import main

    monkeypatch.setenv("ALERTER_WEBHOOK_SECRET_FILE", str(tmp_path / "missing"))
    assert main(["rules", "schema"]) == 2
    assert "ALERTER_WEBHOOK_SECRET_FILE: cannot read" in capsys.readouterr().err


def test_api_processes_default_to_the_usable_cpus(empty_env: Settings, tmp_path: Path) -> None:
    """README: one api process a CPU this process may use, a container's CPU limit (cgroup
    v2 `cpu.max`) included."""
    import os

    from alerter.settings import usable_cpus

    assert "| `ALERTER_API_PROCESSES` | the usable CPUs |" in README
    affinity = len(os.sched_getaffinity(0))
    assert empty_env.api_processes == usable_cpus()
    limit = tmp_path / "cpu.max"
    limit.write_text("max 100000\n")
    assert usable_cpus(limit) == affinity
    limit.write_text("150000 100000\n")  # 1.5 CPUs: two processes
    assert usable_cpus(limit) == min(affinity, 2)
    limit.write_text("50000 100000\n")
    assert usable_cpus(limit) == 1
    assert usable_cpus(tmp_path / "absent") == affinity
