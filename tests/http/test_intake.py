"""Webhook body parsing (pure)."""

from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerter.http.intake import MAX_FIELDS, Ignored, IntakeError, parse_webhook
from alerter.models import CallEnded
from alerter.settings import DEFAULT_CALL_END_EVENTS

EVENTS = frozenset(DEFAULT_CALL_END_EVENTS.split(","))
CALL = "3c90c3cc-0d44-4b50-8888-8dd25736052a"


def parse(body: object) -> CallEnded | Ignored:
    return parse_webhook(json.dumps(body).encode(), EVENTS)


def test_shape_with_top_level_call_id() -> None:
    call = parse({"event": "call.ended", "call_id": CALL})
    assert call == CallEnded(call_id=CALL, event="call.ended", fields={})


def test_shape_with_call_object_keeps_its_fields() -> None:
    call = parse(
        {
            "event": "call.ended",
            "call": {
                "id": CALL,
                "agent_id": "ag-1",
                "end_reason": "error",
                "contact": {"identifier": "+34600000000", "name": "Ana"},
                "tags": ["vip", "es"],
            },
        }
    )
    assert isinstance(call, CallEnded)
    assert call.call_id == CALL
    assert call.fields == {
        "agent_id": "ag-1",
        "end_reason": "error",
        "contact.identifier": "+34600000000",
        "contact.name": "Ana",
        "tags": ("vip", "es"),
    }


def test_shape_with_data_object() -> None:
    call = parse({"type": "call_ended", "data": {"id": CALL, "status": "failed", "duration": 12}})
    assert isinstance(call, CallEnded)
    assert call.event == "call_ended"
    assert call.fields == {"status": "failed", "duration": 12}


def test_call_id_precedence() -> None:
    other = str(uuid.uuid4())
    body = {"call_id": CALL, "call": {"id": other}, "data": {"call_id": other, "id": other}}
    assert parse(body).call_id == CALL  # type: ignore[union-attr]
    assert parse({"data": {"call_id": CALL, "id": other}}).call_id == CALL  # type: ignore[union-attr]


def test_call_id_is_canonical_uuid() -> None:
    call = parse({"call_id": CALL.upper()})
    assert isinstance(call, CallEnded) and call.call_id == CALL


def test_event_names_are_case_insensitive_and_optional() -> None:
    assert isinstance(parse({"event": "CALL.FAILED", "call_id": CALL}), CallEnded)
    assert isinstance(parse({"call_id": CALL}), CallEnded)
    assert isinstance(parse({"event_type": "call_completed", "call_id": CALL}), CallEnded)


def test_other_events_are_ignored_whatever_else_they_hold() -> None:
    assert parse({"event": "call.started", "call_id": CALL}) == Ignored("call.started", CALL)
    # Judged first: no call id, or a bad one, still only makes it "ignored".
    assert parse({"event": "agent.updated"}) == Ignored("agent.updated", None)
    assert parse({"type": "x", "call_id": 12}) == Ignored("x", None)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "INVALID_JSON"),
        (b"\xff\xfe", 400, "INVALID_JSON"),
        (b"[1, 2]", 400, "INVALID_PAYLOAD"),
        (b'"call"', 400, "INVALID_PAYLOAD"),
        (b'{"event": "call.ended"}', 422, "MISSING_CALL_ID"),
        (b'{"call_id": "not-a-uuid"}', 422, "INVALID_CALL_ID"),
        (b'{"call_id": 42}', 422, "INVALID_CALL_ID"),
        (b'{"call": {"id": null}}', 422, "MISSING_CALL_ID"),
    ],
)
def test_refusals(body: bytes, status: int, code: str) -> None:
    with pytest.raises(IntakeError) as caught:
        parse_webhook(body, EVENTS)
    assert (caught.value.status, caught.value.code) == (status, code)


def test_kept_fields_are_bounded() -> None:
    fields = {f"f{i}": "x" * 10_000 for i in range(500)}
    deep: dict[str, object] = {"v": 1}
    for _ in range(20):
        deep = {"d": deep}
    call = parse({"call": {"id": CALL, **fields, "deep": deep}})
    assert isinstance(call, CallEnded)
    assert len(call.fields) <= MAX_FIELDS
    assert all(len(str(v)) <= 512 for v in call.fields.values())


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(deadline=None)
@given(
    body=st.dictionaries(
        st.sampled_from(["event", "type", "call_id", "call", "data", "x"]), json_values, max_size=5
    )
)
def test_any_json_object_is_accepted_ignored_or_refused_cleanly(body: dict[str, object]) -> None:
    try:
        result = parse(body)
    except IntakeError as exc:
        assert exc.status in (400, 422)
        return
    assert isinstance(result, (CallEnded, Ignored))


@settings(deadline=None)
@given(raw=st.binary(max_size=200))
def test_any_bytes_never_raise_anything_but_intake_errors(raw: bytes) -> None:
    try:
        parse_webhook(raw, EVENTS)
    except IntakeError as exc:
        assert exc.status in (400, 422)
