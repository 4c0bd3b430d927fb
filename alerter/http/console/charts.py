"""Alerts per hour as an SVG bar chart, drawn on the server (no script): the geometry and
the words a screen reader says. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

WIDTH, HEIGHT, AXIS, HEADROOM = 480, 96, 14, 4
TICK_HOURS = 6


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str  # the hour in UTC and its count


@dataclass(frozen=True, slots=True)
class Tick:
    x: float
    text: str


@dataclass(frozen=True, slots=True)
class HourChart:
    width: int
    height: int
    base: int  # the y of the axis
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    summary: str  # the chart in words


def _clock(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M")


def hour_chart(values: Sequence[int], now: float, noun: str = "alerts sent") -> HourChart:
    """`values`: one count per hour, oldest first, the last hour ending at `now`."""
    hours = max(1, len(values))
    start = now - hours * 3600
    base = HEIGHT - AXIS
    step = WIDTH / hours
    peak = max(values, default=0)
    bars, ticks = [], []
    for i, value in enumerate(values):
        begins = start + i * 3600
        tall = (value / peak) * (base - HEADROOM) if peak else 0.0
        span = f"{_clock(begins)}–{_clock(begins + 3600)} UTC"
        bars.append(
            Bar(
                round(i * step + 1, 1),
                round(base - tall, 1),
                round(step - 2, 1),
                round(tall, 1),
                f"{span}: {value} {noun}",
            )
        )
        if i % TICK_HOURS == 0:
            ticks.append(Tick(round(i * step + 1, 1), _clock(begins)))
    total = sum(values)
    if total:
        busiest = max(range(len(values)), key=lambda i: (values[i], i))
        summary = (
            f"{total} {noun} in {hours} h; most, {peak}, in the hour from "
            f"{_clock(start + busiest * 3600)} UTC"
        )
    else:
        summary = f"no {noun} in {hours} h"
    return HourChart(WIDTH, HEIGHT, base, tuple(bars), tuple(ticks), summary)
