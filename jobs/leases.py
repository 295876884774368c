"""Leases: which worker may work on a row (a job, a plant's run), and until when.

A lease is two columns of the row: its holder (``owner``) and an expiry. Every change
is one compare-and-set ``UPDATE`` whose row count says whether this caller won, so two
workers, a late worker and the reaper never both believe they hold the row:

* :func:`take` - a worker takes the lease (of a free row, or on the caller's terms);
* :func:`renew` - the holder extends it; :class:`Heartbeat` does so from a thread while
  the work runs and sets the work's ``stop`` once the lease is lost;
* :func:`release` - the holder lets go;
* :func:`reap` - the reaper takes back leases that expired (their worker died), by
  compare-and-set on holder *and* expiry, so a holder that renewed in between keeps its
  lease. Each comes back with the verdict: retry the work, or give up once work on the
  row lost its worker ``max_attempts`` times.

Why short leases and a heartbeat: the lease (``APS_LEASE_SECONDS``) bounds how long a
dead worker's row waits for the reaper, and the heartbeat keeps a long solve's lease
alive.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Row, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from jobs.tables import Base, Job, Plant, dml, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Lease:
    """Where a table keeps its lease: the row's key, the holder and the expiry."""

    table: type[Base]
    key: InstrumentedAttribute[str]
    owner: InstrumentedAttribute[str | None]
    expires_at: InstrumentedAttribute[datetime | None]

    def free(self, now: datetime) -> ColumnElement[bool]:
        """Nobody holds the row, or the holder's lease ran out."""
        return or_(self.owner.is_(None), self.expires_at < now)

    def held_by(self, key: str, owner: str) -> list[ColumnElement[bool]]:
        return [self.key == key, self.owner == owner]


#: A job's lease: the worker solving it (``Job.attempts`` numbers its claims).
JOB = Lease(Job, Job.id, Job.lease_owner, Job.lease_expires_at)
#: A plant's run: the worker applying its events (``Plant.run_lost`` counts lost runs).
PLANT_RUN = Lease(Plant, Plant.id, Plant.run_owner, Plant.run_lease_expires_at)


def expiry(seconds: float, now: datetime | None = None) -> datetime:
    return (now or utcnow()) + timedelta(seconds=seconds)


def take(
    session: Session,
    lease: Lease,
    key: str,
    owner: str,
    seconds: float,
    *,
    when: Sequence[ColumnElement[bool]] | None = None,
    now: datetime | None = None,
    **values: Any,
) -> bool:
    """Take the lease of row ``key`` for ``seconds``, writing ``values`` with it; True if
    this call won. ``when`` states the row's expected state (default: :meth:`Lease.free`)."""
    now = now or utcnow()
    conditions = [lease.free(now)] if when is None else list(when)
    stmt = (
        update(lease.table)
        .where(lease.key == key, *conditions)
        .values({lease.owner.key: owner, lease.expires_at.key: expiry(seconds, now), **values})
    )
    return dml(session, stmt) == 1


def renew(
    session: Session,
    lease: Lease,
    key: str,
    owner: str,
    seconds: float,
    *when: ColumnElement[bool],
) -> bool:
    """Extend ``owner``'s lease of row ``key``; False when it lost it."""
    stmt = (
        update(lease.table)
        .where(*lease.held_by(key, owner), *when)
        .values({lease.expires_at.key: expiry(seconds)})
    )
    return dml(session, stmt) == 1


def release(session: Session, lease: Lease, key: str, owner: str, **values: Any) -> bool:
    """Give the lease of row ``key`` back (if ``owner`` still holds it), writing ``values``."""
    stmt = (
        update(lease.table)
        .where(*lease.held_by(key, owner))
        .values({lease.owner.key: None, lease.expires_at.key: None, **values})
    )
    return dml(session, stmt) == 1


@dataclass(frozen=True)
class Expired:
    """A lease that ran out: its row (with the columns the reaper asked for)."""

    row: Row[Any]
    key: str
    owner: str
    expires_at: datetime
    #: how often in a row work on this row lost its worker, this time included
    lost: int
    #: ``lost`` reached the maximum: fail the work rather than retry it
    give_up: bool


def reap(
    session: Session,
    lease: Lease,
    *,
    now: datetime,
    lost: Callable[[Row[Any]], int],
    max_attempts: Callable[[Row[Any]], int],
    values: Callable[[Expired], dict[str, Any]],
    columns: Sequence[InstrumentedAttribute[Any]] = (),
    where: Sequence[ColumnElement[bool]] = (),
    limit: int = 100,
) -> list[Expired]:
    """Take back the leases that expired before ``now``; the ones this call won.

    Each row is released by compare-and-set on its holder and expiry, writing
    ``values(expired)`` in the same ``UPDATE``; ``lost(row)`` counts the lost runs and
    ``max_attempts(row)`` is where the verdict turns from retry to give up.
    """
    rows = session.execute(
        select(lease.key, lease.owner, lease.expires_at, *columns)
        .where(lease.owner.is_not(None), lease.expires_at < now, *where)
        .limit(limit)
    ).all()
    won: list[Expired] = []
    for row in rows:
        key, owner, expires_at = row[0], row[1], row[2]
        count = lost(row)
        expired = Expired(row, key, owner, expires_at, count, count >= max_attempts(row))
        stmt = (
            update(lease.table)
            .where(*lease.held_by(key, owner), lease.expires_at == expires_at, *where)
            .values({lease.owner.key: None, lease.expires_at.key: None, **values(expired)})
        )
        if dml(session, stmt) == 1:
            won.append(expired)
    return won


class Heartbeat(threading.Thread):
    """Renews a lease every ``every`` seconds while the work runs.

    ``renew`` returns whether the lease is still held; once it is not, ``lost`` and
    ``stop`` are set (the work must stop: another worker or the reaper has the row). A
    database error keeps the work going: the lease has slack for a blip. Subclasses add
    :meth:`chores`, done every ``poll`` seconds.
    """

    def __init__(
        self,
        label: str,
        renew: Callable[[], bool],
        every: float,
        stop: threading.Event,
        *,
        poll: float | None = None,
    ) -> None:
        super().__init__(name=f"aps-beat-{label}"[:60], daemon=True)
        self.label, self.renew, self.every, self.stop = label, renew, every, stop
        self.poll = every if poll is None else poll
        self.lost = threading.Event()
        self._halt = threading.Event()

    def chores(self) -> None:
        """Work done at every poll besides renewing (none here)."""

    def lose(self) -> None:
        """The lease is gone: stop the work."""
        self.lost.set()
        self.stop.set()

    def end(self) -> None:
        """Ask the thread to end after its current poll."""
        self._halt.set()

    def halt(self, timeout: float | None = None) -> None:
        """End the thread and wait for it (the work is over)."""
        self.end()
        self.join(timeout)

    def run(self) -> None:
        last = time.monotonic()
        while not self._halt.wait(self.poll):
            try:
                self.chores()
                # 1 ms of slack: a wait of exactly ``every`` may measure a hair shorter
                if self._halt.is_set() or time.monotonic() - last < self.every - 1e-3:
                    continue
                last = time.monotonic()
                if not self.renew():
                    log.warning("%s: lease lost; stopping", self.label)
                    self.lose()
                    return
            except Exception:  # a DB blip: keep working, the lease has slack
                log.exception("%s: heartbeat failed", self.label)
