"""The outbox relay and the lease reaper (jobs and plant runs), as one background thread.

It runs in the API process (both modes) and in each Celery worker's main process; all
of its steps are compare-and-set, so several copies cooperate without coordination.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from jobs import faults, outbox, states
from jobs.broker import queue_depth
from jobs.db import Database
from jobs.outbox import Message
from jobs.plant.runner import reap_plants
from jobs.settings import Settings

log = logging.getLogger(__name__)

Publish = Callable[[Message], None]


def drain_once(db: Database, publish: Publish, *, retry_after: float = 5.0) -> int:
    """Publish every due outbox message once; return how many were sent."""
    with db.write() as session:
        batch = outbox.claim_batch(session, retry_after=retry_after)
    if batch:
        faults.crash_point(faults.BEFORE_PUBLISH)
    sent: list[int] = []
    for message in batch:
        try:
            publish(message)
        except Exception as exc:  # broker down: the row is retried after retry_after
            log.warning("outbox %d for job %s not published: %s", message.id, message.job_id, exc)
            with db.write() as session:
                outbox.mark_failed(session, message.id, f"{type(exc).__name__}: {exc}")
            break  # the broker is down: the rest of the batch retries after retry_after
        sent.append(message.id)
    if sent:
        with db.write() as session:
            outbox.mark_sent(session, sent)
    return len(sent)


class Relay(threading.Thread):
    """Drains the outbox every ``relay_interval`` (or when woken) and reaps leases."""

    def __init__(self, db: Database, settings: Settings, publish: Publish) -> None:
        super().__init__(name="aps-relay", daemon=True)
        self.db, self.settings, self.publish = db, settings, publish
        self._wake = threading.Event()
        self._halt = threading.Event()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._halt.set()
        self._wake.set()
        if self.is_alive():
            self.join(timeout)

    def _requeue_after(self) -> float:
        """How long a queued job may wait before its message is published again.

        With an empty broker queue, a job queued longer than a lease has lost its message
        (Redis restarted without its data, or a delivery failed before the claim):
        publish again soon. Otherwise wait ``requeue_after_seconds`` (a backlog is normal).
        """
        if self.settings.broker_url and queue_depth(self.settings) == 0:
            return self.settings.lease_seconds
        return self.settings.requeue_after_seconds

    def run(self) -> None:
        next_reap = 0.0
        next_prune = time.monotonic() + 60.0
        while not self._halt.is_set():
            try:
                drain_once(self.db, self.publish)
                now = time.monotonic()
                if now >= next_reap:
                    next_reap = now + self.settings.reaper_interval_seconds
                    with self.db.write() as session:
                        acted = states.reap(session, requeue_after=self._requeue_after())
                        plants = reap_plants(
                            session, self.settings, requeue_after=self._requeue_after()
                        )
                    if acted:
                        log.warning("reaper recovered jobs %s", acted)
                    if plants:
                        log.warning("reaper recovered plant runs %s", plants)
                    if acted or plants:
                        continue  # publish their new messages at once
                if now >= next_prune:
                    next_prune = now + 3600.0
                    with self.db.write() as session:
                        outbox.prune(
                            session,
                            sent_older_than=7 * 86400.0,
                            idempotency_ttl=self.settings.idempotency_ttl_seconds,
                        )
            except Exception:
                log.exception("relay iteration failed; retrying")
            self._wake.wait(self.settings.relay_interval_seconds)
            self._wake.clear()
