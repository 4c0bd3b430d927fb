"""Typed, frozen data passed between the stages of the flow."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

import msgspec
from pydantic import BaseModel, ConfigDict, Field

# A call field as kept from the webhook: a JSON scalar, or a tuple of them.
Scalar = str | int | float | bool | None
FieldValue = Scalar | tuple[Scalar, ...]


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"
    CRITICAL = "CRITICAL"


class Outcome(StrEnum):
    """What became of a call, or of one rule on it: the one vocabulary of the decide stage,
    the history, metrics labels and the operator's tools."""

    SENT = "sent"  # from `decide`: goes out now; in the history: a destination accepted
    NO_MATCH = "no_match"
    FAILED = "failed"
    RETRYING = "retrying"
    UNRESOLVED = "unresolved"
    # noise control: why a fired rule sent nothing
    MUTED = "muted"
    SILENCED = "silenced"
    BELOW_THRESHOLD = "below_threshold"
    GROUPED = "grouped"
    THROTTLED = "throttled"
    KNOWN_SIGNATURE = "known_signature"
    SHADOW = "shadow"  # a shadow rule's alert: recorded, not sent
    INHIBITED = "inhibited"  # a rule named in its `inhibited_by` fired on the same call
    DROPPED = "dropped"  # a send or digest abandoned because its rule changed or went away


# The levels alerter fetches from Diga; rules can only ever see these.
FETCHED_LEVELS: tuple[LogLevel, ...] = (LogLevel.ERROR, LogLevel.CRITICAL)


class LogCategory(StrEnum):
    CALL_LIFECYCLE = "CALL_LIFECYCLE"
    USER = "USER"
    AGENT = "AGENT"
    CALL_TOOLS = "CALL_TOOLS"
    INTEGRATION_TOOLS = "INTEGRATION_TOOLS"
    CONVERSATIONAL_PATHS = "CONVERSATIONAL_PATHS"
    TRANSFER = "TRANSFER"
    METRICS = "METRICS"
    SECURITY = "SECURITY"
    WEBHOOKS = "WEBHOOKS"
    WORKFLOWS = "WORKFLOWS"
    KNOWLEDGE = "KNOWLEDGE"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CallEnded(Frozen):
    """A call-end webhook, reduced to what the worker needs."""

    call_id: str
    event: str | None = None
    fields: Mapping[str, FieldValue] = Field(default_factory=dict)
    # When alerter accepted the call's webhook (seconds since the epoch): the call's event
    # time for noise windows. Set by the job from arq's enqueue time; kept in failure records
    # so an operator's retry counts the call when it ended, not when it was retried.
    accepted_at: float | None = None

    def to_job(self) -> dict[str, Any]:
        job: dict[str, Any] = {
            "call_id": self.call_id,
            "event": self.event,
            "fields": dict(self.fields),
        }
        if self.accepted_at is not None:
            job["accepted_at"] = self.accepted_at
        return job

    @classmethod
    def from_job(cls, raw: Mapping[str, Any]) -> CallEnded:
        fields = {
            key: tuple(value) if isinstance(value, list) else value
            for key, value in dict(raw.get("fields") or {}).items()
        }
        accepted = raw.get("accepted_at")
        return cls(
            call_id=str(raw["call_id"]),
            event=raw.get("event"),
            fields=fields,
            accepted_at=float(accepted) if isinstance(accepted, (int, float)) else None,
        )


# Text from Diga is cut here, at the edge, before any pattern (a rule's regex, signature
# normalisation, redaction) sees it: no log line, however long, can stall the worker.
LOG_TEXT_CHARS = 4096
LOG_NAME_CHARS = 200  # event, category, level, ids
LOG_DATA_KEYS = 100  # per object in `data`
LOG_DATA_DEPTH = 5


_SCALARS = frozenset({int, float, bool, type(None)})


