"""Advice on valid rules: what `alerter rules check` warns about without refusing."""

from __future__ import annotations

from alerter.rules.model import RuleSet

# Fields that name one call or one caller: a group per value is a group per call or caller,
# so the rule's group state grows with traffic (a rule keeps at most 10,000 groups).
_ONE_CALL = frozenset({"id", "call_id", "trace_id", "recording_url"})
_ONE_CALLER = frozenset({"identifier", "phone", "phone_number", "caller", "caller_id", "email"})


def identifies_one(field: str) -> bool:
    last = field.rsplit(".", 1)[-1].lower()
    return (
        last in _ONE_CALL
        or last in _ONE_CALLER
        or "phone" in last
        or field.lower().startswith("contact.")
    )


def group_by_warnings(rules: RuleSet) -> list[str]:
    """`file:line: warning: ...` for each `group_by` field that identifies a single call or
    caller."""
    out = []
    for rule in rules.rules:
        for field in rule.noise.group_by:
            if identifies_one(field):
                out.append(
                    f"{rule.source}: warning: rule {rule.name!r}: group_by {field!r} names a "
                    "single call or caller: one group each, so alerts hardly ever group and "
                    "the rule's state grows with traffic"
                )
    return out
