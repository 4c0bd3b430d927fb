"""The history as the console pages it: filtered by rule, outcome, destination, time and
any call field (`agent_id=ag-7`), newest first, a page at a time with a cursor (`next`, the
stream id of the last entry shown)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from alerter.http.console.views import SCAN_MAX
from alerter.store.history import HistoryEntry
from alerter.store.state import State

PAGE_SIZE = 200
FIELD_BATCH = 500  # entries read at a time while filtering by call field
# Query parameters that are not call fields.
RESERVED = frozenset(
    {"rule", "outcome", "destination", "call_id", "since", "limit", "next", "fields"}
)


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    rule: str | None = None
    outcome: str | None = None
    destination: str | None = None
    call_id: str | None = None
    since: float | None = None  # seconds since the epoch
    before: str | None = None  # the cursor: entries older than this stream id
    fields: Mapping[str, str] = field(default_factory=dict)  # call field -> value
    count: int = PAGE_SIZE


@dataclass(frozen=True, slots=True)
class HistoryPage:
    rows: tuple[HistoryEntry, ...]
    next: str | None  # the cursor of the following page; None: no more (within the scan)


def call_fields(query: Mapping[str, str]) -> dict[str, str]:
    """The call-field filters of a request: each other query parameter (`agent_id=ag-7`),
    and the page's form field `fields` (`agent_id=ag-7 campaign=spring`)."""
    out = {k: v for k, v in query.items() if k not in RESERVED and not k.startswith("_") and v}
    for pair in query.get("fields", "").split():
        name, _, value = pair.partition("=")
        if name and value and name not in RESERVED:
            out[name] = value
    return out


async def read_history(state: State, query: HistoryQuery) -> HistoryPage:
    if query.call_id:  # one call's own story: short, never paged
        rows = await _read(state, query, query.count, query.before)
        if query.fields:
            known = await state.calls.fields_of([query.call_id])
            rows = rows if _holds(known.get(query.call_id), query.fields) else []
        return HistoryPage(tuple(rows), None)
    if not query.fields:
        rows = await _read(state, query, query.count + 1, query.before)
        more = len(rows) > query.count
        shown = rows[: query.count]
        return HistoryPage(tuple(shown), shown[-1].id if more and shown else None)
    return await _by_fields(state, query)


async def _by_fields(state: State, query: HistoryQuery) -> HistoryPage:
    """Reads the stream in batches, keeps entries whose call has the fields asked for."""
    out: list[HistoryEntry] = []
    cursor, scanned = query.before, 0
    while scanned < SCAN_MAX:
        batch = await _read(state, query, FIELD_BATCH, cursor)
        if not batch:
            return HistoryPage(tuple(out), None)
        known = await state.calls.fields_of(sorted({row.subject for row in batch if row.is_call}))
        for row in batch:
            if _holds(known.get(row.subject), query.fields):
                out.append(row)
                if len(out) == query.count:
                    return HistoryPage(tuple(out), row.id)
        cursor, scanned = batch[-1].id, scanned + len(batch)
        if len(batch) < FIELD_BATCH:
            return HistoryPage(tuple(out), None)
    return HistoryPage(tuple(out), cursor)  # more may match further back: carry on from here


async def _read(
    state: State, query: HistoryQuery, count: int, before: str | None
) -> list[HistoryEntry]:
    return await state.history(
        query.call_id or None,
        count,
        rule=query.rule,
        outcome=query.outcome,
        destination=query.destination,
        since=query.since,
        scan_max=SCAN_MAX,
        before=before,
    )


def _holds(fields: Mapping[str, str] | None, wanted: Mapping[str, str]) -> bool:
    return fields is not None and all(fields.get(k) == v for k, v in wanted.items())
