"""Contract of alerter/compat/apprise.py with apprise's, requests' and smtplib's real code:
apprise's HTTP plugins, sent through the worker's Sender, reuse one connection per sending
thread; the functions wrapped have the shapes called; a failed send is named by its last
answer (HTTP or SMTP); e-mails carry our plain text; plugins take our settings and keys;
webhook URLs are read from apprise's own parse. (That the body posted on the event loop is
byte for byte apprise's own: tests/pipeline/test_webhooks.py.)"""

from __future__ import annotations

import asyncio
import inspect
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version
from typing import Any

import pytest
import requests
from apprise.plugins.slack import NotifySlack

from alerter.compat import apprise as compat
from alerter.models import Severity
from alerter.pipeline.deliver import Sender
from alerter.render.alert import Message
from tests.conftest import SmtpSink
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


# -- the private parts compat/apprise.py reaches for, and what it relies on them doing


def test_the_functions_it_wraps_have_the_shapes_it_calls() -> None:
    from apprise.plugins.email import base as email_base

    compat.install()
    originals = compat._originals
    shapes = {
        "request": ["method", "url", "kwargs"],
        "send": ["self", "request", "kwargs"],
        "convert_between": ["from_format", "to_format", "content"],
        "smtp.connect": ["self", "host", "port", "source_address"],
        "smtp.sendmail": ["self", "from_addr", "to_addrs", "msg", "mail_options", "rcpt_options"],
    }
    for name, params in shapes.items():
        assert list(inspect.signature(originals[name]).parameters) == params, name
    # Each is wrapped once, whatever the number of installs.
    compat.install()
    assert requests.api.request is requests.request is compat._request
    assert email_base.convert_between is compat._plain_part
    assert originals["send"].__module__ == "requests.sessions"


def test_importing_the_stages_patches_nothing() -> None:
    probe = (
        "import requests, smtplib\n"
        "from apprise.plugins.email import base\n"
        "import alerter.pipeline.deliver, alerter.worker.app\n"
        "assert requests.Session.send.__module__ == 'requests.sessions'\n"
        "assert requests.api.request.__module__ == 'requests.api'\n"
        "assert smtplib.SMTP.sendmail.__module__ == 'smtplib'\n"
        "assert base.convert_between.__module__ == 'apprise.conversion.format'\n"
    )
    subprocess.run([sys.executable, "-c", probe], check=True)


def test_a_tuned_plugin_never_pauses_and_bounds_its_sockets() -> None:
    plugin = compat.tuned_plugin("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ", 3, 7)
    assert plugin is not None and compat.kind_of(plugin) == "slack"
    assert plugin.request_timeout == (3, 7)  # apprise's own reading of the two
    assert plugin.request_rate_per_sec == 0.0
    assert compat.tuned_plugin("nothing://here", 3, 7) is None


def test_a_refused_post_is_named_by_its_answer(kept_receiver: Receiver) -> None:
    kept_receiver.inject(Fault(503, {"error": "down for maintenance"}))
    url = kept_receiver.url.replace("http://", "json://u:pw@") + "/alerts"
    [delivery] = asyncio.run(_deliveries(url, 1))
    host = kept_receiver.url.removeprefix("http://")
    assert delivery.reason == f'hook ({host}): HTTP 503 {{"error": "down for maintenance"}}'


def test_an_email_carries_our_plain_text_and_an_smtp_refusal_is_named(
    smtp: tuple[SmtpSink, int],
) -> None:
    sink, port = smtp
    mail = MESSAGE.__class__(
        title="t",
        severity=Severity.CRITICAL,
        slack={},
        html="<table><tr><td>one</td><td>two</td></tr></table>",
        text="our own\nplain text",
    )
    url = f"mailto://alerts@127.0.0.1:{port}?to=o@example.com&from=a@example.com"
    sink.refuse = 1
    refused, sent = asyncio.run(_deliveries(url, 2, mail))
    assert refused.reason == "hook (127.0.0.1): SMTP 451 4.3.0 try again later"
    assert sent.accepted
    (received,) = sink.wait_for(1)
    parts = {p.get_content_type(): p.get_payload(decode=True) for p in received.walk()}
    assert parts["text/plain"].decode().replace("\r\n", "\n") == "our own\nplain text"


def test_a_key_goes_in_the_plugins_slot_for_one_send_only() -> None:
    plugin = compat.tuned_plugin("pagerduty://integration@apikey/?region=us", 3, 7)
    assert plugin is not None
    with compat.keyed(plugin, "episode-1"):
        assert getattr(plugin, "dedup") == "episode-1"
    assert getattr(plugin, "dedup") is None
    own = compat.tuned_plugin("opsgenie://apikey/?alias=theirs", 3, 7)
    assert own is not None
    with compat.keyed(own, "episode-1"):
        assert getattr(own, "alias") == "theirs"  # a key in the URL wins


def test_webhook_settings_are_read_from_apprises_parse() -> None:
    hook = compat.webhook_of("jsons://u:p%40ss@example.com:8443/a/b?+X-Token=t&:type=kind&-q=1")
    assert hook is not None
    assert (hook.kind, hook.method, hook.url) == ("json", "POST", "https://example.com:8443/a/b")
    assert hook.auth == ("u", "p@ss") and hook.params == (("q", "1"),)
    assert ("X-Token", "t") in hook.headers and hook.extras == (("type", "kind"),)
    slack = compat.webhook_of("https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiaj")
    assert slack is not None and slack.kind == "slack"
    assert slack.url == "https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiaj"
    assert compat.webhook_of("slack://T1JJ3T3L2/A1BRTD4JD/TIiaj/#ops") is None  # channels
    assert compat.webhook_of("json://example.com/?overflow=split") is None
    assert compat.webhook_of("mailto://u:p@example.com") is None


async def _deliveries(url: str, count: int, message: Message = MESSAGE) -> list[Any]:
    sender = Sender(threads=1)  # apprise's path: no http client
    try:
        return [await sender.send(url, message, "hook") for _ in range(count)]
    finally:
        sender.close()
