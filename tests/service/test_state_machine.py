"""Property-based test of the job life cycle on a real database.

Random interleavings of submit, claim, heartbeat, complete, fail, cancel, lease expiry,
reap and duplicate delivery; after every step the invariants must hold.
"""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from sqlalchemy import func, select, update

from aps import Result, ScheduledOperation, SolveStatus
from jobs import repo, states
from jobs.db import Database
from jobs.states import Claim, JobStatus
from jobs.tables import Base, Job, JobEvent, Schedule, utcnow

MAX_ATTEMPTS = 2


def result(status: SolveStatus) -> Result:
    rows = [ScheduledOperation(job=0, op=0, machine=0, start=0, end=1)]
    return Result(
        name="t",
        status=status,
        wall_s=0.01,
        solver="cpsat",
        solver_version="x",
        objective=1.0 if status.has_schedule else None,
        schedule=rows if status.has_schedule else [],
    )


class JobLifecycle(RuleBasedStateMachine):
    jobs = Bundle("jobs")

    @initialize()
    def open_db(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        url = f"sqlite:///{Path(self.tmp.name) / 'sm.db'}"
        self.db = Database(url)
        Base.metadata.create_all(self.db.engine)  # the migration is tested elsewhere
        with self.db.write() as s:
            repo.ensure_key(s, "acme", "acme-key-0123456789abcdef")
        self.claims: dict[str, list[Claim]] = {}
        self.rank: dict[str, int] = {}
        self.worker = 0

    def teardown(self) -> None:
        if hasattr(self, "db"):
            self.db.dispose()
            self.tmp.cleanup()

    @rule(target=jobs)
    def submit(self) -> str:
        with self.db.write() as s:
            job = repo.create_job(
                s,
                tenant_id="acme",
                name="t",
                problem_json="{}",
                options={},
                num_operations=1,
                callback_url=None,
                max_attempts=MAX_ATTEMPTS,
            )
        self.claims[job.id] = []
        return job.id

    @rule(job_id=jobs)
    def deliver(self, job_id: str) -> None:
        """A (possibly duplicate) delivery: a new worker tries to claim."""
        self.worker += 1
        with self.db.write() as s:
            c = states.claim(s, job_id, f"w{self.worker}", lease_seconds=60, max_running=100)
        if isinstance(c, Claim):
            assert all(old.attempt < c.attempt for old in self.claims[job_id])
            self.claims[job_id].append(c)

    @rule(job_id=jobs, status=st.sampled_from(list(SolveStatus)))
    def complete(self, job_id: str, status: SolveStatus) -> None:
        """Every worker that ever claimed the job tries to commit, oldest first."""
        holder = self._holder(job_id)
        for c in self.claims[job_id]:
            with self.db.write() as s:
                outcome = states.complete(s, c, result(status))
            if c != holder:
                assert outcome is None, f"non-holder {c.owner} committed"

    @rule(job_id=jobs)
    def fail(self, job_id: str) -> None:
        for c in self.claims[job_id]:
            with self.db.write() as s:
                won = states.fail(s, c, "error", "boom")
            assert not won or c == self._last_claim(job_id)

    @rule(job_id=jobs)
    def heartbeat(self, job_id: str) -> None:
        for c in self.claims[job_id]:
            with self.db.write() as s:
                beat = states.heartbeat(s, c, lease_seconds=60)
            if beat.held:
                assert c == self._last_claim(job_id)

    @rule(job_id=jobs)
    def cancel(self, job_id: str) -> None:
        with self.db.write() as s:
            repo.cancel(s, "acme", job_id)

    @rule(job_id=jobs)
    def expire_lease(self, job_id: str) -> None:
        with self.db.write() as s:
            s.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == "running")
                .values(lease_expires_at=utcnow() - timedelta(seconds=1))
            )

    @rule(job_id=jobs)
    def worker_lost(self, job_id: str) -> None:
        """The lease holder vanishes and the reaper notices."""
        self.expire_lease(job_id)
        self.reap()

    @rule()
    def reap(self) -> None:
        with self.db.write() as s:
            states.reap(s, requeue_after=3600)

    def _job(self, job_id: str) -> Job:
        with self.db.read() as s:
            job = s.get(Job, job_id)
        assert job is not None
        return job

    def _last_claim(self, job_id: str) -> Claim | None:
        return self.claims[job_id][-1] if self.claims[job_id] else None

    def _holder(self, job_id: str) -> Claim | None:
        job = self._job(job_id)
        if job.status != "running":
            return None
        return next(
            (
                c
                for c in self.claims[job_id]
                if c.owner == job.lease_owner and c.attempt == job.attempts
            ),
            None,
        )

    @precondition(lambda self: hasattr(self, "db"))
    @invariant()
    def job_invariants(self) -> None:
        with self.db.read() as s:
            jobs = s.scalars(select(Job)).all()
            schedules = dict(
                s.execute(select(Schedule.job_id, func.count()).group_by(Schedule.job_id)).all()
            )
            for job in jobs:
                status = JobStatus(job.status)
                # Status never regresses; terminal states absorb.
                assert status.rank >= self.rank.get(job.id, 0), (job.id, status)
                self.rank[job.id] = status.rank
                assert job.attempts <= MAX_ATTEMPTS
                if status is JobStatus.RUNNING:
                    assert job.lease_owner is not None and job.lease_expires_at is not None
                if status.terminal:
                    assert job.lease_owner is None
                n = schedules.get(job.id, 0)
                assert n <= 1
                if status is JobStatus.SUCCEEDED:
                    assert n == 1, "succeeded without exactly one schedule"
                if status in (JobStatus.QUEUED, JobStatus.FAILED, JobStatus.INFEASIBLE):
                    assert n == 0
                events = s.scalars(
                    select(JobEvent.status).where(
                        JobEvent.job_id == job.id, JobEvent.kind == "status"
                    )
                ).all()
                finals = [e for e in events if JobStatus(str(e)).terminal]
                assert len(finals) <= 1, f"more than one final event: {events}"
                if status.terminal:
                    assert finals == [status.value]


JobLifecycle.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)
test_job_lifecycle = JobLifecycle.TestCase
