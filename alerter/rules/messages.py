"""Rule-file errors in a rule author's words: which rule, which value, and the nearest valid
one (`'TRANSFERS' is not a category; did you mean 'TRANSFER'?`)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from alerter.rules.noise import MuteWindowSpec, WhenSpec
from alerter.rules.spec import DestinationSpec, LinkSpec, MatchSpec, RuleFileSpec, RuleSpec

# What each place in a rule file may hold, for "did you mean" on unknown keys.
_SECTIONS: dict[tuple[str, ...], type[BaseModel]] = {
    (): RuleFileSpec,
    ("rules", "#"): RuleSpec,
    ("rules", "#", "match"): MatchSpec,
    ("rules", "#", "when"): WhenSpec,
    ("rules", "#", "mute_windows", "#"): MuteWindowSpec,
    ("rules", "#", "links", "#"): LinkSpec,
    ("destinations", "*"): DestinationSpec,
}
_QUOTED = re.compile(r"'([^']*)'")
# PyYAML's problems, said plainly; the original follows in parentheses.
_YAML_PROBLEMS = (
    ("found character '\\t'", "a tab where YAML wants spaces for indentation"),
    (
        "expected <block end>",
        "the indentation is off: this line does not line up with the ones above it",
    ),
    (
        "mapping values are not allowed",
        "a ':' where a plain value was expected: quote a value that holds ': '",
    ),
    ("could not find expected ':'", "a key without its ':', or a line that should be indented"),
    ("found unexpected end of stream", "a quote, '[' or '{' that is never closed"),
    ("expected ',' or ']'", "a '[' list that is not closed, or items not separated by ','"),
    ("expected ',' or '}'", "a '{' mapping that is not closed, or items not separated by ','"),
    ("found undefined alias", "an '*alias' with no '&anchor' of that name"),
    ("found duplicate anchor", "the same '&anchor' twice"),
)


def yaml_problem(problem: str | None) -> str:
    text = problem or "unreadable YAML"
    for needle, plain in _YAML_PROBLEMS:
        if needle in text:
            return f"invalid YAML: {plain} ({text})"
    return f"invalid YAML: {text}"


def message(loc: tuple[Any, ...], err: Mapping[str, Any], rule_names: Sequence[str | None]) -> str:
    """One validation error: `rule 'x': where: what`, with a suggestion when one is close."""
    prefix, skip = "", 0
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        name = rule_names[loc[1]] if loc[1] < len(rule_names) else None
        prefix, skip = (f"rule {name!r}: " if name else f"rule #{loc[1] + 1}: "), 2
    return prefix + _what(loc, skip, err)


def _what(full: tuple[Any, ...], skip: int, err: Mapping[str, Any]) -> str:
    """`full`: the error's place in the file; the first `skip` parts are said already."""
    loc = full[skip:]
    where = dotted(loc)
    kind = err["type"]
    if kind in ("extra_forbidden", "missing"):
        parent = dotted(loc[:-1]) or ("" if skip else "top level")
        at = f"{parent}: " if parent else ""
        if kind == "missing":
            return f"{at}missing required key {loc[-1]!r}"
        unknown = str(loc[-1])
        return f"{at}unknown key {unknown!r}{did_you_mean(unknown, _keys_at(full[:-1]))}"
    if kind in ("enum", "literal_error"):
        given = err.get("input")
        options = _QUOTED.findall(str((err.get("ctx") or {}).get("expected", "")))
        noun = next((str(p) for p in reversed(loc) if isinstance(p, str)), "value")
        text = f"{given!r} is not a {noun}{did_you_mean(str(given), options)}"
        if not did_you_mean(str(given), options):
            text += f" (one of: {', '.join(options)})"
        return f"{where}: {text}" if where else text
    text = str(err["msg"]).removeprefix("Value error, ")
    return f"{where}: {text}" if where else text


def did_you_mean(given: str, options: Iterable[str]) -> str:
    by_folded = {option.casefold(): option for option in options}
    close = difflib.get_close_matches(given.casefold(), list(by_folded), n=1, cutoff=0.6)
    return f"; did you mean {by_folded[close[0]]!r}?" if close else ""


def _keys_at(loc: tuple[Any, ...]) -> list[str]:
    shape = tuple("#" if isinstance(p, int) else p for p in loc)
    if len(shape) == 2 and shape[0] == "destinations":
        shape = ("destinations", "*")
    model = _SECTIONS.get(shape)
    return list(model.model_fields) if model else []


def dotted(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and ("[" in part or "function-" in part):
            continue  # pydantic's union-member tags say nothing to a rule author
        else:
            out += f".{part}" if out else str(part)
    return out
