"""A clock the test moves: given to the api, the worker and the stores alike, so every
stamp and window reads one time (as in production, where all read the system clock)."""

from __future__ import annotations

import time


class DrivenClock:
    """Epoch seconds that move only when the test says: `now = ...` or `advance(s)`."""

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class AheadClock:
    """Real time plus what the test has moved it on: for tests whose waits are real (a
    running worker's polls) while windows and due times are driven."""

    def __init__(self) -> None:
        self.ahead = 0.0

    def __call__(self) -> float:
        return time.time() + self.ahead

    def advance(self, seconds: float) -> None:
        self.ahead += seconds
