"""Prometheus metrics: HTTP (instrumentator) plus job figures read from the database.

Job counts and solve times come from the job store at scrape time, so they are right
however many API and worker processes there are.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from api.service import Service
from jobs.broker import queue_depth
from jobs.states import JobStatus
from jobs.tables import Job

SOLVE_BUCKETS = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)


class JobCollector(Collector):
    def __init__(self, service: Service) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        with self.service.db.read() as session:
            by_status = dict(
                session.execute(select(Job.status, func.count()).group_by(Job.status)).all()
            )
            counts = [
                session.scalar(select(func.count()).select_from(Job).where(Job.solve_seconds <= le))
                or 0
                for le in SOLVE_BUCKETS
            ]
            total, seconds = session.execute(
                select(func.count(Job.solve_seconds), func.sum(Job.solve_seconds))
            ).one()
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
