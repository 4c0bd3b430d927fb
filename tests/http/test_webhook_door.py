"""The webhook answered below ASGI (`compat.uvicorn`, the api's default) answers as the
Litestar route does: the real api twice on one Redis, one with the door and one without,
sent the same bytes; status, body, the headers clients read, whether the connection is kept,
and the outcome counted, compared."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerter.http.webhook_auth import sign
from alerter.store.embedded import free_port
from tests.conftest import ApiServer, make_settings, metric_samples
from tests.kit.raw_http import Raw, exchange, is_closed, request

SECRET = "whsec_" + "YWxlcnRlci10ZXN0LXNpZ25pbmcta2V5LTAxMjM0NTY="
LIMIT = 2048
ROUTE = "/webhooks/diga"
ID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

Pair = tuple[ApiServer, ApiServer]  # (door, route)


def pair_of(redis_url: str, **overrides: Any) -> Iterator[Pair]:
    config = make_settings("http://127.0.0.1:9", ALERTER_MAX_BODY_BYTES=LIMIT, **overrides)
    servers = (
        ApiServer(config, redis_url, None),
        ApiServer(config, redis_url, None, webhook_door=False),
    )
    for server in servers:
        server.start()
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture
def pair(redis_url: str) -> Iterator[Pair]:
    yield from pair_of(redis_url)


def webhook(call_id: str, event: str = "call.ended") -> bytes:
    return b'{"event":"%s","call":{"id":"%s","agent_id":"a"}}' % (event.encode(), call_id.encode())


def seen(answers: list[Raw]) -> list[tuple[int, bytes, str | None, str | None, bool]]:
    """What a client reads, call ids aside (each server is sent its own)."""
    return [
        (a.status, ID.sub(b"ID", a.body), a.header("content-type"), a.header("connection"), False)
        for a in answers
        if a.status
    ] + [(0, b"", None, None, is_closed(answers))]


def both(pair: Pair, make: Callable[[str], bytes], answers: int = 1) -> list[Any]:
    """The same request to each server (its own fresh call id); what each client read."""
    got = [seen(exchange(server.port, make(str(uuid.uuid4())), answers)) for server in pair]
    assert got[0] == got[1]
    return got[0]


def outcomes(server: ApiServer) -> dict[str, float]:
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    return {
        dict(labels)["outcome"]: value
        for (name, labels), value in metric_samples(text).items()
        if name == "alerter_webhooks_total"
    }


CASES: dict[str, tuple[Callable[[str], bytes], int]] = {
    "queued": (lambda i: request(ROUTE, webhook(i)), 1),
    "queued with a query string": (lambda i: request(ROUTE + "?x=1", webhook(i)), 1),
    "ignored": (lambda i: request(ROUTE, webhook(i, "call.started")), 1),
    "invalid JSON": (lambda i: request(ROUTE, b"{nope"), 1),
    "not an object": (lambda i: request(ROUTE, b"[1]"), 1),
    "no call id": (lambda i: request(ROUTE, b'{"event":"call.ended"}'), 1),
    "bad call id": (lambda i: request(ROUTE, b'{"call_id":"x"}'), 1),
    "wrong type": (lambda i: request(ROUTE, webhook(i), headers={"content-type": "text/plain"}), 1),
    "+json type": (lambda i: request(ROUTE, webhook(i), headers={"content-type": "application/x+json"}), 1),
    "too large, announced": (lambda i: request(ROUTE, b" " * (LIMIT + 1)), 1),
    "too large, chunked": (lambda i: request(ROUTE, b" " * (LIMIT * 2), chunked=True), 1),
    "at the limit": (lambda i: request(ROUTE, webhook(i).ljust(LIMIT)), 1),
    "chunked": (lambda i: request(ROUTE, webhook(i), chunked=True), 1),
    "100-continue": (lambda i: request(ROUTE, webhook(i), headers={"expect": "100-continue"}), 2),
    "connection close": (lambda i: request(ROUTE, webhook(i), headers={"connection": "close"}), 1),
    "HTTP/1.0": (lambda i: request(ROUTE, webhook(i), version="1.0"), 1),
    "HTTP/1.0 kept": (lambda i: request(ROUTE, webhook(i), version="1.0", headers={"connection": "keep-alive"}), 1),
    "GET": (lambda i: request(ROUTE, method="GET"), 1),
    "trailing slash": (lambda i: request(ROUTE + "/", webhook(i)), 1),
    "a longer path": (lambda i: request(ROUTE + "x", webhook(i)), 1),
    "pipelined": (lambda i: request(ROUTE, webhook(i)) + request("/health", method="GET")
                  + request(ROUTE, webhook(i)) + request(ROUTE, b"{") + request(ROUTE, webhook(i[::-1])), 5),
    "413 then one more": (lambda i: request(ROUTE, b" " * (LIMIT + 1)) + request(ROUTE, webhook(i)), 2),
}  # fmt: skip


STATUS = {"queued": 202, "ignored": 200, "invalid JSON": 400, "no call id": 422,
          "wrong type": 415, "too large, announced": 413, "too large, chunked": 413,
          "at the limit": 202, "a longer path": 404, "100-continue": 100}  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_the_door_answers_as_the_route(pair: Pair, case: str) -> None:
    make, answers = CASES[case]
    got = both(pair, make, answers)
    assert outcomes(pair[0]) == outcomes(pair[1])
    assert got[0][0] == STATUS.get(case, got[0][0])


def test_the_door_answers_the_webhook_and_not_the_app(pair: Pair) -> None:
    """Fails when the server passes webhooks to Litestar: the door's answer has no headers
    but the ones it writes, where the app adds none either; so count what the app saw."""
    door, route = pair
    called: list[str] = []
    for server in pair:
        inner = server.app.asgi_handler

        async def counting(scope: Any, receive: Any, send: Any, inner: Any = inner) -> None:
            called.append(scope.get("path", ""))
            await inner(scope, receive, send)

        server.app.asgi_handler = counting
    exchange(door.port, request(ROUTE, webhook(str(uuid.uuid4()))))
    assert ROUTE not in called
    exchange(route.port, request(ROUTE, webhook(str(uuid.uuid4()))))
    assert ROUTE in called


def test_keep_alive_sequences_and_duplicates(pair: Pair) -> None:
    call = str(uuid.uuid4())
    sequence = (
        request(ROUTE, webhook(call))
        + request(ROUTE, webhook(call))
        + request(ROUTE, webhook(call))
    )
    door, route = (exchange(server.port, sequence, 3) for server in pair)
    assert [a.status for a in door] == [202, 200, 200]  # the first queues it, once
    assert [a.status for a in route] == [200, 200, 200]  # already queued by the door
    assert seen(door)[1:] == seen(route)[1:]


def test_signed_webhooks(redis_url: str) -> None:
    for pair in pair_of(redis_url, ALERTER_WEBHOOK_SECRET=SECRET):

        def signed(call_id: str, secret: str = SECRET) -> bytes:
            body, stamp = webhook(call_id), int(time.time())
            headers = {"webhook-id": "m1", "webhook-timestamp": str(stamp),
                       "webhook-signature": sign(secret, "m1", stamp, body)}  # fmt: skip
            return request(ROUTE, body, headers=headers)

        assert both(pair, signed)[0][0] == 202
        assert both(pair, lambda i: request(ROUTE, webhook(i)))[0][0] == 401
        assert (
            both(pair, lambda i: signed(i, "whsec_" + "YW5vdGhlci1zaWduaW5nLWtleQ=="))[0][0] == 401
        )
        bearer = {"authorization": f"Bearer {SECRET}", "AUTHORIZATION": "Bearer nope"}
        assert both(pair, lambda i: request(ROUTE, webhook(i), headers=bearer))[0][0] == 202
        assert outcomes(pair[0]) == outcomes(pair[1])


def test_redis_down_is_503_on_both(tmp_path: Any) -> None:
    for pair in pair_of(f"redis://127.0.0.1:{free_port()}/0"):
        assert both(pair, lambda i: request(ROUTE, webhook(i)))[0][0] == 503
        assert both(pair, lambda i: request(ROUTE, webhook(i, "call.started")))[0][0] == 200


BODIES = st.one_of(
    st.binary(max_size=64),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
        ),
        max_leaves=8,
    ).map(lambda value: httpx.Request("POST", "/", json=value).content),
)
TYPES = st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain", "",
                         "APPLICATION/JSON", "application/problem+json"])  # fmt: skip


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=BODIES, content_type=TYPES, call=st.booleans(), chunked=st.booleans())
def test_any_body_is_answered_alike(
    pair: Pair, body: bytes, content_type: str, call: bool, chunked: bool
) -> None:
    def make(call_id: str) -> bytes:
        sent = body.replace(b"}", b',"call_id":"%s"}' % call_id.encode(), 1) if call else body
        return request(
            ROUTE, sent, headers={"content-type": content_type}, chunked=chunked and bool(sent)
        )

    both(pair, make)
