"""Value conditions shared by `match.data` and `call`, and event patterns.

A condition is written as a scalar (equals), a list (any of), or a mapping of operators
(`equals`, `contains`, `regex`, `exists`, `in`; all given must hold). They are compiled once
at load time into plain predicates, so evaluation does no parsing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from alerter.rules.regex import Regex, compile_glob, compile_re2

OPERATORS = ("equals", "contains", "regex", "exists", "in")
MISSING = object()

Predicate = Callable[[object], bool]


@dataclass(frozen=True, slots=True)
class Condition:
    """A compiled condition on one field, addressed by a dotted path."""

    path: tuple[str, ...]
    test: Predicate
    wants_missing: bool = False  # `exists: false` holds when the field is absent
    dotted: str = ""  # the path as written: a flattened field's key (made once, not per log)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dotted", ".".join(self.path))

    def holds(self, source: Mapping[str, Any] | None) -> bool:
        if source is None:
            value: object = MISSING
        else:  # the dotted key itself first (all a one-part path needs), then the path
            value = source.get(self.dotted, MISSING)
            if value is MISSING and len(self.path) > 1:
                value = lookup(source, self.path, self.dotted)
        if isinstance(value, (list, tuple)):
            # A list holds when one of its items does; an empty list counts as absent.
            if value:
                return any(self.test(item) for item in value)
            value = MISSING
        if value is MISSING:
            return self.wants_missing
        return self.test(value)


def lookup(source: Mapping[str, Any] | None, path: tuple[str, ...], joined: str = "") -> object:
    """The value at a dotted path; a key holding the whole dotted name wins (flattened fields).
    `joined`: the path's dotted name, when the caller has it already."""
    if source is None:
        return MISSING
    joined = joined or ".".join(path)
    if joined in source:
        return source[joined]
    value: object = source
    for part in path:
        if not isinstance(value, Mapping) or part not in value:
            return MISSING
        value = value[part]
    return value


def compile_condition(path: str, spec: object) -> Condition:
    """Raises ValueError with a message fit for `file:line: message`."""
    parts = tuple(path.split("."))
    if any(not part for part in parts):
        raise ValueError(f"field path {path!r} has an empty part")
    if isinstance(spec, Mapping):
        return _compile_operators(parts, spec)
    if isinstance(spec, list):
        return Condition(parts, _one_of(spec, path))
    if _is_scalar(spec):
        return Condition(parts, _equals(spec))
    raise ValueError(f"condition on {path!r} must be a value, a list, or a mapping of operators")


def _compile_operators(parts: tuple[str, ...], spec: Mapping[Any, Any]) -> Condition:
    path = ".".join(parts)
    unknown = [str(key) for key in spec if key not in OPERATORS]
    if unknown:
        raise ValueError(
            f"unknown operator {unknown[0]!r} on {path!r} (known: {', '.join(OPERATORS)})"
        )
    if not spec:
        raise ValueError(f"condition on {path!r} names no operator")
    tests: list[Predicate] = []
    wants_missing = False
    for op, arg in spec.items():
        if op == "equals":
            if not _is_scalar(arg):
                raise ValueError(f"'equals' on {path!r} takes a single value")
            tests.append(_equals(arg))
        elif op == "in":
            if not isinstance(arg, list):
                raise ValueError(f"'in' on {path!r} takes a list")
            tests.append(_one_of(arg, path))
        elif op == "contains":
            if not isinstance(arg, str) or not arg:
                raise ValueError(f"'contains' on {path!r} takes a non-empty string")
            tests.append(_contains(arg.casefold()))
        elif op == "regex":
            tests.append(_search(compile_regex(arg, f"'regex' on {path!r}")))
        elif op == "exists":
            if not isinstance(arg, bool):
                raise ValueError(f"'exists' on {path!r} takes true or false")
            if not arg:
                if len(spec) > 1:
                    raise ValueError(f"'exists: false' on {path!r} cannot be combined")
                wants_missing = True
                tests.append(lambda value: value is None)
            else:
                tests.append(lambda value: value is not None)
    if len(tests) == 1:
        return Condition(parts, tests[0], wants_missing)
    frozen = tuple(tests)
    return Condition(parts, lambda value: all(test(value) for test in frozen), wants_missing)


def compile_regex(arg: object, where: str) -> Regex:
    """On RE2 (`rules.regex`): a pattern it cannot run is refused here, with its reason."""
    if not isinstance(arg, str) or not arg:
        raise ValueError(f"{where} takes a non-empty regular expression")
    try:
        return compile_re2(arg)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def compile_event_pattern(pattern: object) -> Predicate:
    """An event pattern: `re:<regex>`, a glob (`*`, `?`, `[...]`), or an exact name."""
    if not isinstance(pattern, str) or not pattern:
        raise ValueError("event patterns must be non-empty strings")
    if pattern.startswith("re:"):
        regex = compile_regex(pattern[3:], f"event pattern {pattern!r}")
        searches = regex.searches
        return lambda value: isinstance(value, str) and searches(value)
    if any(ch in pattern for ch in "*?["):
        try:
            glob = compile_glob(pattern)
        except ValueError as exc:
            raise ValueError(f"event pattern {pattern!r}: {exc}") from None
        fullmatches = glob.fullmatches
        return lambda value: isinstance(value, str) and fullmatches(value)
    return lambda value: value == pattern


def _contains(needle: str) -> Predicate:
    return lambda value: needle in _text(value).casefold()


def _search(pattern: Regex) -> Predicate:
    searches = pattern.searches
    return lambda value: searches(_text(value))


def _equals(expected: object) -> Predicate:
    if isinstance(expected, str):
        return lambda value: _text(value) == expected
    if isinstance(expected, bool) or expected is None:
        return lambda value: value is expected
    return lambda value: not isinstance(value, bool) and value == expected


def _one_of(options: list[Any], path: str) -> Predicate:
    if not options:
        raise ValueError(f"list of values on {path!r} is empty")
    if not all(_is_scalar(option) for option in options):
        raise ValueError(f"list on {path!r} must hold plain values")
    tests = tuple(_equals(option) for option in options)
    return lambda value: any(test(value) for test in tests)


def _is_scalar(value: object) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
