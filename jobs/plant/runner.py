"""A plant run: claim the plant, solve or reschedule until nothing is pending, release.

The task body of both plant tasks (``aps.plant.run`` and ``aps.plant.notify``), for
Celery (``worker.plant_tasks``) and the embedded pool, is :func:`run_message`. A run
holds the plant's lease while it works; :func:`reap_plants` (in the relay) recovers the
runs whose worker died.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session, defer

import aps
from aps import Problem, Result
from aps.live.apply import Batch, apply, apply_edits
from aps.reschedule.repair import RescheduleResult, reschedule
from aps.result import ScheduledOperation
from jobs import leases
from jobs.callbacks import deliver_callback, emit
from jobs.db import Database
from jobs.leases import PLANT_RUN
from jobs.outbox import PLANT_NOTIFY_TASK, PLANT_RUN_TASK, stage
from jobs.plant.options import PlantOptions, run_budget, stored_options
from jobs.plant.publish import (
    Version,
    publish,
    repair_result,
    run_data,
    safe_diff,
    set_message,
)
from jobs.plant.store import (
    close_events,
    latest_schedule,
    parsed_problem,
    pending_count,
    pending_events,
    pending_ids,
    recorded,
    request_run,
)
from jobs.settings import Settings
from jobs.tables import Outbox, Plant, PlantEvent, dml, utcnow

log = logging.getLogger(__name__)

#: Steps of one run at most (a stream of events that never pauses still ends the run;
#: the release stages the next one).
MAX_STEPS = 20
#: the time a publication takes (writing the problem and the schedule, twice), per
#: operation: 0.5 s on a 6,159-operation plant (18 MB of problem JSON)
PUBLISH_SECONDS_PER_OPERATION = 1e-4


@dataclass
class Run:
    """One run of a plant: where its database is and who holds the plant."""

    db: Database
    settings: Settings
    plant_id: str
    owner: str
    stop: threading.Event
    #: a batch failed: apply the pending events one at a time, so a bad one fails alone
    one_at_a_time: bool = False


@dataclass(frozen=True)
class Snapshot:
    """The plant as one step of a run reads it."""

    state: int
    problem: Problem
    options: PlantOptions
    needs_solve: bool
    #: the latest published result (None: nothing published)
    previous: Result | None
    #: the pending events, in occurrence order
    events: list[PlantEvent]


def run_message(
    db: Database,
    settings: Settings,
    task: str,
    key: str,
    abort: threading.Event | None = None,
) -> str:
    """The body of both plant tasks, for Celery (``worker.plant_tasks``) and embedded."""
    try:
        if task == PLANT_NOTIFY_TASK:
            return deliver_callback(db, settings, key)
        owner = f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
        return run_plant(db, settings, key, owner, abort)
    except Exception:
        log.exception("plant task %s for %s crashed", task, key)
        return "crashed"


def run_plant(
    db: Database, settings: Settings, plant_id: str, owner: str, stop: threading.Event | None = None
) -> str:
    """Claim the plant, then solve or reschedule until nothing is pending; release."""
    run = Run(db, settings, plant_id, owner, stop or threading.Event())
    refused = _claim(run)
    if refused is not None:
        return refused
    outcome = "idle"
    label = f"plant {plant_id} of {owner}"
    beat = leases.Heartbeat(label, lambda: _renew(run), settings.heartbeat_seconds, run.stop)
    beat.start()
    try:
        for _ in range(MAX_STEPS):
            if run.stop.is_set() or not _renew(run):
                break
            step = _step(run)
            if step == "idle":
                break
            outcome = step
    finally:
        beat.halt(5.0)
        _release(run)
    return outcome


# -- the lease ------------------------------------------------------------------------------


def _claim(run: Run) -> str | None:
    """Take the plant's lease; None when taken, else why not (``no_plant``, ``busy``)."""
    now = utcnow()
    with run.db.write() as session:
        plant = session.scalar(select(Plant).where(Plant.id == run.plant_id))
        if plant is None:
            return "no_plant"
        seconds = run.settings.lease_seconds
        if leases.take(
            session, PLANT_RUN, run.plant_id, run.owner, seconds, now=now, run_queued=False
        ):
            return None
        # Another run holds the plant: it picks up pending events before it ends, but
        # an event can slip in after its last look, and a crashed holder only lets
        # go when its lease expires. Try again soon, or at that expiry.
        left = (plant.run_lease_expires_at or now) - now
        wait = min(max(left.total_seconds(), 0.0) + 0.1, 1.0)
        stage(session, PLANT_RUN_TASK, run.plant_id, run_budget(stored_options(plant)), wait)
        return "busy"


