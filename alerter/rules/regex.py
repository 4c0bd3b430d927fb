"""Regular expressions that come from users (rules' `re:` and `regex`, silences' `=~`), run on
RE2: matching takes time linear in the text, whatever the pattern, so no pattern can stall
the worker or the api (Python's `re` backtracks: `(a+)+` on 30 characters takes seconds).

RE2 has no backreferences and no lookaround; such a pattern is refused with RE2's reason.
The project's own fixed patterns stay on Python's `re`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import re2

from alerter.compat.re2 import prober

# Room for any sensible pattern; a pattern past it (`(x{500}){500}`) is refused, not run.
MAX_PROGRAM_BYTES = 2 << 20
MAX_PATTERN_CHARS = 2_000
# Every character RE2's syntax gives a meaning to; a pattern with none of them is a literal.
META = frozenset("\\.^$|?*+()[]{}")


def _options(never_capture: bool = False) -> Any:
    options = re2.Options()
    options.log_errors = False  # RE2 would print every refused pattern to stderr
    options.max_mem = MAX_PROGRAM_BYTES
    # Groups only cost when asked whether it matches: RE2 then tracks no submatches.
    options.never_capture = never_capture
    return options


@dataclass(frozen=True, slots=True)
class Regex:
    """A compiled RE2 pattern: `search` (anywhere in the text) and `fullmatch` (all of it)."""

    pattern: str
    compiled: Any = field(compare=False, repr=False)
    # The yes-or-no answers, straight from RE2 (alerter.compat.re2): what evaluation calls.
    searches: Callable[[str], bool] = field(compare=False, repr=False)
    fullmatches: Callable[[str], bool] = field(compare=False, repr=False)

    def search(self, text: str) -> bool:
        return self.searches(text)

    def fullmatch(self, text: str) -> bool:
        return self.fullmatches(text)

    def sub(self, replacement: str, text: str) -> str:
        """Every match replaced by `replacement` (taken literally)."""
        literal = replacement.replace("\\", "\\\\")
        try:
            return str(self.compiled.sub(literal, text))
        except UnicodeEncodeError:  # a lone surrogate: replace in its bytes, as above
            raw = text.encode("utf-8", "surrogatepass")
            done = self.compiled.sub(literal.encode(), raw)
            return str(done.decode("utf-8", "surrogatepass"))


def regex_problem(pattern: str) -> str | None:
    """Why RE2 will not run `pattern` (in words an author can act on), or None."""
    try:
        compile_re2(pattern)
    except ValueError as exc:
        return str(exc)
    return None


@lru_cache(maxsize=512)
def compile_re2(pattern: str) -> Regex:
    """Raises ValueError with RE2's reason (and what RE2 lacks, when that is the cause)."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise ValueError(f"regular expression longer than {MAX_PATTERN_CHARS} characters")
    try:
        compiled = re2.compile(pattern, _options())
    except re2.error as exc:
        reason = _said(exc)
        raise ValueError(f"bad regular expression ({reason}){_hint(reason)}") from None
    if META.isdisjoint(pattern):  # a literal: str's own search, linear too, and quicker
        return Regex(pattern, compiled, lambda text: pattern in text, pattern.__eq__)
    probed = re2.compile(pattern, _options(never_capture=True))
    return Regex(pattern, compiled, prober(probed, False), prober(probed, True))


def _said(exc: Exception) -> str:
    said = exc.args[0] if exc.args else "refused"
    text = said.decode("utf-8", "replace") if isinstance(said, bytes) else str(said)
    return text[:200]


def _hint(reason: str) -> str:
    """What RE2 lacks, when that is why the pattern was refused."""
    if reason.startswith("invalid escape sequence: \\") and reason[-1:].isdigit():
        return "; RE2 (which runs alerter's regular expressions) has no backreferences"
    if reason.startswith(("invalid perl operator: (?=", "invalid perl operator: (?!")) or (
        reason.startswith("invalid perl operator: (?<") and not reason.endswith("(?P<")
    ):
        return "; RE2 (which runs alerter's regular expressions) has no lookaround"
    if reason == "invalid escape sequence: \\Z":
        return "; write \\z for the end of the text"
    return ""


def compile_glob(pattern: str) -> Regex:
    """A shell glob (`*`, `?`, `[...]`, `[!...]`) as an RE2 pattern matching the whole text
    (`fnmatch.translate` writes atomic groups, which RE2 lacks)."""
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        i += 1
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "[":
            start = i + (pattern[i : i + 1] == "!")
            start += pattern[start : start + 1] == "]"  # a leading `]` is a member
            end = pattern.find("]", start)
            if end < 0:  # no closing bracket: a literal `[`, as fnmatch reads it
                out.append(re2.escape("["))
                continue
            body = "".join("\\" + c if c in "\\[]" else c for c in pattern[i:end])
            if body.startswith("!"):
                body = "^" + body[1:]
            elif body.startswith("^"):
                body = "\\" + body
            out.append(f"[{body}]")
            i = end + 1
        else:
            out.append(re2.escape(char))
    return compile_re2("(?s:" + "".join(out) + ")")
