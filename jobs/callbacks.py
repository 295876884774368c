"""Outbound callbacks, one delivery pipeline: a job's own callback URL and the tenant's
subscriptions (``schedule.published``, ``order.late``, ``job.succeeded``, ``job.failed``).

Every delivery is staged in the outbox inside the transaction that caused it, sent as one
signed Standard Webhooks POST (:func:`jobs.notify.send`) and retried with backoff; the
outcome of each attempt is recorded.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from jobs.db import Database
from jobs.notify import retry_delay, send
from jobs.outbox import NOTIFY_TASK, PLANT_NOTIFY_TASK, stage
from jobs.settings import Settings
from jobs.tables import CallbackDelivery, CallbackSubscription, Job, JobEvent, Outbox, utcnow

log = logging.getLogger(__name__)

#: The events a tenant's callback URL may subscribe to.
CALLBACK_EVENTS = (
    "schedule.published",
    "job.succeeded",
    "job.failed",
    "order.late",
    "plant.event_failed",
)


# -- the pipeline ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Post:
    """One signed POST to make: where, the secret that signs it, its ``webhook-id``."""

    url: str
    secret: str | None
    #: the same for every attempt of one delivery, so receivers can de-duplicate
    msg_id: str
    body: str
    #: which attempt this is (1 for the first)
    number: int


class Target(Protocol):
    """One kind of callback: what an attempt sends and how its outcome is kept."""

    def prepare(self, session: Session, settings: Settings) -> Post | str:
        """The attempt to make, or the outcome when there is nothing to send."""
        ...

    def record(self, session: Session, post: Post, code: int, outcome: str) -> str | None:
        """Keep an attempt's outcome; the final outcome, or None to try again."""
        ...

    def give_up(self, session: Session, post: Post) -> None:
        """Keep that the retries are used up."""
        ...

    def retry(self, session: Session, post: Post, delay: float) -> None:
        """Stage the next attempt in the outbox, ``delay`` seconds from now."""
        ...


def attempt(db: Database, settings: Settings, target: Target) -> str:
    """One delivery attempt: prepare it, make one signed POST (:func:`jobs.notify.send`),
    record the outcome and stage the next attempt, or give up once the backoff schedule
    is used up. Returns the outcome."""
    with db.write() as session:
        post = target.prepare(session, settings)
    if isinstance(post, str):
        return post
    code, outcome, retry_after = send(settings, post.url, post.secret, post.msg_id, post.body)
    with db.write() as session:
        final = target.record(session, post, code, outcome)
        if final is not None:
            return final
        delay = retry_delay(settings, post.number, retry_after)
        if delay is None:
            target.give_up(session, post)
            return "gave_up"
        target.retry(session, post, delay)
    log.info("callback %s attempt %d: %s; retrying", post.msg_id, post.number, outcome)
    return outcome


# -- a job's own callback URL ---------------------------------------------------------------


def event_body(job: Job) -> dict[str, Any]:
    return {
        "type": f"job.{job.status}",
        "timestamp": datetime.now(UTC).isoformat(),
        "data": {
            "id": job.id,
            "status": job.status,
            "solve_status": job.solve_status,
            "reason": job.reason,
            "objective": job.objective,
            "makespan": job.makespan,
            "links": {
                "self": f"/v1/jobs/{job.id}",
                "schedule": f"/v1/jobs/{job.id}/schedule",
            },
        },
    }


def deliver(db: Database, settings: Settings, payload: dict[str, Any]) -> str:
    """One attempt of a job's end-of-job callback (outbox payload of ``aps.notify``)."""
    target = _JobCallback(str(payload["job_id"]), int(payload.get("attempt", 1)))
    return attempt(db, settings, target)


class _JobCallback:
    """A job's own callback URL; each attempt's outcome is a ``callback`` job event."""

    def __init__(self, job_id: str, number: int) -> None:
        self.job_id, self.number = job_id, number
        self.status = ""

    def prepare(self, session: Session, settings: Settings) -> Post | str:
        job = session.scalar(select(Job).where(Job.id == self.job_id))
        if job is None or not job.callback_url:
            return "no_callback"
        self.status = job.status
        body = json.dumps(event_body(job), separators=(",", ":"))
        msg_id = f"{job.id}.{job.status}"  # the same for every retry: receivers de-duplicate
        return Post(job.callback_url, settings.webhook_secret, msg_id, body, self.number)

    def record(self, session: Session, post: Post, code: int, outcome: str) -> str | None:
        outcome = outcome[:20]
        session.add(
            JobEvent(job_id=self.job_id, kind="callback", status=outcome, attempt=post.number)
        )
        return outcome if outcome in ("delivered", "refused") or code == 410 else None

    def give_up(self, session: Session, post: Post) -> None:
        session.add(
            JobEvent(job_id=self.job_id, kind="callback", status="gave_up", attempt=post.number)
        )

    def retry(self, session: Session, post: Post, delay: float) -> None:
        enqueue_notify(session, self.job_id, self.status, attempt=post.number + 1, delay=delay)


def enqueue_notify(
    session: Session, job_id: str, status: str, *, attempt: int = 1, delay: float = 0.0
) -> None:
    """Stage the job's end-of-job callback (only for jobs that registered a URL)."""
    if attempt == 1:  # also job.succeeded/job.failed to the tenant's callback URLs
        emit_job_event(session, job_id, status)
    url = session.scalar(select(Job.callback_url).where(Job.id == job_id))
    if not url:
        return
    now = utcnow()
    session.add(
        Outbox(
            task=NOTIFY_TASK,
            job_id=job_id,
            payload={"job_id": job_id, "status": status, "attempt": attempt},
            created_at=now,
            available_at=now + timedelta(seconds=delay),
        )
    )


