"""Silence matchers, as Alertmanager writes them: `field op value`, where a value from a call
or a log is always quoted back as a literal (`literal`). Pure."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from alerter.rules.regex import compile_re2

OPERATORS = ("=", "!=", "=~", "!~")  # Alertmanager's
_MATCHER = re.compile(r"^\s*([A-Za-z_][\w.-]*)\s*(=~|!~|!=|=)(.*)$")


@dataclass(frozen=True, slots=True)
class Matcher:
    """`field op value`; a regex is anchored at both ends, as Alertmanager's are, and a field
    the alert lacks counts as empty."""

    name: str
    op: str
    value: str

    def __post_init__(self) -> None:
        if self.op not in OPERATORS:
            raise ValueError(f"matcher operator {self.op!r} is not one of {', '.join(OPERATORS)}")
        if self.op in ("=~", "!~"):  # on RE2: linear in the text, whatever the pattern
            try:
                compile_re2(self.value)
            except ValueError as exc:
                raise ValueError(f"matcher {self.name}{self.op}{self.value[:100]}: {exc}") from None

    def holds(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        found = compile_re2(self.value).fullmatch(actual)
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        return f"{self.name}{self.op}{literal(self.value)}"


def parse_matcher(text: str) -> Matcher:
    """`agent_id=ag-1`, `status!=ok`, `event=~transfer_.*`, `data.reason!~.*timeout.*`."""
    found = _MATCHER.match(text)
    if not found:
        raise ValueError(f"{text!r} is not a matcher like FIELD=VALUE (or !=, =~, !~)")
    name, op, value = found.groups()
    return Matcher(name, op, _unquoted(value.strip()))


def literal(value: str) -> str:
    """`value` as matcher text that `parse_matcher` (and the form's one-a-line-or-comma
    split) reads back as exactly it: as it is when nothing in it can be misread, else a
    JSON string with `,` and every unprintable character escaped. So a value from a call or
    log can never become a regex (a leading `~`) or a second matcher (`,`, a line break)."""
    plain = value.isprintable() and value == value.strip() and "," not in value
    if plain and not value.startswith(("~", '"')):
        return value
    quoted = json.dumps(value, ensure_ascii=False)
    return "".join(c if c.isprintable() and c != "," else _json_escape(c) for c in quoted)


def _json_escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000  # a UTF-16 surrogate pair, as JSON writes characters past the BMP
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def _unquoted(value: str) -> str:
    """A value in double quotes that reads as a JSON string is that string (see `literal`)."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            decoded = json.loads(value)
        except ValueError:
            return value
        if isinstance(decoded, str):
            return decoded
    return value
