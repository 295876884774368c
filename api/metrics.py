"""Prometheus metrics: HTTP (instrumentator) plus job figures read from the database.

Job counts and solve times come from the job store at scrape time, so they are right
however many API and worker processes there are.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select

from api.service import Service
from jobs.broker import queue_depth
from jobs.states import JobStatus
from jobs.tables import Job

SOLVE_BUCKETS = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)


#: Scrapes within this many seconds share one reading of the job store.
CACHE_SECONDS = 5.0


class JobCollector(Collector):
    """Job figures from one aggregate query per :data:`CACHE_SECONDS` (it was 13 COUNT
    queries per scrape)."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self._cached: tuple[float, Any] | None = None
        self._lock = threading.Lock()

    def _read(self) -> tuple[dict[str, int], list[int], int, float]:
        """Jobs by status, finished jobs per solve-time bucket, their count and sum."""
        with self._lock:
            now = time.monotonic()
            if self._cached is not None and self._cached[0] > now:
                cached: tuple[dict[str, int], list[int], int, float] = self._cached[1]
                return cached
            columns = [
                Job.status,
                func.count(),
                func.count(Job.solve_seconds),
                func.sum(Job.solve_seconds),
                *(func.sum(case((Job.solve_seconds <= le, 1), else_=0)) for le in SOLVE_BUCKETS),
            ]
            with self.service.db.read() as session:
                rows = session.execute(select(*columns).group_by(Job.status)).all()
            by_status = {str(r[0]): int(r[1]) for r in rows}
            total = sum(int(r[2] or 0) for r in rows)
            seconds = sum(float(r[3] or 0.0) for r in rows)
            counts = [sum(int(r[4 + i] or 0) for r in rows) for i in range(len(SOLVE_BUCKETS))]
            value = (by_status, counts, total, seconds)
            self._cached = (now + CACHE_SECONDS, value)
            return value

    def collect(self) -> Iterator[Metric]:
        by_status, counts, total, seconds = self._read()
        jobs = GaugeMetricFamily("aps_jobs", "Jobs in the store by status", labels=["status"])
        for s in JobStatus:
            jobs.add_metric([s.value], float(by_status.get(s.value, 0)))
        yield jobs
        buckets = [(str(le), float(c)) for le, c in zip(SOLVE_BUCKETS, counts, strict=True)]
        buckets.append(("+Inf", float(total or 0)))
        yield HistogramMetricFamily(
            "aps_job_solve_seconds",
            "Solver wall time of finished jobs",
            buckets=buckets,
            sum_value=float(seconds or 0.0),
        )
        depth = GaugeMetricFamily("aps_queue_depth", "Jobs waiting for a worker", labels=["source"])
        depth.add_metric(
            ["database"],
            float(
                by_status.get(JobStatus.QUEUED.value, 0)
                + by_status.get(JobStatus.RETRYING.value, 0)
            ),
        )
        broker = queue_depth(self.service.settings)
        if broker is not None:
            depth.add_metric(["broker"], float(broker))
        yield depth


def registry_for(service: Service) -> CollectorRegistry:
    """A registry per app, so several apps (tests) never clash in the global one."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(JobCollector(service))
    return registry
