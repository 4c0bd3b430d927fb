"""The Diga client against the stand-in served on 127.0.0.1."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from alerter.budgets import Budgets
from alerter.pipeline.diga_errors import (
    CallNotFound,
    DigaAuthError,
    DigaRejected,
    DigaUnavailable,
)
from alerter.pipeline.fetch import DigaClient
from alerter.pipeline.first_page import FirstPage
from tests.conftest import DIGA_KEY
from tests.standins import DigaStandIn, Fault, make_log, make_logs


@pytest.fixture
async def client(diga: DigaStandIn) -> AsyncIterator[DigaClient]:
    # The per-level protocol (paging, cursors, caps); the whole first page has its own tests.
    client = DigaClient(diga.url, DIGA_KEY, timeout=1.0, page_cap=5, first_page=FirstPage.LEVEL)
    yield client
    await client.aclose()


async def test_fetches_both_levels_every_page_oldest_first(
    diga: DigaStandIn, client: DigaClient
) -> None:
    call_id = str(uuid.uuid4())
    logs = make_logs(call_id, 1500) + [
        make_log(call_id, level="CRITICAL", event="boom"),
        make_log(call_id, level="WARNING", event="meh"),
        make_log(call_id, level="INFO", event="hello"),
    ]
    diga.add_call(call_id, logs)
    result = await client.fetch_call_logs(call_id)
    assert len(result.logs) == 1501
    assert {log.level for log in result.logs} == {"ERROR", "CRITICAL"}
    assert [log.timestamp for log in result.logs] == sorted(log.timestamp for log in result.logs)
    assert result.requests == 3 and not result.truncated
    for request in diga.requests_for(call_id):
        assert request["query"]["limit"] == ["1000"] and request["query"]["order"] == ["asc"]
        assert "before" not in request["query"]


async def test_page_cap_stops_a_cursor_that_never_ends(
    diga: DigaStandIn, client: DigaClient
) -> None:
    call_id = str(uuid.uuid4())
    diga.inject(
        *[
            Fault(
                200, {"data": [make_log(call_id)], "has_more": True, "last_id": str(uuid.uuid4())}
            )
            for _ in range(20)
        ]
    )
    result = await client.fetch_call_logs(call_id)
    assert result.truncated
    assert len(diga.requests_for(call_id)) == 10  # cap of 5 pages, per level


async def test_a_cursor_that_does_not_move_stops_at_once(
    diga: DigaStandIn, client: DigaClient
) -> None:
    call_id = str(uuid.uuid4())
    stuck = {"data": [make_log(call_id)], "has_more": True, "last_id": None}
    diga.inject(Fault(200, stuck), Fault(200, stuck))
    result = await client.fetch_call_logs(call_id)
    assert result.truncated and len(diga.requests_for(call_id)) == 2


@pytest.mark.parametrize(
    ("fault", "error", "retryable"),
    [
        (
            Fault(500, {"status": "error", "error_code": "INTERNAL_SERVER_ERROR", "message": "x"}),
            DigaUnavailable,
            True,
        ),
        (Fault(502, raw=b"<html>bad gateway</html>"), DigaUnavailable, True),
        (Fault(429, {}, headers={"Retry-After": "7"}), DigaUnavailable, True),
        (
            Fault(
                404,
                {"status": "error", "error_code": "CALL_NOT_FOUND", "message": "Call not found"},
            ),
            CallNotFound,
            True,
        ),
        (
            Fault(401, {"status": "error", "error_code": "UNAUTHORIZED", "message": "no"}),
            DigaAuthError,
            False,
        ),
        (Fault(403, {}), DigaAuthError, False),
        (
            Fault(
                422,
                {
                    "status": "error",
                    "error_code": "INVALID_PAGINATION_PARAMETERS",
                    "message": "Cannot specify both 'before' and 'after' parameters",
                },
            ),
            DigaRejected,
            False,
        ),
        (Fault(200, raw=b"not json"), DigaUnavailable, True),
        (Fault(200, {"rows": []}), DigaUnavailable, True),
        (Fault(200, {"data": [{"id": "x"}], "has_more": False}), DigaUnavailable, True),
    ],
)
async def test_errors_are_typed(
    diga: DigaStandIn, client: DigaClient, fault: Fault, error: type[Exception], retryable: bool
) -> None:
    call_id = str(uuid.uuid4())
    diga.add_call(call_id, [])
    diga.inject(fault, fault)
    with pytest.raises(error) as caught:
        await client.fetch_call_logs(call_id)
    assert caught.value.retryable is retryable  # type: ignore[attr-defined]
    if fault.status == 429:
        assert caught.value.retry_after == 7.0  # type: ignore[attr-defined]
    if fault.status == 422:
        assert "Cannot specify both" in caught.value.message  # type: ignore[attr-defined]


async def test_stand_in_answers_with_diga_error_bodies(diga: DigaStandIn) -> None:
    call_id = str(uuid.uuid4())
    diga.add_call(call_id, [])
    headers = {"Authorization": f"Bearer {DIGA_KEY}"}
    async with httpx.AsyncClient(base_url=diga.url, headers=headers) as http:
        both = await http.get(f"/v1/log/call/{call_id}", params={"after": "a", "before": "b"})
        assert both.status_code == 422
        assert both.json()["error_code"] == "INVALID_PAGINATION_PARAMETERS"
        assert (
            await http.get(f"/v1/log/call/{call_id}", params={"limit": 1001})
        ).status_code == 422
        missing = await http.get(f"/v1/log/call/{uuid.uuid4()}")
        assert missing.status_code == 404 and missing.json()["error_code"] == "CALL_NOT_FOUND"
        assert (
            await http.get(f"/v1/log/call/{call_id}", headers={"Authorization": ""})
        ).status_code == 401


async def test_timeouts_are_retryable(diga: DigaStandIn, client: DigaClient) -> None:
    call_id = str(uuid.uuid4())
    diga.add_call(call_id, [])
    diga.inject(Fault(200, {"data": [], "has_more": False}, delay=1.5))
    with pytest.raises(DigaUnavailable):
        await client.fetch_call_logs(call_id)


async def test_connection_refused_is_retryable() -> None:
    from alerter.store.embedded import free_port

    client = DigaClient(f"http://127.0.0.1:{free_port()}", DIGA_KEY)
    try:
        with pytest.raises(DigaUnavailable):
            await client.fetch_call_logs(str(uuid.uuid4()))
    finally:
        await client.aclose()


async def test_a_later_page_that_fails_is_asked_again_in_place(
    diga: DigaStandIn, client: DigaClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not from page 1: the pages already fetched are kept."""
    call_id = str(uuid.uuid4())
    diga.add_call(call_id, make_logs(call_id, 2500))
    real = diga.answer
    failures = {"left": 2}

    def flaky(path: str, query: dict[str, list[str]], auth: str | None) -> Fault:
        if "after" in query and failures["left"]:
            failures["left"] -= 1
            return Fault(503, {"status": "error", "error_code": "BUSY", "message": "busy"})
        return real(path, query, auth)

    monkeypatch.setattr(diga, "answer", flaky)
    result = await client.fetch_call_logs(call_id)
    assert len(result.logs) == 2500 and not result.truncated
    error_pages = [
        r["query"] for r in diga.requests_for(call_id) if r["query"]["level"] == ["ERROR"]
    ]
    assert failures["left"] == 0  # two refusals met, on later pages
    assert sum("after" not in q for q in error_pages) == 1  # page 1 asked once
    assert len(error_pages) == 3  # the answered ones: each page once


