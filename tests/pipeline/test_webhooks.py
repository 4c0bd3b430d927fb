"""JSON and Slack incoming webhooks posted on the event loop (`pipeline.webhooks`): the same
bytes apprise's own plugins post for the same message, the same verdict on every failure,
one kept connection, and no secret in a reason or a log line."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from apprise.plugins.slack import NotifySlack

from alerter.budgets import PRODUCTION, Budgets
from alerter.models import Severity
from alerter.pipeline import deliver, webhooks
from alerter.pipeline.deliver import Delivery, Sender, Sent
from alerter.render.alert import Message
from tests.standins import Fault, Receiver

SECRET = "ZX81hookSECRETtoken"

MESSAGES = [
    Message(
        title="  transfer-failed on call 3c90c3cc ",
        severity=Severity.CRITICAL,
        slack={
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": "héllo ☎ {{app_body}}"}},
                {"type": "section", "text": {"type": "mrkdwn", "text": "<a & b> {{ app_title }}"}},
            ],
            "color": "#d00000",
        },
        html="<p>x</p>",
        text="3 transfer errors; last: SIP 408 — “timeout”\n  indented line\n\n",
    ),
    Message(
        title="resolved",
        severity=Severity.WARNING,
        slack={"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "ok"}}]},
        html="",
        text="back to normal",
        resolved=True,
    ),
    Message(
        title="w",
        severity=Severity.WARNING,
        slack={"blocks": [{"type": "divider"}]},
        html="",
        text="a warning",
    ),
]


class RawReceiver(Receiver):
    """A receiver that also keeps each request's path and body bytes as they came."""

    def __init__(self, keep_alive: bool = True) -> None:
        super().__init__(keep_alive=keep_alive)
        self.raw: list[tuple[str, bytes]] = []

    def take(self, path: str, raw: bytes, headers: dict[str, str] | None = None) -> Fault | None:
        with self.lock:
            self.raw.append((path, raw))
        return super().take(path, raw, headers)


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[RawReceiver]:
    server = RawReceiver()
    server.start()
    monkeypatch.setattr(NotifySlack, "webhook_url", server.url + "/services")
    yield server
    server.stop()


