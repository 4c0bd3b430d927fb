"""The deliver stage: one rendered alert → one destination.

JSON and Slack incoming webhooks go out on the event loop through the worker's kept httpx
client (`webhooks`) when it has one; every other apprise URL through apprise, on threads of
the Sender's own. Slack gets the Block Kit attachment from `render.slack_payload`; e-mail an
HTML document with our own plain-text part; any other URL plain text. Errors never carry
the URL: it holds tokens and passwords.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum

import apprise
import httpx

from alerter.budgets import PRODUCTION, Budgets
from alerter.compat import apprise as compat
from alerter.compat.apprise import KeptSessions, Plugin, Webhook, slack_template_json
from alerter.failures import described, host_of
from alerter.pipeline.webhooks import Webhooks, notify_type, payload, webhook_client
from alerter.render.alert import Message
from alerter.rules.model import Destination

__all__ = [
    "Delivery",
    "Sender",
    "Sent",
    "html_document",
    "send",
    "slack_template_json",
    "webhook_client",
]

log = logging.getLogger(__name__)

# apprise's DEBUG lines, and those of urllib3 beneath it, carry destination URLs with their
# tokens: never let them through, whatever level the process runs at. (Their INFO and
# WARNING lines name no URL; tests/test_secrets.py runs at DEBUG to prove it.)
for _name in ("apprise", "urllib3"):
    logging.getLogger(_name).setLevel(logging.INFO)


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


class Sender:
    """Sends JSON and Slack incoming webhooks on the event loop through `http` (the worker's
    one kept client) when given one, and everything else through apprise, on threads of its
    own, as many as the jobs in flight: a slow destination never waits behind the default
    pool's few threads (shared with rule reloads and DNS). Each thread keeps its HTTP
    connections from one send to the next (`compat.apprise`): a new connection a send was
    most of an alert storm's cost. `budgets`: the wait for a send (a backstop) and the
    socket timeouts of apprise's sends, which end a send first."""

    def __init__(
        self, threads: int, http: httpx.AsyncClient | None = None, budgets: Budgets = PRODUCTION
    ) -> None:
        self._budgets = budgets
        self._sessions = KeptSessions()
        self._pool = ThreadPoolExecutor(
            max_workers=threads,
            thread_name_prefix="alerter-send",
            initializer=self._sessions.bind_thread,
        )
        self._webhooks = Webhooks(http) if http is not None else None
        self._late: set[asyncio.Task[None]] = set()

    async def send(
        self,
        url: str,
        message: Message,
        destination: str,
        on_late_accept: Callable[[], Awaitable[None]] | None = None,
        on_accept: Callable[[], None] | None = None,
        on_accept_here: Callable[[], Awaitable[None]] | None = None,
    ) -> Delivery:
        """`on_accept` runs on a sending thread the moment the destination accepts (the
        marker, before the caller hears of it: the window in which a killed worker repeats
        a send is one Redis write). For a post on the event loop, `on_accept_here` is awaited
        on the loop instead, before the post returns (without it, `on_accept` on a thread).
        `on_late_accept` runs when a send that timed out (UNKNOWN) is accepted after all, so
        its marker can still say `sent`."""
        loop = asyncio.get_running_loop()
        hook, body = self._on_loop(url, message)
        future: asyncio.Future[tuple[bool, tuple[str, str] | None]]
        if self._webhooks is not None and hook is not None and body is not None:
            future = loop.create_task(
                self._post_and_mark(self._webhooks, hook, body, on_accept, on_accept_here)
            )
            host = host_of(hook.url)
        else:
            # In the caller's context: apprise's log lines carry the call, rule, destination.
            context = contextvars.copy_context()
            future = loop.run_in_executor(
                self._pool, context.run, _send_and_mark, url, message, on_accept, self._budgets
            )
            host = _fallback_host(url)
        try:
            waited = self._budgets.send_timeout
            accepted, why = await asyncio.wait_for(asyncio.shield(future), waited)
        except TimeoutError:
            # The send goes on (a thread cannot be cancelled; a post is left to end): it may
            # still land.
            reason = described(destination, host, "timeout")
            log.warning("send failed: %s (no answer in %g s)", reason, waited)
            if on_late_accept is not None:
                self._late.add(loop.create_task(_when_accepted(future, on_late_accept)))
                for task in [t for t in self._late if t.done()]:
                    self._late.discard(task)
            return Delivery(Sent.UNKNOWN, reason)
        except Exception as exc:  # a plugin bug must not lose the alert: retried like a refusal
            reason = described(destination, host, f"error {type(exc).__name__}")
            log.warning("send failed: %s", reason)
            return Delivery(Sent.REFUSED, reason)
        if accepted:
            return Delivery(Sent.ACCEPTED)
        where, answer = why if why is not None else (host, "refused or failed")
        return Delivery(Sent.REFUSED, described(destination, where, answer))

    async def _post_and_mark(
        self,
        webhooks: Webhooks,
        hook: Webhook,
        body: bytes,
        on_accept: Callable[[], None] | None,
        on_accept_here: Callable[[], Awaitable[None]] | None,
    ) -> tuple[bool, tuple[str, str] | None]:
        accepted, why = await webhooks.post(hook, body)
        if accepted and on_accept_here is not None:
            # A write on the loop's own client: no thread, no second connection.
            try:
                await on_accept_here()
            except Exception as exc:  # the caller marks it again, with the history
                log.warning(
                    "an accepted send's marker not written at once (%s)", type(exc).__name__
                )
        elif accepted and on_accept is not None:
            # On a thread: the marker's client blocks (up to its timeout when Redis is away).
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._pool, _marked, on_accept)
        return accepted, why

    def media(self, url: str) -> tuple[bool, bool]:
        """Whether a send to `url` reads the message's e-mail HTML and its Slack blocks: a
        JSON webhook posted here reads neither, a Slack one the blocks; apprise, both."""
        hook = self._hook_of(url)
        if hook is None:
            return True, True
        return False, hook.kind == "slack"

    def posts_on_loop(self, url: str) -> bool:
        """Whether a send to `url` is posted on the event loop (else apprise's, on a thread)."""
        return self._hook_of(url) is not None

    def _hook_of(self, url: str) -> Webhook | None:
        """The webhook this worker posts itself for `url`; None: apprise's (a URL we cannot
        read included, as `_on_loop` would)."""
        if self._webhooks is None:
            return None
        try:
            return self._webhooks.of(url)
        except Exception:
            return None

    def _on_loop(self, url: str, message: Message) -> tuple[Webhook | None, bytes | None]:
        """The webhook and body to post on the event loop; (None, None): apprise sends it."""
        if self._webhooks is None:
            return None, None
        try:
            hook = self._webhooks.of(url)
            return hook, payload(hook, message) if hook is not None else None
        except Exception as exc:  # a bug of ours here must not lose the alert: apprise's turn
            log.warning(
                "a webhook's post not prepared (%s); sent through apprise", type(exc).__name__
            )
            return None, None

    def close(self) -> None:
        """The threads and their sessions (the http client is `aclose`'s)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._sessions.close()

    async def aclose(self) -> None:
        self.close()
        if self._webhooks is not None:
            await self._webhooks.aclose()


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
    sender = Sender(threads=1, http=webhook_client())
    try:
        results = [await sender.send(url, message, destination.name) for url in destination.urls]
    finally:
        await sender.aclose()
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


# Plugins parsed once per URL and per sending thread: a thread sends one message at a time,
# so a plugin (and the Slack template set on it) is never shared by two sends at once.
_plugins = threading.local()


def _plugin(url: str, budgets: Budgets) -> Plugin | None:
    # A thread is its one Sender's: the timeouts are the same for every URL it caches.
    cache: dict[str, Plugin | None] = _plugins.__dict__.setdefault("by_url", {})
    if url not in cache:
        # Bounded sockets: a send ends, one way or the other, well within the Sender's wait.
        cache[url] = compat.tuned_plugin(url, budgets.connect_timeout, budgets.read_timeout)
    return cache[url]


def _send_and_mark(
    url: str, message: Message, on_accept: Callable[[], None] | None, budgets: Budgets
) -> tuple[bool, tuple[str, str] | None]:
    accepted, why = _send_one(url, message, budgets)
    if accepted and on_accept is not None:
        _marked(on_accept)
    return accepted, why


def _marked(on_accept: Callable[[], None]) -> None:
    try:
        on_accept()
    except Exception as exc:  # the caller marks it again, from the event loop
        log.warning("an accepted send's marker not written at once (%s)", type(exc).__name__)


def _send_one(url: str, message: Message, budgets: Budgets) -> tuple[bool, tuple[str, str] | None]:
    """Accepted or not, and when not, what the last request saw (host, why)."""
    with compat.watching() as seen:
        plugin = _plugin(url, budgets)
        if plugin is None:
            return False, (_fallback_host(url), "not a URL apprise can send to")
        # An episode's firing and resolved messages carry one key: PagerDuty's dedup key
        # (its `action=map` resolves on our resolved message), Opsgenie's alias.
        with compat.keyed(plugin, message.key):
            accepted = _notify(plugin, message)
        return accepted, None if accepted else seen.last


def _notify(plugin: Plugin, message: Message) -> bool:
    # The plugin's own notify(): apprise's dispatcher would add a thread pool hop per send
    # (measured: 1.9 → 1.3 ms of CPU per alert).
    kind = compat.kind_of(plugin)
    if kind == "slack" and message.slack:
        with compat.slack_blocks(plugin, message.slack):
            return _notify_as(plugin, message.title, "", apprise.NotifyFormat.TEXT, message)
    if kind == "email" and message.html:
        with compat.own_plain_text(message.text):  # the plain part, not apprise's conversion
            html = html_document(message.html)
            return _notify_as(plugin, html, message.title, apprise.NotifyFormat.HTML, message)
    return _notify_as(plugin, message.text, message.title, apprise.NotifyFormat.TEXT, message)


def _notify_as(
    plugin: Plugin, body: str, title: str, body_format: apprise.NotifyFormat, message: Message
) -> bool:
    return bool(
        plugin.notify(
            body=body, title=title, body_format=body_format, notify_type=notify_type(message)
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
