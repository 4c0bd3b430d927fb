"""How a call's fetch starts: every level in one request, or one request per level.

Diga rate-limits requests. A call whose logs of every level fit one page (1,000) is one
request asked whole, two asked per level; a call that does not fit costs one more asked
whole (its first page is dropped and each level asked from its start: a cursor from the
whole sequence is not one of a level's), and a whole page carries logs alerter drops
(DEBUG, INFO, WARNING), bytes to read and decode. So the client learns from the calls it
asked whole and asks per level when they mostly did not fit, or carried many logs it drops.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# The first page of a call asked for every level at once (one request when all its logs fit
# a page) while the calls seen lately mostly fit and carried few logs we drop; else one
# request per level, with every PROBE_EVERY-th call asked whole to notice the mix change.
# Measured: docs/performance.md, "Diga requests".
LEARN_WEIGHT = 1 / 16  # each call's share in the running averages
BIG_SHARE_LIMIT = 0.5  # past it, a whole first page costs more requests than it saves
DROPPED_LOGS_LIMIT = 250.0  # logs a call read and dropped (not ERROR/CRITICAL), on average
PROBE_EVERY = 32
PROBE_WEIGHT = 1 / 4  # a probe's share: a few probes of a changed mix are enough


class FirstPage(StrEnum):
    """How a call's fetch starts: `level` asks ERROR and CRITICAL apart (two requests at
    least); `whole` asks every level first and, when the call's logs do not fit one page,
    each level apart from the start; `adaptive` chooses by the calls fetched lately."""

    LEVEL = "level"
    WHOLE = "whole"
    ADAPTIVE = "adaptive"


@dataclass(slots=True)
class FirstPagePolicy:
    """Running averages over this client's recent calls asked whole: the share whose logs
    did not fit the first page, and the logs read and dropped a call."""

    mode: FirstPage
    big_share: float = 0.0
    dropped: float = 0.0
    calls: int = 0

    def whole(self) -> float:
        """Whether to ask this call whole: 0.0 for no, else the weight of what it teaches
        (a probe's more: the mix it looks for may have changed long ago)."""
        if self.mode is not FirstPage.ADAPTIVE:
            return LEARN_WEIGHT if self.mode is FirstPage.WHOLE else 0.0
        self.calls += 1
        if self.big_share <= BIG_SHARE_LIMIT and self.dropped <= DROPPED_LOGS_LIMIT:
            return LEARN_WEIGHT
        return PROBE_WEIGHT if self.calls % PROBE_EVERY == 0 else 0.0

    def learn(self, weight: float, big: bool, dropped: int) -> None:
        self.big_share += weight * (float(big) - self.big_share)
        self.dropped += weight * (dropped - self.dropped)
