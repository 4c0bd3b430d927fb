"""The backtest: candidate rules replayed on the calls that ended in a past period.

Reads each ended call's record (kept `ALERTER_CALL_RETENTION`), fetches the logs of the
calls a rule could match from Diga with the worker's client at a bounded rate, and replays
noise control on the calls' own times (`simulate`). Nothing is sent and no counter is
touched: the only writes are none.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from alerter.clock import Clock, Monotonic, system_clock, system_monotonic
from alerter.models import CallEnded, LogEntry
from alerter.pipeline.diga_errors import DigaError
from alerter.pipeline.evaluate import call_matches
from alerter.pipeline.fetch import DigaClient
from alerter.replay.simulate import Backtest, PastCall, ReplayTimedOut, simulate
from alerter.rules.model import RuleSet
from alerter.settings import Settings
from alerter.store import connect
from alerter.store.audit import Audit
from alerter.store.calls import CallRecords
from alerter.store.silences import Silences

MAX_CALLS = 10_000
DEFAULT_RATE = 5.0  # calls a second whose logs are fetched: Diga serves production meanwhile
MAX_RATE = 50.0  # Diga's production key serves the live pipeline at the same time
MAX_SECONDS = 120.0  # one backtest in all: reading, fetching and replaying
FETCH_SHARE = 0.75  # of MAX_SECONDS at most for fetching: the replay keeps the rest
FETCHERS = 8  # fetches in flight at most
STORY_BATCH = 500
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*(s|m|h))?\s*$")
_PER = {None: 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_rate(text: str) -> float:
    """`5/s`, `300/m`, or a number: calls a second."""
    match = _RATE.match(text)
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"{text[:40]!r} is not a rate (like 5/s or 300/m)")
    rate = float(match.group(1)) / _PER[match.group(2)]
    if rate > MAX_RATE:
        raise ValueError(f"{text[:40]!r} is faster than {MAX_RATE:g}/s, the most Diga is asked")
    return rate


class BacktestBusy(Exception):
    """Another backtest runs in this process; `retry_after`: seconds until it must be done."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"a backtest is already running here; try again in {retry_after} s "
            f"(one at a time, each at most {MAX_SECONDS:g} s)"
        )
        self.retry_after = retry_after


class BacktestTimedOut(Exception):
    """The backtest ran out of its `MAX_SECONDS`."""


class BacktestGate:
    """One backtest at a time per api process: each holds Diga's key, Redis and a core for
    up to `MAX_SECONDS`, so a second one waits its turn (429) instead of adding to them."""

    def __init__(self, clock: Monotonic = system_monotonic) -> None:
        self._clock = clock
        self._since: float | None = None

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Raises `BacktestBusy` when one is running."""
        if self._since is not None:
            left = self._since + MAX_SECONDS - self._clock()
            raise BacktestBusy(max(1, math.ceil(left)))
        self._since = self._clock()
        try:
            yield
        finally:
            self._since = None


@asynccontextmanager
async def audited_failure(audit: Audit, who: str, target: str) -> AsyncIterator[None]:
    """A backtest refused or failed inside this block is written to the audit stream too
    (one that succeeds is written by its caller, with what it found)."""
    try:
        yield
    except Exception as exc:
        code = str(getattr(exc, "code", type(exc).__name__))
        said = str(getattr(exc, "message", exc))[:300]
        await audit.write(who, "rules.backtest.failed", target, {"error": code, "reason": said})
        raise


@dataclass(frozen=True, slots=True)
class BacktestRequest:
    since: float  # seconds back from now
    max_calls: int = 1000
    rate: float = DEFAULT_RATE
    rule: str | None = None
    time_limit: float | None = None  # seconds of fetching; then the calls fetched are replayed
    total_seconds: float = MAX_SECONDS  # reading, fetching and replaying, in all


async def backtest(
    rules: RuleSet,
    request: BacktestRequest,
    records: CallRecords,
    silences: Silences,
    diga: DigaClient,
    *,
    clock: Clock = system_clock,
    monotonic: Monotonic = system_monotonic,
) -> Backtest:
    """Raises `BacktestTimedOut` past `request.total_seconds` (fetching stops in time by
    itself: the calls not fetched are said so in the notes). `clock`: when the replayed
    span ends; `monotonic`: the replay's deadline."""
    deadline = monotonic() + request.total_seconds
    try:
        # asyncio's own clock bounds the awaits; `deadline` stops the replay's thread.
        async with asyncio.timeout(request.total_seconds):
            return await _backtest(
                rules, request, records, silences, diga, clock(), deadline, monotonic
            )
    except (TimeoutError, ReplayTimedOut):
        raise BacktestTimedOut(
            f"the backtest took over {request.total_seconds:g} s: ask for fewer calls "
            "(a shorter since, max_calls or one rule)"
        ) from None


