"""Prometheus metrics of one listener, in a registry of its own (tests run several).

Below both `runner.service` (the listener and supervisor that count) and `runner.api` (which
serves `/metrics`): the layer between them and the store and telemetry they read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from runner.store.models import JobState
from runner.telemetry import damage

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _JobStates(Collector):
    """Jobs by state and queue depth, read from the database at scrape time."""

    def __init__(self, counts: Callable[[], Mapping[JobState, int]]) -> None:
        self.counts = counts

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            counts = self.counts()
        except Exception:  # a scrape must not fail because the database is down
            return
        by_state = GaugeMetricFamily("optirunner_jobs", "Jobs by state", labels=["state"])
        for state, n in counts.items():
            by_state.add_metric([state.value], n)
        yield by_state
        yield GaugeMetricFamily(
            "optirunner_queue_depth", "Jobs waiting to run", value=counts.get(JobState.QUEUED, 0)
        )


class _SpoolDamage(Collector):
    """Quarantined spool files and their events, read from `quarantine.jsonl` at scrape
    time (so quarantines by workers and by earlier runs count too)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def collect(self) -> Iterator[CounterMetricFamily]:
        found = damage.history(self.folder)
        yield CounterMetricFamily(
            "optirunner_spool_quarantined",
            "Damaged telemetry spool files renamed *.corrupt-* and replaced",
            value=len(found),
        )
        events = CounterMetricFamily(
            "optirunner_spool_damaged_events",
            "Events of damaged spool files: salvaged into the new spool, or lost",
            labels=["result"],
        )
        events.add_metric(["salvaged"], sum(s.salvaged for s in found))
        events.add_metric(["lost"], sum(s.lost or 0 for s in found))
        yield events


class Metrics:
    """Counters and histograms the listener updates; `render()` is the /metrics body."""

    def __init__(
        self,
        counts: Callable[[], Mapping[JobState, int]] | None = None,
        spool_dir: Path | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        self.webhooks = Counter(
            "optirunner_webhooks",
            "Webhook deliveries by forge and result",
            ["forge", "result"],
            registry=self.registry,
        )
        self.webhook_seconds = Histogram(
            "optirunner_webhook_duration_seconds",
            "Time to answer a webhook",
            ["forge"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
            registry=self.registry,
        )
        self.job_seconds = Histogram(
            "optirunner_job_duration_seconds",
            "Wall time of one job attempt",
            ["outcome"],
            buckets=(1, 5, 15, 60, 300, 900, 1800, 3600, 7200),
            registry=self.registry,
        )
        self.worker_restarts = Counter(
            "optirunner_worker_restarts",
            "Job attempts that ended abnormally and were retried",
            registry=self.registry,
        )
        if counts is not None:
            self.registry.register(_JobStates(counts))
        if spool_dir is not None:
            self.registry.register(_SpoolDamage(spool_dir))

    def render(self) -> bytes:
        return generate_latest(self.registry)
