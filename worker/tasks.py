"""Celery tasks: ids in, everything else from the database; safe to run twice."""

from __future__ import annotations

import logging
import os
import signal
import socket
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import OperationalError

from jobs.db import Database
from jobs.execute import run_job
from jobs.notify import deliver
from jobs.outbox import NOTIFY_TASK, SOLVE_TASK
from jobs.settings import get_settings
from jobs.states import Claim
from worker.celery_app import app

log = logging.getLogger(__name__)

_db: Database | None = None


def database() -> Database:
    global _db
    if _db is None:
        _db = Database(get_settings().database_url)
    return _db


def reset_database() -> None:
    global _db
    _db = None


def _fault() -> Callable[[Claim], None] | None:
    """System tests set APS_TEST_FAULT=kill_child to make the pool child die mid-job."""
    if os.environ.get("APS_TEST_FAULT") != "kill_child":
        return None
    return lambda _claim: os.kill(os.getpid(), signal.SIGKILL)


@app.task(
    name=SOLVE_TASK, bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True
)  # type: ignore[untyped-decorator]
def solve_job(self: Any, job_id: str) -> str:
    """Claim ``job_id``, solve it and commit under the lease (a no-op when it lost)."""
    task_id = getattr(self.request, "id", None) or "-"
    owner = f"{socket.gethostname()}:{os.getpid()}:{task_id}"
    try:
        outcome = run_job(database(), get_settings(), job_id, owner, after_claim=_fault())
    except OperationalError as exc:
        # The database is unreachable: try again soon rather than wait for the reaper.
        log.warning("task %s job %s: database unavailable (%s); retrying", task_id, job_id, exc)
        raise self.retry(exc=exc, countdown=5, max_retries=120) from exc
    log.info("task %s job %s: %s", task_id, job_id, outcome)
    return outcome


@app.task(name=NOTIFY_TASK, acks_late=True, ignore_result=True)  # type: ignore[untyped-decorator]
def notify_job(payload: dict[str, Any]) -> str:
    """One callback attempt; the next one is staged in the outbox, not Celery retries."""
    return deliver(database(), get_settings(), payload)
