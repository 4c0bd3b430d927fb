"""The backtest: candidate rules replayed on the calls that ended in a past period.

Reads each ended call's record (kept `ALERTER_CALL_RETENTION`), fetches the logs of the
calls a rule could match from Diga with the worker's client at a bounded rate, and replays
noise control on the calls' own times (`simulate`). Nothing is sent and no counter is
touched: the only writes are none.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from alerter.models import CallEnded, LogEntry
from alerter.pipeline.evaluate import call_matches
from alerter.pipeline.fetch import DigaClient, DigaError
from alerter.pipeline.simulate import Backtest, PastCall, simulate
from alerter.rules.model import RuleSet
from alerter.settings import Settings
from alerter.store import connect
from alerter.store.calls import CallRecords
from alerter.store.silences import Silences

MAX_CALLS = 10_000
DEFAULT_RATE = 5.0  # calls a second whose logs are fetched: Diga serves production meanwhile
FETCHERS = 8  # fetches in flight at most
STORY_BATCH = 500
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*(s|m|h))?\s*$")
_PER = {None: 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_rate(text: str) -> float:
    """`5/s`, `300/m`, or a number: calls a second."""
    match = _RATE.match(text)
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a rate (like 5/s or 300/m)")
    return float(match.group(1)) / _PER[match.group(2)]


@dataclass(frozen=True, slots=True)
class BacktestRequest:
    since: float  # seconds back from now
    max_calls: int = 1000
    rate: float = DEFAULT_RATE
    rule: str | None = None
    time_limit: float | None = None  # seconds of fetching; then the calls fetched are replayed


async def backtest(
    rules: RuleSet,
    request: BacktestRequest,
    records: CallRecords,
    silences: Silences,
    diga: DigaClient,
    now: float | None = None,
) -> Backtest:
    until = time.time() if now is None else now
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
    fetched = await _fetch_logs(diga, [calls[i][0].call_id for i in needed], request)
    logs = dict(zip(needed, fetched, strict=True))
    past = [PastCall(call, at, logs.get(i)) for i, (call, at) in enumerate(calls)]
    results = simulate(rules, past, await silences.all(), start, until, request.rule)
    got = sum(1 for item in fetched if item is not None)
    notes = _notes(len(ended), request, len(needed) - got)
    return Backtest(start, until, len(calls), got, len(needed) - got, tuple(results), notes)


Logs = tuple[LogEntry, ...]


async def _fetch_logs(
    diga: DigaClient, call_ids: Sequence[str], request: BacktestRequest
) -> list[Logs | None]:
    """Each call's logs (None when Diga would not give them), no faster than the rate."""
    loop = asyncio.get_running_loop()
    stop_at = None if request.time_limit is None else loop.time() + request.time_limit
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
            if stop_at is not None and start >= stop_at:
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
    settings: Settings, redis_url: str, rules: RuleSet, request: BacktestRequest
) -> Backtest:
    """`alerter rules backtest`: its own connections, closed at the end."""
    diga = DigaClient.from_settings(settings)
    try:
        async with connect.client(redis_url) as redis:
            records = CallRecords(redis, settings.call_retention_seconds)
            return await backtest(rules, request, records, Silences(redis), diga)
    finally:
        await diga.aclose()


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(at))


def as_text(report: Backtest) -> str:
    """The report as `alerter rules backtest` prints it: per rule and day."""
    lines = [
        f"backtest: {report.calls} calls that ended {_when(report.since)} – "
        f"{_when(report.until)} UTC; logs fetched for {report.fetched}"
        + (f" ({report.unfetched} could not be)" if report.unfetched else ""),
        "nothing was sent and no counter was touched",
    ]
    for result in report.rules:
        lines += ["", result.rule]
        if not result.days:
            lines.append("  no call matched")
            continue
        lines.append(f"  {'day':<10}  {'matched':>7}  {'alerts':>6}  suppressed / top groups")
        for day in result.days:
            suppressed = ", ".join(f"{outcome} {n}" for outcome, n in day.suppressed)
            groups = ", ".join(f"{group} ({n})" for group, n in day.top_groups)
            detail = "; ".join(part for part in (suppressed, groups) if part)
            lines.append(f"  {day.day:<10}  {day.matched:>7}  {day.alerts:>6}  {detail}")
        lines.append(f"  {'total':<10}  {result.matched:>7}  {result.alerts:>6}")
    if report.notes:
        lines += ["", *(f"note: {note}" for note in report.notes)]
    return "\n".join(lines)


def as_json(report: Backtest) -> dict[str, object]:
    """The report as the JSON API answers it."""
    return {
        "since": report.since,
        "until": report.until,
        "calls": report.calls,
        "fetched": report.fetched,
        "unfetched": report.unfetched,
        "rules": [
            {
                "rule": result.rule,
                "matched": result.matched,
                "alerts": result.alerts,
                "days": [
                    {
                        "day": day.day,
                        "matched": day.matched,
                        "alerts": day.alerts,
                        "suppressed": dict(day.suppressed),
                        "top_groups": [{"group": g, "calls": n} for g, n in day.top_groups],
                    }
                    for day in result.days
                ],
            }
            for result in report.rules
        ],
        "notes": list(report.notes),
    }
