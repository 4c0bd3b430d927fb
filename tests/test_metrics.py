"""Each metric family is exported by the process that owns it, so a sum over every scraped
process counts each thing once; `alerter serve` (api and worker in one) exports them all."""

from __future__ import annotations

from pathlib import Path

from alerter.metrics import Metrics, Role
from alerter.rules.reload import RulesHolder
from alerter.store.queue import QueueState
from tests.conftest import metric_samples, write_rules

API_ONLY = {
    "alerter_webhooks",
    "alerter_queue_depth",
    "alerter_queue_oldest_due_seconds",
    "alerter_queue_due",
    "alerter_queue_waiting",
    "alerter_queue_next_due_seconds",
    "alerter_workers_live",
}
WORKER_ONLY = {
    "alerter_jobs",
    "alerter_job_duration_seconds",
    "alerter_job_start_delay_seconds",
    "alerter_diga_requests",
    "alerter_diga_request_duration_seconds",
    "alerter_logs_fetched",
    "alerter_rule_matches",
    "alerter_alerts",
    "alerter_delivery_duration_seconds",
}
EACH = {"alerter_rule_reloads", "alerter_rules_loaded", "alerter_rules_invalid"}


def exported(metrics: Metrics) -> set[str]:
    """The families a scrape shows once each has a sample."""
    metrics.webhooks.labels("queued").inc()
    metrics.jobs.labels("sent").inc()
    metrics.diga_requests.labels("200").inc()
    metrics.rule_matches.labels("r").inc()
    metrics.alerts.labels("r", "d", "sent").inc()
    metrics.delivery_seconds.labels("d").observe(0.1)
    metrics.rule_reloads.labels("loaded").inc()
    return {family.name for family in metrics.registry.collect()}


def test_the_api_exports_its_families_and_the_queue_once() -> None:
    assert exported(Metrics(Role.API)) == API_ONLY | EACH


def test_the_worker_exports_its_families_and_no_queue() -> None:
    assert exported(Metrics(Role.WORKER)) == WORKER_ONLY | EACH


def test_serve_runs_both_and_exports_every_family() -> None:
    assert exported(Metrics()) == API_ONLY | WORKER_ONLY | EACH


def test_queue_gauges_come_with_the_live_workers() -> None:
    metrics = Metrics(Role.API)
    metrics.set_queue(QueueState(due=2, oldest_due_seconds=12.5, waiting=1, next_due_seconds=4), 0)
    text = metrics.render().decode()
    assert "alerter_queue_depth 3.0" in text
    assert "alerter_queue_due 2.0" in text and "alerter_queue_waiting 1.0" in text
    assert "alerter_queue_next_due_seconds 4.0" in text
    assert "alerter_queue_oldest_due_seconds 12.5" in text
    assert "alerter_workers_live 0.0" in text


def test_invalid_rule_files_hold_the_gauge_up_until_mended(tmp_path: Path) -> None:
    valid = "destinations: {d: 'json://127.0.0.1:9/x'}\nrules:\n  - {name: r, notify: [d]}\n"
    folder = write_rules(tmp_path, valid)
    metrics = Metrics(Role.WORKER)
    holder = RulesHolder(folder, metrics, environ={})

    def gauges() -> tuple[float, float]:
        values = metric_samples(metrics.render().decode())
        return values[("alerter_rules_invalid", ())], values[("alerter_rules_loaded", ())]

    assert holder.reload("start") and gauges() == (0, 1)
    (folder / "rules.yaml").write_text("rules: [\n")
    assert not holder.reload("change") and gauges() == (1, 1)  # the last good set stays
    assert not holder.reload("change") and gauges() == (1, 1)
    (folder / "rules.yaml").write_text(valid)
    assert holder.reload("change") and gauges() == (0, 1)
