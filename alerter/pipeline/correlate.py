"""Correlated incidents, the deciding half: after noise control let a correlating rule's
alert through, its group joins the incidents of its failure signature (`store.incidents`).

- fewer than `min_groups` groups alerted with the signature within `within`: the group's
  own alert goes out;
- this group makes `min_groups`: the incident's message goes out instead, naming every
  group, keyed like an episode so its resolved message closes it (`Opened`);
- an incident of the signature is open: the alert folds into it (`Folded`).

And the other way round: an open incident inhibits the rules it is named in by
(`inhibiting_incident`). `decide` runs both as its steps.
"""

from __future__ import annotations

from dataclasses import dataclass

from alerter.rules.fired import FiredRule
from alerter.rules.model import RuleSet
from alerter.rules.noise import GroupKey
from alerter.store.incidents import Incidents

GROUPS_SHOWN = 20


@dataclass(frozen=True, slots=True)
class Folded:
    """The alert folds into the open incident of its signature: not sent."""

    detail: str


@dataclass(frozen=True, slots=True)
class Opened:
    """This group opened the incident: its message goes out instead of the group's alert."""

    key: GroupKey  # the incident's own (rule, signature)
    episode: str  # the incident: its resolved message closes it
    headline: str
    groups: str  # the note's lines naming every group, put before the alert's own note


def incident_of(fired: FiredRule) -> tuple[GroupKey, str]:
    """The incident's own key (rule, signature) and the signature's text."""
    return GroupKey((("signature", fired.signature.digest),)), fired.signature.text


async def join(
    incidents: Incidents, fired: FiredRule, group: GroupKey, at: float
) -> Folded | Opened | None:
    """`group`: the alert's group, as noise control admitted it; `at`: when the call ended.
    None: the group's own alert goes out (the rule does not correlate, or too few groups)."""
    rule, correlate = fired.rule, fired.rule.correlate
    if correlate is None:
        return None
    key, text = incident_of(fired)
    joined = await incidents.join(
        rule.name,
        key.digest,
        group.describe(),
        (("incident", text[:200]),),
        fired.call.call_id,
        at,
        within=correlate.within,
        min_groups=correlate.min_groups,
    )
    if joined.kind == "single":
        return None
    if joined.kind == "fold":
        return Folded(f"folded into the incident of {text[:200]} ({joined.groups} groups)")
    groups = await incidents.groups(rule.name, key.digest)
    shown = "; ".join(groups[:GROUPS_SHOWN])
    more = f" and {len(groups) - GROUPS_SHOWN} more" if len(groups) > GROUPS_SHOWN else ""
    headline = f"incident: {joined.groups} groups fail alike: {text[:120]}"
    return Opened(key, joined.incident, headline, f"{headline}\nGroups: {shown}{more}")


async def inhibiting_incident(incidents: Incidents, rules: RuleSet, fired: FiredRule) -> str | None:
    """The first rule of `inhibited_by` that correlates and has an incident of this call's
    failure signature open: the incident is the cause, this alert its symptom."""
    key, _ = incident_of(fired)
    for name in fired.rule.inhibited_by:
        inhibitor = rules.by_name.get(name)
        correlating = inhibitor is not None and inhibitor.correlate is not None
        if correlating and await incidents.open(name, key.digest):
            return name
    return None
