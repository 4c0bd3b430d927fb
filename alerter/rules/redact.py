"""PII redaction per destination (pure): phone numbers, e-mail addresses, digits, regexes.

Applied (by `render.redaction.redacted` and the digest and episode renderers) to every
text rendered for a destination that asks for it: titles, summaries, excerpts, call fields,
events, link texts and urls (the Silence… prefill too), digests and resolved messages. Call
ids are kept: they carry no personal data and are what an operator looks up.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from alerter.rules.regex import compile_re2

# International and national formats: +34 600 000 000, +1 (202) 555-0143, 0044 20 7946 0958,
# 600-000-000, (555) 123 4567. Seven digits at least, so years and codes are left alone.
PHONE = re.compile(r"(?<![\w+])(?:\+|00)?\(?\d(?:[\s().-]{0,2}\d){6,16}(?![\w])")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
DIGITS = re.compile(r"\d")
NAMED = {"phone": (PHONE, "[phone]"), "email": (EMAIL, "[email]"), "digits": (DIGITS, "#")}


class Replacing(Protocol):
    @property
    def pattern(self) -> str: ...

    def sub(self, replacement: str, text: str, /) -> str: ...


@dataclass(frozen=True, slots=True)
class Redactor:
    # The named patterns are the project's own (Python's re); a user's runs on RE2.
    patterns: tuple[tuple[Replacing, str], ...]

    def __call__(self, text: str) -> str:
        text = _visible(text)
        for pattern, replacement in self.patterns:
            text = pattern.sub(replacement, text)
        return text

    def keeping(self, kept: str) -> Callable[[str], str]:
        """This redactor, leaving every occurrence of `kept` (a call id) as it is."""
        if not kept:
            return self
        return lambda text: kept.join(self(part) for part in text.split(kept))


def _visible(text: str) -> str:
    """Without format characters (zero-width spaces, bidi controls, soft hyphens): one
    between two digits would hide a phone number from the patterns."""
    if text.isascii():
        return text
    return "".join(c for c in text if unicodedata.category(c) != "Cf")


def compile_redactor(kinds: Iterable[str]) -> Redactor:
    """`phone`, `email`, `digits`, or a regular expression. Raises ValueError."""
    named, custom = [], []
    for kind in kinds:
        if kind in NAMED:
            named.append(NAMED[kind])
        else:
            try:
                custom.append((compile_re2(kind), "[redacted]"))
            except ValueError as exc:
                raise ValueError(
                    f"redact {kind!r}: not phone, email, digits or a regex ({exc})"
                ) from None
    # E-mail before phone (addresses hold digits); digits last, after every other pattern.
    order = {"[email]": 0, "[phone]": 1, "[redacted]": 2, "#": 3}
    return Redactor(tuple(sorted([*named, *custom], key=lambda p: order[p[1]])))