async def test_the_logs_cap_stops_paging_and_says_so(diga: DigaStandIn) -> None:
    call_id = str(uuid.uuid4())
    diga.add_call(call_id, make_logs(call_id, 3500))
    client = DigaClient(
        diga.url, DIGA_KEY, timeout=1.0, page_cap=10, max_logs=1500, first_page=FirstPage.LEVEL
    )
    try:
        result = await client.fetch_call_logs(call_id)
    finally:
        await client.aclose()
    assert len(result.logs) == 1500 and result.capped == "1500 logs cap"
    assert len([r for r in diga.requests_for(call_id) if r["query"]["level"] == ["ERROR"]]) == 2


async def test_the_page_size_and_the_answer_cap_are_the_clients_budgets(
    diga: DigaStandIn,
) -> None:
    call_id = str(uuid.uuid4())
    logs = [make_log(call_id, data={"message_text": "x" * 3000}) for _ in range(30)]
    logs.append(make_log(call_id, data={"message_text": "y" * 80_000}))  # a page over the cap
    diga.add_call(call_id, logs)
    budgets = Budgets(page_limit=10, max_response_bytes=64 * 1024)  # ten logs: ~31 KB a page
    client = DigaClient(
        diga.url, DIGA_KEY, page_cap=10, first_page=FirstPage.LEVEL, budgets=budgets
    )
    try:
        result = await client.fetch_call_logs(call_id)
    finally:
        await client.aclose()
    assert len(result.logs) == 30 and result.capped == f"a page over {64 * 1024} bytes"
    assert {r["query"]["limit"][0] for r in diga.requests_for(call_id)} == {"10"}


