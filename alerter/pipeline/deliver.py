"""The deliver stage: one rendered alert → one destination, through apprise.

Slack gets the Block Kit attachment from `render.slack_payload` (through apprise's Slack
template support); e-mail gets an HTML document with our own plain-text part; any other
apprise URL gets plain text. Errors never carry the URL: it holds tokens and passwords.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import os
import smtplib
import tempfile
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import apprise
import requests
from apprise.plugins.base import NotifyBase
from apprise.plugins.email import base as email_base
from apprise.plugins.email.base import NotifyEmail
from apprise.plugins.opsgenie import NotifyOpsgenie
from apprise.plugins.pagerduty import NotifyPagerDuty
from apprise.plugins.slack import NotifySlack

from alerter.compat.apprise import KeptSessions
from alerter.pipeline.failure import described, error_kind, host_of, http_answer
from alerter.render.alert import Message
from alerter.rules.model import Destination

log = logging.getLogger(__name__)

# apprise's DEBUG lines, and those of urllib3 beneath it, carry destination URLs with their
# tokens: never let them through, whatever level the process runs at. (Their INFO and
# WARNING lines name no URL; tests/test_secrets.py runs at DEBUG to prove it.)
for _name in ("apprise", "urllib3"):
    logging.getLogger(_name).setLevel(logging.INFO)

SEND_TIMEOUT_SECONDS = 45.0  # a backstop: the socket timeouts below end a send first
CONNECT_TIMEOUT_SECONDS = 10.0
READ_TIMEOUT_SECONDS = 20.0


class Sent(StrEnum):
    """What became of one send to one URL."""

    ACCEPTED = "accepted"
    REFUSED = "refused"  # the destination said no, or the plugin failed: safe to send again
    UNKNOWN = "unknown"  # no answer in time: it may still arrive, so no resend before a lease


@dataclass(frozen=True, slots=True)
class Delivery:
    """One send's result, and when it was not accepted, why (`failure`'s vocabulary:
    destination, host, then the HTTP status and answer or the connection error's kind)."""

    sent: Sent
    reason: str = ""
    retry_after: float = 0.0  # the destination asked to wait this long before another try
    rate_limited: bool = False  # a `ratelimited` answer: delays the send, spends no try

    @property
    def accepted(self) -> bool:
        return self.sent is Sent.ACCEPTED


def slack_template_json(payload: dict[str, Any]) -> str:
    """The payload as an apprise Slack template; `{{` is written so apprise substitutes nothing."""
    return json.dumps(payload).replace("{{", "{\\u007b")


class Sender:
    """Sends on threads of its own, as many as the jobs in flight: a slow destination never
    waits behind the default pool's few threads (shared with rule reloads and DNS). Each
    thread keeps its HTTP connections from one send to the next (`compat.apprise`): a new
    connection a send was most of an alert storm's cost."""

    def __init__(self, threads: int) -> None:
        self._sessions = KeptSessions()
        self._pool = ThreadPoolExecutor(
            max_workers=threads,
            thread_name_prefix="alerter-send",
            initializer=self._sessions.bind_thread,
        )
        self._late: set[asyncio.Task[None]] = set()

    async def send(
        self,
        url: str,
        message: Message,
        destination: str,
        on_late_accept: Callable[[], Awaitable[None]] | None = None,
        on_accept: Callable[[], None] | None = None,
    ) -> Delivery:
        """`on_accept` runs on the sending thread the moment the destination accepts (the
        marker, before the event loop hears of it: the window in which a killed worker
        repeats a send is one Redis write). `on_late_accept` runs when a send that timed out
        (UNKNOWN) is accepted after all, so its marker can still say `sent`."""
        loop = asyncio.get_running_loop()
        # In the caller's context: apprise's own log lines carry the call, rule, destination.
        context = contextvars.copy_context()
        future = loop.run_in_executor(
            self._pool, context.run, _send_and_mark, url, message, on_accept
        )
        try:
            accepted, why = await asyncio.wait_for(asyncio.shield(future), SEND_TIMEOUT_SECONDS)
        except TimeoutError:
            # The thread goes on (threads cannot be cancelled): the send may still land.
            reason = described(destination, _fallback_host(url), "timeout")
            log.warning("send failed: %s (no answer in %g s)", reason, SEND_TIMEOUT_SECONDS)
            if on_late_accept is not None:
                self._late.add(loop.create_task(_when_accepted(future, on_late_accept)))
                for task in [t for t in self._late if t.done()]:
                    self._late.discard(task)
            return Delivery(Sent.UNKNOWN, reason)
        except Exception as exc:  # a plugin bug must not lose the alert: retried like a refusal
            reason = described(destination, _fallback_host(url), f"error {type(exc).__name__}")
            log.warning("send failed: %s", reason)
            return Delivery(Sent.REFUSED, reason)
        if accepted:
            return Delivery(Sent.ACCEPTED)
        host, answer = why if why is not None else (_fallback_host(url), "refused or failed")
        return Delivery(Sent.REFUSED, described(destination, host, answer))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._sessions.close()


