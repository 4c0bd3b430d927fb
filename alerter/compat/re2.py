"""RE2 asked only whether a pattern matches, beneath google-re2's Python wrapper: its
`search` and `fullmatch` build a generator, map byte offsets back to str offsets and make a
match object on every call (≈4 µs a call, measured; docs/performance.md, "Rule evaluation on
RE2, its overhead cut"). The binding's `RE2.Match` answers the same question on the text's
UTF-8 bytes, the same call the wrapper makes, in ≈0.6 µs when the pattern captures no groups.

Written against google-re2 1.1.20251105 (tests/compat/test_re2.py): relies on a compiled
pattern's `_regexp` (the binding's `RE2`), `RE2.Match(anchor, bytes, pos, endpos)` returning
spans whose first is (-1, -1) when nothing matched, and `RE2.Anchor`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import re2

WRITTEN_AGAINST = {"google-re2": "1.1.20251105"}

NO_MATCH = (-1, -1)
_ANCHOR = re2._Anchor  # the binding's RE2.Anchor


def prober(compiled: Any, whole: bool) -> Callable[[str], bool]:
    """Whether `compiled` (from `re2.compile`) matches somewhere in a text, or all of it
    (`whole`): what the wrapper's `search` / `fullmatch` return, as a bool."""
    match = compiled._regexp.Match
    anchor = _ANCHOR.ANCHOR_BOTH if whole else _ANCHOR.UNANCHORED

    def probe(text: str) -> bool:
        try:
            raw = text.encode()
        except UnicodeEncodeError:  # a lone surrogate (from JSON's \ud800): match its bytes
            raw = text.encode("utf-8", "surrogatepass")
        return bool(match(anchor, raw, 0, len(raw))[0] != NO_MATCH)

    return probe
