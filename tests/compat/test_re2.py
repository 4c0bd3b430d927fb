"""Contract of alerter/compat/re2.py with google-re2's real code: the bare `RE2.Match` probe
answers exactly what the wrapper's `search` / `fullmatch` answer, for patterns with and
without groups (the probe's pattern captures none), on any text, lone surrogates included."""

from __future__ import annotations

from importlib.metadata import version

import re2
from hypothesis import given, settings
from hypothesis import strategies as st

from alerter.compat import re2 as compat
from alerter.compat.re2 import prober

PATTERNS = (
    "abc",
    "^ab",
    "b$",
    "(?i)straße",
    "é+",
    "a|",
    r"^(transfer|tool)_(failed|error|7)$",
    r"SIP (4\d\d|5\d\d) .*7",
    "(?s:tr.*)",
    "(a+)+b",
    "",
    r"\bx\b",
    "[^a]",
)
TEXTS = st.text(alphabet=st.sampled_from("abcSIP 4057_éßSTRASSEtrx\n\ud800😀"), max_size=20)


def options(never_capture: bool) -> re2.Options:
    chosen = re2.Options()
    chosen.never_capture = never_capture
    return chosen


def wrapper_says(pattern: str, text: str, whole: bool) -> bool:
    compiled = re2.compile(pattern, options(False))
    try:
        return (compiled.fullmatch if whole else compiled.search)(text) is not None
    except UnicodeEncodeError:  # the wrapper cannot encode a lone surrogate: ask on bytes
        raw = text.encode("utf-8", "surrogatepass")
        return (compiled.fullmatch if whole else compiled.search)(raw) is not None


def test_written_against_the_installed_version() -> None:
    # A new google-re2 may match elsewhere than `_regexp.Match`: read re2/__init__.py again.
    assert compat.WRITTEN_AGAINST == {"google-re2": version("google-re2")}


@settings(max_examples=300, deadline=None)
@given(pattern=st.sampled_from(PATTERNS), text=TEXTS, whole=st.booleans())
def test_the_probe_answers_what_the_wrapper_answers(pattern: str, text: str, whole: bool) -> None:
    for never_capture in (False, True):
        probe = prober(re2.compile(pattern, options(never_capture)), whole)
        assert probe(text) is wrapper_says(pattern, text, whole)


def test_search_and_fullmatch_differ_where_they_should() -> None:
    compiled = re2.compile("b", options(True))
    assert (prober(compiled, False)("abc"), prober(compiled, True)("abc")) == (True, False)
    assert prober(compiled, True)("b") is True


def test_a_lone_surrogate_is_matched_on_its_bytes() -> None:
    compiled = re2.compile("x.y", options(True))
    assert prober(compiled, False)("ax\ud800y") is True
    assert prober(compiled, False)("ax\ud800\ud800y") is False
