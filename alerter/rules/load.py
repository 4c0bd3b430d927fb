"""Rule files → a validated, compiled `RuleSet`, or every error as `file:line: message`.

Reading and YAML parsing (with the line of every key) live here; the shape is in `spec`,
compilation in `compile`, the compiled forms in `model`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from alerter.rules.compile import build
from alerter.rules.model import RuleError, RuleSet, RulesInvalid
from alerter.rules.spec import ParsedFile, RuleFileSpec, RuleSpec

__all__ = ["RuleError", "RuleSet", "RulesInvalid", "load_rules", "rule_files"]


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
    ruleset = build(parsed, env, errors, digest.hexdigest()[:12])
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