def _renew(run: Run) -> bool:
    """Extend this run's lease; False when another run (or the reaper) took it."""
    with run.db.write() as session:
        return leases.renew(session, PLANT_RUN, run.plant_id, run.owner, run.settings.lease_seconds)


def _release(run: Run) -> None:
    """Let go of the plant; stage the next run if work is left."""
    with run.db.write() as session:
        leases.release(session, PLANT_RUN, run.plant_id, run.owner, run_lost=0)
        plant = session.scalar(select(Plant).where(Plant.id == run.plant_id))
        if plant is not None and (plant.needs_solve or pending_count(session, plant)):
            request_run(session, plant, delay=0.2)


# -- a step ---------------------------------------------------------------------------------


def _step(run: Run) -> str:
    """Solve the plant, or apply its pending events; what happened."""
    with run.db.read() as session:
        plant = session.scalar(
            select(Plant).where(Plant.id == run.plant_id).options(defer(Plant.source))
        )
        if plant is None:
            return "idle"
        current = latest_schedule(session, plant, problem=False)
        snap = Snapshot(
            state=plant.state,
            problem=parsed_problem(plant.problem),
            options=stored_options(plant),
            needs_solve=plant.needs_solve,
            previous=Result.model_validate_json(current.result) if current else None,
            events=pending_events(session, plant.id),
        )
    if snap.needs_solve:
        return _solve(run, snap, snap.problem)
    if not snap.events:
        return "idle"
    if run.one_at_a_time:
        snap = replace(snap, events=snap.events[:1])
    if snap.previous is None:  # nothing published (a failed solve): solve the edited problem
        try:
            edited = apply_edits(snap.problem, [recorded(e) for e in snap.events])
        except (ValidationError, ValueError) as exc:
            return _batch_failed(run, snap.events, f"events not applicable: {exc}")
        return _solve(run, snap, edited, snap.events)
    return _reschedule(run, snap, snap.previous)


def _batch_failed(run: Run, events: Sequence[PlantEvent], reason: str) -> str:
    """A batch that cannot be applied: split it (one event at a time from now on), or,
    for a single event, fail that event with its reason."""
    if len(events) > 1:
        log.warning(
            "plant %s: a batch of %d events failed (%s); applying them one at a time",
            run.plant_id,
            len(events),
            reason,
        )
        run.one_at_a_time = True
        return "split"
    return _reschedule_failed(run, events, reason)


def _solve(run: Run, snap: Snapshot, problem: Problem, events: Sequence[PlantEvent] = ()) -> str:
    """Solve the whole plant (CP-SAT through ``aps.solve``) and publish it, within the
    plant's time limit (storing a version takes part of it)."""
    limit = min(snap.options.time_limit, run.settings.max_time_limit)
    try:
        result = aps.solve(
            problem,
            time_limit=limit - _publish_reserve(limit, problem),
            workers=snap.options.workers,
            seed=snap.options.seed,
            stop=run.stop,
        )
    except Exception as exc:
        log.exception("plant %s: solve crashed", run.plant_id)
        message = f"solve failed: {type(exc).__name__}: {exc}"
        if len(events) > 1:
            return _batch_failed(run, events, message)
        return _solve_failed(run, snap.state, message, events)
    if not result.schedule:
        message = f"no schedule: {result.status.value}; {result.message or ''}".strip("; ")
        if len(events) > 1:
            return _batch_failed(run, events, message)
        return _solve_failed(run, snap.state, message, events)
    version = Version(
        problem,
        result,
        phase="solved",
        cause="plant loaded" if not events else "solve after events",
        diff=safe_diff(problem, snap.previous.schedule, result.schedule) if snap.previous else None,
    )
    ids = [e.id for e in events]
    published = publish(run.db, run.plant_id, run.owner, snap.state, version, ids)
    return "stale" if published is None else "published"


def _solve_failed(run: Run, state: int, message: str, events: Sequence[PlantEvent]) -> str:
    """A solve without a schedule: the plant is failed (its last version stays readable)."""
    with run.db.write() as session:
        won = dml(
            session,
            update(Plant)
            .where(Plant.id == run.plant_id, Plant.state == state, Plant.run_owner == run.owner)
            .values(
                state=state + 1,
                needs_solve=False,
                status="failed",
                message=message,
                updated_at=utcnow(),
            ),
        )
        if won:
            closed = close_events(session, [e.id for e in events], "failed", None, message)
            plant = session.scalar(select(Plant).where(Plant.id == run.plant_id))
            if plant is not None:
                emit(session, plant.tenant_id, "job.failed", run_data(plant, message))
                announce_failed(session, plant, closed, message)
    return "failed"


