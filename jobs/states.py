"""Job statuses, the allowed transitions and the compare-and-set steps of a job's life.

Every change of status is a single ``UPDATE ... WHERE status IN (...)`` whose row count
says whether this caller won, so a message delivered twice, a late worker or a reaper
racing a heartbeat can never move a job backwards or commit twice. Workers hold a lease
(owner + attempt number + expiry, :mod:`jobs.leases`); only the lease holder may record
progress or commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from aps import Incumbent, Result, SolveStatus
from jobs import callbacks, leases, outbox
from jobs.tables import Attempt, Job, JobEvent, Schedule, Tenant, dml, utcnow


class JobStatus(StrEnum):
    """The service's own job status (never Celery's task state)."""

    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"  # between attempts, after a worker was lost
    SUCCEEDED = "succeeded"
    INFEASIBLE = "infeasible"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    @property
    def rank(self) -> int:
        """queued < running/retrying < terminal; a job's rank never decreases."""
        if self is JobStatus.QUEUED:
            return 0
        return 2 if self.terminal else 1


TERMINAL = frozenset(
    {JobStatus.SUCCEEDED, JobStatus.INFEASIBLE, JobStatus.FAILED, JobStatus.CANCELLED}
)
ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.RETRYING)

TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.CANCELLED, JobStatus.FAILED}),
    JobStatus.RUNNING: frozenset(
        {
            JobStatus.SUCCEEDED,
            JobStatus.INFEASIBLE,
            JobStatus.FAILED,
            JobStatus.CANCELLED,
            JobStatus.RETRYING,
        }
    ),
    JobStatus.RETRYING: frozenset({JobStatus.RUNNING, JobStatus.CANCELLED, JobStatus.FAILED}),
    **{s: frozenset() for s in TERMINAL},
}


def can_transition(old: JobStatus, new: JobStatus) -> bool:
    return new in TRANSITIONS[old]


def _sources(new: JobStatus) -> list[str]:
    return [old.value for old, targets in TRANSITIONS.items() if new in targets]


def _event(session: Session, job_id: str, status: JobStatus, attempt: int | None) -> None:
    session.add(JobEvent(job_id=job_id, kind="status", status=status.value, attempt=attempt))


def transition(
    session: Session,
    job_id: str,
    new: JobStatus,
    *,
    expect: JobStatus | None = None,
    owner: str | None = None,
    attempt: int | None = None,
    values: dict[str, Any] | None = None,
) -> bool:
    """Move ``job_id`` to ``new`` if the transition is allowed; True if this call won.

    ``expect`` narrows the allowed source status; ``owner``/``attempt`` require the lease.
    """
    sources = _sources(new) if expect is None else [expect.value]
    if expect is not None and not can_transition(expect, new):
        raise ValueError(f"transition {expect} -> {new} is not allowed")
    now = utcnow()
    stmt = update(Job).where(Job.id == job_id, Job.status.in_(sources))
    if owner is not None:
        stmt = stmt.where(Job.lease_owner == owner)
    if attempt is not None:
        stmt = stmt.where(Job.attempts == attempt)
    changes: dict[str, Any] = {"status": new.value, "updated_at": now}
    if new.terminal:
        changes.update(finished_at=now, lease_owner=None, lease_expires_at=None)
    changes.update(values or {})
    won: bool = dml(session, stmt.values(**changes)) == 1
    if won:
        _event(session, job_id, new, attempt)
        if new.terminal:
            callbacks.enqueue_notify(session, job_id, new.value)
    return won


# -- worker side ------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """A lease on a job: only ``(owner, attempt)`` may record progress and commit."""

    job_id: str
    tenant_id: str
    owner: str
    attempt: int
    problem: str
    options: dict[str, Any]


class Refusal(StrEnum):
    """Why a claim did not happen; ``BUSY`` means try again later, the rest are no-ops."""

    GONE = "gone"  # unknown id or already finished
    HELD = "held"  # another worker holds a live lease
    BUSY = "busy"  # the tenant already runs its maximum of jobs
    EXHAUSTED = "exhausted"  # attempts used up; the job was failed(worker_lost)


