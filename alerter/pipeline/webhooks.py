"""JSON webhooks (`json://`, `jsons://`) and Slack incoming webhooks (`slack://T/B/C`,
`https://hooks.slack.com/services/...`) posted on the event loop, through the worker's one
kept aiohttp session (each hook's request built once by its httpx client): apprise posts
through `requests` on a thread (about 1 ms of CPU a send, and the interpreter lock shared
with the loop), which bound a worker whose every call alerts.

The body is the one apprise would post for the same message (`payload`, pure; held to
apprise's own plugins' output by tests/pipeline/test_webhooks.py), and where and how to post
is read from apprise's own parse of the URL (`compat.apprise.webhook_of`). A URL or message
this does not cover exactly (channels, overflow or format options, a Slack message apprise
would refuse) goes through apprise. A failure reads as apprise's does in `failure`'s words:
the host, then the HTTP status and answer, or the connection error's kind.
"""

from __future__ import annotations

import base64
import json
import logging
import urllib.request
from dataclasses import dataclass
from typing import Any

import aiohttp
import apprise
import httpx
from multidict import CIMultiDict
from yarl import URL

from alerter.budgets import PRODUCTION, Budgets
from alerter.compat.apprise import Webhook, slack_template_json, webhook_of
from alerter.compat.httpx import aiohttp_transport, without_cookies
from alerter.failures import error_kind, host_of, http_answer
from alerter.render.alert import Message

# httpx's INFO line names each request's URL, a Slack webhook's token in it: never let it out.
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).setLevel(logging.WARNING)

MAX_CONNECTIONS = 64  # as many as the sending threads apprise's sends use
MAX_REDIRECTS = 20  # httpx's, which posted these before
# Left to aiohttp for each request: the host (a redirect elsewhere names its own), the
# body's length, and the encodings it can decode.
_AIOHTTP_OWN = frozenset({b"host", b"content-length", b"accept-encoding"})


def webhook_client(budgets: Budgets = PRODUCTION) -> httpx.AsyncClient:
    """The worker's client for webhooks: made once at start-up, closed at shutdown. It builds
    each hook's request (`Webhooks._request`) and gives its timeouts and `trust_env` to the
    aiohttp session the posts go through (httpx's own pool took 1.5 ms of CPU a send, apprise
    0.75, httpx over aiohttp 0.4: `python -m bench sends`). With its `trust_env`, a proxy
    named in the environment is read once per hook (`_env_proxy`).
    `budgets`: its connect and read timeouts, the same as apprise's sends."""
    limits = httpx.Limits(
        max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS
    )
    timeout = httpx.Timeout(budgets.read_timeout, connect=budgets.connect_timeout)

    transport = aiohttp_transport(limits)  # no cookie jar: none reaches another destination
    return without_cookies(httpx.AsyncClient(timeout=timeout, limits=limits, transport=transport))


def notify_type(message: Message) -> apprise.NotifyType:
    if message.resolved:
        return apprise.NotifyType.SUCCESS
    return {
        "critical": apprise.NotifyType.FAILURE,
        "warning": apprise.NotifyType.WARNING,
    }.get(message.severity.value, apprise.NotifyType.INFO)


def payload(hook: Webhook, message: Message) -> bytes | None:
    """The body apprise would post for this message; None when apprise would not post it as
    is (no text; a Slack message its template checks refuse), so apprise decides."""
    if hook.kind == "json":
        return _json_payload(hook, message)
    return _slack_payload(hook, message)


def _json_payload(hook: Webhook, message: Message) -> bytes | None:
    if not message.text:
        return None
    # apprise's NotifyJSON.send, after NotifyBase's tidying (title stripped, body rstripped).
    body: dict[str, Any] = {
        "version": hook.json_version,
        "title": message.title.strip(),
        "message": message.text.rstrip(),
        "attachments": [],
        "type": notify_type(message).value,
    }
    for key, value in hook.extras:
        if key in body:
            if not value:
                del body[key]
            else:
                body[value] = body[key]
                del body[key]
        else:
            body[key] = value
    return json.dumps(body).encode()


def _slack_payload(hook: Webhook, message: Message) -> bytes | None:
    # apprise's NotifySlack with our Block Kit template: the template is the attachment.
    blocks = message.slack.get("blocks")
    if not message.title or not isinstance(blocks, list) or not blocks:
        return None
    if not all(isinstance(b, dict) and isinstance(b.get("type"), str) for b in blocks):
        return None
    template = slack_template_json(message.slack)
    if len(template.encode()) > hook.max_template_bytes:
        return None
    body: dict[str, Any] = {"attachments": [json.loads(template)]}
    if hook.username:
        body["username"] = hook.username
    return json.dumps(body).encode()


