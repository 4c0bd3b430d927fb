"""`python -m bench scale` runs against the code as it is: a bench no test runs drifts from
the stages it drives (it once called `decide` the old way and stopped at its first call)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_scale_decides_per_agent_rules_identically_in_four_partitions() -> None:
    env = {**os.environ, "BENCH_SCALE_CALLS": "300", "BENCH_SCALE_AGENTS": "40"}
    done = subprocess.run(
        [sys.executable, "-m", "bench", "scale"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-2000:]
    rows = re.findall(r"^\| (agent-\S+) \| per agent \| (\d+) \| (\d+) \|", done.stdout, re.M)
    assert len(rows) == 3 and all(int(n) > 0 for _, n, _ in rows), done.stdout
    assert all(decisions == same for _, decisions, same in rows), done.stdout
    exact = re.search(r"summed: \*\*(\d+) of (\d+) equal\*\*", done.stdout)
    assert exact is not None and exact.group(1) == exact.group(2), done.stdout
