"""A call's first page of every level (one request for a call that fits it), and the
adaptive choice between it and one request per level (alerter/pipeline/first_page.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from alerter.pipeline.fetch import DigaClient
from alerter.pipeline.first_page import PROBE_EVERY, FirstPage
from tests.conftest import DIGA_KEY
from tests.standins import DigaStandIn, make_log

START = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def mixed_logs(call_id: str, errors: int, info: int) -> list[dict[str, Any]]:
    """`errors` ERROR logs and one CRITICAL spread among `info` INFO logs, oldest first."""
    total = errors + info + 1
    error_at = {k * total // (errors + 1) for k in range(1, errors + 1)}
    return [
        make_log(
            call_id,
            at=START + timedelta(milliseconds=i),
            level="CRITICAL" if i == 0 else "ERROR" if i in error_at else "INFO",
            data={"message_text": f"line {i}"},
        )
        for i in range(total)
    ]


def add_call(diga: DigaStandIn, errors: int, info: int) -> str:
    call_id = str(uuid.uuid4())
    diga.add_call(call_id, mixed_logs(call_id, errors, info))
    return call_id


def asked_whole(diga: DigaStandIn, call_id: str) -> bool:
    return "level" not in diga.requests_for(call_id)[0]["query"]


async def test_a_call_that_fits_a_page_is_one_request_for_every_level(diga: DigaStandIn) -> None:
    call_id = add_call(diga, errors=30, info=200)
    client = DigaClient(diga.url, DIGA_KEY, first_page=FirstPage.WHOLE)
    try:
        result = await client.fetch_call_logs(call_id)
    finally:
        await client.aclose()
    [request] = diga.requests_for(call_id)
    assert request["query"] == {"order": ["asc"], "limit": ["1000"]}
    assert result.requests == 1 and not result.truncated
    assert len(result.logs) == 31
    assert {log.level for log in result.logs} == {"ERROR", "CRITICAL"}
    assert [log.timestamp for log in result.logs] == sorted(log.timestamp for log in result.logs)


async def test_a_call_past_one_page_is_asked_per_level_from_its_start(diga: DigaStandIn) -> None:
    call_id = add_call(diga, errors=1200, info=900)
    client = DigaClient(diga.url, DIGA_KEY, first_page=FirstPage.WHOLE)
    try:
        result = await client.fetch_call_logs(call_id)
    finally:
        await client.aclose()
    queries = [r["query"] for r in diga.requests_for(call_id)]
    assert "level" not in queries[0]
    by_level = [q for q in queries[1:] if "after" not in q]
    assert sorted(q["level"][0] for q in by_level) == ["CRITICAL", "ERROR"]
    assert all("before" not in q for q in queries)
    # The whole page's logs are not kept twice, and every level's are all there.
    assert len(result.logs) == 1201 == len({log.id for log in result.logs})
    assert result.requests == len(queries) == 4  # whole, ERROR twice, CRITICAL once


async def test_adaptive_asks_per_level_once_calls_mostly_do_not_fit(diga: DigaStandIn) -> None:
    client = DigaClient(diga.url, DIGA_KEY, first_page=FirstPage.ADAPTIVE)
    try:
        big = [add_call(diga, errors=1100, info=0) for _ in range(3 * PROBE_EVERY)]
        for call_id in big:
            await client.fetch_call_logs(call_id)
    finally:
        await client.aclose()
    whole = [asked_whole(diga, call_id) for call_id in big]
    assert all(whole[:3])  # it starts asking whole
    later = whole[PROBE_EVERY:]
    assert 1 <= sum(later) <= 3  # then per level, with a probe now and then


async def test_adaptive_asks_per_level_when_pages_carry_many_logs_it_drops(
    diga: DigaStandIn,
) -> None:
    client = DigaClient(diga.url, DIGA_KEY, first_page=FirstPage.ADAPTIVE)
    try:
        chatty = [add_call(diga, errors=5, info=900) for _ in range(PROBE_EVERY)]
        for call_id in chatty:
            await client.fetch_call_logs(call_id)
        quiet = [add_call(diga, errors=5, info=20) for _ in range(5 * PROBE_EVERY)]
        for call_id in quiet:
            await client.fetch_call_logs(call_id)
    finally:
        await client.aclose()
    assert not any(asked_whole(diga, call_id) for call_id in chatty[PROBE_EVERY // 2 : -1])
    # Small calls again: the probes see it and it goes back to one request a call.
    assert all(asked_whole(diga, call_id) for call_id in quiet[-4:])


async def test_adaptive_keeps_small_calls_to_one_request(diga: DigaStandIn) -> None:
    client = DigaClient(diga.url, DIGA_KEY, first_page=FirstPage.ADAPTIVE)
    try:
        calls = [add_call(diga, errors=40, info=60) for _ in range(PROBE_EVERY)]
        results = [await client.fetch_call_logs(call_id) for call_id in calls]
    finally:
        await client.aclose()
    assert [r.requests for r in results] == [1] * PROBE_EVERY
    assert all(len(r.logs) == 41 for r in results)
