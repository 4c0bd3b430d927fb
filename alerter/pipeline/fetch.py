"""The fetch stage: Diga's `GET /v1/log/call/{call_id}`, every page, typed errors.

One client per worker process (made in the worker's start-up, closed at shutdown).
"""

from __future__ import annotations

import asyncio
import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, urlencode

import aiohttp
import httpx

from alerter.budgets import PRODUCTION, Budgets
from alerter.clock import Clock, Monotonic, system_clock, system_monotonic
from alerter.compat.httpx import aiohttp_transport, without_cookies
from alerter.failures import described, error_kind, host_of, http_answer
from alerter.models import (
    FETCHED_LEVELS,
    LogEntry,
    LogLevel,
    LogPage,
    LogsInvalid,
    parse_page,
)
from alerter.pipeline.diga_errors import DigaUnavailable, error_for
from alerter.pipeline.first_page import FirstPage, FirstPagePolicy
from alerter.settings import Settings

# The page size and the answer size past which paging stops are the worker's `Budgets`.
MAX_LOGS_PER_CALL = 50_000  # per level; then the call is evaluated on what was fetched
PAGE_ATTEMPTS = 3  # a later page is asked this often before the try fails
PAGE_RETRY_PAUSE_CAP = 5.0  # a longer Retry-After ends the try (the job retries later)
CONTEXT_PAGES = 5  # the newest 500 WARNING lines at most
CONTEXT_PAGE_LIMIT = 100


_LOG_ORDER = operator.attrgetter("timestamp", "id")  # oldest first; C, not a lambda a log
_FETCHED = frozenset(level.value for level in FETCHED_LEVELS)


@dataclass(frozen=True, slots=True)
class FetchResult:
    logs: tuple[LogEntry, ...]
    requests: int
    capped: str | None = None  # why paging stopped early, when it did; the logs still count

    @property
    def truncated(self) -> bool:
        return self.capped is not None


class _TooLarge(Exception):
    """A response body past the byte cap: read no further."""


