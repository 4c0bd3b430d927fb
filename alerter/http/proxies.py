"""Which forwarding headers the api believes: `X-Forwarded-For` and `X-Forwarded-Proto` only
from a peer in `ALERTER_TRUSTED_PROXIES`, never by default.

uvicorn's own handling (on by default) trusts 127.0.0.1, so any local process could pass for
the proxy, and it overwrites the peer's address, which `proxy` sign-in must judge. So the
server runs with it off, and this wrapper keeps the peer (`peer_of`) before it lets uvicorn's
middleware, limited to the trusted networks, rewrite the client and scheme.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

PEER_KEY = "alerter_peer"

ASGIApp = Any


class BehindProxies:
    """The api as the server runs it: the TCP peer kept in the scope's state, forwarding
    headers applied only from trusted peers."""

    def __init__(self, app: ASGIApp, trusted: tuple[str, ...]) -> None:
        self.app = app
        self.forwarded: ASGIApp = ProxyHeadersMiddleware(app, list(trusted)) if trusted else app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            client = scope.get("client")
            scope.setdefault("state", {})[PEER_KEY] = client[0] if client else None
        await self.forwarded(scope, receive, send)


def peer_of(scope: Mapping[str, Any]) -> str | None:
    """The address that opened the connection (the proxy, when there is one)."""
    state = scope.get("state") or {}
    if PEER_KEY in state:
        peer: str | None = state[PEER_KEY]
        return peer
    client = scope.get("client")
    return str(client[0]) if client else None
