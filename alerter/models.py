"""Typed, frozen data passed between the stages of the flow."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

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
        kind = type(value)
        if len(key) > LOG_NAME_CHARS or not (
            kind in _SCALARS or (kind is str and len(value) <= LOG_TEXT_CHARS)
        ):
            return False
    return True


def _short(value: object) -> object:
    return value[:LOG_NAME_CHARS] if isinstance(value, str) else value


Name = Annotated[str, BeforeValidator(_short)]


class LogEntry(BaseModel):
    """One entry of Diga's `CallLogResponse`; unknown extra fields are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: Name
    timestamp: datetime
    level: Name
    category: Name
    event: Name
    call_id: Name | None = None
    trace_id: Name | None = None
    data: Annotated[Mapping[str, Any] | None, BeforeValidator(bounded_data)] = None

    def text(self) -> str | None:
        """The human line of a log: `message_text`, else `failure_reason`."""
        if not self.data:
            return None
        for key in ("message_text", "failure_reason"):
            value = self.data.get(key)
            if value not in (None, ""):
                return str(value)
        return None


class LogPage(BaseModel):
    """Diga's `PaginatedResponse[CallLogResponse]`."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    data: tuple[LogEntry, ...]
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool
    current_page: int | None = None
    total_pages: int | None = None
