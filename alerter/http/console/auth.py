"""Who is asking: the console's three sign-in modes, roles, and the guards on its routes.

- `token`: `Authorization: Bearer <token>` (scripts) or the session cookie set at
  `/ui/login` (browsers);
- `proxy`: `X-Forwarded-User` / `X-Forwarded-Groups`, believed only from a peer in
  `ALERTER_TRUSTED_PROXIES`; operators are the users or groups in `ALERTER_CONSOLE_OPERATORS`;
- `none`: an operator, but only for a request made on this machine (`is_local`); refused at
  start-up on a non-loopback address.

In every mode a bearer token that signs in is that token's identity; one that does not is
logged (never the token) and counted against the client's address (429 past the limit).
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException, NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from alerter.http.proxies import peer_of
from alerter.settings import Settings, is_loopback
from alerter.store.console_auth import ConsoleAuth, Identity

log = logging.getLogger(__name__)

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
# The Host names `none` mode serves (any port).
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
NONE_MODE_REFUSAL = (
    "ALERTER_CONSOLE_AUTH=none serves only requests made on this machine: to 127.0.0.1, "
    "localhost or [::1], with no Forwarded or X-Forwarded-* header. To reach the console "
    "any other way (a proxy, another host), set ALERTER_CONSOLE_AUTH=token (or proxy)."
)
IDENTITY_KEY = "console_identity"  # in the connection's state, once the gate has asked

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class AuthConfig:
    mode: str  # token | proxy | none
    trusted: tuple[Network, ...]
    operators: frozenset[str]
    secure_cookie: bool
    # Host names the console answers to (loopback ones, the public URL's, the allowed).
    hosts: frozenset[str] = LOOPBACK_NAMES
    # ALERTER_PUBLIC_URL's origin (scheme, host, port), whose writes are not cross-origin.
    public_origin: tuple[str, str, int] | None = None

    @classmethod
    def of(cls, settings: Settings) -> AuthConfig:
        public = origin_of(settings.public_url) if settings.public_url else None
        hosts = LOOPBACK_NAMES | set(settings.allowed_hosts)
        return cls(
            mode=settings.console_mode(),
            trusted=tuple(ipaddress.ip_network(c, strict=False) for c in settings.trusted_proxies),
            operators=settings.console_operators,
            secure_cookie=(settings.public_url or "").startswith("https://"),
            hosts=frozenset(hosts | {public[1]} if public else hosts),
            public_origin=public,
        )

    def trusts(self, address: str | None) -> bool:
        if address is None:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.trusted)


class Refused(HTTPException):
    """A console request refused before its handler, with its own error code (and headers,
    such as Retry-After)."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail=message, status_code=status, headers=headers)
        self.code = code


DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an URL or an `Origin` header; None when it names none."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if scheme not in DEFAULT_PORTS or not host:
        return None
    return scheme, host, port if port is not None else DEFAULT_PORTS[scheme]


def host_name(host: str) -> str | None:
    """The name in a `Host` header (`name`, `name:port`, `[v6]:port`), lower case."""
    host = host.strip().lower()
    if host.startswith("["):
        name, bracket, rest = host[1:].partition("]")
        if not bracket or (rest and not (rest[:1] == ":" and rest[1:].isdigit())):
            return None
        return name or None
    name, colon, port = host.partition(":")
    if colon and not port.isdigit():
        return None
    return name or None


def is_local(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    """Made on this machine, as `none` mode requires: a loopback peer, a loopback Host, and
    nothing a proxy adds (a local proxy would carry other people's requests)."""
    peer = peer_of(connection.scope)
    if peer is None or not is_loopback(peer):
        return False
    if host_name(connection.headers.get("host", "")) not in LOOPBACK_NAMES:
        return False
    return not any(
        name == b"forwarded" or name.startswith(b"x-forwarded-")
        for name, _ in connection.scope["headers"]
    )


def bearer_of(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The token of an `Authorization: Bearer <token>` header; None without one (an empty
    `Bearer ` proves nothing and counts as no header)."""
    scheme, _, credentials = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip() or None


def client_address(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    return connection.client.host if connection.client else "unknown"


async def refuse_if_limited(auth: ConsoleAuth, address: str) -> None:
    """429 for an address past its failed sign-ins: checked before a token is, so guessing
    stops rather than only the answers to wrong guesses."""
    wait = await auth.refused_for(address)
    if wait:
        raise Refused(
            429,
            "TOO_MANY_SIGN_IN_FAILURES",
            f"too many failed sign-ins from this address; try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )


async def sign_in_failed(auth: ConsoleAuth, address: str, what: str) -> None:
    log.warning("console: %s that is not valid, from %s", what, address)
    await auth.failed(address)


async def by_bearer(auth: ConsoleAuth, address: str, token: str) -> Identity | None:
    await refuse_if_limited(auth, address)
    identity = await auth.by_token(token)
    if identity is None:
        await sign_in_failed(auth, address, "a bearer token")
    return identity


def by_proxy(config: AuthConfig, connection: ASGIConnection[Any, Any, Any, Any]) -> Identity | None:
    user = connection.headers.get("x-forwarded-user", "").strip()
    if not user or not config.trusts(peer_of(connection.scope)):
        return None  # a header from anyone else is ignored
    groups = {g.strip() for g in connection.headers.get("x-forwarded-groups", "").split(",")}
    operator = user in config.operators or bool(groups & config.operators)
    return Identity(user[:200], "operator" if operator else "viewer", "proxy")


async def identify(
    config: AuthConfig, auth: ConsoleAuth, connection: ASGIConnection[Any, Any, Any, Any]
) -> Identity | None:
    if config.mode == "proxy" and (proxied := by_proxy(config, connection)):
        return proxied  # oauth2-proxy may pass its own bearer along: not one of ours
    token = bearer_of(connection)
    if token is not None:
        return await by_bearer(auth, client_address(connection), token)
    if config.mode == "none":
        return Identity("local", "operator", "none") if is_local(connection) else None
    session = connection.cookies.get(SESSION_COOKIE)
    if config.mode == "token" and session:
        return await auth.by_session(session)
    return None


async def known(connection: ASGIConnection[Any, Any, Any, Any]) -> Identity | None:
    """Who is asking, found once per request (the gate asks first; guards reuse it)."""
    state = connection.scope.setdefault("state", {})
    if IDENTITY_KEY not in state:
        console = connection.app.state.console
        state[IDENTITY_KEY] = await identify(console.auth_config, console.auth, connection)
        if state[IDENTITY_KEY] is not None:
            connection.state.identity = state[IDENTITY_KEY]
    identity: Identity | None = state[IDENTITY_KEY]
    return identity


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


def mode_of(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    mode: str = connection.app.state.console.auth_config.mode
    return mode


async def signed_in_page(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Guard on every `/ui/` page but the login: unknown → the login page (token mode)."""
    if await known(connection) is not None:
        return
    mode = mode_of(connection)
    if mode == "none":
        raise Refused(401, "UNAUTHORIZED", NONE_MODE_REFUSAL)
    if mode == "proxy":
        raise NotAuthorizedException("sign in through the proxy in front of the console")
    query = connection.url.query
    raise SignInRequired(connection.url.path + (f"?{query}" if query else ""))


async def signed_in_api(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Guard on every `/api/v1/` route: unknown → 401."""
    if await known(connection) is not None:
        return
    if mode_of(connection) == "none":
        raise Refused(401, "UNAUTHORIZED", NONE_MODE_REFUSAL)
    raise NotAuthorizedException("send Authorization: Bearer <token>")
