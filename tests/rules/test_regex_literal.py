"""A rule's regex with no RE2 metacharacter is answered by str's own search and equality:
exactly RE2's answers, on any text (Unicode, line breaks, lone surrogates)."""

from __future__ import annotations

import re2
from hypothesis import given, settings
from hypothesis import strategies as st

from alerter.rules.regex import META, compile_re2

ALPHABET = "abAB9 _-:/#\n\t,ßSé😀\ud800"
LITERALS = st.text(alphabet=st.sampled_from(ALPHABET), min_size=1, max_size=4)
TEXTS = st.text(alphabet=st.sampled_from(ALPHABET), max_size=12)


def re2_says(pattern: str, text: str, whole: bool) -> bool:
    compiled = re2.compile(pattern)
    raw = text.encode("utf-8", "surrogatepass")
    return (compiled.fullmatch if whole else compiled.search)(raw) is not None


@settings(max_examples=400, deadline=None)
@given(pattern=LITERALS, text=TEXTS, whole=st.booleans())
def test_a_literal_answers_as_re2(pattern: str, text: str, whole: bool) -> None:
    if "\ud800" in pattern:  # not a pattern RE2 takes (it is not UTF-8)
        return
    assert META.isdisjoint(pattern)
    regex = compile_re2(pattern)
    answer = regex.fullmatch(text) if whole else regex.search(text)
    assert answer is re2_says(pattern, text, whole)


@settings(max_examples=200, deadline=None)
@given(literal=LITERALS, text=TEXTS)
def test_a_literal_with_text_around_it_is_found(literal: str, text: str) -> None:
    if "\ud800" in literal:
        return
    regex = compile_re2(literal)
    assert regex.search(text + literal + text) is True
    assert regex.fullmatch(literal + text) is (text == "")


def test_a_pattern_with_a_metacharacter_still_runs_on_re2() -> None:
    assert compile_re2("a.c").search("xabcx") is True
    assert compile_re2("a.c").search("xa.cx") is True
    assert compile_re2("a\\.c").search("xabcx") is False
