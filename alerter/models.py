"""Typed, frozen data passed between the stages of the flow."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

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
    CORRELATED = "correlated"  # folded into an open incident of its failure signature
    DROPPED = "dropped"  # a send or digest abandoned because its rule changed or went away
    # Slack, both ways: an operator's acknowledgement; an unacknowledged alert escalated
    ACKNOWLEDGED = "acknowledged"
    ESCALATED = "escalated"


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


def bounded_data(value: Any, depth: int = 0) -> Any:
    """A log's `data` with every string cut, objects and lists capped, nesting limited."""
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


# A log within every bound, as a type msgspec checks while it decodes (in C, nothing left
# to do per log in Python). A page with anything past a bound fails it, and is decoded
# again to plain objects and cut (`_decode_cut`): what `bounded_data` would give.
_Name = Annotated[str, msgspec.Meta(max_length=LOG_NAME_CHARS)]
_Text = Annotated[str, msgspec.Meta(max_length=LOG_TEXT_CHARS)]


def _data_value(depth: int) -> Any:
    """The type of a value in `data` at `depth` (its top object's values are at 1)."""
    scalar = _Text | int | float | bool | None
    if depth >= LOG_DATA_DEPTH:
        return scalar
    inner = _data_value(depth + 1)
    bounded_object = Annotated[dict[_Name, inner], msgspec.Meta(max_length=LOG_DATA_KEYS)]  # type: ignore[valid-type]
    bounded_list = Annotated[list[inner], msgspec.Meta(max_length=LOG_DATA_KEYS)]  # type: ignore[valid-type]
    return scalar | bounded_object | bounded_list


if TYPE_CHECKING:  # what `data` is to the code that reads it
    _Data = dict[str, Any]
else:
    _Data = Annotated[dict[_Name, _data_value(1)], msgspec.Meta(max_length=LOG_DATA_KEYS)]


class LogEntry(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One entry of Diga's `CallLogResponse`; unknown extra fields are ignored.

    A msgspec struct, decoded straight from the page's bytes: a call has ~90 logs and a
    big one 50,000, and a validating model cost the worker a third of its time
    (docs/performance.md). Types and bounds are checked as it is decoded; a log past a
    bound is cut (`parse_page`). Not tracked by the cycle collector (it holds texts, a
    time and a JSON object, so it cannot be part of a cycle): the logs of a worker's
    in-flight calls were most of what every young-generation collection walked.
    """

    id: _Name
    timestamp: datetime
    level: _Name
    category: _Name
    event: _Name
    call_id: _Name | None = None
    trace_id: _Name | None = None
    data: _Data | None = None

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
_NAMES = frozenset({"id", "level", "category", "event", "call_id", "trace_id"})


def _cut(log: object) -> object:
    """A log as plain JSON objects, cut to bounds: its names, and its `data` as
    `bounded_data` makes it. Whatever is not the right type is left for msgspec to name."""
    if not isinstance(log, dict):
        return log
    cut = {
        key: value[:LOG_NAME_CHARS] if key in _NAMES and isinstance(value, str) else value
        for key, value in log.items()
    }
    if isinstance(cut.get("data"), dict):
        cut["data"] = bounded_data(cut["data"])
    return cut


def _decode_cut(raw: bytes) -> LogPage:
    """A page with a log past a bound: decoded to plain objects, cut, then checked as
    `_PAGE` checks (the same errors, said at the same places)."""
    page = msgspec.json.decode(raw)
    if isinstance(page, dict) and isinstance(page.get("data"), list):
        page["data"] = [_cut(log) for log in page["data"]]
    return msgspec.convert(page, LogPage)


T = TypeVar("T")


class LogsInvalid(ValueError):
    """Logs that are not Diga's shape; the message says where (`0.timestamp: ...`)."""


def _where(exc: msgspec.MsgspecError) -> LogsInvalid:
    text = str(exc)
    message, _, path = text.rpartition(" - at `")
    if not message:
        return LogsInvalid(text)
    where = re.sub(r"\[(\d+)\]", r".\1", path.rstrip("`")).removeprefix("$").lstrip(".")
    return LogsInvalid(f"{where}: {message}" if where else message)


def _checked_else_cut(checked: Callable[[], T], cut: Callable[[], T]) -> T:
    """`checked()`, which msgspec bounds as it decodes; when it refuses a value (a log past
    a bound, or not Diga's shape), `cut()`, which cuts the logs first and says which part
    is not a log. Either's error becomes `LogsInvalid`, saying where."""
    try:
        return checked()
    except msgspec.ValidationError:
        pass
    except msgspec.MsgspecError as exc:  # not JSON at all: no second decoding would help
        raise _where(exc) from None
    try:
        return cut()
    except msgspec.MsgspecError as exc:
        raise _where(exc) from None


def parse_page(raw: bytes) -> LogPage:
    """A page of logs from its JSON bytes, every log cut to bounds; `LogsInvalid` when it
    is not one."""
    return _checked_else_cut(lambda: _PAGE.decode(raw), lambda: _decode_cut(raw))


def parse_logs(value: object) -> tuple[LogEntry, ...]:
    """Logs given as parsed JSON (a list of log objects): pasted, or a saved file."""

    def cut() -> tuple[LogEntry, ...]:
        logs = [_cut(log) for log in value] if isinstance(value, (list, tuple)) else value
        return msgspec.convert(logs, tuple[LogEntry, ...])

    return _checked_else_cut(lambda: msgspec.convert(value, tuple[LogEntry, ...]), cut)
