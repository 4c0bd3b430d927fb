"""What a rule that fired on one call is: its match, and what decide, render and the call's
story ask of it, worked out once (`FiredRule`). Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from alerter.models import CallEnded, LogEntry
from alerter.rules.model import Rule
from alerter.rules.noise import GroupKey, group_key, labels_of
from alerter.rules.signatures import Signature, signature


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """A rule and the logs it matched on one call (fired or not)."""

    rule: Rule
    logs: tuple[LogEntry, ...]

    @property
    def fired(self) -> bool:
        return len(self.logs) >= self.rule.min_matches


@dataclass(frozen=True, slots=True)
class FiredRule:
    """A rule that fired on one call, with what decide, render and the call's story ask of
    it, worked out once: none of them goes back to the logs for it."""

    match: RuleMatch
    call: CallEnded
    labels: Mapping[str, str]  # what silences match (`labels_of`): the call's and first log's
    group: GroupKey  # the rule's `group_by` values (before `store.windows` caps the groups)
    signature: Signature  # of the first matching log
    reason: str  # the first matching log's `failure_reason`: window breakdowns count it

    @classmethod
    def of(cls, match: RuleMatch, call: CallEnded) -> FiredRule:
        first = match.logs[0]
        return cls(
            match=match,
            call=call,
            labels=labels_of(call, first),
            group=group_key(match.rule.noise.group_by, call, first),
            signature=signature(first),
            reason=str((first.data or {}).get("failure_reason") or ""),
        )

    @property
    def rule(self) -> Rule:
        return self.match.rule

    @property
    def first(self) -> LogEntry:
        """The first matching log."""
        return self.match.logs[0]


def fired_rules(matches: list[RuleMatch], call: CallEnded) -> list[FiredRule]:
    """The rules of `matches` that fired, in rule order."""
    return [FiredRule.of(match, call) for match in matches if match.fired]
