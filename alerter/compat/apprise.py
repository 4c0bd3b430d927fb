"""Everything alerter does to apprise (and to `requests` and `smtplib` beneath it) that apprise
has no public way for: kept connections, what a failed send's last request answered, our own
plain-text e-mail part, per-plugin settings, Slack Block Kit templates, and the settings of
the webhook URLs the worker posts itself (`pipeline.webhooks`).

Written against apprise 2.3.0 and requests 2.34.2 (`tests/compat/test_apprise.py` holds all
of it to them, driving their real code). Nothing changes at import: `install()` (called by
`KeptSessions`, so by every `Sender`) patches, once:

- `requests.api.request` (and `requests.request`, the same function imported by name):
  apprise's HTTP plugins post through requests' module functions, each of which makes a
  Session and closes it, so every send opened a new TCP (and TLS) connection. On a thread
  with a kept session bound the request goes through that session (its cookie jar emptied
  after each request, as with a session per request); on any other thread, as before.
- `requests.Session.send`, `smtplib.SMTP.connect` and `.sendmail`: apprise only says yes or
  no; on a `watching()` thread they note what the last request answered (host, then the
  HTTP status and answer, the SMTP reply, or the connection error's kind).
- `apprise.plugins.email.base.convert_between`: apprise writes an e-mail's plain part by
  converting its HTML, which fragments it; inside `own_plain_text` ours is used instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import smtplib
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import apprise
import requests
import requests.api
from apprise.plugins.base import NotifyBase
from apprise.plugins.custom_json import NotifyJSON
from apprise.plugins.email import base as email_base
from apprise.plugins.email.base import NotifyEmail
from apprise.plugins.opsgenie import NotifyOpsgenie
from apprise.plugins.pagerduty import NotifyPagerDuty
from apprise.plugins.slack import NotifySlack, SlackMode

from alerter.failures import error_kind, host_of, http_answer

WRITTEN_AGAINST = {"apprise": "2.3.0", "requests": "2.34.2"}

_installed = threading.Lock()
_originals: dict[str, Any] = {}


def install() -> None:
    """Route and watch apprise's requests and SMTP sessions, and let our plain text stand
    in for apprise's conversion. Idempotent; a thread with nothing bound sees no change."""
    with _installed:
        if _originals:
            return
        _originals["request"] = requests.api.request
        _originals["send"] = requests.Session.send
        _originals["convert_between"] = getattr(email_base, "convert_between")  # noqa: B009
        setattr(requests.api, "request", _request)  # noqa: B010
        setattr(requests, "request", _request)  # noqa: B010
        setattr(requests.Session, "send", _watched_session_send)  # noqa: B010
        for name in ("connect", "sendmail"):
            _originals[f"smtp.{name}"] = getattr(smtplib.SMTP, name)
            setattr(smtplib.SMTP, name, _watched_smtp(name))
        setattr(email_base, "convert_between", _plain_part)  # noqa: B010


# -- kept sessions

_bound = threading.local()


def _request(method: str, url: str, **kwargs: Any) -> requests.Response:
    session: requests.Session | None = getattr(_bound, "session", None)
    if session is None:
        return _originals["request"](method, url, **kwargs)  # type: ignore[no-any-return]
    try:
        return session.request(method=method, url=url, **kwargs)
    finally:
        session.cookies.clear()


class KeptSessions:
    """The sessions of a pool of sending threads: each thread binds its own when it starts
    (`bind_thread`, a ThreadPoolExecutor initializer), and `close` ends them all (the
    worker's shutdown). A thread sends one message at a time, so its session is never used
    by two sends at once."""

    def __init__(self) -> None:
        install()
        self._lock = threading.Lock()
        self._sessions: list[requests.Session] = []

    def bind_thread(self) -> None:
        session = requests.Session()
        with self._lock:
            self._sessions.append(session)
        _bound.session = session

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()


