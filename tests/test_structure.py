"""The tree keeps the shape a newcomer can read: small modules and functions, library
internals only in `alerter/compat/`, and Redis key names only in `alerter/store/keys.py`."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ALERTER = Path(__file__).resolve().parents[1] / "alerter"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80
# The libraries whose insides we reach into; where we do, it is in alerter/compat/.
SEAMED = {"arq", "redis", "apprise", "httpx", "requests", "smtplib"}
# Private names that are the standard library's documented idiom, not a library's insides.
ALLOWED_PRIVATE = {"argparse._SubParsersAction"}


def modules() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(ALERTER.rglob("*.py")):
        yield path, ast.parse(path.read_text(), filename=str(path))


def outside_compat() -> Iterator[tuple[Path, ast.Module]]:
    for path, tree in modules():
        if "compat" not in path.relative_to(ALERTER).parts:
            yield path, tree


def where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(ALERTER.parent)}:{getattr(node, 'lineno', 0)}"


def seamed_names(tree: ast.Module) -> set[str]:
    """The local names a module binds to the seamed libraries (modules and their classes)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in SEAMED:
                    names.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in SEAMED:
                names.update(alias.asname or alias.name for alias in node.names)
    return names


def test_no_module_is_longer_than_the_limit() -> None:
    long = [
        f"{path.relative_to(ALERTER.parent)}: {n} lines"
        for path, _ in modules()
        if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    ]
    assert long == []


def test_no_function_is_longer_than_the_limit() -> None:
    long = [
        f"{where(path, node)} {node.name}: {node.end_lineno - node.lineno + 1} lines"
        for path, tree in modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == []


def own_private_names(tree: ast.Module) -> set[str]:
    """The private names a module defines itself (methods, `self._x` attributes)."""
    names = {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
    return {name for name in names if name.startswith("_")}


def test_private_names_are_read_only_in_compat() -> None:
    """`obj._name` on anything but our own code reaches inside someone else's."""
    found = []
    for path, tree in outside_compat():
        own = own_private_names(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute) or not node.attr.startswith("_"):
                continue
            if node.attr.startswith("__") or node.attr in own:
                continue
            if ast.unparse(node) in ALLOWED_PRIVATE:
                continue
            if isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"}:
                continue
            found.append(f"{where(path, node)} {ast.unparse(node)}")
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module.split(".")[0] in SEAMED:
                    private = [a.name for a in node.names if a.name.startswith("_")]
                    found += [f"{where(path, node)} from {node.module} import {n}" for n in private]
    assert found == []


def test_seamed_libraries_are_patched_and_subclassed_only_in_compat() -> None:
    """No `setattr` on, `__class__` swap of, or subclass of arq, redis-py, apprise, httpx,
    requests or smtplib outside `alerter/compat/`."""
    found = []
    for path, tree in outside_compat():
        ours = seamed_names(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "setattr" and node.args:
                target = ast.unparse(node.args[0]).split(".")[0]
                if target in ours:
                    found.append(f"{where(path, node)} setattr({ast.unparse(node.args[0])}, …)")
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Attribute) and target.attr == "__class__":
                        found.append(f"{where(path, node)} {ast.unparse(target)} = …")
                    if isinstance(target, ast.Attribute):
                        base = ast.unparse(target.value).split(".")[0]
                        if base in ours:
                            found.append(f"{where(path, node)} {ast.unparse(target)} = …")
            if isinstance(node, ast.ClassDef):
                for base_node in node.bases:
                    if ast.unparse(base_node).split(".")[0] in ours:
                        found.append(
                            f"{where(path, node)} class {node.name}({ast.unparse(base_node)})"
                        )
    assert found == []


# Lowest first: a module imports from its own layer or the ones below it, never above.
LAYERS = (
    ("models", "durations", "clock", "logs", "failures", "budgets"),
    ("settings", "metrics", "compat"),
    ("rules",),
    ("store",),
    ("render",),
    ("pipeline",),
    ("worker", "replay"),
    ("operations", "acks"),
    ("http",),
    ("cli",),
)


def test_imports_point_one_way() -> None:
    rank = {name: level for level, names in enumerate(LAYERS) for name in names}
    upward, unplaced = [], set()
    for path, tree in modules():
        parts = path.relative_to(ALERTER).with_suffix("").parts
        me = parts[0]
        if me == "__init__":
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom) or not node.module:
                continue
            if not node.module.startswith("alerter."):
                continue
            other = node.module.split(".")[1]
            if other == me:
                continue
            unplaced |= {name for name in (me, other) if name not in rank}
            if me in rank and other in rank and rank[other] > rank[me]:
                upward.append(f"{where(path, node)} {me} imports {node.module}")
    assert unplaced == set(), "place every package and top-level module in LAYERS"
    assert upward == []


def test_the_replay_decides_by_the_live_stages_steps_in_their_order() -> None:
    """The backtest says what the pipeline would have done only while its steps are the live
    stage's: a step dropped, added or moved in either fails here."""
    from alerter.pipeline import decide as live
    from alerter.pipeline.steps import ORDER, Step
    from alerter.replay import decide as replayed

    assert set(ORDER) == set(Step) and len(ORDER) == len(Step)
    assert tuple(name for name, _ in live.STEPS) == ORDER
    assert tuple(name for name, _ in replayed.STEPS) == ORDER
