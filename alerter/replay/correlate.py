"""Correlated incidents replayed for the backtest: `store/correlate.lua`'s decisions in
memory, at the calls' own times (an incident is taken to resolve as soon as `within`
passes with no alert of it, as the tick would resolve it)."""

from __future__ import annotations

from collections import defaultdict

from alerter.models import Outcome
from alerter.rules.model import Rule


class CorrelateReplay:
    def __init__(self) -> None:
        self._groups: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
        self._held: dict[tuple[str, str], float] = {}  # open incidents: their latest alert

    def outcome(self, rule: Rule, signature: str, group: str, at: float) -> Outcome | None:
        """An alert noise control let through: None, it goes out (a group's own alert or
        the incident's); CORRELATED, it folds into the open incident."""
        correlate = rule.correlate
        if correlate is None:
            return None
        key = (rule.name, signature)
        held = self._held.get(key)
        if held is not None and held + correlate.within <= at:
            del self._held[key]
            held = None
        groups = self._groups[key]
        groups[group] = at
        if held is not None:
            self._held[key] = max(held, at)
            return Outcome.CORRELATED
        for name, seen in list(groups.items()):
            if seen <= at - correlate.within:
                del groups[name]
        if len(groups) >= correlate.min_groups:
            self._held[key] = at
        return None
