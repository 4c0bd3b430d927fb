"""Diga's log pages are cut to bounds as they are decoded: no text past its cap reaches a
rule, a signature or an alert, however long Diga's lines are."""

from __future__ import annotations

import json

from alerter.models import (
    LOG_DATA_DEPTH,
    LOG_DATA_KEYS,
    LOG_NAME_CHARS,
    LOG_TEXT_CHARS,
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
