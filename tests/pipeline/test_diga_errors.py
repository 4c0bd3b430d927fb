"""Diga's failed answers read: `Retry-After` in both of its forms."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from alerter.pipeline.diga_errors import parse_retry_after


def test_retry_after_forms() -> None:
    assert parse_retry_after(httpx.Headers({"Retry-After": "12"}), 0.0) == 12.0
    date = httpx.Headers({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    minute_before = datetime(2015, 10, 21, 7, 27, tzinfo=UTC).timestamp()
    assert parse_retry_after(date, minute_before) == 60.0  # counted from the given clock
    assert parse_retry_after(date, minute_before + 3600) == 0.0  # a date gone by: now
    assert parse_retry_after(httpx.Headers({"Retry-After": "soon"}), 0.0) is None
    assert parse_retry_after(httpx.Headers({}), 0.0) is None