class DigaClient:
    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        timeout: float = 10.0,
        max_connections: int = 8,
        page_cap: int = 50,
        max_logs: int | None = None,
        budgets: Budgets = PRODUCTION,
        transport: httpx.AsyncBaseTransport | None = None,
        observe: Callable[[str, float], None] | None = None,
        first_page: FirstPage = FirstPage.ADAPTIVE,
        clock: Clock = system_clock,
        monotonic: Monotonic = system_monotonic,
    ) -> None:
        self._clock = clock  # an HTTP-date Retry-After is counted from it
        self._monotonic = monotonic  # request durations, for metrics
        headers = {"Accept": "application/json", "User-Agent": "alerter"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        # httpx's API over aiohttp's connection pool: httpx's own pool (httpcore) costs more
        # CPU per request as it grows, and caps a worker near 140 calls/s (docs/performance.md).
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=timeout,
            limits=limits,
            transport=transport or aiohttp_transport(limits),
        )
        # Diga authenticates with a bearer token: no cookie kept by httpx (reading them costs
        # ~5 %) nor by aiohttp beneath it (`aiohttp_transport`).
        without_cookies(self._http)
        # Requests are built here from the merged headers: `build_request` with `params`
        # costs ~150 µs a request, a plain `httpx.Request` ~45 (measured with timeit).
        self._logs_url = f"{base_url.rstrip('/')}/v1/log/call/"
        self._host = host_of(base_url)  # for failure reasons: "Diga (api.diga.io): dns"
        # Requests beyond the pool wait here, not inside the transport.
        self._in_flight = asyncio.Semaphore(max_connections)
        self._page_cap = page_cap
        self._max_logs = max_logs or MAX_LOGS_PER_CALL
        self._max_bytes = budgets.max_response_bytes
        self._page_limit = budgets.page_limit
        # (status or error kind, seconds) of every request, for metrics.
        self._observe = observe or (lambda status, seconds: None)
        self._first_page = FirstPagePolicy(first_page)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        observe: Callable[[str, float], None] | None = None,
        *,
        budgets: Budgets = PRODUCTION,
        clock: Clock = system_clock,
        monotonic: Monotonic = system_monotonic,
    ) -> DigaClient:
        """The client as the worker makes it: one for a worker, a dry run or a backtest."""
        key = settings.diga_api_key.get_secret_value() if settings.diga_api_key else None
        return cls(
            settings.diga_api_url,
            key,
            timeout=settings.diga_timeout_seconds,
            max_connections=settings.diga_max_connections,
            page_cap=settings.diga_page_cap,
            observe=observe,
            first_page=FirstPage(settings.diga_first_page),
            budgets=budgets,
            clock=clock,
            monotonic=monotonic,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def fetch_call_logs(self, call_id: str, *, deadline: float | None = None) -> FetchResult:
        """ERROR and CRITICAL logs of a call, oldest first, as two concurrent queries.

        Paging stops early, and says why in `capped`, at the page cap, at the logs cap, at a
        response over the byte cap, or at `deadline` (the event loop's clock): a call whose
        logs are huge or whose Diga is slow is still evaluated on what was fetched.

        Diga counts requests, so a call whose logs fit one page of every level is one
        request, not two (`FirstPage`); the rest are asked per level from their start (a
        cursor from the whole sequence is not one of a level's).
        """
        asked = 0
        weight = self._first_page.whole()
        if weight:
            whole = await self._whole_first_page(call_id, weight)
            if whole is not None:
                return whole
            asked = 1
        results = await asyncio.gather(
            *(self._fetch_level(call_id, level, deadline=deadline) for level in FETCHED_LEVELS)
        )
        logs = sorted(
            (log for result in results for log in result.logs),
            key=_LOG_ORDER,
        )
        capped = "; ".join(sorted({r.capped for r in results if r.capped}))
        return FetchResult(
            logs=tuple(logs),
            requests=asked + sum(r.requests for r in results),
            capped=capped or None,
        )

    async def _whole_first_page(self, call_id: str, weight: float) -> FetchResult | None:
        """A call's first page of every level: its ERROR and CRITICAL logs when they are all
        there, else None (the call is asked per level)."""
        params: dict[str, str | int] = {"order": "asc", "limit": self._page_limit}
        try:
            page = await self._get_page(call_id, params)
        except _TooLarge:
            self._first_page.learn(weight, True, self._page_limit)
            return None
        kept = [log for log in page.data if log.level in _FETCHED]
        self._first_page.learn(weight, page.has_more, len(page.data) - len(kept))
        if page.has_more:
            return None
        return FetchResult(logs=tuple(sorted(kept, key=_LOG_ORDER)), requests=1)

    async def fetch_context(
        self, call_id: str, before: datetime, count: int, category: str | None
    ) -> tuple[LogEntry, ...]:
        """The last `count` WARNING logs before `before` (category-filtered when given):
        newest first, a few small pages at most, never the whole WARNING stream."""
        if count <= 0:
            return ()
        earlier: list[LogEntry] = []
        after: str | None = None
        for _ in range(CONTEXT_PAGES):
            params: dict[str, str | int] = {
                "order": "desc",
                "limit": CONTEXT_PAGE_LIMIT,
                "level": LogLevel.WARNING,
            }
            if category is not None:
                params["category"] = category
            if after is not None:
                params["after"] = after
            page = await self._get_page(call_id, params)
            earlier += [log for log in page.data if log.timestamp < before]
            if len(earlier) >= count or not page.has_more or not page.last_id:
                break
            after = page.last_id
        return tuple(sorted(earlier[:count], key=_LOG_ORDER))

    async def _fetch_level(
        self,
        call_id: str,
        level: LogLevel,
        category: str | None = None,
        *,
        deadline: float | None = None,
    ) -> FetchResult:
        logs: list[LogEntry] = []
        after: str | None = None
        loop = asyncio.get_running_loop()
        limit = self._page_limit
        for page_number in range(1, self._page_cap + 1):
            # The event loop's clock, as `deadline` is: a timeout only, never stored.
            if deadline is not None and page_number > 1 and loop.time() >= deadline:
                return FetchResult(tuple(logs), page_number - 1, "time budget for fetching spent")
            params: dict[str, str | int] = {"order": "asc", "limit": limit, "level": level}
            if category is not None:
                params["category"] = category
            if after is not None:
                params["after"] = after
            try:
                page = await self._page_with_retries(call_id, params, first=page_number == 1)
            except _TooLarge:
                return FetchResult(tuple(logs), page_number, f"a page over {self._max_bytes} bytes")
            logs.extend(page.data)
            if len(logs) >= self._max_logs:
                return FetchResult(
                    tuple(logs[: self._max_logs]), page_number, f"{self._max_logs} logs cap"
                )
            if not page.has_more or not page.data:
                return FetchResult(tuple(logs), page_number)
            if page.last_id is None or page.last_id == after:
                # A cursor that does not move would loop until the cap: stop now.
                return FetchResult(tuple(logs), page_number, "a cursor that did not move")
            after = page.last_id
        return FetchResult(tuple(logs), self._page_cap, f"page cap ({self._page_cap} pages)")

    async def _page_with_retries(
        self, call_id: str, params: dict[str, str | int], *, first: bool
    ) -> LogPage:
        """A later page that fails transiently is asked again in place (a short pause, a
        few times): the pages already fetched are not thrown away and fetched again."""
        for attempt in range(1, 1 if first else PAGE_ATTEMPTS):
            try:
                return await self._get_page(call_id, params)
            except DigaUnavailable as exc:
                if (exc.retry_after or 0) > PAGE_RETRY_PAUSE_CAP:
                    raise
                await asyncio.sleep(max(exc.retry_after or 0, 0.25 * 2**attempt))
        return await self._get_page(call_id, params)  # the last attempt's error is the try's

    async def _get_page(self, call_id: str, params: dict[str, str | int]) -> LogPage:
        started = self._monotonic()
        try:
            request = httpx.Request(
                "GET",
                f"{self._logs_url}{quote(call_id, safe='')}?{urlencode(params)}",
                headers=self._http.headers,
            )
            async with self._in_flight:
                response = await self._http.send(request, stream=True)
                try:
                    body = await self._read_capped(response)
                finally:
                    await response.aclose()
        except (httpx.TransportError, aiohttp.ClientError, OSError) as exc:
            # aiohttp errors the transport does not map to httpx's are caught here too.
            kind = error_kind(exc)
            self._observe(
                "timeout" if kind == "timeout" else "unreachable", self._monotonic() - started
            )
            raise DigaUnavailable(described("Diga", self._host, kind)) from None
        self._observe(str(response.status_code), self._monotonic() - started)
        if response.status_code == 200:
            try:
                return parse_page(body)
            except LogsInvalid:
                why = http_answer(200, "a body that is not a page of logs")
                raise DigaUnavailable(described("Diga", self._host, why), status=200) from None
        raise error_for(response, body, self._host, self._clock())

    async def _read_capped(self, response: httpx.Response) -> bytes:
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._max_bytes:
            raise _TooLarge
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self._max_bytes:
                raise _TooLarge
            chunks.append(chunk)
        return b"".join(chunks)
