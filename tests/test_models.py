"""Diga's log pages are cut to bounds as they are decoded: no text past its cap reaches a
rule, a signature or an alert, however long Diga's lines are."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerter import models
from alerter.models import (
    LOG_DATA_DEPTH,
    LOG_DATA_KEYS,
    LOG_NAME_CHARS,
    LOG_TEXT_CHARS,
    LogsInvalid,
    parse_logs,
    parse_page,
)


def page(**fields: object) -> bytes:
    log = {
        "id": "l1",
        "timestamp": "2026-11-25T12:00:00Z",
        "level": "ERROR",
        "category": "TRANSFER",
        "event": "transfer_failed",
        **fields,
    }
    return json.dumps({"data": [log], "has_more": False}).encode()


def test_a_log_within_bounds_is_kept_as_decoded() -> None:
    data = {"message_text": "x" * LOG_TEXT_CHARS, "n": 1, "ok": True, "f": 0.5, "none": None}
    (log,) = parse_page(page(data=data, trace_id="t" * LOG_NAME_CHARS)).data
    assert log.data == data and log.trace_id == "t" * LOG_NAME_CHARS


def test_every_name_is_cut() -> None:
    long = "n" * (LOG_NAME_CHARS + 50)
    for name in ("id", "level", "category", "event", "call_id", "trace_id"):
        (log,) = parse_page(page(**{name: long})).data
        assert getattr(log, name) == "n" * LOG_NAME_CHARS, name


def test_data_texts_keys_and_sizes_are_cut() -> None:
    text = "x" * (LOG_TEXT_CHARS + 1)
    (log,) = parse_page(page(data={"message_text": text, "k" * 300: 1})).data
    assert log.data == {"message_text": "x" * LOG_TEXT_CHARS, "k" * LOG_NAME_CHARS: 1}
    many = {f"k{i}": i for i in range(LOG_DATA_KEYS + 10)}
    (log,) = parse_page(page(data=many)).data
    assert log.data is not None and len(log.data) == LOG_DATA_KEYS


def test_nested_data_is_cut_at_every_level_and_depth() -> None:
    deep: object = "bottom"
    for _ in range(LOG_DATA_DEPTH + 2):
        deep = {"d": deep}
    nested = {"list": ["y" * (LOG_TEXT_CHARS + 5)] * (LOG_DATA_KEYS + 5), "deep": deep}
    (log,) = parse_logs([json.loads(page(data=nested))["data"][0]])
    assert log.data is not None
    assert log.data["list"] == ["y" * LOG_TEXT_CHARS] * LOG_DATA_KEYS
    level = log.data["deep"]
    for _ in range(LOG_DATA_DEPTH - 2):
        level = level["d"]
    assert level == {"d": None}  # past the depth cap: gone, not kept


def test_a_page_within_bounds_is_decoded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The usual page is checked while msgspec decodes it; only one past a bound is decoded
    a second time to be cut."""
    cut = models._decode_cut
    monkeypatch.setattr(models, "_decode_cut", None)  # any use of it would fail
    nested = {"a": [1, 2.5, None, True, {"b": "x" * LOG_TEXT_CHARS}], "c": {"d": {"e": "f"}}}
    (log,) = parse_page(page(data=nested)).data
    assert log.data == nested
    monkeypatch.setattr(models, "_decode_cut", cut)
    (log,) = parse_page(page(event="e" * (LOG_NAME_CHARS + 1))).data
    assert log.event == "e" * LOG_NAME_CHARS


def test_a_page_not_of_logs_says_where_whichever_decoder_saw_it() -> None:
    with pytest.raises(LogsInvalid, match=r"^data\.0\.timestamp: "):
        parse_page(page(timestamp="yesterday"))
    with pytest.raises(LogsInvalid, match=r"^data\.0\.level: Expected `str`"):
        parse_page(page(level=5, event="e" * (LOG_NAME_CHARS + 1)))
    with pytest.raises(LogsInvalid, match=r"^Input data was truncated$"):
        parse_page(b'{"data": [')


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
    | st.sampled_from(["t" * LOG_TEXT_CHARS, "t" * (LOG_TEXT_CHARS + 1)]),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.text(max_size=4) | st.just("k" * (LOG_NAME_CHARS + 1)), inner, max_size=4
        )
    ),
    max_leaves=12,
)


@given(data=st.dictionaries(st.text(max_size=5), JSON_VALUES, max_size=5), deep=st.integers(0, 7))
def test_both_decoders_give_the_same_logs(data: dict[str, Any], deep: int) -> None:
    """Whether a page goes the checked way or is cut, its logs are the same: what
    `bounded_data` makes of them."""
    nested: Any = data
    for _ in range(deep):
        nested = {"d": nested}
    raw = page(data=nested)
    (log,) = parse_page(raw).data
    (cut,) = models._decode_cut(raw).data
    assert log == cut
    assert log.data == models.bounded_data(json.loads(raw)["data"][0]["data"])


def test_logs_are_not_tracked_by_the_cycle_collector() -> None:
    """A worker holds the logs of hundreds of calls in flight: the collector need not walk
    them (they hold no references that could make a cycle)."""
    import gc

    (log,) = parse_page(page(data={"a": [1, {"b": "c"}]})).data
    (cut,) = parse_page(page(event="e" * (LOG_NAME_CHARS + 1))).data
    assert not gc.is_tracked(log) and not gc.is_tracked(cut)
