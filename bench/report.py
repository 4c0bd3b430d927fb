"""docs/performance.md's measured part, from a full run's tables.

Only the part between the two marks is written; the targets above it and the notes below it
are the engineers' own text and are kept as they are, so a hand-written finding is never
lost to the next `make bench` (and there is one copy of it, not one here and one there).
"""

from __future__ import annotations

from datetime import UTC, datetime

BEGIN = "<!-- python -m bench writes from here to the END mark; the rest is kept as written -->"
END = "<!-- END of what python -m bench writes -->"


class MissingMarks(ValueError):
    """The page has lost a mark: writing would drop text nobody can regenerate."""


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def render(results: dict[str, str], machine: str, versions: str, elapsed: float, when: str) -> str:
    """The measured part alone: the run's circumstances and each section's tables."""
    parts = [
        f"Run: {when}, {elapsed / 60:.1f} minutes. Machine: {machine}.\n\nVersions: {versions}.\n",
        "## Intake\n\n" + results["intake"],
        "## Worker\n\n" + results["worker"],
        "## Diga requests\n\n" + results.get("diga", "(not measured in this run)"),
        "## Alert sends\n\n" + results.get("sends", "(not measured in this run)"),
        "## Rules\n\n" + results["rules"],
        "## Redis\n\n" + results["redis"],
        "## Console\n\n" + results["console"],
    ]
    return "\n".join(parts)


def splice(page: str, measured: str) -> str:
    """`page` with the text between its marks replaced by `measured`."""
    start, end = page.find(BEGIN), page.find(END)
    if start < 0 or end < start:
        raise MissingMarks(f"docs/performance.md needs the lines {BEGIN!r} and {END!r}")
    return page[: start + len(BEGIN)] + "\n" + measured.rstrip("\n") + "\n\n" + page[end:]
