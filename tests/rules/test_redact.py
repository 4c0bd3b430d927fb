"""A destination's own `redact:` regexes run on RE2, like every regex that comes from users."""

from __future__ import annotations

import time

import pytest

from alerter.rules.redact import compile_redactor


def test_a_custom_redaction_pattern_cannot_stall_the_worker() -> None:
    # On Python's re, `(a+)+$` over 40 a's and a `!` backtracks for minutes.
    redact = compile_redactor(["(a+)+$"])
    started = time.monotonic()
    assert redact("a" * 40 + "!") == "a" * 40 + "!"
    assert time.monotonic() - started < 2
    assert redact("x aaa") == "x [redacted]"


def test_a_custom_redaction_pattern_re2_cannot_run_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="no backreferences"):
        compile_redactor([r"(\d)\1"])


def test_custom_redaction_replaces_every_match_literally_lone_surrogates_too() -> None:
    redact = compile_redactor([r"acct-\d+", "phone"])
    assert redact("acct-12 and acct-345, +34 600 000 000") == "[redacted] and [redacted], [phone]"
    assert redact("x\ud800acct-9") == "x\ud800[redacted]"
