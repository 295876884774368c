"""The embedded worker pool: solves in threads of the API process (no broker).

CP-SAT releases the GIL while searching, so threads are enough for a single-machine
deployment. The pool runs exactly the same :func:`jobs.execute.run_job` as Celery.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import select

from jobs import outbox
from jobs.callbacks import deliver
from jobs.db import Database
from jobs.execute import run_job, warm_up
from jobs.outbox import NOTIFY_TASK, PLANT_NOTIFY_TASK, PLANT_TASKS, Message
from jobs.plant.runner import run_message
from jobs.settings import Settings
from jobs.states import JobStatus
from jobs.tables import Job

log = logging.getLogger(__name__)


class EmbeddedPool:
    """A thread pool fed by the relay; ``publish`` is its enqueue."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db, self.settings = db, settings
        self.executor = ThreadPoolExecutor(
            settings.embedded_workers, thread_name_prefix="aps-solve"
        )
        self.notifier = ThreadPoolExecutor(2, thread_name_prefix="aps-notify")
        self.owner = f"embedded@{socket.gethostname()}:{os.getpid()}"
        self.abort = threading.Event()

    def publish(self, message: Message) -> None:
        if message.task in PLANT_TASKS:  # the live plant's tasks (jobs.plant.runner)
            pool = self.notifier if message.task == PLANT_NOTIFY_TASK else self.executor
            pool.submit(
                run_message, self.db, self.settings, message.task, message.job_id, self.abort
            )
            return
        if message.task == NOTIFY_TASK:
            self.notifier.submit(self._notify, message.payload)
        else:
            self.executor.submit(self._run, message.job_id)

    def _notify(self, payload: dict[str, Any]) -> None:
        try:
            deliver(self.db, self.settings, payload)
        except Exception:
            log.exception("callback for job %s crashed", payload.get("job_id"))

    def _run(self, job_id: str) -> None:
        try:
            run_job(self.db, self.settings, job_id, self.owner, self.abort)
        except Exception:
            log.exception("embedded run of job %s crashed", job_id)

    def warm_up(self) -> None:
        warm_up()

    def recover(self) -> None:
        """Re-stage queued jobs: the previous process's in-memory queue died with it."""
        with self.db.write() as session:
            rows = session.execute(
                select(Job.id, Job.options).where(
                    Job.status.in_([JobStatus.QUEUED.value, JobStatus.RETRYING.value])
                )
            ).all()
            for job_id, options in rows:
                if not outbox.has_pending(session, job_id):
                    outbox.enqueue_solve(session, job_id, options)

    def shutdown(self, wait: bool = True) -> None:
        """Stop running solves, hand their jobs back to the queue, drop queued work."""
        self.abort.set()
        self.notifier.shutdown(wait=False, cancel_futures=True)
        self.executor.shutdown(wait=wait, cancel_futures=True)