# -- the tenant's subscriptions -------------------------------------------------------------


def new_secret() -> str:
    """A fresh ``whsec_`` signing secret (24 random bytes, base64): one per endpoint.

    Why per endpoint: a receiver can verify that a POST comes from this service *for
    it*; one global secret would let every tenant's receiver forge the others'.
    """
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def add_subscription(
    session: Session, tenant_id: str, url: str, events: Sequence[str]
) -> CallbackSubscription:
    """Register a URL with its own signing secret (the API returns it once)."""
    sub = CallbackSubscription(
        id=str(uuid.uuid4()),
        tenant_id=tenant_id,
        url=url,
        events=list(events),
        secret=new_secret(),
        created_at=utcnow(),
    )
    session.add(sub)
    session.flush()
    return sub


def rotate_secret(session: Session, tenant_id: str, sub_id: str) -> str | None:
    """A new secret for the tenant's endpoint (the old one stops at once); None: unknown."""
    sub = session.get(CallbackSubscription, sub_id)
    if sub is None or sub.tenant_id != tenant_id:
        return None
    sub.secret = new_secret()
    return sub.secret


def subscriptions(session: Session, tenant_id: str) -> list[CallbackSubscription]:
    return list(
        session.scalars(
            select(CallbackSubscription)
            .where(CallbackSubscription.tenant_id == tenant_id)
            .order_by(CallbackSubscription.created_at)
        )
    )


def emit(session: Session, tenant_id: str, kind: str, data: dict[str, Any]) -> int:
    """Stage ``kind`` for every active subscription of the tenant that wants it."""
    count = 0
    for sub in subscriptions(session, tenant_id):
        if sub.disabled_at is not None or kind not in sub.events:
            continue
        delivery = CallbackDelivery(
            id=f"msg_{uuid.uuid4().hex}",
            tenant_id=tenant_id,
            subscription_id=sub.id,
            type=kind,
            body={"type": kind, "timestamp": utcnow().isoformat(), "data": data},
            attempts=0,
            created_at=utcnow(),
            updated_at=utcnow(),
        )
        session.add(delivery)
        stage(session, PLANT_NOTIFY_TASK, delivery.id, 30.0, 0.0)
        count += 1
    return count


def emit_job_event(session: Session, job_id: str, status: str) -> None:
    """``job.succeeded`` / ``job.failed`` of an ordinary job, to the tenant's subscriptions."""

    kind = {"succeeded": "job.succeeded", "failed": "job.failed", "infeasible": "job.failed"}
    if status not in kind:
        return
    job = session.scalar(select(Job).where(Job.id == job_id))
    if job is None:
        return
    emit(
        session,
        job.tenant_id,
        kind[status],
        {
            "id": job.id,
            "status": status,
            "links": {"self": f"/v1/jobs/{job.id}", "schedule": f"/v1/jobs/{job.id}/schedule"},
        },
    )


def deliver_callback(db: Database, settings: Settings, delivery_id: str) -> str:
    """One attempt of a subscription's delivery (``aps.plant.notify``)."""
    return attempt(db, settings, _Subscribed(delivery_id))


class _Subscribed:
    """A delivery to a tenant's subscription; the delivery row keeps the outcome.

    A 410 Gone from the receiver disables the subscription.
    """

    FINAL = ("delivered", "refused", "gone", "gave_up")

    def __init__(self, delivery_id: str) -> None:
        self.delivery_id = delivery_id

    def prepare(self, session: Session, settings: Settings) -> Post | str:
        delivery = session.get(CallbackDelivery, self.delivery_id)
        if delivery is None:
            return "gone"
        sub = session.get(CallbackSubscription, delivery.subscription_id)
        if sub is None or sub.disabled_at is not None:
            delivery.outcome = "disabled"
            return "disabled"
        if delivery.outcome in self.FINAL:
            return delivery.outcome  # a duplicate message (at-least-once relay)
        delivery.attempts += 1
        secret = sub.secret or settings.webhook_secret  # endpoints from before 0004: global
        body = json.dumps(delivery.body)
        return Post(sub.url, secret, self.delivery_id, body, delivery.attempts)

    def record(self, session: Session, post: Post, code: int, outcome: str) -> str | None:
        outcome = outcome[:40]
        delivery = session.get(CallbackDelivery, self.delivery_id)
        if delivery is None:
            return outcome
        delivery.updated_at = utcnow()
        if code == 410:
            session.execute(
                update(CallbackSubscription)
                .where(CallbackSubscription.id == delivery.subscription_id)
                .values(disabled_at=utcnow(), disabled_reason="410 Gone from the receiver")
            )
            outcome = "gone"
        delivery.outcome = outcome
        return outcome if outcome in self.FINAL else None

    def give_up(self, session: Session, post: Post) -> None:
        delivery = session.get(CallbackDelivery, self.delivery_id)
        if delivery is not None:
            delivery.outcome = "gave_up"

    def retry(self, session: Session, post: Post, delay: float) -> None:
        stage(session, PLANT_NOTIFY_TASK, self.delivery_id, 30.0, delay)
