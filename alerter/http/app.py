"""The intake side over HTTP: webhook → queue, plus health, readiness and metrics."""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any, Literal

import msgspec
from litestar import Litestar, MediaType, Request, Response, get, post
from litestar.datastructures import State as AppState
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import SkipValidation
from litestar.response import Redirect
from litestar.template import TemplateConfig
from litestar.types import Receive, Scope, Send
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError

from alerter.clock import Clock, system_clock
from alerter.http import openapi, webhook
from alerter.http.console import pages
from alerter.http.console.actions import ActionError
from alerter.http.console.auth import AuthConfig, Refused, SignInRequired
from alerter.http.console.schema import Error
from alerter.http.console.setup import console_error, console_routes, make_console
from alerter.http.intake import IntakeError
from alerter.http.slack import SlackInteractions, slack_interactions
from alerter.http.webhook import INTERNAL_ERROR, Intake, ended_early, error_content, too_large
from alerter.rules.reload import RulesHolder
from alerter.settings import Settings
from alerter.store import connect
from alerter.store.jobs import WORKER_SEEN_SECONDS, live_workers
from alerter.store.queue import CallQueue, queue_state

log = logging.getLogger(__name__)
# Litestar adds "; charset=utf-8" to text types itself.
METRICS_TYPE = "text/plain; version=0.0.4"

_STATUS_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "UNPROCESSABLE_ENTITY",
    429: "TOO_MANY_REQUESTS",
    500: "INTERNAL_SERVER_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


def error_response(status: int, code: str, message: str) -> Response[dict[str, str]]:
    return Response(error_content(code, message), status_code=status, media_type=MediaType.JSON)


def provide_intake(state: AppState) -> Intake:
    intake: Intake = state.intake
    return intake


# The probes take it by injection; the webhook reads it off the request (no per-call cost).
InjectedIntake = NamedDependency[SkipValidation[Intake]]


def _intake(request: Request[Any, Any, AppState]) -> Intake:
    intake: Intake = request.app.state.intake
    return intake


async def _read_body(
    request: Request[Any, Any, AppState], limit: int, announced: int | None
) -> bytes:
    """The body, at most `limit` bytes, from the ASGI channel: the limit Litestar's
    `body()` enforces, without the header map and stream it builds for each request."""
    if announced is not None and announced > limit:
        raise too_large()
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await request.receive()
        if message["type"] != "http.request":  # the client went away: nobody hears this
            raise ended_early()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


_JSON_TYPE = (b"content-type", b"application/json")


@dataclass(frozen=True, slots=True)
class _Answer:
    """A webhook's JSON answer, sent as the ASGI app the handler returns: Litestar's
    `Response` (a serializer pass, header merging) and even its `ASGIResponse` (a header
    map filled through `setdefault`) cost more per webhook than the JSON itself."""

    status: int
    body: bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [_JSON_TYPE, (b"content-length", b"%d" % len(self.body))]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body, "more_body": False})


# Described by hand in `openapi` (it reads raw bytes); each answer carries its own status.
# The server usually answers this path itself (`compat.uvicorn`); both go through `webhook`.
@post(webhook.ROUTE, include_in_schema=False)
async def diga_webhook(request: Request[Any, Any, AppState]) -> _Answer:
    intake = _intake(request)
    headers = request.scope["headers"]
    try:
        announced = webhook.announced_length(headers)
        body = await _read_body(request, intake.settings.max_body_bytes, announced)
    except IntakeError as exc:
        return _Answer(*webhook.refused(intake, exc))
    return _Answer(*await webhook.answer(intake, headers, body))


class Alive(msgspec.Struct, frozen=True):
    status: Literal["ok"]


class Ready(msgspec.Struct, frozen=True):
    status: Literal["ready"]
    rules_version: str


_NOT_READY = {503: ResponseSpec(Error, description="Not ready, and why", generate_examples=False)}


@get("/health", media_type=MediaType.JSON, tags=["probes"])
async def health() -> Alive:
    """Liveness: 200 while the process lives."""
    return Alive("ok")


@get("/ready", media_type=MediaType.JSON, responses=_NOT_READY, tags=["probes"])
async def ready(intake: InjectedIntake) -> Response[Ready]:
    """Readiness: Redis answers and rules are loaded."""
    rules = intake.rules.current
    if rules is None:
        return error_response(503, "RULES_NOT_LOADED", "no valid rules are loaded")  # type: ignore[return-value]
    try:
        await intake.redis.ping()
    except (RedisError, OSError):
        return error_response(503, "REDIS_UNAVAILABLE", "Redis does not answer")  # type: ignore[return-value]
    return Response(Ready("ready", rules.version), status_code=200)


