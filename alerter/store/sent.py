"""A decision's records besides the call's own: its history line, its call's event, its
rule's count and last firing, its destination's last result (a send's, when it is sent).

One script (log.lua) writes them, queued on the caller's pipeline: it sets an expiry where a
key or a count starts instead of on every write (a call's events are kept the retention from
the first of them, a count's 10-minute bucket `COUNTS_TTL_SECONDS` from its first count),
and trims a call's events only past their cap. A send's records: 6 commands (7 before the
rule's last firing and the destination's last result shared a hash, 8 before that).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import NoScriptError

from alerter.models import Outcome
from alerter.store import keys, lua
from alerter.store.calls import (
    COUNTS_TTL_SECONDS,
    FIRED_OUTCOMES,
    MAX_EVENTS,
    CallEvent,
    CallRecords,
    bucket_of,
    event_text,
)
from alerter.store.coalesce import Coalescer, Fill

HISTORY_MAX = 100_000
_DELIVERY_RESULTS = (Outcome.SENT, Outcome.RETRYING, Outcome.FAILED)


@dataclass(frozen=True, slots=True)
class LogKeys:
    history: str
    events: str
    counts: str
    last: str  # when each rule last fired and each destination's last result


@dataclass(frozen=True, slots=True)
class LogArgs:
    maxlen: int
    max_events: int
    retention: int
    counts_ttl: int
    count_field: str  # "rule|outcome"; '' when not counted (a retry to come)
    fired_rule: str  # the rule's field in `last`; '' when the rule did not fire
    fired_at: str
    destination: str  # the destination's field in `last`; '' when no destination's result
    result: str  # JSON
    event: str  # JSON
    fields: tuple[str, ...]  # the history entry's names and values, in order


class Recorder:
    def __init__(self, redis: Redis, calls: CallRecords, coalescer: Coalescer | None) -> None:
        self._redis = redis
        self._calls = calls
        # A worker's calls share round trips for their records (`Coalescer`); elsewhere
        # (api, console, CLI) each write is its own pipeline.
        self._coalescer = coalescer
        self._script = lua.Script[LogKeys, LogArgs](redis, "log")

    def log(self, pipe: Pipeline, entry: dict[str, str]) -> None:
        """The entry's records, added to `pipe` (sent by `run`)."""
        self._script.queue(pipe, *self._parts(entry))

    async def log_loaded(self, pipe: Pipeline, entry: dict[str, str]) -> None:
        """As `log`, on a pipeline that loads its scripts first (one with other scripts,
        whose fill could not be sent twice)."""
        await self._script(*self._parts(entry), client=pipe)

    async def run(self, fill: Fill, *, shared: bool = True) -> None:
        """`fill`'s commands in one round trip, shared with other callers' when `shared`
        and there is a coalescer. A server that forgot log.lua (restarted) ran none of the
        fill's scripts: it is loaded and the fill sent again (the rest of a fill here is
        idempotent: markers, HDELs)."""
        try:
            await self._send(fill, shared)
        except NoScriptError:
            await self._script.load()
            await self._send(fill, shared)

    async def _send(self, fill: Fill, shared: bool) -> None:
        if shared and self._coalescer is not None:
            await self._coalescer.execute(fill)
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            fill(pipe)
            await pipe.execute()

    def _parts(self, entry: dict[str, str]) -> tuple[LogKeys, LogArgs]:
        at, outcome, rule = float(entry["at"]), entry["outcome"], entry["rule"]
        destination = entry["destination"]
        event = CallEvent(at, outcome, rule, destination=destination, detail=entry["detail"])
        delivered = bool(destination) and outcome in _DELIVERY_RESULTS
        result = {"at": at, "ok": outcome == Outcome.SENT, "detail": entry["detail"]}
        fired = bool(rule) and outcome in FIRED_OUTCOMES
        return LogKeys(
            history=keys.HISTORY,
            events=keys.call_events(entry["call_id"]),
            counts=keys.outcome_counts(bucket_of(at)),
            last=keys.LAST,
        ), LogArgs(
            maxlen=HISTORY_MAX,
            max_events=MAX_EVENTS,
            retention=self._calls.retention,
            counts_ttl=COUNTS_TTL_SECONDS,
            count_field=f"{rule}|{outcome}" if outcome != Outcome.RETRYING.value else "",
            fired_rule=keys.LAST_RULE + rule if fired else "",
            fired_at=f"{at:.3f}",
            destination=keys.LAST_DESTINATION + destination if delivered else "",
            result=json.dumps(result) if delivered else "",
            event=event_text(event),
            fields=tuple(part for item in entry.items() for part in item),
        )
