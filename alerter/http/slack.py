"""`POST /slack/interactions`: Acknowledge and Silence 1h clicked in a Slack message.

Slack signs each request (`v0=` HMAC-SHA256 of `v0:{timestamp}:{raw body}` with the app's
signing secret); unsigned, stale (over 5 minutes) or wrongly signed requests get 401 and
change nothing. Only `ALERTER_SLACK_OPERATORS` (user ids, or user groups whose members Slack
lists) may act; anyone else is told so privately. Outside the console: no session, Host or
CSRF check applies (the signature is the check), as for Diga's webhook.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import aiohttp
from litestar import MediaType, Request, Response, post
from litestar.datastructures import State as AppState
from redis.exceptions import RedisError
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from alerter import acks
from alerter.clock import Clock, system_clock
from alerter.render.slack_blocks import (
    ACK_ACTION,
    SILENCE_ACTION,
    SILENCE_SECONDS,
    ButtonValue,
    acted_update,
    refusal_text,
)
from alerter.rules.model import SlackApp
from alerter.rules.reload import RulesHolder
from alerter.settings import Settings

log = logging.getLogger(__name__)

SIGNATURE_TOLERANCE_SECONDS = 300


class SlackAuthError(Exception):
    """Why a request is not Slack's (the 401's message)."""


def verify_slack(
    secret: str | None, timestamp: str | None, signature: str | None, body: bytes, now: float
) -> None:
    """Raises SlackAuthError unless Slack signed this body within the tolerance."""
    if not secret:
        raise SlackAuthError("ALERTER_SLACK_SIGNING_SECRET is not set: interactions are refused")
    if not timestamp or not signature:
        raise SlackAuthError("the request is not signed")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise SlackAuthError("X-Slack-Request-Timestamp is not a number") from None
    if abs(now - sent_at) > SIGNATURE_TOLERANCE_SECONDS:
        raise SlackAuthError("the signature's timestamp is more than 5 minutes away")
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise SlackAuthError("the signature does not match")


@dataclass(frozen=True, slots=True)
class Click:
    """One button click of a `block_actions` payload, as far as alerter reads it."""

    user_id: str
    user_name: str
    action_id: str
    value: ButtonValue
    channel: str
    message_ts: str
    response_url: str | None
    message: dict[str, Any]  # the message as Slack shows it: what an update starts from


def parse_click(body: bytes) -> Click | None:
    """The click in a form-encoded `payload=`; None for other interactions (and for
    buttons that are not ours, such as URL buttons). Raises ValueError for a bad body."""
    try:
        form = parse_qs(body.decode("utf-8"), strict_parsing=True)
        payload = json.loads(form["payload"][0])
    except (UnicodeDecodeError, KeyError, IndexError, ValueError):
        raise ValueError("expected a form-encoded `payload` holding JSON") from None
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return None
    actions = [a for a in payload.get("actions") or [] if isinstance(a, dict)]
    action = next((a for a in actions if a.get("action_id") in (ACK_ACTION, SILENCE_ACTION)), None)
    if action is None:
        return None
    user = payload.get("user") or {}
    container = payload.get("container") or {}
    channel = (payload.get("channel") or {}).get("id") or container.get("channel_id") or ""
    message = payload.get("message") or {}
    return Click(
        user_id=str(user.get("id") or ""),
        user_name=str(user.get("username") or user.get("name") or ""),
        action_id=str(action["action_id"]),
        value=ButtonValue.decode(str(action.get("value") or "")),
        channel=str(channel),
        message_ts=str(container.get("message_ts") or message.get("ts") or ""),
        response_url=str(payload["response_url"]) if payload.get("response_url") else None,
        message=message if isinstance(message, dict) else {},
    )


class SlackInteractions:
    """What the endpoint needs, made once per api process (its client closed at shutdown)."""

    def __init__(
        self, settings: Settings, redis: Any, rules: RulesHolder, *, clock: Clock = system_clock
    ) -> None:
        self._settings = settings
        self.clock = clock  # the api's one clock: a request's age, an acknowledgement's time
        self._redis = redis
        self._rules = rules
        self._session = aiohttp.ClientSession()
        api_url = settings.slack_api_url
        self._client = AsyncWebClient(
            base_url=api_url if api_url.endswith("/") else api_url + "/",
            session=self._session,
            timeout=10,
            retry_handlers=[],
        )

    @property
    def secret(self) -> str | None:
        secret = self._settings.slack_signing_secret
        return secret.get_secret_value() if secret else None

    async def close(self) -> None:
        await self._session.close()

    async def handle(self, click: Click) -> str:
        """Act on one click; what was done (`acknowledged`, `silenced`, `refused`)."""
        now = self.clock()
        app = self._app_for(click.channel)
        if not await self._is_operator(click.user_id, app):
            await self._tell(click, app, refusal_text())
            return "refused"
        who = f"slack:{click.user_id}"
        value = click.value
        if click.action_id == ACK_ACTION:
            await acks.acknowledge(
                self._redis, value.rule, value.group, who, now, value.call_id, clock=self.clock
            )
            did = "Acknowledged"
        else:
            silence = await acks.silence_group(
                self._redis,
                value.rule,
                value.labels,
                who,
                now,
                SILENCE_SECONDS,
                value.call_id,
                clock=self.clock,
            )
            did = f"Silenced for 1h (silence {silence.id})"
        await self._update(
            click, app, acted_update(click.message, did, click.user_name, click.user_id, now)
        )
        return "acknowledged" if click.action_id == ACK_ACTION else "silenced"

    def _app_for(self, channel: str) -> SlackApp | None:
        rules = self._rules.current
        for destination in rules.destinations.values() if rules else ():
            if destination.slack_app is not None and destination.slack_app.channel == channel:
                return destination.slack_app
        return None

    async def _is_operator(self, user_id: str, app: SlackApp | None) -> bool:
        operators = self._settings.slack_operators
        if user_id in operators:
            return True
        groups = [name for name in operators if name.startswith("S")]
        if not groups or app is None:
            return False
        for group in groups:
            try:
                answer = await self._client.usergroups_users_list(token=app.token, usergroup=group)
            except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
                log.warning("members of Slack group %s not read: %s", group, type(exc).__name__)
                continue
            if user_id in (answer.get("users") or []):
                return True
        return False

    async def _tell(self, click: Click, app: SlackApp | None, text: str) -> None:
        """A message only the clicking user sees."""
        try:
            if click.response_url:
                body = {"response_type": "ephemeral", "replace_original": False, "text": text}
                async with self._session.post(click.response_url, json=body) as answer:
                    answer.raise_for_status()
            elif app is not None:
                await self._client.chat_postEphemeral(
                    token=app.token, channel=click.channel, user=click.user_id, text=text
                )
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("refusal not shown in Slack: %s", type(exc).__name__)

    async def _update(self, click: Click, app: SlackApp | None, message: dict[str, Any]) -> None:
        """The clicked message, saying who did what (the action is recorded either way)."""
        update: dict[str, Any] = {
            k: message[k] for k in ("text", "attachments", "blocks") if k in message
        }
        try:
            if app is not None and click.message_ts:
                arguments = {"token": app.token, "channel": click.channel, "ts": click.message_ts}
                await self._client.api_call("chat.update", json={**arguments, **update})
            elif click.response_url:
                body: dict[str, Any] = {"replace_original": True, **update}
                async with self._session.post(click.response_url, json=body) as answer:
                    answer.raise_for_status()
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("the Slack message was not updated: %s", type(exc).__name__)


def _error(status: int, code: str, message: str) -> Response[dict[str, str]]:
    body = {"status": "error", "error_code": code, "message": message}
    return Response(body, status_code=status, media_type=MediaType.JSON)


@post("/slack/interactions", status_code=200)
async def slack_interactions(request: Request[Any, Any, AppState]) -> Response[Any]:
    interactions: SlackInteractions = request.app.state.slack
    body = await request.body()  # bounded by the app's request_max_body_size
    headers = request.headers
    try:
        verify_slack(
            interactions.secret,
            headers.get("x-slack-request-timestamp"),
            headers.get("x-slack-signature"),
            body,
            interactions.clock(),
        )
    except SlackAuthError as exc:
        log.warning("Slack interaction refused: %s", exc)
        return _error(401, "INVALID_SIGNATURE", str(exc))
    try:
        click = parse_click(body)
    except ValueError as exc:
        return _error(400, "BAD_REQUEST", str(exc))
    if click is None:
        return Response({"status": "ignored"}, status_code=200)
    try:
        done = await interactions.handle(click)
    except (RedisError, OSError):
        return _error(503, "STATE_UNAVAILABLE", "Redis is unavailable; click again later")
    return Response({"status": done}, status_code=200)
