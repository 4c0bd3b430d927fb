"""Who is asking: the console's three sign-in modes, roles, and the headers every console
answer carries.

- `token`: `Authorization: Bearer <token>` (scripts) or the session cookie set at
  `/ui/login` (browsers);
- `proxy`: `X-Forwarded-User` / `X-Forwarded-Groups`, believed only from
  `ALERTER_TRUSTED_PROXIES`; operators are the users or groups in `ALERTER_CONSOLE_OPERATORS`;
- `none`: everyone is an operator (loopback only; refused at start-up elsewhere).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from alerter.settings import Settings
from alerter.store.console_auth import ConsoleAuth, Identity

SESSION_COOKIE = "alerter_session"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class AuthConfig:
    mode: str  # token | proxy | none
    trusted: tuple[Network, ...]
    operators: frozenset[str]
    secure_cookie: bool

    @classmethod
    def of(cls, settings: Settings) -> AuthConfig:
        return cls(
            mode=settings.console_mode(),
            trusted=tuple(ipaddress.ip_network(c, strict=False) for c in settings.trusted_proxies),
            operators=settings.console_operators,
            secure_cookie=(settings.public_url or "").startswith("https://"),
        )

    def trusts(self, address: str | None) -> bool:
        if address is None:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.trusted)


async def identify(
    config: AuthConfig, auth: ConsoleAuth, connection: ASGIConnection[Any, Any, Any, Any]
) -> Identity | None:
    if config.mode == "none":
        return Identity("local", "operator", "none")
    if config.mode == "proxy":
        client = connection.client.host if connection.client else None
        user = connection.headers.get("x-forwarded-user", "").strip()
        if not user or not config.trusts(client):
            return None  # a header from anyone else is ignored
        groups = {g.strip() for g in connection.headers.get("x-forwarded-groups", "").split(",")}
        operator = user in config.operators or bool(groups & config.operators)
        return Identity(user[:200], "operator" if operator else "viewer", "proxy")
    header = connection.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return await auth.by_token(credentials.strip())
    session = connection.cookies.get(SESSION_COOKIE)
    if session:
        return await auth.by_session(session)
    return None


def identity_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Identity:
    identity: Identity = connection.state.identity
    return identity


async def operator_only(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Guard: viewers may read everything and change nothing."""
    if not identity_of(connection).is_operator:
        raise PermissionDeniedException("operators only: this identity is a viewer")


class SignInRequired(NotAuthorizedException):
    """A page asked for without an identity: the app answers with the login page's address."""

    def __init__(self, target: str) -> None:
        super().__init__("sign in first")
        self.target = target

    @property
    def login(self) -> str:
        return f"/ui/login?next={quote(self.target, safe='')}"


async def _known(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """Set the identity on the connection; None when known, else the sign-in mode."""
    console = connection.app.state.console
    identity = await identify(console.auth_config, console.auth, connection)
    if identity is None:
        mode: str = console.auth_config.mode
        return mode
    connection.state.identity = identity
    return None


async def signed_in_page(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Guard on every `/ui/` page but the login: unknown → the login page (token mode)."""
    mode = await _known(connection)
    if mode == "proxy":
        raise NotAuthorizedException("sign in through the proxy in front of the console")
    if mode is not None:
        query = connection.url.query
        raise SignInRequired(connection.url.path + (f"?{query}" if query else ""))


async def signed_in_api(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Guard on every `/api/v1/` route: unknown → 401."""
    if await _known(connection) is not None:
        raise NotAuthorizedException("send Authorization: Bearer <token>")


def bearer_request(scope: Any) -> bool:
    """A request that proves itself with a bearer token: no ambient credential a forged
    cross-site form could ride on, so CSRF does not apply."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            return bytes(value).lower().startswith(b"bearer ")
    return False
