"""Webhook bodies → `CallEnded`. Pure: bytes in, a decision out."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from alerter.http.errors import ErrorAnswer
from alerter.models import CallEnded, FieldValue, Scalar

# Bounds on what a hostile body can make us keep.
MAX_FIELDS = 64
MAX_DEPTH = 4
MAX_TEXT = 512
MAX_LIST = 16

_ID_KEYS = frozenset({"id", "call_id"})
_EVENT_KEYS = ("event", "type", "event_type")


class IntakeError(ErrorAnswer):
    """A webhook we refuse, with the HTTP status and machine code to answer."""


_WEBHOOK = msgspec.json.Decoder()  # JSON to Python objects, several times faster than json
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True, slots=True)
class Ignored:
    event: str
    call_id: str | None


def parse_webhook(body: bytes, call_end_events: frozenset[str]) -> CallEnded | Ignored:
    try:
        payload = _WEBHOOK.decode(body)
    except (ValueError, RecursionError):  # msgspec's DecodeError is a ValueError
        raise IntakeError(400, "INVALID_JSON", "body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise IntakeError(400, "INVALID_PAYLOAD", "body must be a JSON object") from None

    event = _event_name(payload)
    raw_id, container = _call_id(payload)
    call_id = _canonical_call_id(raw_id)
    # The event is judged first: a non-call-end event is ignored whatever else it holds.
    if event is not None and event.lower() not in call_end_events:
        return Ignored(event=event, call_id=call_id)
    if raw_id is None:
        raise IntakeError(
            422,
            "MISSING_CALL_ID",
            "no call id: expected one of call_id, call.id, data.call_id, data.id",
        )
    if call_id is None:
        raise IntakeError(422, "INVALID_CALL_ID", "call id must be a UUID")
    return CallEnded(call_id=call_id, event=event, fields=_call_fields(payload, container))


def _event_name(payload: Mapping[str, Any]) -> str | None:
    for key in _EVENT_KEYS:
        value = payload.get(key)
        if isinstance(value, str) and value:
            return value[:MAX_TEXT]
    return None


def _call_id(payload: Mapping[str, Any]) -> tuple[object | None, Mapping[str, Any]]:
    """The first present of call_id, call.id, data.call_id, data.id, and the object holding it."""
    if payload.get("call_id") is not None:
        return payload["call_id"], payload
    for parent, key in (("call", "id"), ("data", "call_id"), ("data", "id")):
        holder = payload.get(parent)
        if isinstance(holder, dict) and holder.get(key) is not None:
            return holder[key], holder
    return None, payload


def _canonical_call_id(raw: object) -> str | None:
    if not isinstance(raw, str) or len(raw) > 64:
        return None
    if _CANONICAL_UUID.fullmatch(raw):  # the usual case: already canonical (1/5 of the cost)
        return raw
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        return None


def _call_fields(payload: Mapping[str, Any], container: Mapping[str, Any]) -> dict[str, FieldValue]:
    """Call fields under their own names; nested objects as dotted paths."""
    fields: dict[str, FieldValue] = {}
    sources = [container]
    if container is payload:
        # Top-level ids: a `call` object may still carry fields.
        sources += [v for k, v in payload.items() if k in ("call", "data") and isinstance(v, dict)]
    for source in sources:
        _flatten(source, "", fields, depth=0, top=source is payload)
    return fields


# Top-level names that are not call fields: the id and event, and (beside a top-level id)
# the objects whose fields are flattened on their own.
_NOT_FIELDS = _ID_KEYS | frozenset(_EVENT_KEYS)
_NOT_FIELDS_TOP = _NOT_FIELDS | {"call", "data"}


def _flatten(
    obj: Mapping[str, Any], prefix: str, out: dict[str, FieldValue], depth: int, top: bool
) -> None:
    # JSON object keys are strings and values JSON's types: checked by exact type, the
    # common ones first (this runs for every field of every webhook).
    skip = (_NOT_FIELDS_TOP if top else _NOT_FIELDS) if not prefix else ()
    for key, value in obj.items():
        if len(out) >= MAX_FIELDS:
            return
        if not key or key in skip:
            continue
        path = prefix + key[:MAX_TEXT] if prefix else key[:MAX_TEXT]
        kind = type(value)
        if kind is str:
            out.setdefault(path, value[:MAX_TEXT])
        elif kind is dict:
            if depth + 1 < MAX_DEPTH:
                _flatten(value, f"{path}.", out, depth + 1, top=False)
        elif kind is list:
            items = tuple(_scalar(item) for item in value[:MAX_LIST] if _is_scalar(item))
            out.setdefault(path, items)
        elif _is_scalar(value):
            out.setdefault(path, _scalar(value))


def _is_scalar(value: object) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _scalar(value: Any) -> Scalar:
    if isinstance(value, str):
        return value[:MAX_TEXT]
    if isinstance(value, float) and value != value:  # NaN never equals anything
        return None
    return value  # type: ignore[no-any-return]
