"""Noise control, the pure half: rule options, group keys, mute windows.

The Redis half (throttles, windows, digests, silences) is in `windows.py`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, model_validator

from alerter.durations import Duration
from alerter.models import CallEnded, LogEntry
from alerter.rules.baseline import Baseline
from alerter.rules.conditions import MISSING, lookup

# Names in `group_by` that are read from the first matching log; any other from the call.
LOG_FIELDS = frozenset({"event", "category", "level", "trace_id"})
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BaselineSpec(_Spec):
    """`{factor: 3, within: 15m, over: 7d, min_calls: 20}`: see `rules.baseline`."""

    factor: float = Field(gt=1)
    within: Duration
    over: Duration
    min_calls: int = Field(default=20, ge=1)

    @model_validator(mode="after")
    def _periods(self) -> BaselineSpec:
        if self.over < 3600:
            raise ValueError("`over` is counted in whole hours: give at least 1h")
        if self.over < self.within:
            raise ValueError("`over` is the normal to compare with: give at least `within`")
        return self


class WhenSpec(_Spec):
    """`{count: N, within: W}` (frequency), `{rate: R, within: W, min_calls: M}` (failure
    rate), `{no_calls: W}` (flatline: no call-ended webhook for W) or `{baseline: {...}}`
    (a group against its own normal)."""

    within: Duration | None = None
    count: int | None = Field(default=None, ge=1)
    rate: float | None = Field(default=None, gt=0, le=1)
    min_calls: int | None = Field(default=None, ge=1)
    no_calls: Duration | None = None
    baseline: BaselineSpec | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> WhenSpec:
        names = ("count", "rate", "no_calls", "baseline")
        kinds = [k for k in names if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(
                "give one of `count` (frequency), `rate` (failure rate), `no_calls` (flatline) "
                "or `baseline`"
            )
        if self.baseline is not None:
            if self.within is not None or self.min_calls is not None:
                raise ValueError("`baseline` has its own `within` and `min_calls`: give them there")
        elif self.no_calls is not None:
            if self.within is not None:
                raise ValueError("`no_calls` is its own window: drop `within`")
        elif self.within is None:
            raise ValueError(f"`{kinds[0]}` needs `within` (like 10m)")
        if self.min_calls is not None and self.rate is None:
            raise ValueError("`min_calls` goes with `rate`")
        return self


class MuteWindowSpec(_Spec):
    days: list[str] = Field(default_factory=lambda: list(DAYS), min_length=1)
    hours: str = "00:00-24:00"
    timezone: str = "UTC"

    @model_validator(mode="after")
    def _valid(self) -> MuteWindowSpec:
        unknown = [day for day in self.days if day.lower()[:3] not in DAYS]
        if unknown:
            raise ValueError(f"unknown day {unknown[0]!r} (use mon, tue, ... sun)")
        _hours(self.hours)
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.timezone!r}") from None
        return self


def _hours(text: str) -> tuple[time, time | None]:
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", text)
    if not match:
        raise ValueError(f"hours {text!r} must look like 09:00-17:30")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2):
        raise ValueError(f"hours {text!r} are not times of day")
    return time(h1, m1), None if h2 == 24 else time(h2, m2)


@dataclass(frozen=True, slots=True)
class MuteWindow:
    days: frozenset[int]  # 0 = Monday
    start: time
    end: time | None  # None: until midnight
    zone: ZoneInfo

    def covers(self, now: float) -> bool:
        local = datetime.fromtimestamp(now, UTC).astimezone(self.zone)
        clock = local.time().replace(tzinfo=None)
        if self.end is None or self.start < self.end:
            inside = clock >= self.start and (self.end is None or clock < self.end)
            return inside and local.weekday() in self.days
        # Overnight (22:00-06:00): the evening belongs to the listed day, the morning to the next.
        if clock >= self.start:
            return local.weekday() in self.days
        return clock < self.end and (local.weekday() - 1) % 7 in self.days


@dataclass(frozen=True, slots=True)
class Noise:
    """A rule's noise options, compiled. All off by default: one alert per matching call."""

    group_by: tuple[str, ...] = ()
    repeat_interval: float | None = None
    group_wait: float | None = None
    group_interval: float | None = None
    count: int | None = None
    rate: float | None = None
    min_calls: int = 1
    within: float | None = None
    mute_windows: tuple[MuteWindow, ...] = ()
    no_calls: float | None = None  # flatline: fires when no matching call ended for this long
    send_resolved: bool = False  # a "resolved" message when a `when` condition stops holding
    baseline: Baseline | None = None  # a group against its own normal (`within` is its window)

    @property
    def digest(self) -> bool:
        return self.group_wait is not None

    @property
    def episodes(self) -> bool:
        """Whether each (rule, group) keeps episodes, from firing to resolved: rules that send
        resolved messages, and flatline rules (one alert per silence)."""
        return (self.send_resolved and self.within is not None) or self.no_calls is not None