def _on_loop_only(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_thread(*args: Any) -> Any:
        raise AssertionError("sent through apprise, not on the event loop")

    monkeypatch.setattr(deliver, "_send_and_mark", no_thread)


def _send(
    url: str, messages: list[Message], on_loop: bool, budgets: Budgets = PRODUCTION, **kwargs: Any
) -> list[Delivery]:
    async def go() -> list[Delivery]:
        http = webhooks.webhook_client(budgets) if on_loop else None
        sender = Sender(threads=1, http=http, budgets=budgets)
        try:
            return [await sender.send(url, m, "hook", **kwargs) for m in messages]
        finally:
            await sender.aclose()

    return asyncio.run(go())


def _urls(receiver: Receiver) -> list[str]:
    hostport = receiver.url.removeprefix("http://")
    return [
        f"json://{hostport}/alerts",
        f"json://alice:{SECRET}@{hostport}/a/b?+X-Token={SECRET}&:type=kind&:version=&-q=1",
        f"slack://T1JJ3T3L2/A1BRTD4JD/{SECRET}",
        f"slack://bot-name@T1JJ3T3L2/A1BRTD4JD/{SECRET}",
        f"https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/{SECRET}",
    ]


@pytest.mark.parametrize("index", range(5))
def test_the_bytes_posted_are_apprises_own(
    receiver: RawReceiver, monkeypatch: pytest.MonkeyPatch, index: int
) -> None:
    url = _urls(receiver)[index]
    assert all(d.accepted for d in _send(url, MESSAGES, on_loop=False))
    by_apprise, receiver.raw = receiver.raw, []
    apprise_headers = receiver.headers()
    receiver.received.clear()
    _on_loop_only(monkeypatch)
    assert all(d.accepted for d in _send(url, MESSAGES, on_loop=True))
    assert receiver.raw == by_apprise  # path (and query) and body, byte for byte
    for ours, theirs in zip(receiver.headers(), apprise_headers, strict=True):
        for name in ("content-type", "user-agent", "authorization", "x-token", "accept"):
            assert ours.get(name) == theirs.get(name), name


@pytest.mark.parametrize(
    "fault",
    [
        Fault(503, {"error": "upstream down"}),
        Fault(404, None),
        Fault(429, {"error": "slow down"}, headers={"Retry-After": "30"}),
        Fault(307, None, headers={"Location": "/elsewhere"}),
    ],
    ids=["503", "404", "429", "redirect-to-404"],
)
@pytest.mark.parametrize("kind", ["json", "slack"])
def test_a_failure_reads_as_apprises_does(
    receiver: RawReceiver, monkeypatch: pytest.MonkeyPatch, fault: Fault, kind: str
) -> None:
    url = _urls(receiver)[0 if kind == "json" else 2]
    results = []
    for on_loop in (False, True):
        receiver.inject(fault, Fault(404, None))  # a redirect's target answers 404 too
        results.append(_send(url, MESSAGES[:1], on_loop=on_loop)[0])
        receiver.faults.clear()
    by_apprise, ours = results
    assert ours.sent is by_apprise.sent is Sent.REFUSED  # retried with backoff
    assert (ours.retry_after, ours.rate_limited) == (by_apprise.retry_after, False)
    host = receiver.url.removeprefix("http://")
    assert ours.reason.startswith(
        f"hook ({host}): HTTP {fault.status if fault.status != 307 else 404}"
    )
    if kind == "json":
        assert ours.reason == by_apprise.reason


def test_a_slack_answer_other_than_ok_is_a_refusal(receiver: RawReceiver) -> None:
    receiver.ok_body = b"no_service"
    [delivery] = _send(_urls(receiver)[2], MESSAGES[:1], on_loop=True)
    assert delivery.sent is Sent.REFUSED
    assert delivery.reason == f"hook ({receiver.url.removeprefix('http://')}): HTTP 200 no_service"


def test_no_listener_is_refused_as_with_apprise() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"json://u:{SECRET}@127.0.0.1:{port}/x"
    by_apprise, ours = (_send(url, MESSAGES[:1], on_loop=flag)[0] for flag in (False, True))
    assert ours == by_apprise == Delivery(Sent.REFUSED, f"hook (127.0.0.1:{port}): refused")


def test_no_answer_within_the_read_timeout_is_a_refusal_as_with_apprise(
    receiver: RawReceiver,
) -> None:
    short = Budgets(read_timeout=0.2)  # both ways of sending hold to the Sender's budgets
    results = []
    for on_loop in (False, True):
        receiver.inject(Fault(200, delay=1.0))
        results.append(_send(_urls(receiver)[0], MESSAGES[:1], on_loop=on_loop, budgets=short)[0])
    host = receiver.url.removeprefix("http://")
    assert results[1] == results[0] == Delivery(Sent.REFUSED, f"hook ({host}): timeout")


def test_past_the_backstop_it_is_unknown_and_a_late_acceptance_is_recorded(
    receiver: RawReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    short = Budgets(send_timeout=0.1)
    _on_loop_only(monkeypatch)
    receiver.inject(Fault(200, delay=0.5))
    late = asyncio.Event()

    async def mark() -> None:
        late.set()

    async def go() -> Delivery:
        sender = Sender(threads=1, http=webhooks.webhook_client(short), budgets=short)
        try:
            delivery = await sender.send(
                _urls(receiver)[0], MESSAGES[0], "hook", on_late_accept=mark
            )
            await asyncio.wait_for(late.wait(), 20)
            return delivery
        finally:
            await sender.aclose()

    delivery = asyncio.run(go())
    assert delivery.sent is Sent.UNKNOWN  # no resend before the claim's lease ends
    assert late.is_set()


def test_sends_on_the_loop_share_one_connection_and_no_cookie(
    receiver: RawReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    _on_loop_only(monkeypatch)
    receiver.inject(Fault(200, headers={"Set-Cookie": "seen=1; Path=/"}))
    url = _urls(receiver)[0].replace("127.0.0.1", "localhost")  # a name: jars keep its cookies
    assert all(d.accepted for d in _send(url, MESSAGES * 2, on_loop=True))
    assert receiver.connections == 1
    assert all("cookie" not in headers for headers in receiver.headers())


def test_posts_on_the_loop_go_through_aiohttp_not_httpxs_client_layer(
    receiver: RawReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """httpx only builds a hook's request (once); the post is aiohttp's, the same bytes."""
    _on_loop_only(monkeypatch)

    async def no_httpx_send(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("posted through httpx's client")

    monkeypatch.setattr(httpx.AsyncClient, "send", no_httpx_send)
    for url in _urls(receiver)[:3]:
        assert all(d.accepted for d in _send(url, MESSAGES, on_loop=True)), url


def test_a_proxy_named_in_the_environment_carries_the_post(
    receiver: RawReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As httpx's `trust_env` did: `HTTP_PROXY` is asked for the hook's URL (here nothing
    listens at the hook itself, so only the proxy can accept the post)."""
    _on_loop_only(monkeypatch)
    for name in ("no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", receiver.url)
    monkeypatch.setenv("http_proxy", receiver.url)
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    assert all(d.accepted for d in _send(f"json://127.0.0.1:{port}/x", MESSAGES[:1], True))
    assert receiver.raw and receiver.raw[0][0] == f"http://127.0.0.1:{port}/x"


def test_no_secret_in_a_reason_or_a_log_line(
    receiver: RawReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.inject(*[Fault(500, {"error": "x"})] * 2)
    reasons = [
        d.reason
        for url in _urls(receiver)[1:3] + ["json://u:" + SECRET + "@127.0.0.1:9/x"]
        for d in _send(url, MESSAGES[:1], on_loop=True)
    ]
    assert all(reasons)
    logged = "\n".join(r.getMessage() + str(r.exc_info or "") for r in caplog.records)
    assert SECRET not in "\n".join(reasons) + logged


def test_what_the_loop_does_not_cover_goes_through_apprise(receiver: RawReceiver) -> None:
    hostport = receiver.url.removeprefix("http://")
    posted = webhooks.Webhooks(webhooks.webhook_client())
    for url in (
        f"json://{hostport}/x?overflow=split",
        f"json://{hostport}/x?format=markdown",
        f"json://{hostport}/x?verify=no",
        f"slack://T1JJ3T3L2/A1BRTD4JD/{SECRET}/#ops",
        "mailto://u:p@example.com",
    ):
        assert posted.of(url) is None, url
    hook = posted.of(f"slack://T1JJ3T3L2/A1BRTD4JD/{SECRET}")
    assert hook is not None
    no_blocks = Message(title="t", severity=Severity.CRITICAL, slack={}, html="", text="t")
    assert webhooks.payload(hook, no_blocks) is None  # apprise refuses it its own way


def test_a_post_that_cannot_be_prepared_goes_through_apprise(
    receiver: RawReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> bytes:
        raise TypeError("a bug of ours")

    monkeypatch.setattr(deliver, "payload", broken)
    [delivery] = _send(_urls(receiver)[0], MESSAGES[:1], on_loop=True)
    assert delivery.accepted and len(receiver.raw) == 1