def unbind_thread() -> None:
    """The calling thread's requests go back to a session per request."""
    _bound.session = None


# -- what the last request of a send answered

_seen = threading.local()


class Seen:
    """The last request's answer on a watching thread: (host, "HTTP 503 <answer>" |
    "SMTP 451 <reply>" | a connection error's kind), None while all went well."""

    last: tuple[str, str] | None = None


@contextlib.contextmanager
def watching() -> Iterator[Seen]:
    seen = Seen()
    _seen.now = seen
    try:
        yield seen
    finally:
        _seen.now = None


def _note(host: str, why: str) -> None:
    seen: Seen | None = getattr(_seen, "now", None)
    if seen is not None:
        seen.last = (host, why)


def _watched_session_send(self: requests.Session, request: Any, **kwargs: Any) -> Any:
    host = host_of(str(request.url))
    try:
        response = _originals["send"](self, request, **kwargs)
    except Exception as exc:
        _note(host, error_kind(exc))
        raise
    if not 200 <= response.status_code < 300:
        _note(host, http_answer(response.status_code, response.content or b""))
    return response


def _watched_smtp(name: str) -> Callable[..., Any]:
    def watched(self: smtplib.SMTP, *args: Any, **kwargs: Any) -> Any:
        try:
            return _originals[f"smtp.{name}"](self, *args, **kwargs)
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

    return watched


def _smtp_host(smtp: smtplib.SMTP, args: tuple[Any, ...]) -> str:
    host = getattr(smtp, "_host", "") or (args[0] if args and isinstance(args[0], str) else "")
    return str(host) or "smtp"


# -- our own plain-text part of an e-mail

_own_text = threading.local()


@contextlib.contextmanager
def own_plain_text(text: str) -> Iterator[None]:
    _own_text.value = text
    try:
        yield
    finally:
        _own_text.value = None


def _plain_part(from_format: Any, to_format: Any, content: str) -> str:
    text: str | None = getattr(_own_text, "value", None)
    if text is not None and to_format == apprise.NotifyFormat.TEXT:
        return text
    return str(_originals["convert_between"](from_format, to_format, content))


# -- plugins

Kind = Literal["slack", "email", "other"]
Plugin = NotifyBase  # what `tuned_plugin` gives; its `notify()` is apprise's public API


def tuned_plugin(url: str, connect_timeout: float, read_timeout: float) -> NotifyBase | None:
    """apprise's plugin for a URL (None: not one it can send to), with no pause between
    sends (apprise spaces sends on one instance by sleeping in the sending thread, 1.2 s for
    Slack: a kept instance would stall every later send) and bounded sockets; sends through
    it are routed and watched (`install`)."""
    install()
    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if plugin is not None:
        plugin.request_rate_per_sec = 0.0
        plugin.socket_connect_timeout = connect_timeout
        plugin.socket_read_timeout = read_timeout
    return plugin


def kind_of(plugin: NotifyBase) -> Kind:
    if isinstance(plugin, NotifySlack):
        return "slack"
    if isinstance(plugin, NotifyEmail):
        return "email"
    return "other"


_KEY_SLOTS: dict[type[NotifyBase], str] = {NotifyPagerDuty: "dedup", NotifyOpsgenie: "alias"}


@contextlib.contextmanager
def keyed(plugin: NotifyBase, key: str | None) -> Iterator[None]:
    """Sends inside carry `key` as PagerDuty's dedup key or Opsgenie's alias (so a resolved
    message closes what its firing one opened); a key in the URL wins. The plugin is one
    thread's, so no other send sees it."""
    slot = _KEY_SLOTS.get(type(plugin))
    if key is None or slot is None or getattr(plugin, slot, None):
        yield
        return
    setattr(plugin, slot, key)
    try:
        yield
    finally:
        setattr(plugin, slot, None)


