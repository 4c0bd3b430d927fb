"""JSON webhooks (`json://`, `jsons://`) and Slack incoming webhooks (`slack://T/B/C`,
`https://hooks.slack.com/services/...`) posted on the event loop, through the worker's one
kept httpx client: apprise posts through `requests` on a thread (about 1 ms of CPU a send,
and the interpreter lock shared with the loop), which bound a worker whose every call alerts.

The body is the one apprise would post for the same message (`payload`, pure; held to
apprise's own plugins' output by tests/pipeline/test_webhooks.py), and where and how to post
is read from apprise's own parse of the URL (`compat.apprise.webhook_of`). A URL or message
this does not cover exactly (channels, overflow or format options, a Slack message apprise
would refuse) goes through apprise. A failure reads as apprise's does in `failure`'s words:
the host, then the HTTP status and answer, or the connection error's kind.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import apprise
import httpx

from alerter.budgets import PRODUCTION, Budgets
from alerter.compat.apprise import Webhook, slack_template_json, webhook_of
from alerter.compat.httpx import aiohttp_transport, without_cookies
from alerter.failures import error_kind, host_of, http_answer
from alerter.render.alert import Message

# httpx's INFO line names each request's URL, a Slack webhook's token in it: never let it out.
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).setLevel(logging.WARNING)

MAX_CONNECTIONS = 64  # as many as the sending threads apprise's sends use


def webhook_client(budgets: Budgets = PRODUCTION) -> httpx.AsyncClient:
    """The worker's client for webhooks: made once at start-up, closed at shutdown. httpx's
    API over aiohttp's connection pool, as for Diga (`fetch`): 0.4 ms of CPU a send, where
    httpx's own pool took 1.5 and apprise 0.75 (measured in turns, `python -m bench sends`).
    A proxy named in the environment is httpx's own to use (its `trust_env` mounts).
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


class Webhooks:
    """The webhook URLs this worker posts itself, and its kept client."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client
        self._hooks: dict[str, Webhook | None] = {}
        self._made: dict[Webhook, httpx.Request] = {}

    def of(self, url: str) -> Webhook | None:
        if url not in self._hooks:
            hook = webhook_of(url)
            # Certificate checks are the client's, not a request's: such a URL stays apprise's.
            self._hooks[url] = hook if hook is not None and hook.verify else None
        return self._hooks[url]

    async def post(self, hook: Webhook, body: bytes) -> tuple[bool, tuple[str, str] | None]:
        """Accepted or not, and when not, (host, why). Never raises for the network."""
        try:
            response = await self._client.send(
                self._request(hook, body), auth=hook.auth, follow_redirects=hook.redirects
            )
        except (httpx.HTTPError, OSError) as exc:
            return False, (host_of(hook.url), error_kind(exc))
        answer = response.content
        if hook.kind == "slack":  # an incoming webhook answers 200 `ok`, nothing else
            if response.status_code == 200 and answer == b"ok":
                return True, None
        elif 200 <= response.status_code < 300:
            return True, None
        return False, (host_of(str(response.url)), http_answer(response.status_code, answer))

    def _request(self, hook: Webhook, body: bytes) -> httpx.Request:
        """The hook's request with this body. Its URL, query and headers merged with the
        client's once per hook (the client's `build_request`, timeout included), not per
        post: httpx parsed the URL twice a request, most of its cost in an alert storm."""
        made = self._made.get(hook)
        if made is None:
            made = self._client.build_request(
                hook.method, hook.url, params=hook.params or None, headers=hook.headers
            )
            self._made[hook] = made
        # Without the body's length the bodiless request was given: the new body sets it.
        headers = [(k, v) for k, v in made.headers.raw if k.lower() != b"content-length"]
        return httpx.Request(
            made.method, made.url, headers=headers, content=body, extensions=made.extensions
        )

    async def aclose(self) -> None:
        await self._client.aclose()
