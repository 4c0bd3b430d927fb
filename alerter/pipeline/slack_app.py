"""Sends to `slack_app` destinations through Slack's Web API (`slack_sdk`'s async client).

One client per worker, made at start-up and closed at shutdown; each destination's bot token
goes with its own calls. An episode's first alert is a post whose `ts` is kept
(`store.slack`); its later alerts, escalations and its resolved message are replies in that
thread, and on resolve the first post is updated to say so. Slack's `ratelimited` answer is a
refusal with the wait Slack asked for: the outbox tries again then, it never drops the send.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from alerter.clock import Clock, system_clock
from alerter.failures import described, error_kind, host_of, http_answer
from alerter.pipeline.deliver import Delivery, Sent
from alerter.render.alert import Message
from alerter.render.slack_blocks import Thread, alert_payload, resolved_update
from alerter.rules.model import SlackApp
from alerter.store.slack import (
    EPISODE_THREAD_SECONDS,
    IDLE_THREAD_SECONDS,
    Posted,
    SlackStore,
)

log = logging.getLogger(__name__)
# slack_sdk's DEBUG lines carry each request's JSON (alert text): kept out at any level.
logging.getLogger("slack_sdk").setLevel(logging.INFO)

SLACK_TIMEOUT_SECONDS = 20
FIRST_POST_WAIT = 1.0  # seconds before a reply tries again while its thread's post is sent
DEFAULT_RATE_LIMIT_WAIT = 30.0  # Slack's usual Retry-After for chat.postMessage


class SlackApps:
    """The Web API client of one worker process and the threads it keeps."""

    def __init__(
        self,
        api_url: str,
        store: SlackStore | None,
        clock: Clock,
        public_url: str | None = None,
    ) -> None:
        self._session = aiohttp.ClientSession()
        # No retry handlers of its own: retries are the outbox's, with its backoff and tries.
        self._client = AsyncWebClient(
            base_url=api_url if api_url.endswith("/") else api_url + "/",
            session=self._session,
            timeout=SLACK_TIMEOUT_SECONDS,
            retry_handlers=[],
        )
        self._host = host_of(api_url)
        self._store = store
        self._clock = clock
        self._public_url = public_url

    @property
    def client(self) -> AsyncWebClient:
        return self._client

    @property
    def store(self) -> SlackStore:
        if self._store is None:
            raise RuntimeError("threads need Redis: this client was made without it")
        return self._store

    async def close(self) -> None:
        await self._session.close()

    async def send(
        self, app: SlackApp, destination: str, message: Message, thread: Thread | None
    ) -> Delivery:
        try:
            return await self._send(app, destination, message, thread)
        except SlackApiError as exc:
            return self._refused(destination, exc)
        except TimeoutError:
            # No answer: it may still have been posted, so no resend before the claim's lease.
            return Delivery(Sent.UNKNOWN, described(destination, self._host, "timeout"))
        except (aiohttp.ClientError, OSError) as exc:
            return Delivery(Sent.REFUSED, described(destination, self._host, error_kind(exc)))

    async def _send(
        self, app: SlackApp, destination: str, message: Message, thread: Thread | None
    ) -> Delivery:
        payload = alert_payload(message, thread, self._public_url)
        if thread is None:
            await self._post(app, payload)
            return Delivery(Sent.ACCEPTED)
        posted = await self.store.posted(thread.key, destination)
        if thread.kind == "resolved":
            return await self._resolve(app, destination, payload, thread, posted)
        if posted is not None:
            await self._post(app, payload, thread_ts=posted.ts)
            await self.store.refresh(thread.key, destination, _life(thread))
            return Delivery(Sent.ACCEPTED)
        if not await self.store.take_first_post(thread.key, destination):
            why = "the first post of its thread is being sent; this one follows it"
            return Delivery(Sent.REFUSED, f"{destination}: {why}", retry_after=FIRST_POST_WAIT)
        try:
            answer = await self._post(app, payload)
            kept = Posted(str(answer.get("channel") or app.channel), str(answer["ts"]), payload)
            await self.store.keep(thread.key, destination, kept, _life(thread))
        finally:
            await self.store.first_post_done(thread.key, destination)
        return Delivery(Sent.ACCEPTED)

    async def _resolve(
        self,
        app: SlackApp,
        destination: str,
        payload: dict[str, Any],
        thread: Thread,
        posted: Posted | None,
    ) -> Delivery:
        """The first post updated to say resolved (first: doing it twice changes nothing),
        then the resolved message as a reply; the thread ends."""
        if posted is None:  # its first post is gone (expired, or sent before the app)
            await self._post(app, payload)
            return Delivery(Sent.ACCEPTED)
        update = resolved_update(posted.payload, self._clock())
        arguments = {"token": app.token, "channel": posted.channel, "ts": posted.ts, **update}
        await self._client.api_call("chat.update", json=arguments)
        await self._post(app, payload, thread_ts=posted.ts)
        await self.store.end(thread.key, destination)
        return Delivery(Sent.ACCEPTED)

    async def _post(
        self, app: SlackApp, payload: dict[str, Any], thread_ts: str | None = None
    ) -> dict[str, Any]:
        arguments: dict[str, Any] = {"token": app.token, "channel": app.channel, **payload}
        if thread_ts:
            arguments["thread_ts"] = thread_ts
        answer = await self._client.api_call("chat.postMessage", json=arguments)
        return dict(answer.data) if isinstance(answer.data, dict) else {}

    def _refused(self, destination: str, exc: SlackApiError) -> Delivery:
        response = exc.response
        data = response.data if isinstance(response.data, dict) else {}
        error = str(data.get("error") or "")
        status = int(response.status_code)
        answer = http_answer(status, error or str(response.data)[:200])
        reason = described(destination, self._host, answer)
        if status == 429 or error == "ratelimited":
            headers = {k.lower(): v for k, v in (response.headers or {}).items()}
            wait = _seconds(headers.get("retry-after"), DEFAULT_RATE_LIMIT_WAIT)
            return Delivery(Sent.REFUSED, reason, retry_after=wait, rate_limited=True)
        return Delivery(Sent.REFUSED, reason)


async def send_once(
    app: SlackApp, destination: str, message: Message, api_url: str
) -> tuple[bool, str]:
    """One post outside the pipeline (`alerter notify test`, **Send test**): no thread, no
    Redis; why it failed when it did."""
    apps = SlackApps(api_url, store=None, clock=system_clock)
    try:
        delivery = await apps.send(app, destination, message, thread=None)
    finally:
        await apps.close()
    return delivery.accepted, delivery.reason


def _life(thread: Thread) -> float:
    return EPISODE_THREAD_SECONDS if thread.episode else IDLE_THREAD_SECONDS


def _seconds(value: Any, default: float) -> float:
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return default