@dataclass(frozen=True)
class _Repair:
    """A batch of events made ready for the core, against the published schedule."""

    batch: Batch
    #: the published rows of the operations the edited problem still has
    published: list[ScheduledOperation]
    previous: Result
    #: the batch's event types, as the versions it publishes name their cause
    cause: str


def _reschedule(run: Run, snap: Snapshot, previous: Result) -> str:
    """Greedy repair published at once, then the CP-SAT improvement (two core calls)."""
    ids = [e.id for e in snap.events]
    try:
        batch = apply(snap.problem, [recorded(e) for e in snap.events])
    except (ValidationError, ValueError) as exc:
        return _batch_failed(run, snap.events, f"events not applicable: {exc}")
    keys = {(j.id, o.id) for j in batch.problem.jobs for o in j.operations}
    repair = _Repair(
        batch,
        published=[r for r in previous.schedule if (r.job, r.op) in keys],
        previous=previous,
        cause=", ".join(sorted({e.type for e in snap.events})),
    )
    limit = snap.options.reschedule_time_limit
    started = time.monotonic()
    greedy = _greedy(run, snap, repair, limit)
    if isinstance(greedy, str):
        return _batch_failed(run, snap.events, greedy)
    elapsed = time.monotonic() - started
    version = Version(
        greedy.problem,
        repair_result(greedy.problem, greedy.schedule, previous, "greedy", elapsed),
        phase="greedy",
        cause=repair.cause,
        diff=greedy.publications[0].diff.model_dump(mode="json"),
        details=_details(greedy, snap.events),
    )
    if publish(run.db, run.plant_id, run.owner, snap.state, version, ids) is None:
        return "stale"
    remaining = limit - (time.monotonic() - started) - _publish_reserve(limit, snap.problem)
    if remaining > 0.5 and not run.stop.is_set():
        _improve(run, snap, repair, remaining)
    return "published"


def _publish_reserve(limit: float, problem: Problem) -> float:
    """The part of a time limit kept for publishing the schedule found within it."""
    return min(0.1 * limit, PUBLISH_SECONDS_PER_OPERATION * problem.num_operations)


def _greedy(run: Run, snap: Snapshot, repair: _Repair, limit: float) -> RescheduleResult | str:
    """The greedy repair, or why there is none."""
    try:
        greedy = _core(run, snap, repair, limit, improve=False)
    except Exception as exc:  # never leave the events pending: they would loop forever
        log.exception("plant %s: reschedule crashed", run.plant_id)
        return f"reschedule failed: {type(exc).__name__}: {exc}"
    return greedy if greedy.publications else f"no valid repair: {greedy.solver_message}"


def _improve(run: Run, snap: Snapshot, repair: _Repair, limit: float) -> None:
    """The CP-SAT improvement of a published greedy repair, published when better."""
    try:
        better = _core(run, snap, repair, limit, improve=True)
    except Exception:  # the greedy repair is published; the improvement is optional
        log.exception("plant %s: CP-SAT improvement crashed", run.plant_id)
        return
    if len(better.publications) < 2:
        return
    second = better.publications[-1]
    result = repair_result(better.problem, better.schedule, repair.previous, "improved",
                           second.elapsed)  # fmt: skip
    version = Version(
        better.problem,
        result,
        phase="improved",
        cause=repair.cause,
        diff=second.diff.model_dump(mode="json"),
        details=_details(better, snap.events),
    )
    publish(run.db, run.plant_id, run.owner, snap.state + 1, version)


def _core(
    run: Run, snap: Snapshot, repair: _Repair, limit: float, *, improve: bool
) -> RescheduleResult:
    """One call of the core's :func:`aps.reschedule.repair.reschedule` on the batch."""
    return reschedule(
        repair.batch.problem,
        repair.published,
        repair.batch.events,
        time_limit=limit,
        improve=improve,
        now=repair.batch.now,
        workers=snap.options.workers,
        seed=snap.options.seed,
        stop=run.stop,
    )


def _reschedule_failed(run: Run, events: Sequence[PlantEvent], reason: str) -> str:
    """The events fail with ``reason`` (kept on each), announced as ``plant.event_failed``."""
    with run.db.write() as session:
        if not set_message(session, run.plant_id, run.owner, reason):
            return "stale"  # the lease was lost: the new holder decides
        closed = close_events(session, [e.id for e in events], "failed", None, reason)
        plant = session.scalar(select(Plant).where(Plant.id == run.plant_id))
        if plant is not None:
            emit(session, plant.tenant_id, "job.failed", run_data(plant, reason, "reschedule"))
            announce_failed(session, plant, closed, reason)
    return "failed"


