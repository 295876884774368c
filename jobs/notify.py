"""End-of-job callbacks to the URL a job registered (Standard Webhooks 1.0 delivery).

One POST per final status, signed with ``APS_WEBHOOK_SECRET`` (``webhook-id``,
``webhook-timestamp``, ``webhook-signature``); the id is stable across retries so the
receiver can de-duplicate. Failures are retried from the outbox with growing, jittered
delays; 410 Gone stops at once; ``Retry-After`` on 429/502/503/504 is honoured. The
host is resolved again at send time and private addresses are refused (SSRF).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import random
import socket
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select

from jobs import outbox
from jobs.db import Database
from jobs.settings import Settings
from jobs.tables import Job, JobEvent

log = logging.getLogger(__name__)

THROTTLED = {429, 502, 503, 504}


class RefusedAddress(ValueError):
    """The callback host resolves to a loopback, private or link-local address."""


def check_public(url: str) -> None:
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise RefusedAddress(f"callback host {host!r} does not resolve: {exc}") from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global:
            raise RefusedAddress(
                f"callback host {host!r} resolves to the non-public address {address}"
            )


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


def sign(secret: str | None, msg_id: str, body: str) -> dict[str, str]:
    """The Standard Webhooks headers (no signature header without a secret)."""
    now = datetime.now(UTC)
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
    }
    if secret:
        from standardwebhooks import Webhook

        headers["webhook-signature"] = Webhook(secret).sign(msg_id, now, body)
    return headers


def _delay(settings: Settings, attempt: int, retry_after: str | None) -> float | None:
    """Seconds before attempt ``attempt + 1``; None when the schedule is exhausted."""
    if attempt > len(settings.callback_backoff_seconds):
        return None
    base = settings.callback_backoff_seconds[attempt - 1]
    if retry_after is not None and retry_after.isdigit():
        return max(base, float(retry_after))
    return base * random.uniform(0.8, 1.2)


def deliver(db: Database, settings: Settings, payload: dict[str, Any]) -> str:
    """One delivery attempt; schedules the next one on failure. Returns the outcome."""
    job_id = str(payload["job_id"])
    attempt = int(payload.get("attempt", 1))
    with db.read() as session:
        job = session.scalar(select(Job).where(Job.id == job_id))
    if job is None or not job.callback_url:
        return "no_callback"
    msg_id = f"{job.id}.{job.status}"
    body = json.dumps(event_body(job), separators=(",", ":"))
    retry_after: str | None = None
    try:
        if not settings.allow_private_callbacks:
            check_public(job.callback_url)
        response = httpx.post(
            job.callback_url,
            content=body,
            headers=sign(settings.webhook_secret, msg_id, body),
            timeout=settings.callback_timeout_seconds,
            follow_redirects=False,
        )
        code = response.status_code
        if code in THROTTLED:
            retry_after = response.headers.get("retry-after")
        outcome = "delivered" if 200 <= code < 300 else f"http_{code}"
    except RefusedAddress as exc:
        log.warning("job %s callback refused: %s", job_id, exc)
        code, outcome = 0, "refused"
    except httpx.HTTPError as exc:
        code, outcome = 0, f"error_{type(exc).__name__}"[:20]
    with db.write() as session:
        session.add(JobEvent(job_id=job_id, kind="callback", status=outcome[:20], attempt=attempt))
        if outcome in ("delivered", "refused") or code == 410:
            return outcome
        delay = _delay(settings, attempt, retry_after)
        if delay is None:
            session.add(JobEvent(job_id=job_id, kind="callback", status="gave_up", attempt=attempt))
            return "gave_up"
        outbox.enqueue_notify(session, job_id, job.status, attempt=attempt + 1, delay=delay)
    log.info("job %s callback attempt %d: %s; retrying", job_id, attempt, outcome)
    return outcome
