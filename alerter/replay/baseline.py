"""Baselines replayed for the backtest: the hourly counts `store/baseline.lua` keeps in Redis
rings, kept here as sorted lists of hours, judged by the same `rules.baseline.judge`."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence
from typing import Protocol

from alerter.models import CallEnded
from alerter.pipeline.evaluate import ended_group
from alerter.rules.baseline import HOUR_MS, Baseline, judge, millis, over_hours
from alerter.rules.model import Rule

FLEET = ""  # the whole rule's counts, beside its groups' digests


class Ended(Protocol):
    @property
    def call(self) -> CallEnded: ...

    @property
    def at(self) -> float: ...


def hour_of(at: float) -> int:
    return millis(at) // HOUR_MS


class BaselineReplay:
    def __init__(self, rules: Sequence[Rule], ordered: Sequence[Ended]) -> None:
        """`ordered`: every ended call, oldest first (what intake counted live)."""
        self._ended: dict[tuple[str, str], list[int]] = defaultdict(list)
        self._matched: dict[tuple[str, str], list[int]] = defaultdict(list)
        for rule in rules:
            if rule.noise.baseline is None:
                continue
            for past in ordered:
                if (key := ended_group(rule, past.call)) is not None:
                    self._ended[(rule.name, key.digest)].append(hour_of(past.at))
                    self._ended[(rule.name, FLEET)].append(hour_of(past.at))

    def holds(
        self, rule: str, baseline: Baseline, digest: str, at: float, window: tuple[int, int]
    ) -> bool:
        """A matched call of the group at `at` (calls come in time order), with the window's
        (matched, ended) calls: counted in its hour, then judged as the script judges."""
        hour = hour_of(at)
        for group in (digest, FLEET):
            self._matched[(rule, group)].append(hour)
        first, last = over_hours(millis(at), baseline)

        def count(hours: list[int]) -> int:
            return bisect.bisect_right(hours, last) - bisect.bisect_left(hours, first)

        def counts(group: str) -> tuple[int, int]:
            return count(self._matched[(rule, group)]), count(self._ended[(rule, group)])

        return judge(baseline, window, counts(digest), counts(FLEET))[0]