async def test_cookies_set_by_diga_are_neither_kept_nor_sent_back(diga: DigaStandIn) -> None:
    """Neither httpx's jar nor aiohttp's (beneath it, in the transport) keeps one. Asked by
    name: aiohttp's default jar ignores cookies from an IP address, so 127.0.0.1 would hide
    a kept one."""
    url = diga.url.replace("127.0.0.1", "localhost")
    client = DigaClient(url, DIGA_KEY, timeout=5.0, page_cap=5, first_page=FirstPage.LEVEL)
    call_id = str(uuid.uuid4())
    diga.add_call(call_id, [make_log(call_id)])
    page = {"data": [make_log(call_id)], "has_more": False}
    diga.inject(Fault(200, page, headers={"Set-Cookie": "session=abc; Path=/"}))
    try:
        for _ in range(2):
            result = await client.fetch_call_logs(call_id)
    finally:
        await client.aclose()
    assert result.requests == 2 and result.logs
    assert len(diga.cookies) == 4 and diga.cookies == [None] * 4  # none sent back
    assert len(client._http.cookies) == 0  # a bearer-token API: no cookie jar to fill


async def test_each_failure_says_which_host_and_why_in_one_vocabulary(
    diga: DigaStandIn,
) -> None:
    """A refused connection, a name that does not resolve, a slow answer and an error answer
    each say so, with the host (they all said "Diga did not answer in time" before)."""
    from alerter.store.embedded import free_port

    call_id = str(uuid.uuid4())
    closed = free_port()
    # (url, timeout, what is said): a name lookup gets a long timeout, so a slow resolver on
    # a loaded machine still ends in its own "dns" answer rather than in our timeout.
    cases = [
        (f"http://127.0.0.1:{closed}", 5.0, f"Diga (127.0.0.1:{closed}): refused"),
        ("http://diga.invalid", 30.0, "Diga (diga.invalid): dns"),
        (diga.url, 0.3, f"Diga ({diga.url.removeprefix('http://')}): timeout"),
    ]
    diga.latency = 3.0  # far past the 0.3 s timeout, even on a loaded machine's late timer
    for url, timeout, said in cases:
        client = DigaClient(url, DIGA_KEY, timeout=timeout)
        try:
            with pytest.raises(DigaUnavailable) as caught:
                await client.fetch_call_logs(call_id)
        finally:
            await client.aclose()
        assert caught.value.message == said
    diga.latency = 0
    diga.inject(Fault(503, raw=b"<html>upstream " + b"y" * 500 + b"</html>"))
    client = DigaClient(diga.url, DIGA_KEY, timeout=1.0)
    try:
        with pytest.raises(DigaUnavailable) as caught:
            await client.fetch_call_logs(call_id)
    finally:
        await client.aclose()
    host = diga.url.removeprefix("http://")
    assert caught.value.message == f"Diga ({host}): HTTP 503 <html>upstream " + "y" * 185
