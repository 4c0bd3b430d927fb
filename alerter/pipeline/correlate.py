"""Correlated incidents, the deciding half: after noise control let a correlating rule's
alert through, its group joins the incidents of its failure signature (`store.incidents`).

- fewer than `min_groups` groups alerted with the signature within `within`: the group's
  own alert goes out;
- this group makes `min_groups`: the incident's message goes out instead, naming every
  group, keyed like an episode so its resolved message closes it;
- an incident of the signature is open: the alert folds into it (`correlated`).
"""

from __future__ import annotations

import dataclasses

from alerter.models import Outcome
from alerter.pipeline.decide import Decision
from alerter.pipeline.evaluate import RuleMatch
from alerter.pipeline.signatures import signature
from alerter.rules.model import RuleSet
from alerter.rules.noise import GroupKey
from alerter.store.incidents import Incidents

GROUPS_SHOWN = 20


def incident_of(match: RuleMatch) -> tuple[GroupKey, str]:
    """The incident's own key (rule, signature) and the signature's text."""
    sig = signature(match.logs[0])
    return GroupKey((("signature", sig.digest),)), sig.text


async def correlated(
    incidents: Incidents, match: RuleMatch, decision: Decision, call_id: str, at: float
) -> Decision:
    """`decision`: noise control's SENT; `at`: when the call ended."""
    rule, correlate = match.rule, match.rule.correlate
    if correlate is None or decision.key is None:
        return decision
    key, text = incident_of(match)
    group = decision.key.describe()
    joined = await incidents.join(
        rule.name,
        key.digest,
        group,
        (("incident", text[:200]),),
        call_id,
        at,
        within=correlate.within,
        min_groups=correlate.min_groups,
    )
    if joined.kind == "single":
        return decision
    if joined.kind == "fold":
        return Decision(
            Outcome.CORRELATED,
            f"folded into the incident of {text[:200]} ({joined.groups} groups)",
            key=decision.key,
        )
    groups = await incidents.groups(rule.name, key.digest)
    shown = "; ".join(groups[:GROUPS_SHOWN])
    more = f" and {len(groups) - GROUPS_SHOWN} more" if len(groups) > GROUPS_SHOWN else ""
    headline = f"incident: {joined.groups} groups fail alike: {text[:120]}"
    note = f"{headline}\nGroups: {shown}{more}\n" + (decision.note or "")
    return dataclasses.replace(
        decision, key=key, episode=joined.incident, headline=headline, note=note.strip()
    )


async def inhibiting_incident(incidents: Incidents, rules: RuleSet, match: RuleMatch) -> str | None:
    """The first rule of `inhibited_by` that correlates and has an incident of this call's
    failure signature open: the incident is the cause, this alert its symptom."""
    key, _ = incident_of(match)
    for name in match.rule.inhibited_by:
        inhibitor = rules.by_name.get(name)
        correlating = inhibitor is not None and inhibitor.correlate is not None
        if correlating and await incidents.open(name, key.digest):
            return name
    return None
