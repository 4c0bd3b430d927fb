"""deploy/prometheus and deploy/grafana: the alerts on alerter itself pass their promtool unit
tests, every dashboard query parses, and every metric either names is one alerter exports.

promtool comes with Debian's `prometheus` package (.ci/run installs it when missing); the
tests that run it skip elsewhere, saying so."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerter.metrics import Metrics

ROOT = Path(__file__).parents[1]
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS / "alerter-rules.yaml"
DASHBOARD = ROOT / "deploy" / "grafana" / "alerter.json"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool is not installed (Debian: apt-get install prometheus; .ci/run does it)",
)
SAMPLE_SUFFIXES = re.compile(r"_(total|bucket|count|sum|created)$")


def alert_rules() -> list[dict[str, Any]]:
    return [
        rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]
    ]


def dashboard_queries() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60
    )


def families_named(expr: str) -> set[str]:
    return {SAMPLE_SUFFIXES.sub("", name) for name in re.findall(r"\balerter_[a-z_]+", expr)}


@needs_promtool
def test_the_alert_rules_pass_their_promtool_unit_tests() -> None:
    checked = promtool("check", "rules", RULES.name)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", "alerter-rules.test.yaml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


@needs_promtool
def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    queries = dashboard_queries()
    assert len(queries) >= 10
    # promtool checks expressions inside rule files: each query becomes a recording rule.
    recorded = [{"record": f"alerter:dashboard:q{i}", "expr": q} for i, q in enumerate(queries)]
    as_rules = tmp_path / "dashboard-rules.yaml"
    as_rules.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": recorded}]}))
    checked = promtool("check", "rules", str(as_rules))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_alerts_and_dashboard_use_only_metrics_alerter_exports() -> None:
    exported = {family.name for family in Metrics().registry.collect()}
    used = set()
    for expr in [rule["expr"] for rule in alert_rules()] + dashboard_queries():
        used |= families_named(expr)
    assert used and used <= exported, sorted(used - exported)
    # The dashboard shows every family; the alerts cover the six conditions.
    shown = set().union(*(families_named(q) for q in dashboard_queries()))
    assert shown == exported, sorted(exported - shown)


def test_each_alert_has_a_runbook_line_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Alerts on alerter itself", 1)[1].split("\n## ", 1)[0]
    for rule in alert_rules():
        name = rule["alert"]
        assert f"**{name}**" in section, f"README has no runbook line for {name}"
        assert rule["annotations"]["runbook"].endswith(f"({name})")
