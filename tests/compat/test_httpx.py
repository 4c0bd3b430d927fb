"""Contract of alerter/compat/httpx.py with httpx's real client: a client made
`without_cookies` keeps no cookie from an answer, sends none back, and never reads them;
over `aiohttp_transport`, aiohttp's own jar keeps none either."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import version

import httpx
import pytest
from httpx_aiohttp import AiohttpTransport

from alerter.compat import httpx as compat
from tests.standins import Fault, Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(keep_alive=True)
    server.start()
    yield server
    server.stop()


def test_written_against_the_installed_version() -> None:
    # A new httpx may keep its jar elsewhere: read its `_client.py` again, then say so here.
    assert compat.WRITTEN_AGAINST == {"httpx": version("httpx")}


def test_the_jar_replaced_is_the_one_the_client_uses() -> None:
    client = httpx.AsyncClient()
    jar = compat.without_cookies(client).cookies
    assert type(jar).__name__ == "_NoCookies"
    assert client.cookies is jar  # the property returns the attribute we set


@pytest.mark.parametrize("transport", ["httpcore", "aiohttp"])
async def test_an_answers_cookie_is_neither_kept_nor_sent_back(
    receiver: Receiver, transport: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    read: list[httpx.Response] = []
    monkeypatch.setattr(httpx.Cookies, "extract_cookies", lambda self, r: read.append(r))
    receiver.inject(Fault(200, headers={"Set-Cookie": "seen=1; Path=/"}))
    limits = httpx.Limits(max_connections=2)
    client = compat.without_cookies(
        httpx.AsyncClient(
            transport=compat.aiohttp_transport(limits) if transport == "aiohttp" else None
        )
    )
    # By name: aiohttp's default jar ignores what an IP address sets, which would hide it.
    url = receiver.url.replace("127.0.0.1", "localhost")
    async with client:
        for _ in range(2):
            (await client.post(url + "/a", json={})).raise_for_status()
    assert len(receiver.wait_for(2)) == 2
    assert all("cookie" not in headers for headers in receiver.headers())
    assert not client.cookies
    assert read == []  # httpx's own (costly) reading of answers never ran


async def test_without_it_httpx_keeps_and_sends_the_cookie(receiver: Receiver) -> None:
    # The behaviour the function exists to stop: if httpx stops keeping cookies, it can go.
    receiver.inject(Fault(200, headers={"Set-Cookie": "seen=1; Path=/"}))
    async with httpx.AsyncClient() as client:
        for _ in range(2):
            (await client.post(receiver.url + "/a", json={})).raise_for_status()
    assert receiver.headers()[1].get("cookie") == "seen=1"


async def test_without_a_dummy_jar_aiohttp_keeps_and_sends_the_cookie(receiver: Receiver) -> None:
    # The jar `aiohttp_transport` replaces: if aiohttp stops keeping cookies, it can go.
    receiver.inject(Fault(200, headers={"Set-Cookie": "seen=1; Path=/"}))
    client = compat.without_cookies(httpx.AsyncClient(transport=AiohttpTransport()))
    async with client:
        for _ in range(2):
            url = receiver.url.replace("127.0.0.1", "localhost")
            (await client.post(url + "/a", json={})).raise_for_status()
    assert receiver.headers()[1].get("cookie") == "seen=1"
