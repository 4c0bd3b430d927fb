"""Rule files → a validated, compiled `RuleSet`, or every error as `file:line: message`.

Reading and YAML parsing (with the line of every key) live here; the shape is in `spec`,
compilation in `compile`, the compiled forms in `model`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from alerter.rules.bounds import TextRefused, check_size, check_values, compose
from alerter.rules.compile import build
from alerter.rules.messages import message, yaml_problem
from alerter.rules.model import RuleError, RuleSet, RulesInvalid
from alerter.rules.spec import ParsedFile, RuleFileSpec, RuleSpec
from alerter.rules.targets import VARIABLE
from alerter.settings import rules_environment

__all__ = ["RuleError", "RuleSet", "RulesInvalid", "load_rules", "rule_files"]


# ---------------------------------------------------------------- loading


def rule_files(path: Path) -> list[Path]:
    """The `*.yaml` / `*.yml` files under `path`, each once.

    Hidden entries are skipped and symlinks resolved: a Kubernetes ConfigMap mount shows
    every file twice (`r.yaml` → `..data/r.yaml` → `..2026_11_29_…/r.yaml`).
    """
    if not path.is_dir():
        return [path]
    candidates = []
    # Hidden folders are not walked at all: a virtualenv or .git under the rules folder
    # (or the working directory) would cost a walk of thousands of files every check.
    for folder, folders, names in os.walk(path):  # symlinked folders not entered, as before
        folders[:] = [name for name in folders if not name.startswith(".")]
        candidates += [
            Path(folder, name)
            for name in names
            if not name.startswith(".") and name.endswith((".yaml", ".yml"))
        ]
    found: dict[Path, Path] = {}
    for candidate in sorted(candidates):
        if candidate.is_file():
            found.setdefault(candidate.resolve(), candidate)
    return sorted(found.values())


def unset_variables(path: Path, environ: Mapping[str, str] | None = None) -> list[str]:
    """The `${VAR}`s the rule files name that are not set."""
    env = rules_environment() if environ is None else environ
    named: set[str] = set()
    for file in rule_files(path) if path.exists() else []:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for line in text.splitlines():
            if not line.lstrip().startswith("#"):
                named.update(VARIABLE.findall(line))
    return sorted(var for var in named if not env.get(var))


def load_rules(
    path: Path, environ: Mapping[str, str] | None = None, *, unset_ok: bool = False
) -> RuleSet:
    """Every rule file under `path`; raises `RulesInvalid` with all errors found.

    `${VAR}` reads `environ`, by default the process environment over `.env` (as settings do).
    """
    env = rules_environment() if environ is None else environ
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
            check_size(file.stat().st_size)  # before reading it: the file may be huge
            text = file.read_text(encoding="utf-8")
        except TextRefused as exc:
            errors.append(RuleError(name, exc.line, str(exc)))
            continue
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(RuleError(name, 0, f"cannot read: {type(exc).__name__}"))
            continue
        digest.update(name.encode() + b"\0" + text.encode() + b"\0")
        spec, file_errors = _parse_file(name, text)
        errors.extend(file_errors)
        if spec is not None:
            parsed.append(spec)
    ruleset = build(parsed, env, errors, digest.hexdigest()[:12], unset_ok=unset_ok)
    if errors:
        raise RulesInvalid(sorted(set(errors)))
    return ruleset


def load_rules_text(text: str, name: str = "pasted.yaml") -> RuleSet:
    """One rule file given as text (a backtest's candidate rules through the API): checked
    like a file, and it may hold no YAML alias; `${VAR}` may be unset, as nothing is sent
    from it."""
    try:
        check_size(len(text.encode("utf-8", "surrogatepass")))
    except TextRefused as exc:
        raise RulesInvalid([RuleError(name, exc.line, str(exc))]) from None
    spec, errors = _parse_file(name, text, aliases=False)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    ruleset = build([spec] if spec else [], {}, errors, digest, unset_ok=True)
    if errors:
        raise RulesInvalid(sorted(set(errors)))
    return ruleset


def _parse_file(
    name: str, text: str, *, aliases: bool = True
) -> tuple[ParsedFile | None, list[RuleError]]:
    """`aliases`: YAML aliases are allowed (in files; not in rules sent in a request)."""
    try:
        node = compose(text)
        if node is not None:
            check_values(node, aliases=aliases)  # before any walk expands an alias
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        return None, [RuleError(name, line, yaml_problem(getattr(exc, "problem", None)))]
    except TextRefused as exc:
        return None, [RuleError(name, exc.line, str(exc))]
    if node is None:
        return ParsedFile(name, {}, [], {}), []
    lines: dict[tuple[Any, ...], int] = {}
    errors: list[RuleError] = []
    data = _to_python(node, (), lines, errors, name)
    if not isinstance(data, dict):
        return None, [RuleError(name, 1, "a rule file is a mapping with `rules:`")]

    raw_rules = data.get("rules")
    names = [
        str(rule.get("name")) if isinstance(rule, dict) and rule.get("name") else None
        for rule in (raw_rules if isinstance(raw_rules, list) else [])
    ]

    def report(exc: ValidationError, prefix: tuple[Any, ...] = ()) -> None:
        for err in exc.errors():
            loc = (*prefix, *err["loc"])
            errors.append(RuleError(name, _line_for(loc, lines), message(loc, err, names)))

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
