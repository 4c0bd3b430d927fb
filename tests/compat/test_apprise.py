"""Contract of alerter/compat/apprise.py with apprise's and requests' real code: apprise's
HTTP plugins, sent through the worker's Sender, reuse one connection per sending thread."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from importlib.metadata import version

import pytest
import requests
from apprise.plugins.slack import NotifySlack

from alerter.compat import apprise as compat
from alerter.models import Severity
from alerter.pipeline.deliver import Sender
from alerter.render.alert import Message
from tests.standins import Fault, Receiver

MESSAGE = Message(
    title="t",
    severity=Severity.CRITICAL,
    slack={"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "t"}}]},
    html="t",
    text="t",
)


@pytest.fixture
def kept_receiver() -> Iterator[Receiver]:
    server = Receiver(keep_alive=True)
    server.start()
    yield server
    server.stop()


def _send_many(url: str, count: int) -> list[bool]:
    async def go() -> list[bool]:
        sender = Sender(threads=1)
        try:
            return [(await sender.send(url, MESSAGE, "hook")).accepted for _ in range(count)]
        finally:
            sender.close()

    return asyncio.run(go())


def test_written_against_the_installed_versions() -> None:
    # A new apprise or requests may post another way (a session of its own, another
    # function): read their code again, then say so here.
    assert compat.WRITTEN_AGAINST == {
        "apprise": version("apprise"),
        "requests": version("requests"),
    }


def test_json_webhooks_from_one_sending_thread_share_one_connection(
    kept_receiver: Receiver,
) -> None:
    url = kept_receiver.url.replace("http://", "json://") + "/alerts"
    assert _send_many(url, 4) == [True] * 4
    assert len(kept_receiver.wait_for(4)) == 4
    assert kept_receiver.connections == 1


def test_slack_webhooks_from_one_sending_thread_share_one_connection(
    kept_receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(NotifySlack, "webhook_url", kept_receiver.url + "/services")
    assert _send_many("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ", 3) == [True] * 3
    assert len(kept_receiver.wait_for(3)) == 3
    assert kept_receiver.connections == 1


def test_a_cookie_one_answer_sets_is_not_sent_with_the_next(kept_receiver: Receiver) -> None:
    kept_receiver.inject(Fault(200, headers={"Set-Cookie": "seen=1; Path=/"}))
    url = kept_receiver.url.replace("http://", "json://") + "/alerts"
    assert _send_many(url, 2) == [True, True]
    assert all("cookie" not in headers for headers in kept_receiver.headers())
    assert kept_receiver.connections == 1


def test_a_thread_without_a_kept_session_opens_a_connection_a_request(
    kept_receiver: Receiver,
) -> None:
    compat.install()
    compat.unbind_thread()
    for _ in range(2):
        requests.post(kept_receiver.url + "/plain", json={}, timeout=5).raise_for_status()
    assert kept_receiver.connections == 2


def test_closing_ends_the_kept_connections(kept_receiver: Receiver) -> None:
    sessions = compat.KeptSessions()
    sessions.bind_thread()
    try:
        for _ in range(2):  # requests.post ends in requests.api.request: routed too
            requests.post(kept_receiver.url + "/a", json={}, timeout=5).raise_for_status()
    finally:
        compat.unbind_thread()
    sessions.close()
    sessions.bind_thread()  # a new session after close: a new connection
    try:
        requests.post(kept_receiver.url + "/b", json={}, timeout=5).raise_for_status()
    finally:
        compat.unbind_thread()
        sessions.close()
    assert kept_receiver.connections == 2
