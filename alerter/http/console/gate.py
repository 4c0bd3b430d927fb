"""The checks every console request (`/ui/`, `/api/v1/`) passes before its handler, in order:
the Host it names (DNS rebinding), where a write comes from (cross-origin), who is asking
(in `none` mode: whether it was made on this machine), whether the CSRF token applies to it,
the sign-in limit, and the headers every answer carries."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from alerter.http.console.auth import (
    NONE_MODE_REFUSAL,
    SECURITY_HEADERS,
    AuthConfig,
    Refused,
    bearer_of,
    client_address,
    host_name,
    is_local,
    known,
    origin_of,
    refuse_if_limited,
    sign_in_failed,
)

CSRF_EXEMPT_KEY = "console_csrf_exempt"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOGIN_PATH = "/ui/login"
API_PREFIX = "/api/"
Connection = ASGIConnection[Any, Any, Any, Any]


def check_host(config: AuthConfig, connection: Connection) -> None:
    """400 unless the Host is one this console is reached by: a page served to any name
    would let a rebound DNS name read and act as the user's own machine."""
    if host_name(connection.headers.get("host", "")) not in config.hosts:
        raise Refused(
            400,
            "HOST_NOT_ALLOWED",
            "the console answers only to 127.0.0.1, localhost, [::1], ALERTER_PUBLIC_URL's "
            "host and the names in ALERTER_ALLOWED_HOSTS",
        )


def own_origin(connection: Connection) -> tuple[str, str, int] | None:
    return origin_of(f"{connection.scope['scheme']}://{connection.headers.get('host', '')}")


def check_origin(config: AuthConfig, connection: Connection) -> None:
    """403 for a write a browser sent from another site (`Sec-Fetch-Site`) or another
    origin (`Origin`) than this request's own or ALERTER_PUBLIC_URL's."""
    site = connection.headers.get("sec-fetch-site", "").strip().lower()
    if site in ("cross-site", "same-site"):
        raise Refused(403, "CROSS_ORIGIN_REQUEST", f"a {site} request may not change anything")
    origin = connection.headers.get("origin")
    if origin is None:
        return
    claimed = origin_of(origin)
    if claimed is None or claimed not in (own_origin(connection), config.public_origin):
        raise Refused(403, "CROSS_ORIGIN_REQUEST", "a request from another origin")


def script_request(connection: Connection) -> bool:
    """Sent by a script, not a browser: no `Origin`, no `Sec-Fetch-Site`, and a JSON body (or
    none). A browser adds those headers to every write, and a cross-site page cannot send
    JSON without asking first (CORS), which this api never allows."""
    headers = connection.headers
    if "origin" in headers or "sec-fetch-site" in headers:
        return False
    content_type = headers.get("content-type")
    if content_type is None:
        return True  # no body: nothing a form could have posted
    return content_type.split(";", 1)[0].strip().lower() == "application/json"


async def who_may_pass(config: AuthConfig, connection: Connection, static: bool) -> bool:
    """Identify the request (the guards reuse it); True when it may skip the CSRF token:
    a script's request that a bearer token signed in, or one made here in `none` mode."""
    if static:  # files for every page, sign-in's too: only `none` mode's locality applies
        if config.mode == "none" and bearer_of(connection) is None and not is_local(connection):
            raise Refused(401, "UNAUTHORIZED", NONE_MODE_REFUSAL)
        return False
    identity = await known(connection)
    if identity is None and config.mode == "none":
        raise Refused(401, "UNAUTHORIZED", NONE_MODE_REFUSAL)
    if identity is None and connection.scope["path"].startswith(API_PREFIX):
        # Said before CSRF's 403, which would send a script with a wrong token astray.
        raise Refused(401, "UNAUTHORIZED", "send Authorization: Bearer <token>")
    return identity is not None and identity.via in ("token", "none") and script_request(connection)


class ConsoleGate:
    """Middleware on every console route (`static`: the files under `/ui/static/`)."""

    def __init__(self, app: ASGIApp, static: bool = False) -> None:
        self.app = app
        self.static = static

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        connection: Connection = ASGIConnection(scope)
        console = connection.app.state.console
        config: AuthConfig = console.auth_config
        check_host(config, connection)
        unsafe = scope["method"] not in SAFE_METHODS
        if unsafe:
            check_origin(config, connection)
        exempt = await who_may_pass(config, connection, self.static)
        scope.setdefault("state", {})[CSRF_EXEMPT_KEY] = unsafe and exempt
        signing_in = unsafe and scope["path"] == LOGIN_PATH and config.mode == "token"
        if signing_in:
            await refuse_if_limited(console.auth, client_address(connection))
        statuses: list[int] = []
        await self.app(scope, receive, self.headed(send, statuses))
        if signing_in and statuses == [401]:
            await sign_in_failed(console.auth, client_address(connection), "a sign-in token")

    def headed(self, send: Send, statuses: list[int]) -> Send:
        """`send`, adding the security headers (and, but on static files, `no-store`: a
        console page stays in no cache after sign-out)."""
        extra = dict(SECURITY_HEADERS)
        if not self.static:
            extra["cache-control"] = "no-store"

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])
                headers = list(message.get("headers", ()))
                present = {bytes(name).lower() for name, _ in headers}
                headers += [
                    (name.encode(), value.encode())
                    for name, value in extra.items()
                    if name.encode() not in present
                ]
                message["headers"] = headers
            await send(message)

        return with_headers
