"""Text helpers every medium shares (pure): bidi and format controls out, log text indented."""

from __future__ import annotations

import re
from typing import Any

import msgspec

# Unicode's bidi controls (embeddings, overrides, isolates, marks): they reorder what a reader
# sees ("Trojan Source"), so log text could show one thing and say another.
BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
INDENT = "    "


def bidi_free(text: str) -> str:
    return BIDI_CONTROLS.sub("", text)


def bidi_free_json(value: Any) -> Any:
    """Every string in a JSON-like value (a Slack payload), keys included. Encoded first
    (msgspec, in C): a payload with no control anywhere is answered as it is, without the
    walk that was a third of an alert's rendering."""
    try:
        if BIDI_CONTROLS.search(_ENCODER.encode(value).decode()) is None:
            return value
    except (TypeError, ValueError, UnicodeDecodeError):
        pass  # not JSON as msgspec reads it: walked
    return _walked(value)


_ENCODER = msgspec.json.Encoder()


def _walked(value: Any) -> Any:
    if isinstance(value, str):
        return bidi_free(value)
    if isinstance(value, dict):
        return {_walked(k): _walked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_walked(item) for item in value]
    return value


def indented(text: str) -> str:
    """Every line indented (any line break a reader honours counts), so no line of it can
    pass for one of alerter's own, which start at the margin."""
    return "\n".join(INDENT + line for line in text.splitlines() or [""])