@get("/metrics", media_type=METRICS_TYPE, tags=["probes"])
async def metrics_endpoint(intake: InjectedIntake) -> Response[bytes]:
    """Prometheus text format."""
    # Without Redis the queue gauges keep their last reading; /ready says Redis is down.
    with contextlib.suppress(RedisError, OSError):
        queue = await queue_state(intake.redis)
        workers = await live_workers(intake.redis, intake.clock(), WORKER_SEEN_SECONDS)
        intake.metrics.set_queue(queue, len(workers))
    return Response(intake.metrics.render(), media_type=METRICS_TYPE)


def _http_error(request: Request[Any, Any, AppState], exc: Exception) -> Response[Any]:
    if isinstance(exc, SignInRequired):
        return Redirect(exc.login, status_code=303)
    if isinstance(exc, ActionError):
        return console_error(request, exc.status, exc.code, exc.message, exc.headers)
    if isinstance(exc, Refused):
        return console_error(request, exc.status_code, exc.code, exc.detail, exc.headers)
    if isinstance(exc, ValidationException):
        # A body or parameter of the wrong type: 422, naming what to fix.
        message = invalid_fields(exc)
        if request.url.path.startswith("/ui/"):
            return console_error(request, 422, "INVALID_REQUEST", message)
        return error_response(422, "INVALID_REQUEST", message)
    if isinstance(exc, HTTPException) and request.url.path.startswith("/ui/"):
        status = exc.status_code
        message = str(exc.detail) if status < 500 else "internal error"
        return console_error(request, status, _STATUS_CODES.get(status, "HTTP_ERROR"), message)
    if isinstance(exc, HTTPException):
        status = exc.status_code
        code = _STATUS_CODES.get(status, "HTTP_ERROR")
        message = exc.detail if status < 500 else "internal error"
        if status == 413:
            message = "body is larger than the limit"
        answer = error_response(status, code, str(message)[:200])
        if status == 405 and exc.headers:  # Allow: the methods the path takes
            answer.headers.update(exc.headers)
        return answer
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, *INTERNAL_ERROR)


def invalid_fields(exc: ValidationException) -> str:
    """`rule: Expected `str | null`, got `array``, for each field Litestar refused."""
    problems = exc.extra if isinstance(exc.extra, list) else []
    said = [
        f"{p.get('key', 'body')}: {p.get('message', 'invalid')}"
        for p in problems
        if isinstance(p, dict)
    ]
    return ("; ".join(said) or "the request does not match its schema")[:300]


def create_app(
    settings: Settings,
    redis_url: str,
    rules: RulesHolder,
    clock: Clock = system_clock,
) -> Litestar:
    """The api: the webhook, health, readiness and metrics, and the console (`/ui/`) with
    its JSON API (`/api/v1/`). `clock`: the process's one clock, which every store is given
    (when a webhook's call ended, what each record says when; tests drive it)."""
    console_secret = (
        settings.console_secret.get_secret_value()
        if settings.console_secret
        else secrets.token_urlsafe(32)
    )

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        # One quick retry only: while Redis is down the sender must hear 503 fast and retry.
        redis = connect.client(
            redis_url,
            socket_connect_timeout=2,
            socket_timeout=2,
            health_check_interval=10,
            retry=Retry(ExponentialBackoff(cap=0.2, base=0.05), retries=1),
        )
        app.state.intake = Intake(
            settings=settings,
            queue=CallQueue(redis, settings.settle_seconds, clock=clock),
            redis=redis,
            rules=rules,
            metrics=rules.metrics,
            clock=clock,
        )
        app.state.console = make_console(settings, redis, rules, clock=clock)
        app.state.slack = SlackInteractions(settings, redis, rules, clock=clock)
        try:
            yield
        finally:
            await app.state.slack.close()
            await redis.aclose()

    return Litestar(
        route_handlers=[
            diga_webhook,
            slack_interactions,
            health,
            ready,
            metrics_endpoint,
            *console_routes(console_secret, AuthConfig.of(settings).secure_cookie),
        ],
        template_config=TemplateConfig(instance=pages.engine()),
        lifespan=[lifespan],
        request_max_body_size=settings.max_body_bytes,
        exception_handlers={Exception: _http_error},
        dependencies={"intake": Provide(provide_intake, sync_to_thread=False)},
        openapi_config=openapi.config(version("alerter")),
        # Logging is the process's to configure (the CLI), not the framework's.
        logging_config=None,
        debug=False,
    )