def announce_failed(
    session: Session, plant: Plant, events: Sequence[PlantEvent], reason: str
) -> None:
    """One ``plant.event_failed`` callback per failed event, with its reason."""
    for event in events:
        emit(
            session,
            plant.tenant_id,
            "plant.event_failed",
            {
                "plant_id": plant.id,
                "webhook_id": event.webhook_id,
                "type": event.type,
                "occurred_at": event.occurred_at.astimezone(UTC).isoformat(),
                "reason": reason,
                "links": {"events": "/v1/plant/events?status=failed"},
            },
        )


def _details(outcome: RescheduleResult, events: Sequence[PlantEvent]) -> dict[str, Any]:
    return {
        "now": outcome.now,
        "events": [e.webhook_id for e in events],
        "frozen": [[j, o] for j, o in outcome.frozen],
        "interrupted": dict(outcome.interrupted),
        "relaxations": [r.model_dump(mode="json") for r in outcome.relaxations],
        "stranded": [[j, o] for j, o in outcome.stranded],
        "kept_share": outcome.kept_share,
        "solver_message": outcome.solver_message,
    }


# -- the reaper -----------------------------------------------------------------------------


def reap_plants(
    session: Session,
    settings: Settings,
    now: datetime | None = None,
    requeue_after: float | None = None,
) -> list[str]:
    """Recover plant runs whose lease expired (their worker died): retry or give up.

    The lost run's pending events and needed solve are still in the database; a new
    run is staged for them. A plant whose runs were lost ``max_attempts`` times in a
    row (a run that kills its worker) gets its pending events failed and a
    ``job.failed`` callback instead of another attempt, so it cannot loop. A run
    staged but never claimed ``requeue_after`` seconds after its message went out
    (the broker lost it) is staged again: ``run_queued`` would block every later one.
    """
    now = now or utcnow()
    acted = _requeue_lost_runs(
        session, now - timedelta(seconds=requeue_after or settings.requeue_after_seconds)
    )
    lost = leases.reap(
        session,
        PLANT_RUN,
        now=now,
        lost=lambda row: int(row.run_lost) + 1,
        max_attempts=lambda _: settings.max_attempts,
        values=lambda expired: {"run_lost": 0 if expired.give_up else expired.lost},
        columns=(Plant.run_lost,),
    )
    for expired in lost:
        plant = session.scalar(select(Plant).where(Plant.id == expired.key))
        assert plant is not None
        acted.append(plant.id)
        if expired.give_up:
            _give_up(session, plant, expired.lost, now)
        else:
            log.warning(
                "plant %s: run of %s lost (%d); retrying", plant.id, expired.owner, expired.lost
            )
            request_run(session, plant, delay=0.0, force=True)
    return acted


def _give_up(session: Session, plant: Plant, lost: int, now: datetime) -> None:
    """Fail the pending events of a plant whose runs keep dying, instead of a retry."""
    message = f"the plant run's worker was lost {lost} times in a row; giving up"
    log.error("plant %s: %s", plant.id, message)
    closed = close_events(session, pending_ids(session, plant.id), "failed", None, message)
    announce_failed(session, plant, closed, message)
    run = "solve" if plant.needs_solve else "reschedule"
    plant.needs_solve = False
    plant.message = message
    plant.updated_at = now
    if run == "solve":  # as a failed solve: the last published version stays readable
        plant.status = "failed"
    emit(session, plant.tenant_id, "job.failed", run_data(plant, message, run))


def _requeue_lost_runs(session: Session, sent_before: datetime) -> list[str]:
    """Stage again the queued, unclaimed runs whose last message went out before then."""
    acted: list[str] = []
    queued = session.scalars(
        select(Plant).where(Plant.run_queued.is_(True), Plant.run_owner.is_(None)).limit(100)
    ).all()
    for plant in queued:
        last = session.scalar(
            select(Outbox)
            .where(Outbox.job_id == plant.id, Outbox.task == PLANT_RUN_TASK)
            .order_by(Outbox.id.desc())
            .limit(1)
        )
        if last is None or (last.sent_at is not None and last.sent_at < sent_before):
            log.warning("plant %s: its staged run was never claimed; staging it again", plant.id)
            request_run(session, plant, delay=0.0, force=True)
            acted.append(plant.id)
    return acted
