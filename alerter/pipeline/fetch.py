"""The fetch stage: Diga's `GET /v1/log/call/{call_id}`, every page, typed errors.

One client per worker process (made in the worker's start-up, closed at shutdown).
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import httpx
from pydantic import ValidationError

from alerter.models import FETCHED_LEVELS, LogEntry, LogLevel, LogPage

PAGE_LIMIT = 1000  # the API's maximum page size: fewest requests per call


class DigaError(Exception):
    """A failed fetch. `retryable` says whether trying again later can help."""

    retryable = False
    kind = "diga_error"

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class DigaUnavailable(DigaError):
    """429, 5xx, timeouts, resets and malformed answers: try again after a pause."""

    retryable = True
    kind = "diga_unavailable"

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ):
        super().__init__(message, status=status)
        self.retry_after = retry_after


class CallNotFound(DigaError):
    """404 CALL_NOT_FOUND: calls and their logs can land late, so retried a few times."""

    retryable = True
    kind = "call_not_found"


class DigaAuthError(DigaError):
    """401/403: a configuration error, never cured by retrying."""

    kind = "diga_auth"


class DigaRejected(DigaError):
    """422 and other 4xx: Diga refused our request; a bug on our side."""

    kind = "diga_rejected"


@dataclass(frozen=True, slots=True)
class FetchResult:
    logs: tuple[LogEntry, ...]
    requests: int
    truncated: bool  # the page cap stopped a cursor that did not end


class DigaClient:
    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        timeout: float = 10.0,
        max_connections: int = 8,
        page_cap: int = 50,
        transport: httpx.AsyncBaseTransport | None = None,
        observe: Callable[[str, float], None] | None = None,
    ) -> None:
        headers = {"Accept": "application/json", "User-Agent": "alerter"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=timeout,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            transport=transport,
        )
        # httpx's pool is fastest when requests do not queue inside it: bound them here.
        self._in_flight = asyncio.Semaphore(max_connections)
        self._page_cap = page_cap
        # (status or error kind, seconds) of every request, for metrics.
        self._observe = observe or (lambda status, seconds: None)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def fetch_call_logs(self, call_id: str) -> FetchResult:
        """ERROR and CRITICAL logs of a call, oldest first, as two concurrent queries."""
        results = await asyncio.gather(
            *(self._fetch_level(call_id, level) for level in FETCHED_LEVELS)
        )
        logs = sorted(
            (log for result in results for log in result.logs),
            key=lambda log: (log.timestamp, log.id),
        )
        return FetchResult(
            logs=tuple(logs),
            requests=sum(r.requests for r in results),
            truncated=any(r.truncated for r in results),
        )

    async def fetch_context(
        self, call_id: str, before: datetime, count: int, category: str | None
    ) -> tuple[LogEntry, ...]:
        """The last `count` WARNING logs before `before` (category-filtered when given)."""
        result = await self._fetch_level(call_id, LogLevel.WARNING, category)
        earlier = [log for log in result.logs if log.timestamp < before]
        return tuple(earlier[-count:]) if count else ()

    async def _fetch_level(
        self, call_id: str, level: LogLevel, category: str | None = None
    ) -> FetchResult:
        logs: list[LogEntry] = []
        after: str | None = None
        for page_number in range(1, self._page_cap + 1):
            params: dict[str, str | int] = {"order": "asc", "limit": PAGE_LIMIT, "level": level}
            if category is not None:
                params["category"] = category
            if after is not None:
                params["after"] = after
            page = await self._get_page(call_id, params)
            logs.extend(page.data)
            if not page.has_more or not page.data:
                return FetchResult(tuple(logs), page_number, truncated=False)
            if page.last_id is None or page.last_id == after:
                # A cursor that does not move would loop until the cap: stop now.
                return FetchResult(tuple(logs), page_number, truncated=True)
            after = page.last_id
        return FetchResult(tuple(logs), self._page_cap, truncated=True)

    async def _get_page(self, call_id: str, params: dict[str, str | int]) -> LogPage:
        started = time.monotonic()
        try:
            async with self._in_flight:
                response = await self._http.get(f"/v1/log/call/{call_id}", params=params)
        except httpx.TimeoutException:
            self._observe("timeout", time.monotonic() - started)
            raise DigaUnavailable("Diga did not answer in time") from None
        except httpx.TransportError as exc:
            self._observe("unreachable", time.monotonic() - started)
            raise DigaUnavailable(f"cannot reach Diga ({type(exc).__name__})") from None
        self._observe(str(response.status_code), time.monotonic() - started)
        if response.status_code == 200:
            try:
                return LogPage.model_validate_json(response.content)
            except ValidationError:
                raise DigaUnavailable(
                    "Diga answered 200 with a body that is not a page of logs", status=200
                ) from None
        raise _error_for(response)


def _error_for(response: httpx.Response) -> DigaError:
    status = response.status_code
    code, message = _error_body(response)
    described = (
        f"Diga answered {status}"
        + (f" {code}" if code else "")
        + (f": {message}" if message else "")
    )
    if status == 429 or status >= 500:
        return DigaUnavailable(
            described, status=status, retry_after=parse_retry_after(response.headers)
        )
    if status == 404:
        return CallNotFound(described, status=status, code=code or "CALL_NOT_FOUND")
    if status in (401, 403):
        return DigaAuthError(described, status=status, code=code)
    return DigaRejected(described, status=status, code=code)


def _error_body(response: httpx.Response) -> tuple[str | None, str | None]:
    """Diga's `ErrorResponseSchema`, when the body is one; texts cut short."""
    try:
        body = response.json()
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    code = body.get("error_code")
    message = body.get("message")
    return (
        str(code)[:80] if code is not None else None,
        str(message)[:300] if message is not None else None,
    )


def parse_retry_after(headers: httpx.Headers) -> float | None:
    """`Retry-After` as seconds from now: delta-seconds or an HTTP date."""
    value = headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
