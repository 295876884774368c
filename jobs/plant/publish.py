"""A new published version of a plant's schedule, and the callbacks it announces.

A version is stored only if the run that made it still holds the plant's lease and the
plant is still at the state the run read (:func:`publish`); otherwise it is dropped.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, defer

import aps
from aps import Problem, Result, SolveStatus
from aps.kpi import completion_times, objective_value, term_values
from aps.reschedule.diff import diff
from aps.result import ScheduledOperation
from jobs.callbacks import emit
from jobs.db import Database
from jobs.plant.options import PlantOptions
from jobs.plant.store import close_events, get_plant, latest_schedule, parsed_problem
from jobs.tables import Plant, PlantSchedule, Tenant, dml, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Version:
    """A schedule to publish: the problem it solves, how it came about, its diff."""

    problem: Problem
    result: Result
    #: solved (a whole solve), greedy (fast repair) or improved (CP-SAT)
    phase: str
    #: what caused it: "plant loaded", or the event types of the batch
    cause: str
    diff: dict[str, Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)


def publish(
    db: Database,
    plant_id: str,
    owner: str,
    state: int,
    version: Version,
    event_ids: Sequence[int] = (),
) -> int | None:
    """Store a new version if ``owner`` still holds the run and the plant is still at
    ``state``; its number, or None when refused.

    Why both, in the one UPDATE: ``state`` alone lets a stale worker (its lease expired
    and taken over) publish while the new holder works from the same state; the owner
    check refuses it, and the row lock orders it against a concurrent claim.
    """
    problem_json = version.problem.model_dump_json(exclude_defaults=True)
    parsed_problem.remember(problem_json, version.problem)  # the next step reads it
    with db.write() as session:
        won = dml(
            session,
            update(Plant)
            .where(Plant.id == plant_id, Plant.state == state, Plant.run_owner == owner)
            .values(
                state=state + 1,
                version=Plant.version + 1,
                problem=problem_json,
                needs_solve=False,
                status="published",
                message=None,
                updated_at=utcnow(),
            ),
        )
        if not won:
            return None
        plant = session.scalar(
            select(Plant)
            .where(Plant.id == plant_id)
            .options(defer(Plant.problem), defer(Plant.source))
        )
        assert plant is not None
        # the previous version (not yet added)
        before = latest_schedule(session, plant, problem=False)
        was_late = set(before.details.get("late_orders", [])) if before is not None else set()
        late_now = late_orders(version.problem, version.result.schedule)
        session.add(
            PlantSchedule(
                tenant_id=plant.tenant_id,
                plant_id=plant_id,
                version=plant.version,
                phase=version.phase,
                cause=version.cause[:200],
                problem=problem_json,
                result=version.result.model_dump_json(),
                diff=version.diff,
                details={**version.details, "late_orders": late_now},
                created_at=utcnow(),
            )
        )
        close_events(session, event_ids, "applied", plant.version)
        announce(session, plant, version, [o for o in late_now if o not in was_late])
        return plant.version


def announce(session: Session, plant: Plant, version: Version, late: Sequence[str]) -> None:
    """Stage the callbacks of a publication: ``schedule.published``, ``job.succeeded``
    for a whole solve, and ``order.late`` for each order that became late."""
    moved = len(version.diff.get("moved", [])) if version.diff else 0
    emit(
        session,
        plant.tenant_id,
        "schedule.published",
        {
            "plant_id": plant.id,
            "version": plant.version,
            "phase": version.phase,
            "cause": version.cause,
            "objective": version.result.objective,
            "makespan": version.result.makespan,
            "moved": moved,
            "links": {"schedule": f"/v1/plant/schedule?version={plant.version}"},
        },
    )
    if version.phase == "solved":  # a repair announces itself by schedule.published alone
        emit(session, plant.tenant_id, "job.succeeded", run_data(plant, None))
    done = {
        str(k): v for k, v in completion_times(version.problem, version.result.schedule).items()
    }
    jobs = {str(j.id): j for j in version.problem.jobs}
    for order in late:
        job = jobs.get(order)
        emit(
            session,
            plant.tenant_id,
            "order.late",
            {
                "plant_id": plant.id,
                "version": plant.version,
                "order": order,
                "due": job.due if job else None,
                "completion": done.get(order),
            },
        )


def run_data(plant: Plant, message: str | None, run: str = "solve") -> dict[str, Any]:
    """The ``job.*`` payload of a plant run (``run``: solve or reschedule)."""
    return {
        "plant_id": plant.id,
        "run": run,
        "version": plant.version,
        "status": plant.status,
        "message": message,
        "links": {"plant": "/v1/plant", "schedule": "/v1/plant/schedule"},
    }


def late_orders(problem: Problem, schedule: Sequence[ScheduledOperation]) -> list[str]:
    """The orders that end after their due date."""
    done = completion_times(problem, schedule)
    return [str(j.id) for j in problem.jobs if j.due is not None and done.get(j.id, 0) > j.due]


def safe_diff(
    problem: Problem, old: Sequence[ScheduledOperation], new: Sequence[ScheduledOperation]
) -> dict[str, Any] | None:
    """The diff against the previous plant's schedule, for the rows both share."""
    keys = {(j.id, o.id) for j in problem.jobs for o in j.operations}
    machines = {m.id for m in problem.machines}
    rows = [r for r in old if (r.job, r.op) in keys and r.machine in machines]
    try:
        return diff(problem, rows, new).model_dump(mode="json")
    except Exception:  # a different plant: no meaningful diff
        log.warning("no diff against the previous plant", exc_info=True)
        return None


