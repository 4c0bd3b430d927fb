"""The console's wiring into the api: routers with their CSRF and security headers, the
per-process `Console`, and error pages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import MediaType, Request, Response, Router
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State as AppState
from litestar.enums import ScopeType
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.response import Template
from litestar.static_files import create_static_files_router
from litestar.types import Receive, Scope, Send
from redis.asyncio import Redis

from alerter.clock import Clock, system_clock
from alerter.http.console import acks, api, api_followup, pages, signature_rule
from alerter.http.console.actions import Console
from alerter.http.console.auth import SECURITY_HEADERS, AuthConfig
from alerter.http.console.gate import CSRF_EXEMPT_KEY, ConsoleGate
from alerter.operations import OperatorActions
from alerter.rules.reload import RulesHolder
from alerter.settings import Settings
from alerter.store.audit import Audit
from alerter.store.console_auth import ConsoleAuth
from alerter.store.signature_counts import SignatureCounts
from alerter.store.silences import Silences
from alerter.store.state import State

STATIC = Path(__file__).parent / "static"
CSRF_COOKIE = "alerter_csrf"


class ConsoleCSRF(CSRFMiddleware):
    """Litestar's double-submit CSRF check, except for what the gate (which runs first)
    found exempt: a script's JSON request that a bearer token signed in, or one made on this
    machine in `none` mode. A header that does not sign in exempts nothing."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and scope.get("state", {}).get(CSRF_EXEMPT_KEY):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def make_console(
    settings: Settings, redis: Redis, rules: RulesHolder, *, clock: Clock = system_clock
) -> Console:
    return Console(
        settings=settings,
        redis=redis,
        rules=rules,
        state=State(redis, settings.call_retention_seconds, clock=clock),
        silences=Silences(redis, clock=clock),
        auth=ConsoleAuth(redis, clock=clock),
        audit=Audit(redis, clock=clock),
        actions=OperatorActions(settings, redis, clock=clock),
        signatures=SignatureCounts(redis),
        auth_config=AuthConfig.of(settings),
        clock=clock,
    )


def console_routes(secret: str, secure_cookies: bool = False) -> list[Router]:
    """Every console route behind the gate (Host, origin, identity, headers), then CSRF;
    `secure_cookies` (ALERTER_PUBLIC_URL is https) marks the CSRF cookie Secure."""
    csrf = DefineMiddleware(
        ConsoleCSRF,
        config=CSRFConfig(
            secret=secret,
            cookie_name=CSRF_COOKIE,
            cookie_httponly=True,
            cookie_samesite="lax",
            cookie_secure=secure_cookies,
            header_name="x-csrftoken",
        ),
    )
    gate = DefineMiddleware(ConsoleGate)

    class Secured(Router):
        """Every console route: gated and CSRF-checked; pages are not in /openapi.json
        (the API router puts itself there)."""

        def __init__(self, **kwargs: Any) -> None:
            kwargs.setdefault("include_in_schema", False)
            kwargs.setdefault("middleware", [gate, csrf])
            super().__init__(**kwargs)

    static = create_static_files_router(
        path="/ui/static",
        directories=[STATIC],
        middleware=[DefineMiddleware(ConsoleGate, static=True)],
        include_in_schema=False,
    )
    return [
        *pages.routers(Secured),
        api.router(Secured),
        api_followup.router(Secured),
        *acks.routers(Secured),
        *signature_rule.routers(Secured),
        static,
    ]


def console_error(
    request: Request[Any, Any, AppState],
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
) -> Response[Any]:
    """An error page for a browser on `/ui/`, else the service's JSON error shape."""
    wants_html = request.url.path.startswith("/ui/") and "text/html" in request.headers.get(
        "accept", ""
    )
    if wants_html:
        return Template(
            template_name="error.html",
            context={
                "status": status,
                "code": code,
                "message": message,
                "me": None,
                "path": request.url.path,
            },
            status_code=status,
            headers={**SECURITY_HEADERS, **(headers or {})},
            media_type=MediaType.HTML,
        )
    return Response(
        {"status": "error", "error_code": code, "message": message},
        status_code=status,
        media_type=MediaType.JSON,
        headers={**SECURITY_HEADERS, **(headers or {})},
    )
