"""Tenant-scoped queries for the API: every function takes ``tenant_id``.

A job id of another tenant is indistinguishable from an unknown id (OWASP API1).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from jobs import outbox
from jobs.states import ACTIVE, JobStatus, transition
from jobs.tables import ApiKey, IdempotencyKey, Job, JobEvent, Schedule, Tenant, dml, utcnow


def hash_key(key: str) -> str:
    """SHA-256 of an API key; keys are random, so no slow KDF is needed."""
    return hashlib.sha256(key.encode()).hexdigest()


def ensure_key(session: Session, tenant_id: str, key: str, label: str | None = None) -> None:
    """Create the tenant and key (by hash) if missing; used for bootstrap keys."""
    if session.get(Tenant, tenant_id) is None:
        session.add(Tenant(id=tenant_id, name=tenant_id))
        session.flush()
    digest = hash_key(key)
    existing = session.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
    if existing is None:
        session.add(ApiKey(tenant_id=tenant_id, key_hash=digest, label=label))
    elif existing.tenant_id != tenant_id:
        raise ValueError(f"API key for tenant {tenant_id!r} is already used by another tenant")


#: The label of keys installed from ``APS_API_KEYS`` (or the dev key) at start.
BOOTSTRAP = "bootstrap"


def retire_bootstrap_keys(session: Session, keep: list[str]) -> int:
    """Revoke configured keys that are no longer configured; returns how many.

    Without this, a key taken out of ``APS_API_KEYS`` kept working, since its hash stays
    in the table. Keys made by ``aps apikey create`` carry another label and stay.
    """
    revoked: int = dml(
        session,
        update(ApiKey)
        .where(
            ApiKey.label == BOOTSTRAP,
            ApiKey.revoked_at.is_(None),
            ApiKey.key_hash.not_in([hash_key(k) for k in keep]),
        )
        .values(revoked_at=utcnow()),
    )
    return revoked


def revoke_key(session: Session, key: str) -> bool:
    revoked: bool = (
        dml(
            session,
            update(ApiKey)
            .where(ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None))
            .values(revoked_at=utcnow()),
        )
        == 1
    )
    return revoked


def tenant_for_key(session: Session, key: str) -> str | None:
    """The tenant owning a live key, or None (lookup by hash, never by the key)."""
    return session.scalar(
        select(ApiKey.tenant_id).where(
            ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None)
        )
    )


def create_job(
    session: Session,
    *,
    tenant_id: str,
    name: str,
    problem_json: str,
    options: dict[str, Any],
    num_operations: int,
    callback_url: str | None,
    max_attempts: int,
    kind: str = "solve",
) -> Job:
    """Insert a queued job, its first event and its outbox message in one transaction."""
    now = utcnow()
    job = Job(
        id=str(uuid.uuid4()),
        tenant_id=tenant_id,
        kind=kind,
        name=name,
        status=JobStatus.QUEUED.value,
        problem=problem_json,
        options=options,
        num_operations=num_operations,
        callback_url=callback_url,
        created_at=now,
        updated_at=now,
        enqueued_at=now,
        attempts=0,
        max_attempts=max_attempts,
        cancel_requested=False,
    )
    session.add(job)
    session.flush()
    session.add(
        JobEvent(job_id=job.id, kind="status", status=JobStatus.QUEUED.value, created_at=now)
    )
    outbox.enqueue_solve(session, job.id, options)
    return job


def get_job(session: Session, tenant_id: str, job_id: str) -> Job | None:
    return session.scalar(select(Job).where(Job.id == job_id, Job.tenant_id == tenant_id))


def list_jobs(
    session: Session,
    tenant_id: str,
    *,
    statuses: list[JobStatus] | None,
    limit: int,
    offset: int,
) -> tuple[list[Job], int]:
    query = select(Job).where(Job.tenant_id == tenant_id)
    if statuses:
        query = query.where(Job.status.in_([s.value for s in statuses]))
    count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(Job.created_at.desc(), Job.id).limit(limit).offset(offset)
    ).all()
    return list(rows), count


def count_active(session: Session, tenant_id: str) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Job)
            .where(Job.tenant_id == tenant_id, Job.status.in_([s.value for s in ACTIVE]))
        )
        or 0
    )


def events(
    session: Session,
    tenant_id: str,
    job_id: str,
    *,
    after: int = 0,
    kind: str | None = None,
    limit: int = 1000,
) -> list[JobEvent]:
    query = (
        select(JobEvent)
        .join(Job, Job.id == JobEvent.job_id)
        .where(Job.tenant_id == tenant_id, JobEvent.job_id == job_id, JobEvent.id > after)
    )
    if kind is not None:
        query = query.where(JobEvent.kind == kind)
    return list(session.scalars(query.order_by(JobEvent.id).limit(limit)).all())


def has_schedule(session: Session, tenant_id: str, job_id: str) -> bool:
    """Whether the job has a stored schedule (without reading it)."""
    found = session.scalar(
        select(Schedule.job_id)
        .join(Job, Job.id == Schedule.job_id)
        .where(Job.tenant_id == tenant_id, Schedule.job_id == job_id)
    )
    return found is not None


def schedule(session: Session, tenant_id: str, job_id: str) -> Schedule | None:
    return session.scalar(
        select(Schedule)
        .join(Job, Job.id == Schedule.job_id)
        .where(Job.tenant_id == tenant_id, Schedule.job_id == job_id)
    )


@dataclass(frozen=True)
class CancelOutcome:
    status: JobStatus
    cancel_requested: bool
    changed: bool


def cancel(session: Session, tenant_id: str, job_id: str) -> CancelOutcome | None:
    """Cancel a job: at once when it waits, via the worker's heartbeat when it runs."""
    job = get_job(session, tenant_id, job_id)
    if job is None:
        return None
    status = JobStatus(job.status)
    if status in (JobStatus.QUEUED, JobStatus.RETRYING):
        if transition(
            session,
            job_id,
            JobStatus.CANCELLED,
            expect=status,
            values={
                "reason": "cancelled",
                "message": "cancelled before it started",
                "cancel_requested": True,
            },
        ):
            return CancelOutcome(JobStatus.CANCELLED, True, True)
        session.refresh(job)
        status = JobStatus(job.status)
    if status is JobStatus.RUNNING:
        changed: bool = (
            dml(
                session,
                update(Job)
                .where(Job.id == job_id, Job.status == JobStatus.RUNNING.value)
                .values(cancel_requested=True, updated_at=utcnow()),
            )
            == 1
        )
        if changed:
            return CancelOutcome(JobStatus.RUNNING, True, True)
        session.refresh(job)
        status = JobStatus(job.status)
    return CancelOutcome(status, job.cancel_requested, False)


# -- idempotency ------------------------------------------------------------------------


def find_idempotent(
    session: Session, tenant_id: str, key: str, ttl_seconds: float
) -> IdempotencyKey | None:
    row = session.get(IdempotencyKey, (tenant_id, key))
    if row is None or row.created_at < utcnow() - timedelta(seconds=ttl_seconds):
        return None
    return row


def save_idempotent(
    session: Session,
    *,
    tenant_id: str,
    key: str,
    request_hash: str,
    job_id: str,
    status_code: int,
    response: dict[str, Any],
    ttl_seconds: float,
) -> None:
    """Record the first response; an expired row for the same key is replaced."""
    old = session.get(IdempotencyKey, (tenant_id, key))
    if old is not None and old.created_at < utcnow() - timedelta(seconds=ttl_seconds):
        session.delete(old)
        session.flush()
    session.add(
        IdempotencyKey(
            tenant_id=tenant_id,
            key=key,
            request_hash=request_hash,
            job_id=job_id,
            status_code=status_code,
            response=response,
        )
    )