def claim(
    session: Session, job_id: str, owner: str, *, lease_seconds: float, max_running: int
) -> Claim | Refusal:
    """Compare-and-set ``queued|retrying -> running`` and take a lease."""
    job = session.get(Job, job_id)
    if job is None or JobStatus(job.status).terminal:
        return Refusal.GONE
    status = JobStatus(job.status)
    if status is JobStatus.RUNNING:
        return Refusal.HELD
    if job.attempts >= job.max_attempts:
        transition(
            session,
            job_id,
            JobStatus.FAILED,
            expect=status,
            values={
                "reason": "worker_lost",
                "message": f"the job's worker was lost {job.attempts} times; giving up",
            },
        )
        return Refusal.EXHAUSTED
    # Serialise claims per tenant (row lock on PostgreSQL; SQLite's BEGIN IMMEDIATE
    # already serialises writers) so the running cap holds under concurrency.
    session.execute(select(Tenant.id).where(Tenant.id == job.tenant_id).with_for_update())
    running = session.scalar(
        select(func.count())
        .select_from(Job)
        .where(Job.tenant_id == job.tenant_id, Job.status == JobStatus.RUNNING.value)
    )
    if (running or 0) >= max_running:
        return Refusal.BUSY
    now = utcnow()
    attempt = job.attempts + 1
    won = leases.take(
        session,
        leases.JOB,
        job_id,
        owner,
        lease_seconds,
        when=[Job.status == status.value, Job.attempts == job.attempts],
        now=now,
        status=JobStatus.RUNNING.value,
        attempts=attempt,
        updated_at=now,
        started_at=func.coalesce(Job.started_at, now),
    )
    if not won:
        return Refusal.HELD
    session.add(Attempt(job_id=job_id, number=attempt, worker=owner, started_at=now))
    _event(session, job_id, JobStatus.RUNNING, attempt)
    return Claim(job_id, job.tenant_id, owner, attempt, job.problem, dict(job.options))


@dataclass(frozen=True)
class Beat:
    held: bool
    cancel_requested: bool


def heartbeat(session: Session, claim: Claim, *, lease_seconds: float) -> Beat:
    """Extend the lease if still held; also report whether a cancel was requested."""
    held = leases.renew(
        session,
        leases.JOB,
        claim.job_id,
        claim.owner,
        lease_seconds,
        Job.status == JobStatus.RUNNING.value,
        Job.attempts == claim.attempt,
    )
    cancel = bool(session.scalar(select(Job.cancel_requested).where(Job.id == claim.job_id)))
    return Beat(held, cancel)


def _holds(claim: Claim) -> Any:
    return (
        (Job.id == claim.job_id)
        & (Job.status == JobStatus.RUNNING.value)
        & (Job.lease_owner == claim.owner)
        & (Job.attempts == claim.attempt)
    )


def record_progress(session: Session, claim: Claim, incumbents: list[Incumbent]) -> bool:
    """Store improving solutions while the lease is held; False once it is lost."""
    if not incumbents:
        return True
    last = incumbents[-1]
    gap = _gap(last.objective, last.bound)
    held: bool = (
        dml(
            session,
            update(Job)
            .where(_holds(claim))
            .values(objective=last.objective, bound=last.bound, gap=gap, elapsed=last.elapsed),
        )
        == 1
    )
    if held:
        for inc in incumbents:
            session.add(
                JobEvent(
                    job_id=claim.job_id,
                    kind="incumbent",
                    attempt=claim.attempt,
                    objective=inc.objective,
                    bound=inc.bound,
                    gap=_gap(inc.objective, inc.bound),
                    elapsed=inc.elapsed,
                )
            )
    return held


def _gap(objective: float, bound: float) -> float:
    if objective == 0:
        return 0.0
    return max(0.0, (objective - bound) / abs(objective))


def complete(
    session: Session, claim: Claim, result: Result, details: dict[str, Any] | None = None
) -> JobStatus | None:
    """Commit the solver's outcome under the lease; None when the lease was lost.

    A cancel request wins over a late completion: the job ends ``cancelled`` and keeps
    the best schedule found.
    """
    cancel = bool(session.scalar(select(Job.cancel_requested).where(Job.id == claim.job_id)))
    values: dict[str, Any] = {
        "solve_status": result.status.value,
        "objective": result.objective,
        "bound": result.bound,
        "gap": result.gap,
        "makespan": result.makespan,
        "solve_seconds": result.wall_s,
        "message": result.message,
    }
    if result.status.has_schedule:
        new = JobStatus.CANCELLED if cancel else JobStatus.SUCCEEDED
        if cancel:
            values["reason"] = "cancelled"
    elif result.status is SolveStatus.INFEASIBLE:
        new = JobStatus.INFEASIBLE
        values["reason"] = "infeasible"
        values["message"] = result.message or (
            "the solver proved that no schedule satisfies every hard constraint "
            "(check deadlines, calendars, material receipts and eligible machines)"
        )
    elif cancel:
        new = JobStatus.CANCELLED
        values["reason"] = "cancelled"
        values["message"] = result.message or "cancelled before any schedule was found"
    elif result.status is SolveStatus.UNKNOWN:
        new = JobStatus.FAILED
        values["reason"] = "no_solution"
        values["message"] = result.message or (
            "no feasible schedule was found within the time limit; raise time_limit"
        )
    else:
        new = JobStatus.FAILED
        values["reason"] = "model_invalid"
    won: bool = transition(
        session,
        claim.job_id,
        new,
        expect=JobStatus.RUNNING,
        owner=claim.owner,
        attempt=claim.attempt,
        values=values,
    )
    if not won:
        return None
    if result.status.has_schedule:
        session.add(
            Schedule(
                job_id=claim.job_id,
                attempt=claim.attempt,
                result=result.model_dump_json(),
                details=details,
            )
        )
    _finish_attempt(session, claim, new.value)
    return new


