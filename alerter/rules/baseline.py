"""Baselines, the pure half: `when: {baseline: {factor, within, over, min_calls}}`.

A group's share of matching calls within `within` (ended calls, at least `min_calls`) is
compared with its own share over the `over` before that window; a group with fewer than
`min_calls` ended calls in `over` is compared with the whole fleet's (every group of the
rule). `over` is counted in whole hours: the hours before the one the window starts in, so
memory per group is bounded (one counter an hour, kept in a ring). The Redis half is
`store/baseline.lua`; the backtest replays it with `judge` and `over_hours`, the same
integer arithmetic as the script.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

HOUR_MS = 3_600_000
FACTOR_SCALE = 1000  # the factor is passed to Lua in thousandths: integer comparisons


@dataclass(frozen=True, slots=True)
class Baseline:
    factor: float
    within: float  # seconds
    over: float  # seconds
    min_calls: int

    @property
    def hours(self) -> int:
        """Whole hours counted for `over`."""
        return math.ceil(self.over / 3600)

    @property
    def slots(self) -> int:
        """Hour counters kept per group: `over`, the window, and one on either side."""
        return self.hours + math.ceil(self.within / 3600) + 2

    @property
    def factor_milli(self) -> int:
        return round(self.factor * FACTOR_SCALE)


def millis(seconds: float) -> int:
    return round(seconds * 1000)


def over_hours(at_ms: int, baseline: Baseline) -> tuple[int, int]:
    """(first, last) hour numbers (since the epoch) of `over` for the window ending at
    `at_ms`: the whole hours before the one the window starts in."""
    start_hour = (at_ms - millis(baseline.within)) // HOUR_MS
    return start_hour - baseline.hours, start_hour - 1


@dataclass(frozen=True, slots=True)
class Shares:
    """What a baseline rule's window counted, and what it was compared with."""

    matched: int  # matching calls within the window
    ended: int  # ended calls within the window
    base_matched: int  # over `over`: the group's, or the fleet's when `fleet`
    base_ended: int
    fleet: bool

    @property
    def share(self) -> float:
        return self.matched / self.ended if self.ended else 0.0

    @property
    def base_share(self) -> float:
        return self.base_matched / self.base_ended if self.base_ended else 0.0


def judge(
    baseline: Baseline,
    window: tuple[int, int],
    own: tuple[int, int],
    fleet: tuple[int, int],
) -> tuple[bool, Shares]:
    """Whether the window (matched, ended) is at least `factor` times the group's own share
    (`own`: matched, ended over `over`), or the fleet's when the group had fewer than
    `min_calls` calls then. No baseline known (the fleet too had too few): it does not hold."""
    matched, ended = window[0], max(window[1], window[0])
    base_m, base_e = own[0], max(own[1], own[0])
    use_fleet = base_e < baseline.min_calls
    if use_fleet:
        base_m, base_e = fleet[0], max(fleet[1], fleet[0])
    shares = Shares(matched, ended, base_m, base_e, use_fleet)
    holds = (
        ended >= baseline.min_calls
        and base_e >= baseline.min_calls
        and matched * base_e * FACTOR_SCALE >= baseline.factor_milli * base_m * ended
    )
    return holds, shares


def headline(baseline: Baseline, group: str, shares: Shares, within: str) -> str:
    """Like "ag-7: 45% of calls in 15m, 3.8 times its 7-day 12%" (`within` as people read it)."""
    whose = "the fleet's" if shares.fleet else "its"
    times = f"{shares.share / shares.base_share:.1f}× " if shares.base_share else "against "
    return (
        f"{group}: {shares.share:.0%} of calls in {within}, "
        f"{times}{whose} {period(baseline.over)} {shares.base_share:.0%}"
    )


def period(seconds: float) -> str:
    """`7-day`, `24-hour`, `90-minute`: how long `over` was, as an adjective."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}-{unit}"
    return f"{seconds:g}-second"
