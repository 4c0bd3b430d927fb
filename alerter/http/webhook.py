"""The Diga webhook, whatever carries it: raw headers and body bytes in, a status and JSON
bytes out. The Litestar route and the server's own fast path (`compat.uvicorn`) both answer
through `Webhooks`, so they cannot drift apart."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

from alerter.clock import Clock, system_clock
from alerter.compat.uvicorn import webhook_protocol
from alerter.http.intake import Ignored, IntakeError, parse_webhook
from alerter.http.webhook_auth import AuthError, verify
from alerter.metrics import Metrics
from alerter.pipeline.evaluate import baseline_counters, ended_counters, flatline_marks
from alerter.rules.reload import RulesHolder
from alerter.settings import Settings
from alerter.store.queue import CallQueue

log = logging.getLogger(__name__)

ROUTE = "/webhooks/diga"
Headers = Iterable[tuple[bytes, bytes]]
Answer = tuple[int, bytes]


@dataclass
class Intake:
    """What the webhook handler needs, made once per process."""

    settings: Settings
    queue: CallQueue
    redis: Redis
    rules: RulesHolder
    metrics: Metrics
    clock: Clock = system_clock  # the process's one clock: the queue stamps calls with it

    # The counter's child per outcome, found once: prometheus's `labels()` lookup cost 1.5 %
    # of a busy api's time.
    outcomes: dict[str, Any] = field(default_factory=dict)

    def count(self, outcome: str) -> None:
        counter = self.outcomes.get(outcome)
        if counter is None:
            counter = self.outcomes[outcome] = self.metrics.webhooks.labels(outcome)
        counter.inc()


def error_content(code: str, message: str) -> dict[str, str]:
    """The body of every error answer (DESIGN.md's shape)."""
    return {"status": "error", "error_code": code, "message": message}


_ENCODE = msgspec.json.Encoder().encode


def refused(intake: Intake, exc: IntakeError) -> Answer:
    intake.count(f"error_{exc.status}")
    return exc.status, _ENCODE(error_content(exc.code, exc.message))


# Made anew each time: one raised instance would carry each raise's traceback (and the
# request it holds) and be shared by every request raising it at once.
def too_large() -> IntakeError:
    return IntakeError(413, "PAYLOAD_TOO_LARGE", "body is larger than the limit")


def ended_early() -> IntakeError:
    return IntakeError(400, "BAD_REQUEST", "the body ended early")


# What an unexpected error answers, on either path (the app's handler of every exception).
INTERNAL_ERROR = ("INTERNAL_SERVER_ERROR", "internal error")


def announced_length(headers: Headers) -> int | None:
    """Content-Length, when given (400 when it is not a number)."""
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                raise IntakeError(400, "BAD_REQUEST", "Content-Length is not a number") from None
    return None


def _content_type(headers: Headers) -> str:
    for name, value in headers:
        if name == b"content-type":
            return value.decode("latin-1")
    return ""


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _header_map(headers: Headers) -> dict[str, str]:
    """Names (lower case, as both servers give them) to their first value, as Litestar's
    `Headers.get` reads them."""
    found: dict[str, str] = {}
    for name, value in headers:
        found.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
    return found


async def answer(intake: Intake, headers: Headers, body: bytes) -> Answer:
    """A whole webhook's answer, the body already read within the limit. A 202 only once
    the call is written to Redis."""
    got = answer_soon(intake, headers, body)
    return got if isinstance(got, tuple) else await got


def answer_soon(intake: Intake, headers: Headers, body: bytes) -> Answer | asyncio.Future[Answer]:
    """`answer` with no coroutine: the answer when Redis is not needed, else a future set
    once the call is written (measured: a task and its coroutines a webhook were 8 % of the
    fast path's CPU). A bug raises here or is set on the future."""
    try:
        secret = intake.settings.webhook_secret
        if secret is not None:
            try:
                verify(_header_map(headers), body, secret.get_secret_value(), intake.clock())
            except AuthError as exc:
                raise IntakeError(401, "INVALID_SIGNATURE", str(exc)) from None
        if not _is_json(_content_type(headers)):
            raise IntakeError(415, "UNSUPPORTED_MEDIA_TYPE", "send the webhook as application/json")
        parsed = parse_webhook(body, intake.settings.call_end_events)
        if isinstance(parsed, Ignored):
            intake.count("ignored")
            said = {"status": "ignored", "event": parsed.event}
            if parsed.call_id:
                said["call_id"] = parsed.call_id
            return 200, _ENCODE(said)
        try:
            rules = intake.rules.current
            counters = ended_counters(rules, parsed) if rules else ()
            marks = flatline_marks(rules, parsed) if rules else ()
            baselines = baseline_counters(rules, parsed) if rules else ()
            queued = intake.queue.enqueue(
                parsed, ended_counters=counters, flatline_marks=marks, baseline_counters=baselines
            )
        except (RedisError, OSError):
            raise unavailable(parsed.call_id) from None
    except IntakeError as exc:
        return refused(intake, exc)
    told: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
    queued.add_done_callback(partial(_written, intake, parsed.call_id, told))
    return told


def unavailable(call_id: str) -> IntakeError:
    log.warning("queue unavailable; webhook for call %s refused with 503", call_id)
    return IntakeError(503, "QUEUE_UNAVAILABLE", "the queue is unavailable; retry later")


def _written(
    intake: Intake, call_id: str, told: asyncio.Future[Answer], queued: asyncio.Future[bool]
) -> None:
    """The answer once the enqueue is settled: 202 queued, 200 duplicate, 503 Redis down."""
    if told.done():  # the webhook's wait was cancelled (a forced shutdown)
        return
    if queued.cancelled():
        told.cancel()
        return
    exc = queued.exception()
    if exc is None:
        if queued.result():
            intake.count("queued")
            told.set_result((202, _ENCODE({"status": "queued", "call_id": call_id})))
        else:
            intake.count("duplicate")
            told.set_result((200, _ENCODE({"status": "duplicate", "call_id": call_id})))
    elif isinstance(exc, RedisError | OSError):
        told.set_result(refused(intake, unavailable(call_id)))
    else:
        told.set_exception(exc)


class Webhooks:
    """The webhook as the server's fast path takes it (`compat.uvicorn.WebhookDoor`): the
    process's `Intake` is looked up when the first webhook comes (the app's lifespan makes it)."""

    def __init__(self, intake_of: Callable[[], Intake], limit: int) -> None:
        self.route = ROUTE.encode()
        self.limit = limit
        self._intake_of = intake_of
        self._intake: Intake | None = None

    def intake(self) -> Intake:
        if self._intake is None:
            self._intake = self._intake_of()
        return self._intake

    def too_large(self) -> Answer:
        return refused(self.intake(), too_large())

    def ended_early(self) -> None:
        """Counted as the Litestar route counts it (nobody hears the answer)."""
        refused(self.intake(), ended_early())

    def failed(self) -> Answer:
        """An unexpected error's answer, the app's own (not counted: the app counts none)."""
        return 500, _ENCODE(error_content(*INTERNAL_ERROR))

    def answer(self, headers: Headers, body: bytes) -> Answer | asyncio.Future[Answer]:
        return answer_soon(self.intake(), headers, body)


def door_protocol(app: Any, settings: Settings) -> type[asyncio.Protocol]:
    """The server's protocol answering the webhook itself, for `app` (a Litestar app whose
    lifespan makes `state.intake`)."""
    return webhook_protocol(Webhooks(lambda: app.state.intake, settings.max_body_bytes))
