"""The steps of noise control, by name and in their order: the live decide stage
(`pipeline.decide.STEPS`, counting in Redis) and the backtest's replay
(`replay.steps.STEPS`, counting in memory) each run one function a step, in this order, so
a backtest says what the pipeline would have done. Why the order is what it is:
`pipeline.decide`'s docstring. Pure, and imports nothing: the replay reads it without the
Redis stores."""

from __future__ import annotations

from enum import StrEnum


class Step(StrEnum):
    INHIBIT = "inhibit"
    MUTE = "mute"
    SILENCE = "silence"
    SIGNATURE = "signature"
    GROUP = "group"
    THRESHOLD = "threshold"
    DIGEST = "digest"
    THROTTLE = "throttle"
    CORRELATE = "correlate"


# The order is the contract: each step's table is checked against it (tests/test_structure.py).
ORDER: tuple[Step, ...] = (
    Step.INHIBIT,
    Step.MUTE,
    Step.SILENCE,
    Step.SIGNATURE,
    Step.GROUP,
    Step.THRESHOLD,
    Step.DIGEST,
    Step.THROTTLE,
    Step.CORRELATE,
)
