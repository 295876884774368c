"""The Celery app, configured by :func:`jobs.broker.celery_config` (late acks, one
prefetched message, time limits, declared queues).

The outbox relay and the lease reaper run in their own process (``aps relay``); set
``APS_RELAY_IN_WORKER=true`` to run them in each worker's main process instead.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from celery.signals import worker_process_init, worker_ready, worker_shutdown

from jobs import migrate
from jobs.broker import CeleryPublisher, celery_config
from jobs.db import Database
from jobs.execute import warm_up
from jobs.relay import Relay
from jobs.settings import get_settings
from worker.db import reset_database

log = logging.getLogger(__name__)

settings = get_settings()
app = Celery("aps", include=["worker.tasks", "worker.plant_tasks"])
app.conf.update(celery_config(settings))

_relay: Relay | None = None


@worker_ready.connect  # type: ignore[untyped-decorator]
def _start_relay(**_: Any) -> None:
    """Migrate; start relay + reaper in the main process only if asked to."""
    global _relay
    if settings.auto_migrate:
        migrate.upgrade(settings.database_url)
    if not settings.relay_in_worker:
        return
    publisher = CeleryPublisher(settings)
    _relay = Relay(Database(settings.database_url), settings, publisher.publish)
    _relay.start()
    log.info("relay and reaper started")


@worker_shutdown.connect  # type: ignore[untyped-decorator]
def _stop_relay(**_: Any) -> None:
    if _relay is not None:
        _relay.stop()


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _reset_after_fork(**_: Any) -> None:
    """Connections must not cross fork(); each pool child opens its own."""

    reset_database()
    warm_up()