def fail(session: Session, claim: Claim, reason: str, message: str) -> bool:
    """Fail the job under the lease (a deterministic error: retrying would not help)."""
    won: bool = transition(
        session,
        claim.job_id,
        JobStatus.FAILED,
        expect=JobStatus.RUNNING,
        owner=claim.owner,
        attempt=claim.attempt,
        values={"reason": reason, "message": message[:4000]},
    )
    if won:
        _finish_attempt(session, claim, "failed")
    return won


def fail_killed(
    session: Session, job_id: str, owned_by: Callable[[str], bool], reason: str, message: str
) -> bool:
    """Fail a running job whose solve process was killed from outside (Celery's hard time
    limit), if its lease owner is that process; False when another attempt holds it."""
    row = session.execute(
        select(Job.tenant_id, Job.lease_owner, Job.attempts).where(
            Job.id == job_id, Job.status == JobStatus.RUNNING.value
        )
    ).first()
    if row is None or row.lease_owner is None or not owned_by(row.lease_owner):
        return False
    claim = Claim(job_id, row.tenant_id, row.lease_owner, row.attempts, problem="", options={})
    return fail(session, claim, reason, message)


def release(session: Session, claim: Claim) -> bool:
    """Hand a job back (graceful shutdown): ``running -> retrying`` and a new message."""
    won: bool = transition(
        session,
        claim.job_id,
        JobStatus.RETRYING,
        expect=JobStatus.RUNNING,
        owner=claim.owner,
        attempt=claim.attempt,
        values={"lease_owner": None, "lease_expires_at": None},
    )
    if won:
        _finish_attempt(session, claim, "released")
        outbox.enqueue_solve(session, claim.job_id, claim.options)
    return won


def _finish_attempt(session: Session, claim: Claim, outcome: str) -> None:
    session.execute(
        update(Attempt)
        .where(Attempt.job_id == claim.job_id, Attempt.number == claim.attempt)
        .values(finished_at=utcnow(), outcome=outcome)
    )


# -- reaper -----------------------------------------------------------------------------


def reap(session: Session, *, requeue_after: float, now: datetime | None = None) -> list[str]:
    """Recover jobs whose lease expired (worker lost) and re-publish stale queued jobs.

    Returns the ids acted on. Expired jobs go ``running -> retrying`` with a new outbox
    row, or ``failed(worker_lost)`` once their attempts are used up; a cancel requested
    of a lost job ends it ``cancelled``.
    """
    now = now or utcnow()
    lost = leases.reap(
        session,
        leases.JOB,
        now=now,
        lost=lambda row: int(row.attempts),
        max_attempts=lambda row: int(row.max_attempts),
        values=lambda expired: _after_loss(expired, now),
        columns=(Job.attempts, Job.max_attempts, Job.cancel_requested, Job.options),
        where=[Job.status == JobStatus.RUNNING.value],
    )
    acted: list[str] = []
    for expired in lost:
        job_id, new = expired.key, _lost_status(expired)
        _event(session, job_id, new, expired.lost)
        if new.terminal:
            callbacks.enqueue_notify(session, job_id, new.value)
        session.execute(
            update(Attempt)
            .where(Attempt.job_id == job_id, Attempt.number == expired.lost)
            .values(finished_at=now, outcome="lost")
        )
        if new is JobStatus.RETRYING:
            outbox.enqueue_solve(session, job_id, expired.row.options)
        acted.append(job_id)
    return acted + _republish_stale(session, now - timedelta(seconds=requeue_after))


def _lost_status(expired: leases.Expired) -> JobStatus:
    """A lost job is retried, unless it was cancelled or has used up its attempts."""
    if expired.row.cancel_requested:
        return JobStatus.CANCELLED
    return JobStatus.FAILED if expired.give_up else JobStatus.RETRYING


def _after_loss(expired: leases.Expired, now: datetime) -> dict[str, Any]:
    """The job's columns once its lease is taken back."""
    new = _lost_status(expired)
    changes: dict[str, Any] = {"status": new.value, "updated_at": now}
    if new is JobStatus.CANCELLED:
        changes.update(reason="cancelled", message="cancelled; its worker was lost")
    elif new is JobStatus.FAILED:
        changes.update(
            reason="worker_lost",
            message=f"the job's worker was lost {expired.lost} times; giving up",
        )
    if new.terminal:
        changes["finished_at"] = now
    return changes


def _republish_stale(session: Session, enqueued_before: datetime) -> list[str]:
    """Publish again the queued jobs whose message went out before then and has no
    successor waiting (the broker lost it)."""
    acted: list[str] = []
    stale = session.execute(
        select(Job.id, Job.options)
        .where(
            Job.status.in_([JobStatus.QUEUED.value, JobStatus.RETRYING.value]),
            Job.enqueued_at < enqueued_before,
        )
        .limit(100)
    ).all()
    for job_id, options in stale:
        if not outbox.has_pending(session, job_id):
            outbox.enqueue_solve(session, job_id, options)
            acted.append(job_id)
    return acted
