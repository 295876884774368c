"""The transactional outbox: rows written with the job, drained to the broker by a relay.

A row is claimed by pushing its ``available_at`` forward with a compare-and-set, then
published, then marked sent. A crash between publish and mark leaves the row to be
published again later: delivery is at-least-once and the worker's claim is idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from jobs.tables import IdempotencyKey, Job, Outbox, dml, utcnow

SOLVE_TASK = "aps.solve"
NOTIFY_TASK = "aps.notify"
SOLVE_QUEUE = "solve"
PLANT_QUEUE = "plant"
NOTIFY_QUEUE = "notify"
PLANT_RUN_TASK = "aps.plant.run"
PLANT_NOTIFY_TASK = "aps.plant.notify"
PLANT_TASKS = (PLANT_RUN_TASK, PLANT_NOTIFY_TASK)
#: Every task's queue: batch solves (and what-ifs), the live plant's reschedules and the
#: callbacks each have their own, so a reschedule never waits behind a long solve.
ROUTES = {
    SOLVE_TASK: SOLVE_QUEUE,
    PLANT_RUN_TASK: PLANT_QUEUE,
    NOTIFY_TASK: NOTIFY_QUEUE,
    PLANT_NOTIFY_TASK: NOTIFY_QUEUE,
}
QUEUES = (SOLVE_QUEUE, PLANT_QUEUE, NOTIFY_QUEUE)


@dataclass(frozen=True)
class Message:
    id: int
    task: str
    job_id: str
    payload: dict[str, Any]


def enqueue_solve(
    session: Session, job_id: str, options: dict[str, Any], *, delay: float = 0.0
) -> None:
    """Stage a solve message for ``job_id`` inside the caller's transaction."""
    now = utcnow()
    session.add(
        Outbox(
            task=SOLVE_TASK,
            job_id=job_id,
            payload={"job_id": job_id, "time_limit": float(options.get("time_limit", 10.0))},
            created_at=now,
            available_at=now + timedelta(seconds=delay),
        )
    )
    session.execute(update(Job).where(Job.id == job_id).values(enqueued_at=now))


def has_pending(session: Session, job_id: str) -> bool:
    return (
        session.scalar(
            select(Outbox.id)
            .where(Outbox.job_id == job_id, Outbox.sent_at.is_(None), Outbox.task == SOLVE_TASK)
            .limit(1)
        )
        is not None
    )


def claim_batch(session: Session, *, limit: int = 50, retry_after: float = 30.0) -> list[Message]:
    """Take up to ``limit`` due messages; each is hidden for ``retry_after`` seconds."""
    now = utcnow()
    rows = session.execute(
        select(Outbox.id, Outbox.task, Outbox.job_id, Outbox.payload, Outbox.available_at)
        .where(Outbox.sent_at.is_(None), Outbox.available_at <= now)
        .order_by(Outbox.id)
        .limit(limit)
    ).all()
    claimed: list[Message] = []
    for row_id, task, job_id, payload, available_at in rows:
        won: bool = (
            dml(
                session,
                update(Outbox)
                .where(
                    Outbox.id == row_id,
                    Outbox.sent_at.is_(None),
                    Outbox.available_at == available_at,
                )
                .values(
                    available_at=now + timedelta(seconds=retry_after),
                    publish_attempts=Outbox.publish_attempts + 1,
                ),
            )
            == 1
        )
        if won:
            claimed.append(Message(row_id, task, job_id, dict(payload)))
    return claimed


def mark_sent(session: Session, message_ids: list[int]) -> None:
    """Mark messages published; a job's ``enqueued_at`` becomes the publish time, which is
    what the reaper's lost-message check measures from."""
    if not message_ids:
        return
    now = utcnow()
    session.execute(update(Outbox).where(Outbox.id.in_(message_ids)).values(sent_at=now))
    published = select(Outbox.job_id).where(Outbox.id.in_(message_ids), Outbox.task == SOLVE_TASK)
    session.execute(update(Job).where(Job.id.in_(published)).values(enqueued_at=now))


def mark_failed(session: Session, message_id: int, error: str) -> None:
    session.execute(update(Outbox).where(Outbox.id == message_id).values(last_error=error[:2000]))


def prune(session: Session, *, sent_older_than: float, idempotency_ttl: float) -> None:
    """Forget sent messages and expired idempotency keys."""
    now = utcnow()
    session.execute(
        delete(Outbox).where(
            Outbox.sent_at.is_not(None), Outbox.sent_at < now - timedelta(seconds=sent_older_than)
        )
    )
    session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.created_at < now - timedelta(seconds=idempotency_ttl)
        )
    )


def stage(session: Session, task: str, key: str, time_limit: float, delay: float) -> None:
    """Stage a plant task (a plant id or a delivery id) inside the caller's transaction."""
    now = utcnow()
    session.add(
        Outbox(
            task=task,
            job_id=key,
            payload={"id": key, "time_limit": time_limit},
            created_at=now,
            available_at=now + timedelta(seconds=delay),
        )
    )
