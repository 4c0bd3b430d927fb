"""`python -m bench [intake] [worker] [diga] [sends] [rules] [redis] [console] [server] [scale]`:
run benchmarks (all but `server` and `scale` by default),
print their tables, and write docs/performance.md's measured part (between its two marks; the
targets and notes around it are kept as written). `python -m bench report` writes that part
again from the last full run's tables (kept in .alerter/bench-tables.json)."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from alerter.store.embedded import EmbeddedServer
from bench.common import ROOT, machine, versions

SECTIONS = ("intake", "worker", "diga", "sends", "rules", "redis", "console")
EXTRA = ("server", "scale")  # run only when named
MODULES = {
    "intake": "intake",
    "worker": "worker",
    "diga": "diga_requests",
    "sends": "sends",
    "server": "server_choice",
    "scale": "scale",
    "rules": "rules_eval",
    "redis": "redis_cost",
    "console": "console",
}


TABLES = ROOT / ".alerter" / "bench-tables.json"


def main(argv: list[str]) -> int:
    if argv == ["report"]:
        write_report(json.loads(TABLES.read_text()))
        return 0
    chosen = [a for a in argv if a in SECTIONS + EXTRA] or list(SECTIONS)
    results: dict[str, str] = {}
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="alerter-bench-") as tmp:
        workdir = Path(tmp)
        with EmbeddedServer(workdir / "valkey", persist=False) as server:
            for name in chosen:
                print(f"== {name}", flush=True)
                module = __import__(f"bench.{MODULES[name]}", fromlist=["run"])
                results[name] = module.run(server.url, workdir)
                print(results[name], flush=True)
    elapsed = time.time() - started
    if set(chosen) == set(SECTIONS):
        import bench.report as report

        kept = {
            "results": results,
            "elapsed": elapsed,
            "machine": machine(),
            "versions": versions(),
            "when": report.now(),
        }
        TABLES.parent.mkdir(exist_ok=True)
        TABLES.write_text(json.dumps(kept))
        write_report(kept)
    return 0


def write_report(kept: dict[str, Any]) -> None:
    """docs/performance.md from a full run's tables and circumstances (as kept in TABLES)."""
    import bench.report as report

    page = ROOT / "docs" / "performance.md"
    measured = report.render(
        kept["results"], kept["machine"], kept["versions"], kept["elapsed"], kept["when"]
    )
    page.write_text(report.splice(page.read_text(), measured))
    print("wrote docs/performance.md")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