def slack_template_json(payload: dict[str, Any]) -> str:
    """The payload as an apprise Slack template; `{{` is written so apprise substitutes nothing."""
    return json.dumps(payload).replace("{{", "{\\u007b")


@contextlib.contextmanager
def slack_blocks(plugin: NotifyBase, payload: dict[str, Any]) -> Iterator[None]:
    """Sends inside post `payload` as the Block Kit attachment (apprise's Slack template)."""
    fd, path = tempfile.mkstemp(prefix="alerter-slack-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(slack_template_json(payload))
        template = apprise.AppriseAttachment(asset=plugin.asset)
        template.add(path)
        template[0].max_file_size = NotifySlack.max_slack_template_size
        setattr(plugin, "template", template)  # noqa: B010
        setattr(plugin, "use_blocks", True)  # noqa: B010
        yield
    finally:
        os.unlink(path)


# -- webhook URLs the worker posts itself, read from apprise's own parse of them


@dataclass(frozen=True, slots=True)
class Webhook:
    """Where and how apprise would post for a `json://`/`jsons://` or Slack incoming-webhook
    URL. Holds the URL's secrets (`url`, `auth`): never logged or put in an error."""

    kind: Literal["json", "slack"]
    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    params: tuple[tuple[str, str], ...] = ()
    auth: tuple[str, str] | None = None
    verify: bool = True
    redirects: bool = True
    json_version: str = NotifyJSON.json_version
    extras: tuple[tuple[str, str], ...] = ()  # json: apprise's `:key=value` payload extras
    username: str | None = None  # slack: the `user@` of the URL
    max_template_bytes: int = NotifySlack.max_slack_template_size


def webhook_of(url: str) -> Webhook | None:
    """The post apprise would make for this URL, when it is a JSON or Slack incoming webhook
    with nothing that changes the body apprise writes (overflow, format, payload cap,
    channels); None otherwise (apprise sends it)."""
    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if plugin is None or plugin.overflow_mode != apprise.OverflowMode.UPSTREAM:
        return None
    if getattr(plugin, "_format_override", None) or plugin.asset._payload_max_size:
        return None
    agent = plugin.app_id
    if type(plugin) is NotifyJSON:
        base = f"{'https' if plugin.secure else 'http'}://{plugin.host}"
        port = f":{plugin.port}" if isinstance(plugin.port, int) else ""
        return Webhook(
            kind="json",
            method=str(plugin.method),
            url=base + port + plugin.fullpath,
            headers=_merged(
                {"User-Agent": agent, "Content-Type": "application/json"}, plugin.headers
            ),
            params=tuple(plugin.params.items()),
            auth=(plugin.user, plugin.password or "") if plugin.user else None,
            verify=bool(plugin.verify_certificate),
            redirects=bool(plugin.redirects),
            extras=tuple(plugin.payload_extras.items()),
        )
    if type(plugin) is NotifySlack and plugin.channels == [None]:
        bases = {
            SlackMode.WEBHOOK: str(plugin.webhook_url),
            SlackMode.WEBHOOK_GOV: str(plugin.webhook_gov_url),
        }
        hooks = bases.get(str(plugin.mode))
        if hooks is None:
            return None
        return Webhook(
            kind="slack",
            method="POST",
            url=f"{hooks}/{plugin.token_a}/{plugin.token_b}/{plugin.token_c}",
            headers=(
                ("User-Agent", agent),
                ("Accept", "application/json"),
                ("Content-Type", "application/json; charset=utf-8"),
            ),
            verify=bool(plugin.verify_certificate),
            redirects=bool(plugin.redirects),
            username=plugin.user or None,
        )
    return None


def _merged(base: dict[str, str], more: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """`base` updated by `more`, names compared as HTTP does (as requests merges them)."""
    merged = {name.lower(): (name, value) for name, value in base.items()}
    merged.update({name.lower(): (name, str(value)) for name, value in more.items()})
    return tuple(merged.values())
