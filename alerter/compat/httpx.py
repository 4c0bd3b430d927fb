"""httpx clients that keep no cookies: neither stored from an answer nor sent back.

Written against httpx 0.28.1 (`tests/compat/test_httpx.py` holds it to it). httpx reads
every answer's `Set-Cookie` through a urllib request it builds (`Cookies.extract_cookies`,
called on `client.cookies` after each send: ~5 % of a worker's time, measured with py-spy)
and offers no switch to turn that off. Its `cookies` setter copies what it is given into a
new `Cookies`, so the jar is replaced through the client's own `_cookies` attribute, the
one the `cookies` property returns.

Our clients need none: Diga authenticates with a bearer token, and a webhook's cookie must
never reach another destination. Over aiohttp (`aiohttp_transport`) there is a second jar,
aiohttp's session's own, beneath httpx's: that one is aiohttp's public `DummyCookieJar`.
"""

from __future__ import annotations

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

WRITTEN_AGAINST = {"httpx": "0.28.1"}


class _NoCookies(httpx.Cookies):
    def extract_cookies(self, response: httpx.Response) -> None:
        return None


def without_cookies(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """The client, made to keep no cookie from any answer (and so send none back)."""
    setattr(client, "_cookies", _NoCookies())  # noqa: B010
    return client


def aiohttp_transport(limits: httpx.Limits) -> AiohttpTransport:
    """httpx's API over aiohttp's connection pool, whose session keeps no cookie either (the
    transport's own session would keep, and send back, what a named host sets)."""
    size = limits.max_connections if limits.max_connections is not None else 100

    def session() -> aiohttp.ClientSession:  # made on the first request, on the event loop
        connector = aiohttp.TCPConnector(
            limit=size, keepalive_timeout=limits.keepalive_expiry, ssl=httpx.create_ssl_context()
        )
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())

    return AiohttpTransport(limits=limits, client=session)
