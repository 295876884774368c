"""Tests of the lease primitives (``jobs.leases``) that jobs and plant runs share, on
SQLite and PostgreSQL: compare-and-set on holder and expiry, the heartbeat thread, the
reaper's verdict."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from sqlalchemy import select

from jobs import leases
from jobs.db import Database
from jobs.leases import JOB, PLANT_RUN
from jobs.tables import Job, Plant, Tenant, utcnow
from tests.service.test_store import new_job


def _plant(db: Database, plant_id: str = "p-1", run_lost: int = 0) -> str:
    """A plant (one per tenant: its tenant is named after it)."""
    with db.write() as s:
        s.add(Tenant(id=plant_id, name=plant_id))
        s.flush()
        s.add(
            Plant(
                tenant_id=plant_id, id=plant_id, name="p", problem="{}", options={},
                status="published", state=0, version=0, run_lost=run_lost,
            )
        )  # fmt: skip
    return plant_id


def _holder(db: Database, plant_id: str) -> str | None:
    with db.read() as s:
        return s.scalar(select(Plant.run_owner).where(Plant.id == plant_id))


def test_take_renew_release(database: Database) -> None:
    """Tests that a free row's lease goes to exactly one taker, only the holder renews or
    releases it, and an expired lease can be taken over."""
    plant_id = _plant(database)
    with database.write() as s:
        assert leases.take(s, PLANT_RUN, plant_id, "w1", 30, run_queued=False)
        assert not leases.take(s, PLANT_RUN, plant_id, "w2", 30)
        assert leases.renew(s, PLANT_RUN, plant_id, "w1", 30)
        assert not leases.renew(s, PLANT_RUN, plant_id, "w2", 30)
        assert not leases.release(s, PLANT_RUN, plant_id, "w2")
    assert _holder(database, plant_id) == "w1"
    later = utcnow() + timedelta(seconds=60)
    with database.write() as s:  # w1's lease ran out: w2 takes it, w1 can no longer renew
        assert leases.take(s, PLANT_RUN, plant_id, "w2", 30, now=later)
        assert not leases.renew(s, PLANT_RUN, plant_id, "w1", 30)
        assert leases.release(s, PLANT_RUN, plant_id, "w2", run_lost=0)
    assert _holder(database, plant_id) is None


def test_take_on_the_callers_terms(database: Database) -> None:
    """Tests that ``when`` replaces the free-row condition: a job is claimed by its status
    and attempt count, and a second claim of the same attempt loses."""
    job_id = new_job(database)
    terms = [Job.status == "queued", Job.attempts == 0]
    with database.write() as s:
        assert leases.take(s, JOB, job_id, "w1", 30, when=terms, status="running", attempts=1)
        assert not leases.take(s, JOB, job_id, "w2", 30, when=terms, status="running", attempts=1)
        job = s.get(Job, job_id)
        assert job is not None and (job.lease_owner, job.attempts) == ("w1", 1)


def test_reap_takes_back_expired_leases_with_a_verdict(database: Database) -> None:
    """Tests that the reaper takes back only expired leases, writes the caller's values in
    the same compare-and-set, and gives up once the lost runs reach the maximum."""
    for plant_id, run_lost in (("p-1", 0), ("p-2", 2), ("p-3", 0)):
        _plant(database, plant_id, run_lost)
    with database.write() as s:
        assert leases.take(s, PLANT_RUN, "p-1", "dead-1", 1)
        assert leases.take(s, PLANT_RUN, "p-2", "dead-2", 1)
        assert leases.take(s, PLANT_RUN, "p-3", "alive", 600)
    later = utcnow() + timedelta(seconds=5)
    with database.write() as s:
        lost = leases.reap(
            s,
            PLANT_RUN,
            now=later,
            lost=lambda row: int(row.run_lost) + 1,
            max_attempts=lambda _: 3,
            values=lambda e: {"run_lost": 0 if e.give_up else e.lost},
            columns=(Plant.run_lost,),
        )
    verdicts = sorted((e.key, e.owner, e.lost, e.give_up) for e in lost)
    assert verdicts == [("p-1", "dead-1", 1, False), ("p-2", "dead-2", 3, True)]
    with database.read() as s:
        rows = {p.id: (p.run_owner, p.run_lost) for p in s.scalars(select(Plant))}
    assert rows == {"p-1": (None, 1), "p-2": (None, 0), "p-3": ("alive", 0)}
    with database.write() as s:  # nothing left to reap
        assert leases.reap(s, PLANT_RUN, now=later, lost=lambda _: 1,
                           max_attempts=lambda _: 3, values=lambda _: {}) == []  # fmt: skip


def test_heartbeat_renews_and_stops_the_work_once_the_lease_is_lost() -> None:
    """Tests that the heartbeat renews every ``every`` seconds, keeps going through a
    failing renewal (a database blip), and sets ``lost`` and ``stop`` when refused."""
    answers = iter([True, RuntimeError("blip"), True, False, True])
    calls: list[float] = []

    def renew() -> bool:
        calls.append(time.monotonic())
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    stop = threading.Event()
    beat = leases.Heartbeat("test", renew, 0.05, stop)
    beat.start()
    assert stop.wait(5.0)
    beat.halt(5.0)
    assert beat.lost.is_set() and not beat.is_alive()
    assert len(calls) == 4, "the renewal after the refusal never happens"


def test_halted_heartbeat_does_not_touch_the_lease() -> None:
    """Tests that halting ends the thread without losing the lease or stopping work."""
    stop = threading.Event()
    beat = leases.Heartbeat("test", lambda: True, 0.05, stop)
    beat.start()
    time.sleep(0.12)
    beat.halt(5.0)
    assert not beat.is_alive() and not stop.is_set() and not beat.lost.is_set()