def compile_noise(
    group_by: list[str],
    repeat_interval: float | None,
    group_wait: float | None,
    group_interval: float | None,
    when: WhenSpec | None,
    mute_windows: list[MuteWindowSpec],
    send_resolved: bool | None = None,
) -> Noise:
    """Raises ValueError for combinations that have no clear meaning."""
    if send_resolved is not None and when is None:
        raise ValueError(
            "`send_resolved` goes with `when` (frequency, rate, flatline): a rule that fires "
            "per call has nothing to resolve"
        )
    if group_interval is not None and group_wait is None:
        raise ValueError("`group_interval` needs `group_wait`")
    if group_wait is not None and repeat_interval is not None:
        raise ValueError(
            "`repeat_interval` and `group_wait` cannot be combined: a digest "
            "already sends one message per window"
        )
    if when is not None and group_wait is not None:
        raise ValueError("`when` and `group_wait` cannot be combined")
    counts_ended = when is not None and (when.rate, when.no_calls, when.baseline) != (None,) * 3
    if when is not None and counts_ended:
        from_logs = [name for name in group_by if _from_log(name)]
        if from_logs:
            kind = "flatline" if when.no_calls is not None else "rate"
            kind = "baseline" if when.baseline is not None else kind
            raise ValueError(
                f"a {kind} rule counts ended calls, which have no logs: group_by "
                f"{from_logs[0]!r} must be a call field"
            )
    if when is not None and when.no_calls is not None and repeat_interval is not None:
        raise ValueError("a flatline rule fires once per silence: `repeat_interval` has no use")
    windows = []
    for spec in mute_windows:
        start, end = _hours(spec.hours)
        days = frozenset(DAYS.index(day.lower()[:3]) for day in spec.days)
        windows.append(MuteWindow(days, start, end, ZoneInfo(spec.timezone)))
    baseline = when.baseline if when else None
    return Noise(
        group_by=tuple(group_by),
        repeat_interval=repeat_interval,
        group_wait=group_wait,
        group_interval=group_interval,
        count=when.count if when else None,
        rate=when.rate if when else None,
        min_calls=(when.min_calls or (baseline.min_calls if baseline else 1)) if when else 1,
        within=(baseline.within if baseline else when.within) if when else None,
        mute_windows=tuple(windows),
        no_calls=when.no_calls if when else None,
        send_resolved=(True if send_resolved is None else send_resolved) if when else False,
        baseline=(
            Baseline(baseline.factor, baseline.within, baseline.over, baseline.min_calls)
            if baseline
            else None
        ),
    )


def _from_log(name: str) -> bool:
    return name in LOG_FIELDS or name.startswith("data.")


@dataclass(frozen=True, slots=True)
class GroupKey:
    labels: tuple[tuple[str, str], ...]

    @property
    def digest(self) -> str:
        """Short and bounded, for Redis key names."""
        raw = json.dumps(self.labels, separators=(",", ":")).encode()
        return hashlib.sha256(raw).hexdigest()[:16]

    def describe(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.labels) or "all calls"


def group_key(group_by: tuple[str, ...], call: CallEnded, log: LogEntry | None) -> GroupKey:
    labels = []
    for name in group_by:
        value: object
        if _from_log(name):
            if log is None:
                value = None
            elif name.startswith("data."):
                value = lookup(log.data, tuple(name[5:].split(".")))
            else:
                value = getattr(log, name)
        else:
            value = lookup(call.fields, tuple(name.split(".")))
        labels.append((name, _label(value)))
    return GroupKey(tuple(labels))


def _label(value: object) -> str:
    if value is None or value is MISSING:
        return ""
    if isinstance(value, (list, tuple)):
        return ",".join(_label(v) for v in value)
    return str(value)[:120]


RATE_SCALE = 1_000_000  # rates in parts per million: `store/rate.lua` compares integers


def rate_holds(matched: int, ended: int, rate: float, min_calls: int) -> bool:
    """Whether a rate window of `matched` of `ended` calls holds, with the live script's
    integer arithmetic (a float product misses exact shares: 0.28 * 25 > 7)."""
    ended = max(ended, matched)  # a matched call has ended, counted or not
    return ended >= min_calls and matched * RATE_SCALE >= round(rate * RATE_SCALE) * ended


def muted(noise: Noise, now: float) -> bool:
    return any(window.covers(now) for window in noise.mute_windows)


def labels_of(call: CallEnded, log: LogEntry | None) -> dict[str, str]:
    """What silences match against: the call's fields and the first matching log's."""
    out = {key: _label(value) for key, value in call.fields.items()}
    if log is not None:
        out.update(event=log.event, category=log.category, level=log.level)
        for key, value in (log.data or {}).items():
            if not isinstance(value, (dict, list)):
                out[f"data.{key}"] = _label(value)
    return out


def incident_key(rule: str, digest: str, episode: str) -> str:
    """Stable per (rule, group, episode): an episode's firing and resolved messages share it,
    so a destination that keeps incidents (PagerDuty, Opsgenie) closes the one it opened."""
    return f"alerter-{rule}-{digest}-{episode}"
