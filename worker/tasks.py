"""Celery tasks: ids in, everything else from the database; safe to run twice."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from typing import Any

from celery.exceptions import TimeLimitExceeded
from celery.signals import task_failure
from sqlalchemy.exc import OperationalError

from jobs.callbacks import deliver
from jobs.db import Database
from jobs.execute import overrun_message, run_job
from jobs.outbox import NOTIFY_TASK, SOLVE_TASK
from jobs.settings import get_settings
from jobs.states import Claim, fail_killed
from worker.celery_app import app
from worker.db import database

log = logging.getLogger(__name__)


def _fault() -> Callable[[Claim], None] | None:
    """System-test faults in the pool child, set by ``APS_TEST_FAULT``: ``kill_child`` dies
    mid-job; ``hang`` never returns from the solve; ``hang_native`` also ignores Celery's
    soft time limit, as native solver code that never yields would, so only the hard
    limit ends it."""
    fault = os.environ.get("APS_TEST_FAULT")
    if fault == "kill_child":
        return lambda _claim: os.kill(os.getpid(), signal.SIGKILL)
    if fault in ("hang", "hang_native"):
        return lambda claim: _hang(claim, ignore_soft_limit=fault == "hang_native")
    return None


def _hang(claim: Claim, *, ignore_soft_limit: bool) -> None:
    """Hang the job (only jobs named ``APS_TEST_FAULT_JOB`` when set, so the same worker
    can show that it still serves other jobs)."""
    only = os.environ.get("APS_TEST_FAULT_JOB")
    if only is not None and json.loads(claim.problem).get("name") != only:
        return
    if ignore_soft_limit:  # billiard signals the soft limit with SIGUSR1
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    while True:
        time.sleep(0.1)


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


@task_failure.connect  # type: ignore[untyped-decorator]
def _fail_on_hard_time_limit(
    sender: Any = None,
    task_id: str | None = None,
    exception: BaseException | None = None,
    args: Any = None,
    **_: Any,
) -> None:
    """Celery killed a solve at its hard time limit (this runs in the main process): fail
    the job as ``timeout`` now, rather than let the reaper retry a solve that would
    overrun again and end ``worker_lost`` after every attempt has burnt the limit."""
    if getattr(sender, "name", None) != SOLVE_TASK or not isinstance(exception, TimeLimitExceeded):
        return
    job_id, host = str(args[0]), socket.gethostname()
    limit = float(exception.args[0]) if exception.args else float("nan")

    def owned_by(owner: str) -> bool:  # the owner string that solve_job's child used
        return owner.startswith(f"{host}:") and owner.endswith(f":{task_id}")

    db = Database(get_settings().database_url)  # not the pool children's engine
    try:
        with db.write() as session:
            failed = fail_killed(
                session, job_id, owned_by, "timeout", overrun_message(limit, "killed")
            )
    finally:
        db.dispose()
    log.warning("job %s: hard time limit of %s s exceeded; failed: %s", job_id, limit, failed)


@app.task(name=NOTIFY_TASK, acks_late=True, ignore_result=True)  # type: ignore[untyped-decorator]
def notify_job(payload: dict[str, Any]) -> str:
    """One callback attempt; the next one is staged in the outbox, not Celery retries."""
    return deliver(database(), get_settings(), payload)