async def _backtest(
    rules: RuleSet,
    request: BacktestRequest,
    records: CallRecords,
    silences: Silences,
    diga: DigaClient,
    until: float,
    deadline: float,
    monotonic: Monotonic,
) -> Backtest:
    start = until - request.since
    if request.rule is not None and request.rule not in rules.by_name:
        raise ValueError(f"no rule {request.rule!r} in these rules")
    ended = await records.ended_recently(start, until, min(request.max_calls, MAX_CALLS))
    calls: list[tuple[CallEnded, float]] = []
    for offset in range(0, len(ended), STORY_BATCH):
        batch = ended[offset : offset + STORY_BATCH]
        stories = await records.stories([call_id for call_id, _ in batch])
        for call_id, at in batch:
            story = stories[call_id]
            calls.append((story.call or CallEnded(call_id=call_id), at))
    # Logs are fetched for the calls the chosen rules could fire on (their call conditions
    # hold); the rules that may inhibit them are evaluated on the same logs.
    wanted = [r for r in rules.log_rules if request.rule is None or r.name == request.rule]
    needed = [i for i, (call, _) in enumerate(calls) if any(call_matches(r, call) for r in wanted)]
    fetch_for = request.total_seconds * FETCH_SHARE
    if request.time_limit is not None:
        fetch_for = min(fetch_for, request.time_limit)
    fetched = await _fetch_logs(diga, [calls[i][0].call_id for i in needed], request, fetch_for)
    logs = dict(zip(needed, fetched, strict=True))
    past = [PastCall(call, at, logs.get(i)) for i, (call, at) in enumerate(calls)]
    known = await silences.all()
    # Off the event loop: the api answers meanwhile; the replay stops itself at the deadline.
    results = await asyncio.to_thread(
        simulate,
        rules,
        past,
        known,
        start,
        until,
        request.rule,
        deadline=deadline,
        clock=monotonic,
    )
    got = sum(1 for item in fetched if item is not None)
    notes = _notes(len(ended), request, len(needed) - got)
    return Backtest(start, until, len(calls), got, len(needed) - got, tuple(results), notes)


Logs = tuple[LogEntry, ...]


async def _fetch_logs(
    diga: DigaClient, call_ids: Sequence[str], request: BacktestRequest, seconds: float
) -> list[Logs | None]:
    """Each call's logs (None when Diga would not give them), no faster than the rate, for
    `seconds` at most."""
    # The event loop's clock: pacing and a timeout for awaits, never stored.
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + seconds
    out: list[Logs | None] = [None] * len(call_ids)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(len(call_ids)):
        queue.put_nowait(index)
    interval = 1.0 / request.rate
    next_start = loop.time()

    async def fetcher() -> None:
        nonlocal next_start
        while not queue.empty():
            index = queue.get_nowait()
            start = max(next_start, loop.time())  # starts spaced by the rate, not bunched
            next_start = start + interval
            if start >= stop_at:
                return
            await asyncio.sleep(max(0.0, start - loop.time()))
            try:
                out[index] = (await diga.fetch_call_logs(call_ids[index], deadline=stop_at)).logs
            except DigaError:
                out[index] = None

    await asyncio.gather(*(fetcher() for _ in range(min(FETCHERS, len(call_ids)) or 1)))
    return out


def _notes(found: int, request: BacktestRequest, unfetched: int) -> tuple[str, ...]:
    notes = []
    if found >= min(request.max_calls, MAX_CALLS):
        notes.append(
            f"only the newest {found} calls of the period were replayed (--max-calls): "
            "windows that began earlier are counted from the first of them"
        )
    if unfetched:
        notes.append(
            f"{unfetched} calls' logs could not be fetched (Diga refused, or the time "
            "limit came first): rules on logs did not see them"
        )
    notes.append(
        "signatures count as new the first time this replay sees them; silences apply as "
        "they stood at each call's time (those expired and removed are not known)"
    )
    return tuple(notes)


async def run_backtest(
    settings: Settings,
    redis_url: str,
    rules: RuleSet,
    request: BacktestRequest,
    clock: Clock = system_clock,
) -> Backtest:
    """`alerter rules backtest`: its own connections, closed at the end; `clock`: the
    command's (the span ends at its now)."""
    diga = DigaClient.from_settings(settings, clock=clock)
    try:
        async with connect.client(redis_url) as redis:
            records = CallRecords(redis, settings.call_retention_seconds)
            silences = Silences(redis, clock=clock)
            return await backtest(rules, request, records, silences, diga, clock=clock)
    finally:
        await diga.aclose()
