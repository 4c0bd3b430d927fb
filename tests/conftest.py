"""Fixtures: a real Redis-compatible server, stand-in HTTP servers, SMTP, the api and worker.

The suite runs against the embedded valkey-server by default; set ALERTER_TEST_REDIS_URL
(e.g. redis://127.0.0.1:6379/13) to run the Redis-backed tests against another server.
That database is flushed before each test, so give a spare database number.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import uvicorn
from aiosmtpd.controller import Controller
from apprise.plugins.slack import NotifySlack
from hypothesis import settings as hypothesis_settings
from prometheus_client.parser import text_string_to_metric_families

from alerter.cli.serve import server_config
from alerter.http.app import create_app
from alerter.rules.model import RuleSet
from alerter.rules.reload import RulesHolder
from alerter.settings import Settings
from alerter.store.embedded import EmbeddedServer, free_port
from alerter.worker.app import make_worker
from tests.kit.budgets import FAST
from tests.kit.build import SLACK_URL, rules_from, write_rules  # noqa: F401  # shared
from tests.kit.poll import wait_until
from tests.kit.redis import redis_client  # noqa: F401  # the `redis` fixture
from tests.standins import DIGA_KEY, DigaStandIn, Receiver, SlackApiStandIn

# Property tests: bounded by default; HYPOTHESIS_PROFILE=long runs many more examples.
hypothesis_settings.register_profile("default", max_examples=150, deadline=None)
hypothesis_settings.register_profile("long", max_examples=20_000, deadline=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# One rule to one destination; ${SLACK_URL} is given by each test (Slack, or a JSON hook).
TRANSFER_RULES = """
destinations:
  slack-ops: ${SLACK_URL}
rules:
  - name: transfer-failed
    match: {category: TRANSFER}
    notify: [slack-ops]
"""


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("ALERTER_TEST_REDIS_URL")
    if external:
        yield external
        return
    with EmbeddedServer(tmp_path_factory.mktemp("valkey"), persist=False) as server:
        yield server.url


@pytest.fixture
def redis_url(redis_server: str) -> Iterator[str]:
    client = redis.Redis.from_url(redis_server)
    client.flushdb()
    yield redis_server
    client.flushdb()
    client.close()


@pytest.fixture
def diga() -> Iterator[DigaStandIn]:
    server = DigaStandIn(api_key=DIGA_KEY)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    """A Slack incoming-webhook receiver; apprise's Slack plugin is pointed at it."""
    server = Receiver()
    server.start()
    monkeypatch.setattr(NotifySlack, "webhook_url", server.url + "/services")
    yield server
    server.stop()


@pytest.fixture
def hook() -> Iterator[Receiver]:
    """A plain JSON webhook receiver (apprise `json://`)."""
    server = Receiver()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def slack_api() -> Iterator[SlackApiStandIn]:
    """Slack's Web API (`slack_app` destinations), answering as Slack does."""
    server = SlackApiStandIn()
    server.start()
    yield server
    server.stop()


class SmtpSink:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.lock = threading.Lock()
        self.refuse = 0  # answer this many messages with a temporary failure first

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            if self.refuse > 0:
                self.refuse -= 1
                return "451 4.3.0 try again later"
            self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Message]:
        wait_until(lambda: len(self.messages) >= count, timeout)
        return list(self.messages)


@pytest.fixture
def smtp() -> Iterator[tuple[SmtpSink, int]]:
    sink = SmtpSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    yield sink, port
    controller.stop()


def metric_samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Prometheus text → {(sample name, sorted labels): value}."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def child_env() -> dict[str, str]:
    """The environment for alerter processes the tests start: none of this shell's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALERTER_", "REDIS_", "DIGA_"))}
    env["PYTHONPATH"] = str(Path(__file__).parent.parent)
    # One api process unless a test asks for more (tests/cli/test_serve.py does): the suite
    # starts many apis on two cores.
    env["ALERTER_API_PROCESSES"] = "1"
    return env


def make_settings(diga_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "DIGA_API_URL": diga_url,
        "DIGA_API_KEY": DIGA_KEY,
        "ALERTER_SETTLE_SECONDS": 0,
        "ALERTER_DIGA_TIMEOUT": 2,
        # The per-level protocol, whose requests most pipeline tests count; the default
        # (adaptive: a call's first page of every level) has tests of its own.
        "ALERTER_DIGA_FIRST_PAGE": "level",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def run_worker_until_idle(
    settings: Settings,
    rules: RuleSet,
    redis_url: str,
    clock: Callable[[], float] = time.time,
    **options: Any,
) -> None:
    """The real arq worker, in burst mode: runs every due and deferred job, then returns.
    `options`: more of `make_worker`'s parameters (`claim_lease_seconds`, `budgets`: the
    suite's fast retries unless given)."""
    options.setdefault("budgets", FAST)
    worker = make_worker(settings, rules, redis_url, burst=True, clock=clock, **options)
    try:
        await asyncio.wait_for(worker.main(), timeout=60)
    finally:
        await worker.close()


class ApiServer:
    """The api on a real port, served by uvicorn in a thread."""

    def __init__(
        self,
        settings: Settings,
        redis_url: str,
        rules: RuleSet | RulesHolder | None,
        clock: Callable[[], float] = time.time,
        webhook_door: bool = True,
    ) -> None:
        self.port = free_port()
        if not isinstance(rules, RulesHolder):
            rules = RulesHolder.of(rules) if rules else RulesHolder(Path("/nonexistent"))
        self.rules = rules
        # The server as `alerter serve` configures it (which forwarding headers it believes).
        self.redis_url = redis_url
        self.app = create_app(settings, redis_url, rules, clock)
        config = server_config(
            self.app, settings, "127.0.0.1", self.port, webhook_door=webhook_door
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("api did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
async def api_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


@pytest.fixture
def api_for(redis_url: str, diga: DigaStandIn) -> Iterator[Callable[..., ApiServer]]:
    """Start an api on given rules (and settings overrides); all stopped after the test."""
    started: list[ApiServer] = []

    def start(rules: RuleSet, clock: Callable[[], float] = time.time, **settings: Any) -> ApiServer:
        """`clock`: the api's one clock (when calls ended, signatures' age, every stamp)."""
        server = ApiServer(make_settings(diga.url, **settings), redis_url, rules, clock)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