def repair_result(
    problem: Problem,
    schedule: list[ScheduledOperation],
    previous: Result,
    phase: str,
    elapsed: float,
) -> Result:
    """A repaired schedule as a :class:`~aps.Result` (feasible, its objective recomputed)."""
    return Result(
        name=problem.name,
        status=SolveStatus.FEASIBLE,
        objective=objective_value(problem.objective, term_values(problem, schedule)),
        makespan=max((r.end for r in schedule), default=None),
        wall_s=round(elapsed, 4),
        solver=f"aps.reschedule ({phase})",
        solver_version=aps.__version__,
        seed=previous.seed,
        schedule=schedule,
    )


def set_message(session: Session, plant_id: str, owner: str, message: str) -> bool:
    """Record a failed run's message if ``owner`` still holds the run (row locked)."""
    return (
        dml(
            session,
            update(Plant)
            .where(Plant.id == plant_id, Plant.run_owner == owner)
            .values(message=message[:4000], updated_at=utcnow()),
        )
        == 1
    )


def publish_external(session: Session, tenant_id: str, version: Version) -> int | None:
    """Publish a schedule made outside a plant run (a what-if repair) as the tenant's next
    plant version, with its callbacks; the new version, or None while a run holds the
    plant (it would publish over this). A tenant without a plant gets one."""
    plant = get_plant(session, tenant_id)
    now = utcnow()
    if plant is None:
        if session.get(Tenant, tenant_id) is None:
            session.add(Tenant(id=tenant_id, name=tenant_id))
            session.flush()
        plant = Plant(
            tenant_id=tenant_id,
            id=str(uuid.uuid4()),
            name=version.problem.name[:200],
            problem=version.problem.model_dump_json(exclude_defaults=True),
            options=PlantOptions().model_dump(mode="json", exclude_none=True),
            status="published",
            needs_solve=False,
            run_queued=False,
            state=0,
            version=0,
            created_at=now,
            updated_at=now,
        )
        session.add(plant)
        session.flush()
    problem_json = version.problem.model_dump_json(exclude_defaults=True)
    won = dml(
        session,
        update(Plant)
        .where(Plant.id == plant.id, Plant.state == plant.state, Plant.run_owner.is_(None))
        .values(
            state=Plant.state + 1,
            version=Plant.version + 1,
            problem=problem_json,
            needs_solve=False,
            status="published",
            message=None,
            updated_at=now,
        ),
    )
    if not won:
        return None
    session.refresh(plant)
    before = latest_schedule(session, plant)
    was_late = set(before.details.get("late_orders", [])) if before is not None else set()
    late_now = late_orders(version.problem, version.result.schedule)
    session.add(
        PlantSchedule(
            tenant_id=tenant_id,
            plant_id=plant.id,
            version=plant.version,
            phase=version.phase,
            cause=version.cause[:200],
            problem=problem_json,
            result=version.result.model_dump_json(),
            diff=version.diff,
            details={**version.details, "late_orders": late_now},
            created_at=now,
        )
    )
    announce(session, plant, version, [o for o in late_now if o not in was_late])
    return plant.version