async def _when_accepted(
    future: asyncio.Future[tuple[bool, tuple[str, str] | None]],
    then: Callable[[], Awaitable[None]],
) -> None:
    try:
        accepted, _ = await future
    except Exception:
        return
    if accepted:
        try:
            await then()
        except Exception:
            log.warning("a late acceptance could not be recorded", exc_info=True)


async def send(destination: Destination, message: Message) -> tuple[bool, str]:
    """Every URL of a destination, once, outside the pipeline (`alerter notify test`);
    when one failed, why (each failed URL's reason)."""
    sender = Sender(threads=1)
    try:
        results = [await sender.send(url, message, destination.name) for url in destination.urls]
    finally:
        sender.close()
    failed = [result.reason for result in results if not result.accepted]
    if failed:
        return False, "; ".join(failed)
    return True, ""


def _fallback_host(url: str) -> str:
    """The host an apprise URL names when it looks like one; else its scheme alone (several
    schemes put a token where the host goes: slack://TokenA/...)."""
    host = host_of(url)
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if name == "localhost" or "." in name or ":" in name:
        return host
    return url.split(":", 1)[0] or "?"


# What the last request of a send answered, seen on the sending thread: apprise only says
# yes or no. (host, "HTTP 503 <answer>" | "SMTP 451 <reply>" | a connection error's kind)
_seen = threading.local()


def _note(host: str, why: str) -> None:
    if getattr(_seen, "on", False):
        _seen.last = (host, why)


_session_send = requests.Session.send


def _watched_session_send(self: requests.Session, request: Any, **kwargs: Any) -> Any:
    host = host_of(str(request.url))
    try:
        response = _session_send(self, request, **kwargs)
    except Exception as exc:
        _note(host, error_kind(exc))
        raise
    if not 200 <= response.status_code < 300:
        _note(host, http_answer(response.status_code, response.content or b""))
    return response


setattr(requests.Session, "send", _watched_session_send)  # noqa: B010