def bounded_data(value: Any, depth: int = 0) -> Any:
    """A log's `data` with every string cut, objects and lists capped, nesting limited."""
    if depth == 0 and type(value) is dict and _within_bounds(value):
        return value  # the usual case, kept as is: a few short scalar values
    if isinstance(value, str):
        return value[:LOG_TEXT_CHARS]
    if depth >= LOG_DATA_DEPTH and isinstance(value, (dict, list)):
        return None
    if isinstance(value, dict):
        items = list(value.items())[:LOG_DATA_KEYS]
        return {str(k)[:LOG_NAME_CHARS]: bounded_data(v, depth + 1) for k, v in items}
    if isinstance(value, list):
        return [bounded_data(v, depth + 1) for v in value[:LOG_DATA_KEYS]]
    return value


def _within_bounds(data: dict[Any, Any]) -> bool:
    if len(data) > LOG_DATA_KEYS:
        return False
    for key, value in data.items():
        if len(key) > LOG_NAME_CHARS:
            return False
        kind = type(value)
        if kind is str:
            if len(value) > LOG_TEXT_CHARS:
                return False
        elif kind not in _SCALARS:
            return False
    return True


_NAMES = ("id", "level", "category", "event", "call_id", "trace_id")


class LogEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of Diga's `CallLogResponse`; unknown extra fields are ignored.

    A msgspec struct, decoded straight from the page's bytes: a call has ~90 logs and a
    big one 50,000, and a validating model cost the worker a third of its time
    (docs/performance.md). Types are checked as it is decoded; texts are cut here.
    """

    id: str
    timestamp: datetime
    level: str
    category: str
    event: str
    call_id: str | None = None
    trace_id: str | None = None
    data: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        # Written out, not looped over names: this runs for every log of every page.
        if (
            len(self.id) > LOG_NAME_CHARS
            or len(self.level) > LOG_NAME_CHARS
            or len(self.category) > LOG_NAME_CHARS
            or len(self.event) > LOG_NAME_CHARS
            or (self.call_id is not None and len(self.call_id) > LOG_NAME_CHARS)
            or (self.trace_id is not None and len(self.trace_id) > LOG_NAME_CHARS)
        ):
            for name in _NAMES:
                value = getattr(self, name)
                if value is not None and len(value) > LOG_NAME_CHARS:
                    msgspec.structs.force_setattr(self, name, value[:LOG_NAME_CHARS])
        data = self.data
        if data is not None and not (type(data) is dict and _within_bounds(data)):
            msgspec.structs.force_setattr(self, "data", bounded_data(data))

    def text(self) -> str | None:
        """The human line of a log: `message_text`, else `failure_reason`."""
        if not self.data:
            return None
        for key in ("message_text", "failure_reason"):
            value = self.data.get(key)
            if value not in (None, ""):
                return str(value)
        return None


class LogPage(msgspec.Struct, frozen=True, kw_only=True):
    """Diga's `PaginatedResponse[CallLogResponse]`."""

    data: tuple[LogEntry, ...]
    has_more: bool
    first_id: str | None = None
    last_id: str | None = None
    current_page: int | None = None
    total_pages: int | None = None


_PAGE = msgspec.json.Decoder(LogPage)


class LogsInvalid(ValueError):
    """Logs that are not Diga's shape; the message says where (`0.timestamp: ...`)."""


def _where(exc: msgspec.MsgspecError) -> LogsInvalid:
    text = str(exc)
    message, _, path = text.rpartition(" - at `")
    if not message:
        return LogsInvalid(text)
    where = re.sub(r"\[(\d+)\]", r".\1", path.rstrip("`")).removeprefix("$").lstrip(".")
    return LogsInvalid(f"{where}: {message}" if where else message)


def parse_page(raw: bytes) -> LogPage:
    """A page of logs from its JSON bytes; `LogsInvalid` when it is not one."""
    try:
        return _PAGE.decode(raw)
    except msgspec.MsgspecError as exc:
        raise _where(exc) from None


def parse_logs(value: object) -> tuple[LogEntry, ...]:
    """Logs given as parsed JSON (a list of log objects): pasted, or a saved file."""
    try:
        return msgspec.convert(value, tuple[LogEntry, ...])
    except msgspec.MsgspecError as exc:
        raise _where(exc) from None
