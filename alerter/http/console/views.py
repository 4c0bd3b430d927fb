"""What the console shows, gathered once for both faces: the JSON API returns these
models, the pages render them. Reads only; changes go through `actions`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from alerter.durations import format_duration
from alerter.models import Outcome
from alerter.rules.model import Rule, RuleSet
from alerter.rules.reload import RulesHolder
from alerter.store import keys
from alerter.store.calls import CallEvent
from alerter.store.history import HistoryEntry
from alerter.store.jobs import WORKER_SEEN_SECONDS, live_workers
from alerter.store.queue import QueueState, queue_state
from alerter.store.silences import Silence
from alerter.store.state import FailedCall, State

DAY = 86_400.0
HOUR = 3_600.0
SUPPRESSED = (
    Outcome.MUTED,
    Outcome.SILENCED,
    Outcome.BELOW_THRESHOLD,
    Outcome.GROUPED,
    Outcome.THROTTLED,
    Outcome.KNOWN_SIGNATURE,
    Outcome.INHIBITED,
    Outcome.CORRELATED,
)
# The rules page's columns, in order.
RULE_COUNT_COLUMNS = (
    "matched",
    "sent",
    "throttled",
    "grouped",
    "silenced",
    "muted",
    "below_threshold",
    "known_signature",
    "inhibited",
    "correlated",
    "shadow",
    "failed",
)


@dataclass(frozen=True, slots=True)
class RuleCounts:
    rule: str
    hour: Mapping[str, int]
    day: Mapping[str, int]

    @staticmethod
    def suppressed(counts: Mapping[str, int]) -> int:
        return sum(counts.get(o.value, 0) for o in SUPPRESSED)


@dataclass(frozen=True, slots=True)
class Overview:
    rules: tuple[RuleCounts, ...]
    ended_day: int  # calls recorded in the last 24 h
    failed_day: int
    queue_depth: int  # due now
    oldest_seconds: float
    queue_waiting: int  # retries backing off, calls settling, digests
    next_due_seconds: float | None
    redis_ok: bool
    workers: tuple[str, ...]
    rules_version: str | None
    failed_now: int
    latest: tuple[HistoryEntry, ...]
    rule_errors: tuple[str, ...] = ()  # why the rule files are invalid (the last good set runs)
    sent_per_hour: tuple[int, ...] = ()  # alerts sent in each of the last 24 hours, oldest first


async def overview(redis: Redis, state: State, holder: RulesHolder, now: float) -> Overview:
    try:
        hour = await state.calls.counts(now - HOUR, now)
        day = await state.calls.counts(now - DAY, now)
        queue = await queue_state(redis)
        workers = await live_workers(redis, now, WORKER_SEEN_SECONDS)
        latest = tuple(await state.history(count=15))
        ended_day = await redis.zcount(keys.CALLS, now - DAY, now)
        failed_now = len(await state.failures())
        per_hour = tuple(await state.calls.sent_per_hour(now))
        redis_ok = True
    except (RedisError, OSError):
        hour, day, workers, latest, failed_now = {}, {}, [], (), 0
        queue = QueueState(due=0, oldest_due_seconds=0.0, waiting=0, next_due_seconds=None)
        per_hour = ()
        ended_day = 0
        redis_ok = False
    rules = holder.current
    names = [r.name for r in rules.rules] if rules else []
    names += sorted(set(day) - set(names) - {""})
    return Overview(
        rules=tuple(RuleCounts(n, hour.get(n, {}), day.get(n, {})) for n in names),
        ended_day=ended_day,
        failed_day=day.get("", {}).get(Outcome.FAILED.value, 0),
        queue_depth=queue.due,
        oldest_seconds=queue.oldest_due_seconds,
        queue_waiting=queue.waiting,
        next_due_seconds=queue.next_due_seconds,
        redis_ok=redis_ok,
        workers=tuple(workers),
        rules_version=rules.version if rules else None,
        failed_now=failed_now,
        latest=latest,
        rule_errors=holder.errors,
        sent_per_hour=per_hour,
    )


# ---------------------------------------------------------------- one call


@dataclass(frozen=True, slots=True)
class RuleStory:
    """One rule on one call: why it sent, or why not."""

    rule: str
    outcome: str
    reason: str
    sends: tuple[CallEvent, ...]
    labels: Mapping[str, str] = field(default_factory=dict)
    lines: tuple[str, ...] = ()  # the first logs it matched: what made it fire


@dataclass(frozen=True, slots=True)
class CallView:
    call_id: str
    known: bool  # False: no record (expired, never seen, or not yet processed)
    accepted_at: float | None
    fields: Mapping[str, Any]
    events: tuple[CallEvent, ...]
    rules: tuple[RuleStory, ...]
    failed: FailedCall | None
    queued: bool


def _rule_stories(events: Sequence[CallEvent]) -> tuple[RuleStory, ...]:
    """Per rule, the last word (a later try's decision replaces an earlier one)."""
    order: list[str] = []
    labels: dict[str, Mapping[str, str]] = {}
    lines: dict[str, tuple[str, ...]] = {}
    last: dict[str, CallEvent] = {}
    sends: dict[str, list[CallEvent]] = {}
    for event in events:
        if not event.rule:
            continue
        if event.rule not in order:
            order.append(event.rule)
        if event.outcome == "matched":
            labels[event.rule] = event.labels
            lines[event.rule] = tuple(event.detail.splitlines())
            continue
        if event.destination:
            sends.setdefault(event.rule, []).append(event)
        last[event.rule] = event
    out = []
    for rule in order:
        decided = last.get(rule)
        rule_sends = tuple(sends.get(rule, ()))
        latest = _latest_per(rule_sends)
        gave_up = [e for e in latest if e.outcome == Outcome.FAILED]
        if decided is None:
            outcome, reason = "matched", "fired; no decision recorded yet"
        elif gave_up:  # a send that gave up is the rule's word, whatever others did
            outcome, reason = Outcome.FAILED.value, "; ".join(e.detail for e in gave_up)
        elif rule_sends and all(e.outcome == Outcome.SENT for e in latest):
            outcome, reason = (
                Outcome.SENT.value,
                "sent to " + ", ".join(sorted({e.destination for e in rule_sends})),
            )
        else:
            outcome, reason = decided.outcome, decided.detail
        story = RuleStory(rule, outcome, reason, rule_sends, labels.get(rule, {}))
        out.append(replace(story, lines=lines.get(rule, ())))
    return tuple(out)


def _latest_per(sends: Sequence[CallEvent]) -> list[CallEvent]:
    latest: dict[str, CallEvent] = {}
    for event in sends:
        latest[event.destination] = event
    return list(latest.values())


async def call_view(redis: Redis, state: State, call_id: str) -> CallView:
    story = await state.calls.story(call_id)
    failed = await state.failure(call_id)
    queued = await redis.zscore(keys.ARQ_QUEUE, keys.call_job(call_id)) is not None
    call = story.call or (failed.call if failed else None)
    return CallView(
        call_id=call_id,
        known=call is not None or bool(story.events),
        accepted_at=call.accepted_at if call else None,
        fields=dict(call.fields) if call else {},
        events=story.events,
        rules=_rule_stories(story.events),
        failed=failed,
        queued=queued,
    )


# ---------------------------------------------------------------- history


SCAN_MAX = 5_000  # history entries one filtered page reads at most (the newest)


# ---------------------------------------------------------------- rules


@dataclass(frozen=True, slots=True)
class RuleView:
    name: str
    description: str
    severity: str
    source: str
    mode: str  # live | shadow
    notify: tuple[str, ...]
    day: Mapping[str, int]
    last_fired: float | None
    yaml: str = ""
    fires: str = ""  # when it fires: per call, a frequency, a rate, a flatline; resolved or not


def fires_when(rule: Rule) -> str:
    """How the rule fires, in words, for its page."""
    noise = rule.noise
    if noise.no_calls is not None:
        kind = f"when no matching call ends for {format_duration(noise.no_calls)} (flatline)"
    elif noise.count is not None and noise.within is not None:
        kind = f"when {noise.count} calls match within {format_duration(noise.within)}"
    elif noise.rate is not None and noise.within is not None:
        kind = (
            f"when {noise.rate:.0%} of at least {noise.min_calls} ended calls match within "
            f"{format_duration(noise.within)}"
        )
    else:
        kind = f"on each call with {rule.min_matches}+ matching logs"
    if noise.within is not None or noise.no_calls is not None:
        kind += (
            "; a resolved message when it ends" if noise.send_resolved else "; no resolved message"
        )
    if rule.inhibited_by:
        kind += f"; not when {', '.join(rule.inhibited_by)} fired on the call"
    return kind


def rule_yaml(source: str, files: dict[str, list[str]] | None = None) -> str:
    """The rule's own lines from its file: from its `- name:` line to the next rule.
    `files`: lines already read, by path (many rules share a file)."""
    path_text, _, line_text = source.rpartition(":")
    files = {} if files is None else files
    try:
        if path_text not in files:
            files[path_text] = Path(path_text).read_text(encoding="utf-8").splitlines()
        lines = files[path_text]
        start = int(line_text) - 1
    except (OSError, ValueError):
        return ""
    if not 0 <= start < len(lines):
        return ""
    first = lines[start]
    indent = len(first) - len(first.lstrip(" "))
    end = start + 1
    while end < len(lines):
        line = lines[end]
        stripped = line.lstrip(" ")
        depth = len(line) - len(stripped)
        if stripped and (depth < indent or (depth == indent and stripped.startswith("- "))):
            break
        end += 1
    return "\n".join(lines[start:end]).rstrip()


def _mode(rule: Rule) -> str:
    return "shadow" if rule.shadow else "live"


async def rules_view(
    state: State,
    rules: RuleSet,
    now: float,
    *,
    only: str | None = None,
    with_yaml: bool = False,
) -> list[RuleView]:
    """Every rule with its 24 h counts and when it last fired; `only`: that one rule, with
    its YAML."""
    files: dict[str, list[str]] = {}
    day = await state.calls.counts(now - DAY, now)
    last_fired = await state.calls.last_fired()
    chosen = [rules.by_name[only]] if only is not None else list(rules.rules)
    return [
        RuleView(
            name=rule.name,
            description=rule.description,
            severity=rule.severity.value,
            source=rule.source,
            mode=_mode(rule),
            notify=rule.notify,
            day=day.get(rule.name, {}),
            last_fired=last_fired.get(rule.name),
            yaml=rule_yaml(rule.source, files) if only is not None or with_yaml else "",
            fires=fires_when(rule),
        )
        for rule in chosen
    ]


# ---------------------------------------------------------------- silences


async def preview_silence(state: State, silence: Silence, now: float) -> tuple[int, int]:
    """(calls of the last 24 h this silence would have stopped, calls looked at): the calls
    on which a rule fired, matched against the labels kept when it fired."""
    rows = await state.history(count=SCAN_MAX, since=now - DAY)
    seen: dict[str, None] = {}  # the calls, in order, once each
    for row in rows:
        # Digests and episodes are no calls: a call of theirs has its own entries.
        if row.rule and row.subject and row.is_call and silence.rule in (None, row.rule):
            seen[row.subject] = None
    stopped = 0
    calls = list(seen)
    for start in range(0, len(calls), 500):
        stories = await state.calls.stories(calls[start : start + 500])
        for story in stories.values():
            if any(
                e.outcome == "matched"
                and (silence.rule is None or e.rule == silence.rule)
                and all(m.holds(e.labels) for m in silence.matchers)
                for e in story.events
            ):
                stopped += 1
    return stopped, len(seen)
