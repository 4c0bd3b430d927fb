"""One clock per process: the system clock is read in `alerter/clock.py` (which hands it to
whoever starts a process) and in `alerter/compat/` (library insides that read it
themselves), nowhere else. Anything else that wants the time takes the clock it is given,
so a test can drive it."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ALERTER = Path(__file__).resolve().parents[1] / "alerter"
ALLOWED = ("clock.py", "compat")  # the module and the folder that may read it
# time's functions that answer the clock, and those that do when given no time to format.
TIME_READS = {"time", "time_ns", "monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns"}
TIME_READS_WITHOUT_ARGUMENT = {"gmtime": 0, "localtime": 0, "ctime": 0, "asctime": 0, "strftime": 1}
DATETIME_READS = {"now", "utcnow", "today"}


def _bound(tree: ast.Module) -> tuple[set[str], set[str], set[str], set[str]]:
    """The local names a module binds to: the `time` module, the `datetime` module, the
    `datetime` and `date` classes, and time's reading functions themselves."""
    time_mod, datetime_mod, classes, functions = set(), set(), set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "time":
                    time_mod.add(alias.asname or "time")
                elif alias.name == "datetime":
                    datetime_mod.add(alias.asname or "datetime")
        elif isinstance(node, ast.ImportFrom) and node.module == "time":
            functions |= {a.asname or a.name for a in node.names if a.name in TIME_READS}
            functions |= {
                a.asname or a.name for a in node.names if a.name in TIME_READS_WITHOUT_ARGUMENT
            }
        elif isinstance(node, ast.ImportFrom) and node.module == "datetime":
            classes |= {a.asname or a.name for a in node.names if a.name in ("datetime", "date")}
    return time_mod, datetime_mod, classes, functions


def clock_reads(source: str) -> Iterator[tuple[int, str]]:
    """Each place `source` reads the system clock (or takes its reader as a value)."""
    tree = ast.parse(source)
    time_mod, datetime_mod, classes, functions = _bound(tree)
    calls = {id(node.func): node for node in ast.walk(tree) if isinstance(node, ast.Call)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            owner, name = node.value.id, node.attr
            if owner in time_mod and name in TIME_READS:
                yield node.lineno, f"{owner}.{name}"
            elif owner in time_mod and name in TIME_READS_WITHOUT_ARGUMENT:
                call = calls.get(id(node))
                if call is not None and len(call.args) <= TIME_READS_WITHOUT_ARGUMENT[name]:
                    yield node.lineno, f"{owner}.{name}() of now"
            elif owner in classes and name in DATETIME_READS:
                yield node.lineno, f"{owner}.{name}"
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute):
            inner = node.value
            if (
                isinstance(inner.value, ast.Name)
                and inner.value.id in datetime_mod
                and inner.attr in ("datetime", "date")
                and node.attr in DATETIME_READS
            ):
                yield node.lineno, f"{inner.value.id}.{inner.attr}.{node.attr}"
        elif isinstance(node, ast.Name) and node.id in functions:
            yield node.lineno, node.id


def test_only_the_clock_module_and_compat_read_the_system_clock() -> None:
    found = []
    for path in sorted(ALERTER.rglob("*.py")):
        relative = path.relative_to(ALERTER)
        if relative.parts[0] in ALLOWED:
            continue
        for line, read in clock_reads(path.read_text()):
            found.append(f"alerter/{relative}:{line} {read}")
    assert found == []


def test_the_scan_finds_every_way_of_reading_the_clock() -> None:
    """The check above passes only because nothing reads the clock, not because it looks
    for the wrong spelling."""
    source = "\n".join(
        [
            "import time",
            "import time as t",
            "import datetime",
            "from datetime import UTC, date, datetime as dt",
            "from time import monotonic as mono, gmtime",
            "a = time.time()",
            "b = t.monotonic()",
            "c = dt.now(UTC)",
            "d = date.today()",
            "e = datetime.datetime.utcnow()",
            "f = mono()",
            "g = gmtime()",
            "h = time.strftime('%Y')",
            "clock = time.perf_counter",
            # Not reads: formatting a given time, converting one, sleeping.
            "ok = time.strftime('%Y', time.gmtime(0)), dt.fromtimestamp(0, UTC), time.sleep",
        ]
    )
    assert sorted(line for line, _ in clock_reads(source)) == [6, 7, 8, 9, 10, 11, 12, 13, 14]
