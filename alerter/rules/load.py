"""Rule files → a validated, compiled `RuleSet`, or every error as `file:line: message`."""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from alerter.models import FETCHED_LEVELS, LogCategory, LogLevel, Severity
from alerter.rules.conditions import Condition, Predicate, compile_condition, compile_event_pattern
from alerter.rules.noise import Duration, MuteWindowSpec, Noise, WhenSpec, compile_noise
from alerter.rules.redact import Redactor, compile_redactor

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


# ---------------------------------------------------------------- errors


@dataclass(frozen=True, slots=True, order=True)
class RuleError:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class RulesInvalid(Exception):
    def __init__(self, errors: list[RuleError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


# ---------------------------------------------------------------- compiled forms


@dataclass(frozen=True, slots=True)
class Destination:
    name: str
    urls: tuple[str, ...] = field(repr=False)  # apprise URLs carry secrets: never printed
    redactor: Redactor | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    description: str
    severity: Severity
    levels: frozenset[str]
    categories: frozenset[str] | None
    events: tuple[Predicate, ...] | None
    data: tuple[Condition, ...]
    call: tuple[Condition, ...]
    min_matches: int
    notify: tuple[str, ...]
    source: str  # file:line of the rule, for operators
    noise: Noise = field(default_factory=Noise)
    shadow: bool = False
    context: int = 0
    new_signature: bool = False
    signature_days: float = 14


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    destinations: Mapping[str, Destination]
    version: str  # hash of the files' text: tells operators which set is loaded

    @cached_property
    def by_name(self) -> Mapping[str, Rule]:
        return {rule.name: rule for rule in self.rules}

    @cached_property
    def rate_rules(self) -> tuple[Rule, ...]:
        """Rules whose ended calls the api counts on intake."""
        return tuple(rule for rule in self.rules if rule.noise.rate is not None)


# ---------------------------------------------------------------- the YAML schema


def _as_list(value: object) -> object:
    return [value] if isinstance(value, (str, int, float)) else value


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MatchSpec(_Spec):
    level: Annotated[list[LogLevel], BeforeValidator(_as_list)] = Field(
        default_factory=lambda: list(FETCHED_LEVELS), min_length=1
    )
    category: Annotated[list[LogCategory] | None, BeforeValidator(_as_list)] = None
    event: Annotated[list[str] | None, BeforeValidator(_as_list)] = None
    data: dict[str, Any] = Field(default_factory=dict)

    @field_validator("level")
    @classmethod
    def _fetched(cls, levels: list[LogLevel]) -> list[LogLevel]:
        if not set(levels) & set(FETCHED_LEVELS):
            raise ValueError(
                "only ERROR and CRITICAL logs are fetched: this rule could never match"
            )
        return levels

    @field_validator("category", "event")
    @classmethod
    def _not_empty(cls, value: list[Any] | None) -> list[Any] | None:
        if value is not None and not value:
            raise ValueError("an empty list matches nothing: remove the key to match any")
        return value


class RuleSpec(_Spec):
    name: str = Field(pattern=_NAME, max_length=100)
    # shadow: evaluated and recorded ("would have sent"), never notified: tune before it pages.
    mode: Literal["notify", "shadow"] = "notify"
    description: str = ""
    severity: Severity = Severity.WARNING
    match: MatchSpec = Field(default_factory=MatchSpec)
    call: dict[str, Any] = Field(default_factory=dict)
    min_matches: int = Field(default=1, ge=1)
    notify: Annotated[list[str], BeforeValidator(_as_list)] = Field(min_length=1)
    # WARNING lines just before the call's first failure to show in the alert (fetched then).
    context: int = Field(default=0, ge=0, le=20)
    # Fire only on a failure signature not seen in the last `signature_days` days.
    new_signature: bool = False
    signature_days: float = Field(default=14, gt=0)
    # Noise control (all optional): see README "Noise control".
    group_by: Annotated[list[str], BeforeValidator(_as_list)] = Field(default_factory=list)
    repeat_interval: Duration | None = None
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    when: WhenSpec | None = None
    mute_windows: list[MuteWindowSpec] = Field(default_factory=list)


class DestinationSpec(_Spec):
    url: str | list[str]
    # Removed from everything rendered for this destination: phone, email, digits, or a regex.
    redact: Annotated[list[str], BeforeValidator(_as_list)] = Field(default_factory=list)


class RuleFileSpec(_Spec):
    """A file's outer shape; each rule is validated on its own so one bad rule hides no other."""

    destinations: dict[str, str | list[str] | DestinationSpec] = Field(default_factory=dict)
    rules: list[dict[str, Any]] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ParsedFile:
    name: str
    destinations: Mapping[str, str | list[str] | DestinationSpec]
    rules: list[tuple[int, RuleSpec]]  # (position in the file, rule)
    lines: Mapping[tuple[Any, ...], int]


# ---------------------------------------------------------------- loading


def rule_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    return [path]


def load_rules(path: Path, environ: Mapping[str, str] | None = None) -> RuleSet:
    """Every rule file under `path`; raises `RulesInvalid` with all errors found."""
    env = os.environ if environ is None else environ
    files = rule_files(path)
    errors: list[RuleError] = []
    if not path.exists():
        raise RulesInvalid([RuleError(str(path), 0, "no such file or folder")])
    if not files:
        raise RulesInvalid([RuleError(str(path), 0, "no *.yaml rule files here")])
    digest = hashlib.sha256()
    parsed: list[ParsedFile] = []
    for file in files:
        name = str(file)
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(RuleError(name, 0, f"cannot read: {type(exc).__name__}"))
            continue
        digest.update(name.encode() + b"\0" + text.encode() + b"\0")
        spec, file_errors = _parse_file(name, text)
        errors.extend(file_errors)
        if spec is not None:
            parsed.append(spec)
    ruleset = _build(parsed, env, errors, digest.hexdigest()[:12])
    if errors:
        raise RulesInvalid(sorted(set(errors)))
    return ruleset


def _parse_file(name: str, text: str) -> tuple[ParsedFile | None, list[RuleError]]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or "invalid YAML"
        return None, [RuleError(name, line, f"invalid YAML: {problem}")]
    if node is None:
        return ParsedFile(name, {}, [], {}), []
    lines: dict[tuple[Any, ...], int] = {}
    errors: list[RuleError] = []
    data = _to_python(node, (), lines, errors, name)
    if not isinstance(data, dict):
        return None, [RuleError(name, 1, "a rule file is a mapping with `rules:`")]

    def report(exc: ValidationError, prefix: tuple[Any, ...] = ()) -> None:
        for err in exc.errors():
            loc = (*prefix, *err["loc"])
            errors.append(RuleError(name, _line_for(loc, lines), _message(loc, err)))

    try:
        shape = RuleFileSpec.model_validate(data)
    except ValidationError as exc:
        report(exc)
        return None, errors
    rules: list[tuple[int, RuleSpec]] = []
    for index, raw in enumerate(shape.rules):
        try:
            rules.append((index, RuleSpec.model_validate(raw)))
        except ValidationError as exc:
            report(exc, ("rules", index))
    return ParsedFile(name, shape.destinations, rules, lines), errors


def _to_python(
    node: yaml.Node,
    path: tuple[Any, ...],
    lines: dict[tuple[Any, ...], int],
    errors: list[RuleError],
    name: str,
) -> Any:
    """YAML node → Python values, recording the line of every path on the way."""
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            if key in out:
                errors.append(
                    RuleError(name, key_node.start_mark.line + 1, f"duplicate key {key!r}")
                )
            out[key] = _to_python(value_node, (*path, key), lines, errors, name)
            # The key's own line, not its value's, is where an author looks.
            lines[(*path, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [
            _to_python(item, (*path, index), lines, errors, name)
            for index, item in enumerate(node.value)
        ]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        return repr(node.value)[:40]
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def _line_for(loc: tuple[Any, ...], lines: Mapping[tuple[Any, ...], int]) -> int:
    known: tuple[Any, ...] = ()
    for part in loc:
        if (*known, part) in lines:
            known = (*known, part)
    return lines.get(known, 1)


def _message(loc: tuple[Any, ...], err: Mapping[str, Any]) -> str:
    where = _dotted(loc)
    if err["type"] == "extra_forbidden":
        parent = _dotted(loc[:-1]) or "top level"
        return f"{parent}: unknown key {loc[-1]!r}"
    if err["type"] == "missing":
        parent = _dotted(loc[:-1]) or "top level"
        return f"{parent}: missing required key {loc[-1]!r}"
    message = str(err["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def _dotted(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and ("[" in part or "function-" in part):
            continue  # pydantic's union-member tags say nothing to a rule author
        else:
            out += f".{part}" if out else str(part)
    return out


def _build(
    parsed: list[ParsedFile],
    env: Mapping[str, str],
    errors: list[RuleError],
    version: str,
) -> RuleSet:
    destinations: dict[str, Destination] = {}
    seen_destinations: dict[str, str] = {}
    for spec in parsed:
        name, lines = spec.name, spec.lines
        for dest_name, raw in spec.destinations.items():
            at = lines.get(("destinations", dest_name), 1)
            if dest_name in seen_destinations:
                errors.append(
                    RuleError(
                        name,
                        at,
                        f"destination {dest_name!r} already defined at "
                        f"{seen_destinations[dest_name]}",
                    )
                )
                continue
            seen_destinations[dest_name] = f"{name}:{at}"
            redactor = None
            if isinstance(raw, DestinationSpec):
                try:
                    redactor = compile_redactor(raw.redact) if raw.redact else None
                except ValueError as exc:
                    errors.append(RuleError(name, at, f"destination {dest_name!r}: {exc}"))
                raw = raw.url
            values = [raw] if isinstance(raw, str) else raw
            urls: list[str] = []
            for value in values:
                expanded, missing = _expand(value, env)
                for var in missing:
                    errors.append(
                        RuleError(name, at, f"destination {dest_name!r}: ${{{var}}} is not set")
                    )
                if not missing:
                    if not expanded.strip():
                        errors.append(RuleError(name, at, f"destination {dest_name!r} is empty"))
                    elif not _apprise_accepts(expanded):
                        errors.append(
                            RuleError(
                                name,
                                at,
                                f"destination {dest_name!r}: not a URL apprise can send to",
                            )
                        )
                    urls.append(expanded)
            if not values:
                errors.append(RuleError(name, at, f"destination {dest_name!r} has no URL"))
            destinations[dest_name] = Destination(dest_name, tuple(urls), redactor)

    rules: list[Rule] = []
    seen_rules: dict[str, str] = {}
    for spec in parsed:
        name, lines = spec.name, spec.lines
        for index, rule in spec.rules:
            at = lines.get(("rules", index), 1)
            if rule.name in seen_rules:
                errors.append(
                    RuleError(
                        name,
                        lines.get(("rules", index, "name"), at),
                        f"rule name {rule.name!r} already used at {seen_rules[rule.name]}",
                    )
                )
            seen_rules[rule.name] = f"{name}:{at}"
            for position, target in enumerate(rule.notify):
                if target not in seen_destinations:
                    errors.append(
                        RuleError(
                            name,
                            lines.get(("rules", index, "notify", position), at),
                            f"rule {rule.name!r}: destination {target!r} is not defined",
                        )
                    )
            compiled = _compile_rule(rule, f"{name}:{at}", name, lines, index, errors)
            if compiled is not None:
                rules.append(compiled)
    return RuleSet(rules=tuple(rules), destinations=destinations, version=version)


def _compile_rule(
    rule: RuleSpec,
    source: str,
    file: str,
    lines: Mapping[tuple[Any, ...], int],
    index: int,
    errors: list[RuleError],
) -> Rule | None:
    ok = True

    def conditions(section: tuple[Any, ...], specs: Mapping[str, Any]) -> tuple[Condition, ...]:
        nonlocal ok
        out = []
        for key, spec in specs.items():
            try:
                out.append(compile_condition(str(key), spec))
            except ValueError as exc:
                ok = False
                line = lines.get((*section, key), lines.get(section, 1))
                errors.append(RuleError(file, line, f"rule {rule.name!r}: {exc}"))
        return tuple(out)

    events: list[Predicate] = []
    for position, pattern in enumerate(rule.match.event or ()):
        try:
            events.append(compile_event_pattern(pattern))
        except ValueError as exc:
            ok = False
            line = lines.get(("rules", index, "match", "event", position), 1)
            errors.append(RuleError(file, line, f"rule {rule.name!r}: {exc}"))
    data = conditions(("rules", index, "match", "data"), rule.match.data)
    call = conditions(("rules", index, "call"), rule.call)
    try:
        noise = compile_noise(
            rule.group_by,
            rule.repeat_interval,
            rule.group_wait,
            rule.group_interval,
            rule.when,
            rule.mute_windows,
        )
    except ValueError as exc:
        ok = False
        errors.append(RuleError(file, lines.get(("rules", index), 1), f"rule {rule.name!r}: {exc}"))
    if not ok:
        return None
    return Rule(
        name=rule.name,
        description=rule.description,
        severity=rule.severity,
        levels=frozenset(str(level) for level in rule.match.level),
        categories=frozenset(str(c) for c in rule.match.category) if rule.match.category else None,
        events=tuple(events) if rule.match.event else None,
        data=data,
        call=call,
        min_matches=rule.min_matches,
        notify=tuple(rule.notify),
        source=source,
        noise=noise,
        shadow=rule.mode == "shadow",
        context=rule.context,
        new_signature=rule.new_signature,
        signature_days=rule.signature_days,
    )


def _expand(value: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
    missing = [var for var in _VAR.findall(value) if not env.get(var)]
    return _VAR.sub(lambda m: env.get(m.group(1), ""), value), missing


def _apprise_accepts(url: str) -> bool:
    import apprise

    # apprise logs what it cannot parse, URL included; our error names the destination only.
    apprise_logger = logging.getLogger("apprise")
    previous = apprise_logger.level
    apprise_logger.setLevel(logging.CRITICAL + 1)
    try:
        return apprise.Apprise.instantiate(url, suppress_exceptions=True) is not None
    finally:
        apprise_logger.setLevel(previous)


def rules_schema() -> dict[str, Any]:
    """JSON Schema of a rule file, for editors (YAML language server) and CI."""
    rule = RuleSpec.model_json_schema(ref_template="#/$defs/{model}")
    defs = rule.pop("$defs", {})
    defs["Rule"] = rule
    destination = DestinationSpec.model_json_schema(ref_template="#/$defs/{model}")
    defs["Destination"] = destination
    urls = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "alerter rule file",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "destinations": {
                "type": "object",
                "description": "name -> apprise URL(s), or {url, redact}; ${VAR} reads the "
                "environment",
                "additionalProperties": {
                    "anyOf": [*urls["anyOf"], {"$ref": "#/$defs/Destination"}]
                },
            },
            "rules": {"type": "array", "items": {"$ref": "#/$defs/Rule"}},
        },
        "$defs": defs,
    }
