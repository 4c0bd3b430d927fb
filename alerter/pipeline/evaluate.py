"""The evaluate stage: a call and its logs → the rules that fire, each with what the later
stages ask of it worked out once (`FiredRule`). Pure."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC
from itertools import chain

from alerter.models import CallEnded, LogEntry
from alerter.rules.fired import RuleMatch
from alerter.rules.model import Rule, RuleSet
from alerter.rules.noise import GroupKey, group_key
from alerter.store import keys
from alerter.store.baseline import EndedCounter, ended_counter

MATCH_LINES = 5  # of a fired rule's matching logs, kept in the call's story
MATCH_LINE_CHARS = 240


def match_lines(logs: tuple[LogEntry, ...]) -> str:
    """The first matching logs of a fired rule, one line each (UTC time, level,
    category/event, text), for the console's call page: what made the rule fire."""
    lines = []
    for log in logs[:MATCH_LINES]:
        at = log.timestamp.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        line = f"{at} {log.level} {log.category}/{log.event}: {log.text() or ''}".rstrip(": ")
        lines.append(line[:MATCH_LINE_CHARS])
    if len(logs) > MATCH_LINES:
        lines.append(f"… and {len(logs) - MATCH_LINES} more matching logs")
    return "\n".join(lines)


def call_matches(rule: Rule, call: CallEnded) -> bool:
    return all(condition.holds(call.fields) for condition in rule.call)


def evaluate(ruleset: RuleSet, call: CallEnded, logs: tuple[LogEntry, ...]) -> list[RuleMatch]:
    """Every rule whose call conditions hold, with its matching logs (in log order), in rule
    order. Logs are indexed by (level, category) once, so a rule only looks at the logs its
    levels and categories allow."""
    by_kind: dict[tuple[str, str], list[int]] = defaultdict(list)
    for position, log in enumerate(logs):
        by_kind[(log.level, log.category)].append(position)
    results = []
    for rule in ruleset.log_rules:
        if not call_matches(rule, call):
            continue
        kinds = [
            positions
            for (level, category), positions in by_kind.items()
            if level in rule.levels and (rule.categories is None or category in rule.categories)
        ]
        # In log order: each kind's positions are sorted runs, which sorting merges in C.
        candidates = kinds[0] if len(kinds) == 1 else sorted(chain.from_iterable(kinds))
        events, data = rule.events, rule.data
        # A call's logs carry few distinct events: each is tested once per rule. One data
        # condition (the usual rule) is called directly.
        verdicts: dict[str, bool] = {}
        condition = data[0] if len(data) == 1 else None
        matched = []
        for position in candidates:
            log = logs[position]
            if events is not None:
                verdict = verdicts.get(log.event)
                if verdict is None:
                    verdict = verdicts[log.event] = any(test(log.event) for test in events)
                if not verdict:
                    continue
            if condition is not None:
                if not condition.holds(log.data):
                    continue
            elif data and not all(c.holds(log.data) for c in data):
                continue
            matched.append(log)
        if matched:
            results.append(RuleMatch(rule, tuple(matched)))
    return results


def ended_group(rule: Rule, call: CallEnded) -> GroupKey | None:
    """The group an ended call counts in for `rule` (rate, baseline and flatline rules count
    every ended call of theirs, logs or not), or None when it is not one of the rule's calls.
    Intake counts it so live; the backtest's replay, in memory."""
    if not call_matches(rule, call):
        return None
    return group_key(rule.noise.group_by, call, None)


def ended_counters(ruleset: RuleSet, call: CallEnded) -> list[tuple[str, float]]:
    """(Redis key, window) of every rate rule this call counts for, as an ended call."""
    out = []
    for rule in ruleset.rate_rules:
        if rule.noise.within is not None and (key := ended_group(rule, call)) is not None:
            out.append((keys.rate_ended(rule.name, key.digest), rule.noise.within))
    return out


def baseline_counters(ruleset: RuleSet, call: CallEnded) -> list[EndedCounter]:
    """What every baseline rule this call is a call of counts for it, as an ended call."""
    out = []
    for rule in ruleset.baseline_rules:
        baseline = rule.noise.baseline
        if baseline is not None and (key := ended_group(rule, call)) is not None:
            out.append(ended_counter(rule.name, key, baseline))
    return out


def flatline_marks(ruleset: RuleSet, call: CallEnded) -> list[tuple[str, str, str]]:
    """(Redis hash, group, labels) of every flatline rule this call is a call of: its group
    had a call now."""
    out = []
    for rule in ruleset.flatline_rules:
        if (key := ended_group(rule, call)) is not None:
            out.append((keys.flatline_seen(rule.name), key.digest, json.dumps(key.labels)))
    return out
