"""Prometheus metrics: one registry per process, made once and passed in.

Each family is exported only by the process that owns it (`Role`): the api its webhooks
and the queue's gauges, the worker its jobs, Diga requests and alerts, both their rules.
A sum over every scraped process then counts each thing once; `alerter serve` (both in
one process) exports all. Label values are bounded: outcomes and statuses are fixed sets,
rule and destination names come from the rule files. No call ids, no URLs.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from enum import Flag
from typing import Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
JOB_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Role(Flag):
    """Which process a family belongs to. The queue is the api's: it reads the queue when
    scraped, so its age still climbs when no worker is alive to report it."""

    API = 1
    WORKER = 2
    BOTH = API | WORKER


class QueueView(Protocol):
    """The queue's state as `store.queue.queue_state` reads it."""

    @property
    def due(self) -> int: ...
    @property
    def waiting(self) -> int: ...
    @property
    def oldest_due_seconds(self) -> float: ...
    @property
    def next_due_seconds(self) -> float | None: ...


class Metrics:
    def __init__(self, role: Role = Role.BOTH) -> None:
        self.registry = CollectorRegistry()
        self.role = role
        api = self.registry if Role.API in role else None
        worker = self.registry if Role.WORKER in role else None
        # Families of the other process are still made (the code that fills them runs
        # anywhere) but left out of this process's registry.
        self._add_call_families(api, worker)
        self._add_diga_and_alert_families(worker)
        self._add_rule_families(self.registry)
        self._add_queue_families(api)

    # Each family is made once, in this order (the order a scrape lists them in).

    def _add_call_families(
        self, api: CollectorRegistry | None, worker: CollectorRegistry | None
    ) -> None:
        self.webhooks = Counter(
            "alerter_webhooks", "Webhooks received, by outcome.", ["outcome"], registry=api
        )
        self.jobs = Counter(
            "alerter_jobs", "Call jobs finished, by outcome.", ["outcome"], registry=worker
        )
        self.job_seconds = Histogram(
            "alerter_job_duration_seconds",
            "Time to process one call.",
            buckets=JOB_BUCKETS,
            registry=worker,
        )
        self.job_age = Histogram(
            "alerter_job_start_delay_seconds",
            "From the webhook's acceptance (plus the settle time) to the job's start.",
            buckets=JOB_BUCKETS,
            registry=worker,
        )

    def _add_diga_and_alert_families(self, worker: CollectorRegistry | None) -> None:
        self.diga_requests = Counter(
            "alerter_diga_requests",
            "Requests to the Diga logs API, by status.",
            ["status"],
            registry=worker,
        )
        self.diga_seconds = Histogram(
            "alerter_diga_request_duration_seconds",
            "Latency of Diga requests.",
            buckets=LATENCY_BUCKETS,
            registry=worker,
        )
        self.logs_fetched = Counter(
            "alerter_logs_fetched", "ERROR and CRITICAL logs fetched from Diga.", registry=worker
        )
        self.rule_matches = Counter(
            "alerter_rule_matches", "Calls on which a rule fired.", ["rule"], registry=worker
        )
        self.alerts = Counter(
            "alerter_alerts",
            "Alert decisions by rule, destination and outcome (sent, failed, throttled, "
            "grouped, silenced, muted, below_threshold).",
            ["rule", "destination", "outcome"],
            registry=worker,
        )
        self.delivery_seconds = Histogram(
            "alerter_delivery_duration_seconds",
            "Time to hand one alert to a destination.",
            ["destination"],
            buckets=LATENCY_BUCKETS,
            registry=worker,
        )

    def _add_rule_families(self, r: CollectorRegistry) -> None:
        self.rule_reloads = Counter(
            "alerter_rule_reloads", "Rule reloads, by outcome.", ["outcome"], registry=r
        )
        # Gauges under several api processes (`ALERTER_API_PROCESSES`): the latest value
        # set by any of them; invalid rules while any process has them.
        self.rules_loaded = Gauge(
            "alerter_rules_loaded", "Rules in force.", registry=r, multiprocess_mode="mostrecent"
        )
        self.rules_invalid = Gauge(
            "alerter_rules_invalid",
            "1 while the rule files are invalid (the last good set, if any, stays in force).",
            registry=r,
            multiprocess_mode="max",
        )

    def _add_queue_families(self, api: CollectorRegistry | None) -> None:
        self.queue_depth = Gauge(
            "alerter_queue_depth",
            "Jobs queued or deferred (calls, sends, digests).",
            registry=api,
            multiprocess_mode="mostrecent",
        )
        self.queue_due = Gauge(
            "alerter_queue_due",
            "Jobs due now, waiting for a worker.",
            registry=api,
            multiprocess_mode="mostrecent",
        )
        self.queue_waiting = Gauge(
            "alerter_queue_waiting",
            "Jobs deferred to a later time: retries backing off, calls settling, digests.",
            registry=api,
            multiprocess_mode="mostrecent",
        )
        self.queue_age = Gauge(
            "alerter_queue_oldest_due_seconds",
            "How long the oldest due job has waited for a worker (0: none waiting).",
            registry=api,
            multiprocess_mode="mostrecent",
        )
        self.workers_live = Gauge(
            "alerter_workers_live",
            "Workers whose heartbeat is recent (0: calls wait, nobody takes them).",
            registry=api,
            multiprocess_mode="mostrecent",
        )
        self.queue_next_due = Gauge(
            "alerter_queue_next_due_seconds",
            "When the next waiting job is due, from now (0: none waiting).",
            registry=api,
            multiprocess_mode="mostrecent",
        )

    def observe_diga(self, status: str, seconds: float) -> None:
        self.diga_requests.labels(status).inc()
        self.diga_seconds.observe(seconds)

    def set_queue(self, queue: QueueView, workers: int) -> None:
        self.queue_depth.set(queue.due + queue.waiting)
        self.queue_due.set(queue.due)
        self.queue_waiting.set(queue.waiting)
        self.queue_age.set(queue.oldest_due_seconds)
        self.queue_next_due.set(queue.next_due_seconds or 0.0)
        self.workers_live.set(workers)

    def render(self) -> bytes:
        folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if folder:
            # Several api processes: every one's samples of this process's families, summed.
            merged = CollectorRegistry()
            MultiProcessCollector(merged, folder)  # type: ignore[no-untyped-call]
            return generate_latest(_WithSamples(merged, _names(self.registry.collect())))
        return generate_latest(_WithSamples(self.registry))

    def serve(self, port: int, host: str) -> None:
        start_http_server(port, addr=host, registry=_WithSamples(self.registry))


class _WithSamples:
    """The registry without labelled families that have no sample yet (no rule has
    matched, no webhook came): an empty family says nothing a scrape could use."""

    def __init__(self, registry: CollectorRegistry, only: frozenset[str] | None = None) -> None:
        self._registry = registry
        self._only = only

    def collect(self) -> Iterator[Metric]:
        return (
            family
            for family in self._registry.collect()
            if family.samples and (self._only is None or family.name in self._only)
        )


def _names(families: Iterable[Metric]) -> frozenset[str]:
    return frozenset(family.name for family in families)