def _watched_smtp(name: str) -> None:
    original = getattr(smtplib.SMTP, name)

    def watched(self: smtplib.SMTP, *args: Any, **kwargs: Any) -> Any:
        try:
            return original(self, *args, **kwargs)
        except smtplib.SMTPResponseException as exc:
            reply = (
                exc.smtp_error.decode("utf-8", "replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error)
            )
            _note(_smtp_host(self, args), f"SMTP {exc.smtp_code} {reply[:200]}".rstrip())
            raise
        except smtplib.SMTPRecipientsRefused as exc:
            _note(_smtp_host(self, args), f"SMTP recipients refused ({len(exc.recipients)})")
            raise
        except OSError as exc:
            _note(_smtp_host(self, args), error_kind(exc))
            raise

    setattr(smtplib.SMTP, name, watched)


def _smtp_host(smtp: smtplib.SMTP, args: tuple[Any, ...]) -> str:
    host = getattr(smtp, "_host", "") or (args[0] if args and isinstance(args[0], str) else "")
    return str(host) or "smtp"


for _method in ("connect", "sendmail"):
    _watched_smtp(_method)


# Plugins parsed once per URL and per sending thread: a thread sends one message at a time,
# so a plugin (and the Slack template set on it) is never shared by two sends at once.
_plugins = threading.local()


def _plugin(url: str) -> NotifyBase | None:
    cache: dict[str, NotifyBase | None] = _plugins.__dict__.setdefault("by_url", {})
    if url not in cache:
        plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
        if plugin is not None:
            # apprise spaces sends on one instance by sleeping in the sending thread (1.2 s for
            # Slack); a kept instance would stall every later send. Refusals are retried with
            # backoff by the worker instead.
            plugin.request_rate_per_sec = 0.0
            # Bounded sockets: a send ends, one way or the other, well within the wait above.
            plugin.socket_connect_timeout = CONNECT_TIMEOUT_SECONDS
            plugin.socket_read_timeout = READ_TIMEOUT_SECONDS
        cache[url] = plugin
    return cache[url]


def _send_and_mark(
    url: str, message: Message, on_accept: Callable[[], None] | None
) -> tuple[bool, tuple[str, str] | None]:
    accepted, why = _send_one(url, message)
    if accepted and on_accept is not None:
        try:
            on_accept()
        except Exception as exc:  # the caller marks it again, from the event loop
            log.warning("an accepted send's marker not written at once (%s)", type(exc).__name__)
    return accepted, why


def _send_one(url: str, message: Message) -> tuple[bool, tuple[str, str] | None]:
    """Accepted or not, and when not, what the last request saw (host, why)."""
    _seen.on, _seen.last = True, None
    try:
        plugin = _plugin(url)
        if plugin is None:
            return False, (_fallback_host(url), "not a URL apprise can send to")
        accepted = _send_with_key(plugin, message)
        return accepted, None if accepted else _seen.last
    finally:
        _seen.on, _seen.last = False, None


def _send_with_key(plugin: NotifyBase, message: Message) -> bool:
    # An episode's firing and resolved messages carry one key: PagerDuty's dedup key (its
    # `action=map` resolves on our resolved message), Opsgenie's alias. A key in the URL wins.
    slot = _KEY_SLOTS.get(type(plugin))
    if message.key is None or slot is None or getattr(plugin, slot, None):
        return _notify(plugin, message)
    setattr(plugin, slot, message.key)
    try:
        return _notify(plugin, message)
    finally:
        setattr(plugin, slot, None)


_KEY_SLOTS: dict[type[NotifyBase], str] = {NotifyPagerDuty: "dedup", NotifyOpsgenie: "alias"}


def _notify(plugin: NotifyBase, message: Message) -> bool:
    # The plugin's own notify(): apprise's dispatcher would add a thread pool hop per send
    # (measured: 1.9 → 1.3 ms of CPU per alert).
    if isinstance(plugin, NotifySlack):
        return _send_slack(plugin, message)
    if isinstance(plugin, NotifyEmail):
        _own_text.value = message.text  # the plain part, instead of apprise's conversion
        try:
            return bool(
                plugin.notify(
                    body=html_document(message.html),
                    title=message.title,
                    body_format=apprise.NotifyFormat.HTML,
                    notify_type=_notify_type(message),
                )
            )
        finally:
            _own_text.value = None
    return bool(
        plugin.notify(
            body=message.text,
            title=message.title,
            body_format=apprise.NotifyFormat.TEXT,
            notify_type=_notify_type(message),
        )
    )


def html_document(body: str) -> str:
    """A whole HTML document around a rendered e-mail body: doctype, charset, and long
    tokens (ids, URLs) wrapped instead of widening the message."""
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width">'
        f'</head><body style="overflow-wrap:anywhere;word-break:break-word">{body}</body></html>'
    )


# apprise writes an e-mail's plain-text part by converting the HTML, which fragments it; the
# sending thread sets our own plain text here and the converter apprise calls returns it.
_own_text = threading.local()
_convert_between: Callable[[Any, Any, str], Any] = getattr(email_base, "convert_between")  # noqa: B009


def _plain_part(from_format: Any, to_format: Any, content: str) -> str:
    text: str | None = getattr(_own_text, "value", None)
    if text is not None and to_format == apprise.NotifyFormat.TEXT:
        return text
    return str(_convert_between(from_format, to_format, content))


setattr(email_base, "convert_between", _plain_part)  # noqa: B010


def _send_slack(plugin: NotifySlack, message: Message) -> bool:
    fd, path = tempfile.mkstemp(prefix="alerter-slack-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(slack_template_json(message.slack))
        template = apprise.AppriseAttachment(asset=plugin.asset)
        template.add(path)
        template[0].max_file_size = plugin.max_slack_template_size
        plugin.template = template
        plugin.use_blocks = True
        return bool(
            plugin.notify(
                body=message.title,
                title="",
                body_format=apprise.NotifyFormat.TEXT,
                notify_type=_notify_type(message),
            )
        )
    finally:
        os.unlink(path)


def _notify_type(message: Message) -> apprise.NotifyType:
    if message.resolved:
        return apprise.NotifyType.SUCCESS
    return {
        "critical": apprise.NotifyType.FAILURE,
        "warning": apprise.NotifyType.WARNING,
    }.get(message.severity.value, apprise.NotifyType.INFO)
