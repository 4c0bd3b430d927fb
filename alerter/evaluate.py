"""The evaluate stage: a call and its logs → the rules that fire. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from alerter.models import CallEnded, LogEntry
from alerter.noise import ended_key, group_key
from alerter.rules import Rule, RuleSet


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """A rule and the logs it matched on one call (fired or not)."""

    rule: Rule
    logs: tuple[LogEntry, ...]

    @property
    def fired(self) -> bool:
        return len(self.logs) >= self.rule.min_matches


def log_matches(rule: Rule, log: LogEntry) -> bool:
    if log.level not in rule.levels:
        return False
    if rule.categories is not None and log.category not in rule.categories:
        return False
    if rule.events is not None and not any(test(log.event) for test in rule.events):
        return False
    return all(condition.holds(log.data) for condition in rule.data)


def call_matches(rule: Rule, call: CallEnded) -> bool:
    return all(condition.holds(call.fields) for condition in rule.call)


def evaluate(ruleset: RuleSet, call: CallEnded, logs: tuple[LogEntry, ...]) -> list[RuleMatch]:
    """Every rule whose call conditions hold, with its matching logs, in rule order."""
    results = []
    for rule in ruleset.rules:
        if not call_matches(rule, call):
            continue
        matched = tuple(log for log in logs if log_matches(rule, log))
        if matched:
            results.append(RuleMatch(rule, matched))
    return results


def ended_counters(ruleset: RuleSet, call: CallEnded) -> list[tuple[str, float]]:
    """(Redis key, window) of every rate rule this call counts for, as an ended call."""
    out = []
    for rule in ruleset.rate_rules:
        if rule.noise.within is not None and call_matches(rule, call):
            out.append(
                (
                    ended_key(rule.name, group_key(rule.noise.group_by, call, None)),
                    rule.noise.within,
                )
            )
    return out
