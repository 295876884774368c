"""Celery tasks of the live plant: a plant id or a delivery id in, the rest
from the database. Both are safe to run twice (a lease per plant; deliveries record
their outcome)."""

from __future__ import annotations

import logging

from jobs.outbox import PLANT_NOTIFY_TASK, PLANT_RUN_TASK
from jobs.plant.runner import run_message
from jobs.settings import get_settings
from worker.celery_app import app
from worker.db import database

log = logging.getLogger(__name__)


@app.task(name=PLANT_RUN_TASK, acks_late=True, ignore_result=True)  # type: ignore[untyped-decorator]
def run_plant(plant_id: str) -> str:
    """Solve or reschedule the plant until no event is pending, publishing each version."""
    outcome = run_message(database(), get_settings(), PLANT_RUN_TASK, plant_id)
    log.info("plant %s: %s", plant_id, outcome)
    return outcome


@app.task(name=PLANT_NOTIFY_TASK, acks_late=True, ignore_result=True)  # type: ignore[untyped-decorator]
def notify_plant(delivery_id: str) -> str:
    """One signed callback attempt; the next one is staged in the outbox."""
    return run_message(database(), get_settings(), PLANT_NOTIFY_TASK, delivery_id)
