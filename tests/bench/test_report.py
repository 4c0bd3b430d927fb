"""`make bench` rewrites only the measured part of docs/performance.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import report

ROOT = Path(__file__).resolve().parents[2]
RESULTS = {
    name: f"| {name} table |\n" for name in ("intake", "worker", "rules", "redis", "console")
}


def _measured() -> str:
    return report.render(RESULTS, "2 cores", "Python 3.11", 600.0, "2026-12-02 19:00 UTC")


def test_a_run_replaces_the_old_tables_and_keeps_the_written_text_around_them() -> None:
    page = f"# Performance\n\ntargets\n\n{report.BEGIN}\nold tables\n{report.END}\n\n## Notes\n\nfound\n"

    written = report.splice(page, _measured())

    assert "old tables" not in written
    assert "| redis table |" in written and "Run: 2026-12-02 19:00 UTC, 10.0 minutes" in written
    assert written.startswith(f"# Performance\n\ntargets\n\n{report.BEGIN}\n")
    assert written.endswith(f"{report.END}\n\n## Notes\n\nfound\n")
    assert report.splice(written, _measured()) == written  # a second run changes nothing more


def test_a_page_without_its_marks_is_refused_rather_than_overwritten() -> None:
    with pytest.raises(report.MissingMarks):
        report.splice("# Performance\n\nhand-written only\n", _measured())


def test_the_real_page_keeps_every_section_written_after_the_measured_part() -> None:
    page = (ROOT / "docs" / "performance.md").read_text()

    written = report.splice(page, _measured())

    after = page[page.index(report.END) :]
    assert written.endswith(after)
    assert written.index("## What was changed to get here") > written.index(report.END)