@dataclass(frozen=True, slots=True)
class _Made:
    """A hook's request, all but its body: built by the httpx client once per hook."""

    method: str
    url: URL
    headers: CIMultiDict[str]  # with the basic auth, which aiohttp drops on a redirect elsewhere
    proxy: URL | None  # from the environment, when the client reads it


class Webhooks:
    """The webhook URLs this worker posts itself, and its kept clients: the httpx client
    builds each hook's request once (its URL, query, headers and timeouts, as before), and
    the posts go through aiohttp's session directly: httpx's client layer over the same
    aiohttp pool (its request and response models, auth and redirect flows, the transport's
    translation) was most of a post's CPU in an alert storm."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client
        self._session: aiohttp.ClientSession | None = None
        self._hooks: dict[str, Webhook | None] = {}
        self._made: dict[Webhook, _Made] = {}

    def of(self, url: str) -> Webhook | None:
        if url not in self._hooks:
            hook = webhook_of(url)
            # Certificate checks are the client's, not a request's: such a URL stays apprise's.
            self._hooks[url] = hook if hook is not None and hook.verify else None
        return self._hooks[url]

    async def post(self, hook: Webhook, body: bytes) -> tuple[bool, tuple[str, str] | None]:
        """Accepted or not, and when not, (host, why). Never raises for the network."""
        made = self._request(hook)
        try:
            async with self._pool().request(
                made.method,
                made.url,
                data=body,
                headers=made.headers,
                proxy=made.proxy,
                allow_redirects=hook.redirects,
                max_redirects=MAX_REDIRECTS,
            ) as response:
                answer = await response.read()
                status, where = response.status, str(response.url)
        except (aiohttp.ClientError, OSError) as exc:  # a timeout is an OSError
            return False, (host_of(hook.url), error_kind(exc))
        if hook.kind == "slack":  # an incoming webhook answers 200 `ok`, nothing else
            if status == 200 and answer == b"ok":
                return True, None
        elif 200 <= status < 300:
            return True, None
        return False, (host_of(where), http_answer(status, answer))

    def _pool(self) -> aiohttp.ClientSession:
        """aiohttp's session, made on the first post (on the event loop): the httpx client's
        timeouts, no cookie jar (a webhook's cookie must never reach another destination).
        Not aiohttp's `trust_env`: it reads the proxy variables and `~/.netrc` at every
        request (a fifth of a post's CPU); the proxy is read once per hook (`_env_proxy`)."""
        if self._session is None:
            t = self._client.timeout
            pool_and_connect = (t.pool or 0.0) + (t.connect or 0.0)
            timeout = aiohttp.ClientTimeout(
                total=None,
                connect=pool_and_connect or None,
                sock_connect=t.connect,
                sock_read=t.read,
            )
            connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS, ssl=httpx.create_ssl_context())
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=timeout,
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=True,
            )
        return self._session

    def _request(self, hook: Webhook) -> _Made:
        """The hook's request but its body, merged with the client's URL, query and headers
        once per hook (the client's `build_request`), not per post."""
        made = self._made.get(hook)
        if made is None:
            built = self._client.build_request(
                hook.method, hook.url, params=hook.params or None, headers=hook.headers
            )
            headers: CIMultiDict[str] = CIMultiDict(
                (k.decode("latin-1"), v.decode("latin-1"))
                for k, v in built.headers.raw
                if k.lower() not in _AIOHTTP_OWN
            )
            if hook.auth is not None:  # as httpx's `BasicAuth` writes it
                user, password = (part.encode() for part in hook.auth)
                headers["Authorization"] = (
                    "Basic " + base64.b64encode(user + b":" + password).decode()
                )
            url = URL(str(built.url), encoded=True)
            proxy = _env_proxy(url) if self._client.trust_env else None
            made = _Made(built.method, url, headers, proxy)
            self._made[hook] = made
        return made

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
        await self._client.aclose()


def _env_proxy(url: URL) -> URL | None:
    """The proxy the environment names for this URL (`HTTP(S)_PROXY`, `ALL_PROXY`, not for a
    host `NO_PROXY` names), as httpx's `trust_env` read it; None: straight there."""
    proxies = urllib.request.getproxies()
    if url.host is None or urllib.request.proxy_bypass(url.host):
        return None
    proxy = proxies.get(url.scheme) or proxies.get("all")
    if not proxy:
        return None
    return URL(proxy if "://" in proxy else f"http://{proxy}")
