"""Tests of the job store's compare-and-set life cycle on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

from sqlalchemy import func, select, update

from aps import Result, ScheduledOperation, SolveStatus
from jobs import outbox, repo, states
from jobs.db import Database
from jobs.execute import run_job
from jobs.relay import drain_once
from jobs.states import Claim, JobStatus, Refusal
from jobs.tables import Attempt, Job, JobEvent, Outbox, Schedule, utcnow
from tests.service.conftest import make_settings
from tests.service.support import problem_json

FT06 = problem_json("ft06")


def new_job(db: Database, tenant: str = "acme", max_attempts: int = 2) -> str:
    with db.write() as s:
        repo.ensure_key(s, tenant, f"{tenant}-key-0123456789abcdef")
        job = repo.create_job(
            s,
            tenant_id=tenant,
            name="t",
            problem_json='{"name": "t"}',
            options={"time_limit": 1.0},
            num_operations=1,
            callback_url=None,
            max_attempts=max_attempts,
        )
        return job.id


def claim(db: Database, job_id: str, owner: str, max_running: int = 10) -> Claim | Refusal:
    with db.write() as s:
        return states.claim(s, job_id, owner, lease_seconds=30, max_running=max_running)


def feasible() -> Result:
    return Result(
        name="t",
        status=SolveStatus.FEASIBLE,
        objective=3,
        bound=2,
        gap=1 / 3,
        makespan=3,
        wall_s=0.1,
        solver="cpsat",
        solver_version="x",
        schedule=[ScheduledOperation(job=0, op=0, machine=0, start=0, end=3)],
    )


def status_events(db: Database, job_id: str) -> list[str]:
    with db.read() as s:
        query = (
            select(JobEvent.status)
            .where(JobEvent.job_id == job_id, JobEvent.kind == "status")
            .order_by(JobEvent.id)
        )
        return [str(status) for status in s.scalars(query)]


def count(db: Database, model: type, job_id: str) -> int:
    with db.read() as s:
        column = model.job_id  # type: ignore[attr-defined]
        return s.scalar(select(func.count()).select_from(model).where(column == job_id)) or 0


def test_only_one_claim_wins_and_only_the_holder_commits(database: Database) -> None:
    """Tests that a duplicate delivery cannot claim a running job or commit a result."""
    job_id = new_job(database)
    first = claim(database, job_id, "w1")
    assert isinstance(first, Claim) and first.attempt == 1
    assert claim(database, job_id, "w2") is Refusal.HELD
    impostor = Claim(job_id, "acme", "w2", 1, "", {})
    with database.write() as s:
        assert states.complete(s, impostor, feasible()) is None
    with database.write() as s:
        assert states.complete(s, first, feasible()) is JobStatus.SUCCEEDED
    with database.write() as s:  # a second commit by the holder is a no-op too
        assert states.complete(s, first, feasible()) is None
    assert claim(database, job_id, "w3") is Refusal.GONE
    assert count(database, Schedule, job_id) == 1
    assert status_events(database, job_id) == ["queued", "running", "succeeded"]


def test_concurrent_claims_have_one_winner(database: Database) -> None:
    """Tests that eight threads claiming one job produce exactly one lease."""
    job_id = new_job(database)
    results: list[Claim | Refusal] = []
    barrier = threading.Barrier(8)

    def go(i: int) -> None:
        barrier.wait()
        results.append(claim(database, job_id, f"w{i}"))

    threads = [threading.Thread(target=go, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(isinstance(r, Claim) for r in results) == 1
    assert count(database, Attempt, job_id) == 1


def test_reaper_retries_then_fails_worker_lost(database: Database) -> None:
    """Tests that an expired lease is retried, and after max attempts fails worker_lost."""
    job_id = new_job(database, max_attempts=2)
    first = claim(database, job_id, "w1")
    assert isinstance(first, Claim)
    expire(database, job_id)
    with database.write() as s:
        assert states.reap(s, requeue_after=600) == [job_id]
    with database.write() as s:  # the lost worker's late result is discarded
        assert states.complete(s, first, feasible()) is None
    with database.write() as s:
        assert outbox.has_pending(s, job_id)
    second = claim(database, job_id, "w2")
    assert isinstance(second, Claim) and second.attempt == 2
    expire(database, job_id)
    with database.write() as s:
        assert states.reap(s, requeue_after=600) == [job_id]
    with database.read() as s:
        job = s.get(Job, job_id)
        assert job is not None
        assert (job.status, job.reason, job.attempts) == ("failed", "worker_lost", 2)
    assert status_events(database, job_id) == ["queued", "running", "retrying", "running", "failed"]
    assert count(database, Schedule, job_id) == 0


def expire(db: Database, job_id: str) -> None:
    with db.write() as s:
        s.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )


def test_heartbeat_keeps_the_lease_and_reports_cancel(database: Database) -> None:
    """Tests that heartbeats extend the lease and surface a cancel request."""
    job_id = new_job(database)
    c = claim(database, job_id, "w1")
    assert isinstance(c, Claim)
    with database.write() as s:
        beat = states.heartbeat(s, c, lease_seconds=30)
    assert beat.held and not beat.cancel_requested
    with database.write() as s:
        outcome = repo.cancel(s, "acme", job_id)
    assert outcome is not None and outcome.status is JobStatus.RUNNING
    with database.write() as s:
        assert states.heartbeat(s, c, lease_seconds=30).cancel_requested
    with database.write() as s:  # cancel wins over the late completion, schedule kept
        assert states.complete(s, c, feasible()) is JobStatus.CANCELLED
    assert count(database, Schedule, job_id) == 1


def test_other_tenant_cannot_cancel_or_read(database: Database) -> None:
    """Tests that repo queries are tenant-scoped."""
    job_id = new_job(database, "acme")
    new_job(database, "beta")
    with database.write() as s:
        assert repo.cancel(s, "beta", job_id) is None
        assert repo.get_job(s, "beta", job_id) is None
        assert repo.schedule(s, "beta", job_id) is None
        assert repo.events(s, "beta", job_id) == []
    with database.read() as s:
        job = s.get(Job, job_id)
        assert job is not None and job.status == "queued"


def test_running_cap_defers_a_tenants_extra_jobs(database: Database) -> None:
    """Tests that a tenant at its running cap gets BUSY and the job stays queued."""
    a, b = new_job(database), new_job(database)
    assert isinstance(claim(database, a, "w1", max_running=1), Claim)
    assert claim(database, b, "w2", max_running=1) is Refusal.BUSY
    with database.read() as s:
        job = s.get(Job, b)
        assert job is not None and job.status == "queued" and job.attempts == 0


def test_outbox_publishes_each_row_until_sent(database: Database) -> None:
    """Tests that a failed publish is retried and a sent row is not published again."""
    job_id = new_job(database)
    calls: list[str] = []

    def broken(message: outbox.Message) -> None:
        raise ConnectionError("broker down")

    assert drain_once(database, broken, retry_after=0.0) == 0
    assert drain_once(database, lambda m: calls.append(m.job_id), retry_after=0.0) == 1
    assert drain_once(database, lambda m: calls.append(m.job_id), retry_after=0.0) == 0
    assert calls == [job_id]
    with database.read() as s:
        row = s.scalars(select(Outbox).where(Outbox.job_id == job_id)).one()
        assert row.sent_at is not None and row.publish_attempts == 2
        assert row.last_error == "ConnectionError: broker down"


def test_run_job_twice_solves_once(db_url: str) -> None:
    """Tests that the task body run twice for one job (duplicate delivery) commits once."""
    from jobs import migrate

    settings = make_settings(db_url)
    migrate.upgrade(db_url)
    db = Database(db_url)
    with db.write() as s:
        repo.ensure_key(s, "acme", "acme-key-0123456789abcdef")
        job_id = repo.create_job(
            s,
            tenant_id="acme",
            name="ft06",
            problem_json=json.dumps(FT06),
            options={"time_limit": 2.0, "workers": 1},
            num_operations=36,
            callback_url=None,
            max_attempts=3,
        ).id
    outcomes: list[str] = []
    threads = [
        threading.Thread(target=lambda i=i: outcomes.append(run_job(db, settings, job_id, f"w{i}")))
        for i in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) in (["gone", "succeeded"], ["held", "succeeded"])
    assert count(db, Schedule, job_id) == 1
    assert status_events(db, job_id).count("succeeded") == 1
    with db.read() as s:
        job = s.get(Job, job_id)
        assert job is not None and job.makespan == 55 and job.attempts == 1
    db.dispose()


def test_migrations_match_the_models(database: Database) -> None:
    """Tests that `alembic upgrade head` builds exactly the tables the models declare."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from jobs.tables import Base

    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_production_start_revokes_the_dev_key(sqlite_url: str) -> None:
    """Tests that a database once used in development loses the public dev key in production."""
    from api.service import Service
    from jobs import repo
    from jobs.settings import DEV_API_KEY

    from .conftest import make_settings

    dev = Service(make_settings(sqlite_url, api_keys=""), background=False)
    dev.start()
    with dev.db.write() as session:
        assert repo.tenant_for_key(session, DEV_API_KEY) == "dev"
    prod = Service(
        make_settings(sqlite_url, environment="production", api_keys="acme:" + "k" * 32),
        background=False,
    )
    prod.start()
    with prod.db.write() as session:
        assert repo.tenant_for_key(session, DEV_API_KEY) is None
        assert repo.tenant_for_key(session, "k" * 32) == "acme"
