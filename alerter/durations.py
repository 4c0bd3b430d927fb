"""Durations as people write them (`30s`, `10m`, `2h`, `1d`, `500ms`) and read them back.
Pure; shared by the rules, the settings and the console."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: object) -> float:
    """`30s`, `10m`, `2h`, `1d`, `500ms`, or a number of seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is like 30s, 10m, 2h or 1d")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not a duration (like 30s, 10m, 2h, 1d)")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration, json_schema_input_type=str | float)]


def format_duration(seconds: float) -> str:
    """For people, the other way: `10m`, `1h 5m`, `12m 30s`, `45s`, `1.5s`."""
    if seconds < 60 and seconds != int(seconds):
        return f"{seconds:g}s"
    hours, rest = divmod(max(0, round(seconds)), 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if n]
    return " ".join(parts) or "0s"
