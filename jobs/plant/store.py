"""The live plant's queries: the plant, its published versions, its event inbox, runs.

Every function takes the caller's session; nothing here commits. The event rules come
from :mod:`aps.live`: this module gives them the plant's history (:class:`RowHistory`)
and stores what they decide.
"""

from __future__ import annotations

import functools
import json
import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select, update
from sqlalchemy.orm import Session, defer

from aps import Problem
from aps.live.events import (
    TYPE_OF,
    URGENT,
    Envelope,
    EventData,
    Normalized,
    NormalizedReschedule,
    load_normalized,
)
from aps.live.normalize import LivePlant, Recorded, normalize
from jobs.outbox import PLANT_RUN_TASK, stage
from jobs.plant.options import PlantOptions, run_budget, stored_options
from jobs.settings import current_settings
from jobs.tables import Plant, PlantEvent, PlantSchedule, Tenant, dml, utcnow

#: Events the rules still count: accepted and not yet applied, or applied.
LIVE = ("pending", "applied")


# -- the plant ------------------------------------------------------------------------------


def get_plant(session: Session, tenant_id: str) -> Plant | None:
    return session.scalar(select(Plant).where(Plant.tenant_id == tenant_id))


def replace_plant(
    session: Session,
    tenant_id: str,
    problem: Problem,
    source: dict[str, Any] | None,
    options: PlantOptions,
) -> Plant:
    """Load or replace the tenant's plant; pending events of the old one are superseded."""
    now = utcnow()
    stored = options.model_dump(mode="json", exclude_none=True)
    plant = get_plant(session, tenant_id)
    if plant is None:
        if session.get(Tenant, tenant_id) is None:
            session.add(Tenant(id=tenant_id, name=tenant_id))
            session.flush()
        plant = Plant(
            tenant_id=tenant_id,
            id=str(uuid.uuid4()),
            state=0,
            version=0,
            run_queued=False,
            created_at=now,
        )
        session.add(plant)
    else:
        session.execute(
            update(PlantEvent)
            .where(PlantEvent.plant_id == plant.id, PlantEvent.status == "pending")
            .values(status="superseded")
        )
        plant.state = plant.state + 1
        if "webhook_secrets" not in stored and plant.options.get("webhook_secrets"):
            stored["webhook_secrets"] = plant.options["webhook_secrets"]
    plant.name = problem.name[:200]
    plant.source = json.dumps(source) if source is not None else None
    plant.problem = problem.model_dump_json(exclude_defaults=True)
    parsed_problem.remember(plant.problem, problem)  # a run in this process starts from it
    plant.options = stored
    plant.status = "solving"
    plant.message = None
    plant.needs_solve = True
    plant.updated_at = now
    session.flush()
    request_run(session, plant, delay=0.0, force=True)
    return plant


def request_run(session: Session, plant: Plant, *, delay: float, force: bool = False) -> None:
    """Stage one run unless one is already staged (that is the coalescing)."""
    won = (
        dml(
            session,
            update(Plant)
            .where(Plant.id == plant.id, *([] if force else [Plant.run_queued.is_(False)]))
            .values(run_queued=True),
        )
        == 1
    )
    if won:
        stage(session, PLANT_RUN_TASK, plant.id, run_budget(stored_options(plant)), delay)


# -- published versions ---------------------------------------------------------------------


def latest_schedule(
    session: Session, plant: Plant, version: int | None = None, *, problem: bool = True
) -> PlantSchedule | None:
    """The latest version (or ``version``); ``problem=False`` leaves its problem unread
    (megabytes on a large plant; reading it later needs the session)."""
    stmt = select(PlantSchedule).where(
        PlantSchedule.plant_id == plant.id, PlantSchedule.tenant_id == plant.tenant_id
    )
    if not problem:
        stmt = stmt.options(defer(PlantSchedule.problem))
    if version is not None:
        stmt = stmt.where(PlantSchedule.version == version)
    return session.scalar(stmt.order_by(PlantSchedule.version.desc()).limit(1))


def list_schedules(session: Session, plant: Plant, limit: int, offset: int) -> list[PlantSchedule]:
    return list(
        session.scalars(
            select(PlantSchedule)
            .where(PlantSchedule.plant_id == plant.id, PlantSchedule.tenant_id == plant.tenant_id)
            .order_by(PlantSchedule.version.desc())
            .limit(limit)
            .offset(offset)
        )
    )


# -- the inbox ------------------------------------------------------------------------------


def list_events(
    session: Session, plant: Plant, status: str | None, limit: int, offset: int
) -> list[PlantEvent]:
    """The inbox of the current plant, newest first."""
    stmt = select(PlantEvent).where(
        PlantEvent.plant_id == plant.id, PlantEvent.tenant_id == plant.tenant_id
    )
    if status is not None:
        stmt = stmt.where(PlantEvent.status == status)
    return list(session.scalars(stmt.order_by(PlantEvent.id.desc()).limit(limit).offset(offset)))


def pending_count(session: Session, plant: Plant) -> int:
    return len(pending_ids(session, plant.id))


def pending_ids(session: Session, plant_id: str) -> list[int]:
    return list(
        session.scalars(
            select(PlantEvent.id).where(
                PlantEvent.plant_id == plant_id, PlantEvent.status == "pending"
            )
        )
    )


def pending_events(session: Session, plant_id: str) -> list[PlantEvent]:
    """The events the next run applies, in occurrence order."""
    return list(
        session.scalars(
            select(PlantEvent)
            .where(PlantEvent.plant_id == plant_id, PlantEvent.status == "pending")
            .order_by(PlantEvent.occurred_at, PlantEvent.id)
        )
    )


def close_events(
    session: Session,
    ids: Sequence[int],
    status: str,
    version: int | None,
    reason: str | None = None,
) -> list[PlantEvent]:
    """Mark pending events ``applied`` (in ``version``) or ``failed`` (with ``reason``);
    the events this call closed."""
    if not ids:
        return []
    closed = list(
        session.scalars(
            select(PlantEvent).where(PlantEvent.id.in_(list(ids)), PlantEvent.status == "pending")
        )
    )
    session.execute(
        update(PlantEvent)
        .where(PlantEvent.id.in_([e.id for e in closed]), PlantEvent.status == "pending")
        .values(
            status=status,
            applied_version=version,
            reason=None if reason is None else reason[:4000],
        )
    )
    return closed


def recorded(row: PlantEvent) -> Recorded:
    """A stored event as the rules of :mod:`aps.live` read it."""
    data = (row.payload.get("event") or {}).get("data") or {}
    norm = load_normalized(row.type, row.payload["norm"])
    return Recorded(norm, row.occurred_at, row.status, data)


class RowHistory:
    """The plant's history for the rules, queried from ``plant_events`` when asked."""

    def __init__(self, session: Session, plant: Plant) -> None:
        self.session, self.plant = session, plant

    def events(self, *kinds: type[Normalized]) -> Sequence[Recorded]:
        rows = self.session.scalars(
            select(PlantEvent)
            .where(
                PlantEvent.plant_id == self.plant.id,
                PlantEvent.type.in_([TYPE_OF[k] for k in kinds]),
                PlantEvent.status.in_(LIVE),
            )
            .order_by(PlantEvent.occurred_at, PlantEvent.id)
        )
        return [recorded(row) for row in rows]


class _ParsedProblems:
    """Stored problems (the plant's, or a version's) parsed once per distinct text.

    The plant is read on every event and every run step, and a 6,000-operation plant is
    about 18 MB of JSON (1.7 s to parse). The text is the key, so a changed plant is
    parsed afresh, unless the run that published it left its problem here
    (:meth:`remember`). Callers never change a problem in place (edits are
    ``model_copy``), so sharing one is safe.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.lock = threading.Lock()
        self.items: OrderedDict[str, Problem] = OrderedDict()

    def __call__(self, text: str) -> Problem:
        with self.lock:
            if text in self.items:
                self.items.move_to_end(text)
                return self.items[text]
        problem = Problem.model_validate_json(text)
        self.remember(text, problem)
        return problem

    def remember(self, text: str, problem: Problem) -> None:
        with self.lock:
            self.items[text] = problem
            self.items.move_to_end(text)
            while len(self.items) > self.size:
                self.items.popitem(last=False)


parsed_problem = _ParsedProblems(size=2)  # the plant and the version a reader asks for


class _Skipped(BaseModel):
    """A JSON object read past without building it."""


class _JobSummary(BaseModel):
    operations: list[_Skipped]


class ProblemSummary(BaseModel):
    """What the plant's status shows of its problem: counts and metadata, read without
    validating (or building) the rest: 0.23 s where a parse takes 1.7 s (18 MB)."""

    machines: list[_Skipped]
    jobs: list[_JobSummary]
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def num_operations(self) -> int:
        return sum(len(j.operations) for j in self.jobs)


@functools.lru_cache(maxsize=4)
def problem_summary(text: str) -> ProblemSummary:
    """The summary of a stored problem (cached by its text, as :func:`parsed_problem`)."""
    return ProblemSummary.model_validate_json(text)


def live_plant(session: Session, plant: Plant) -> LivePlant:
    """The plant as the rules see it."""
    source = json.loads(plant.source) if plant.source is not None else None
    problem = parsed_problem(plant.problem)
    return LivePlant(problem, source, RowHistory(session, plant))


def accept_event(
    session: Session, plant: Plant, webhook_id: str, envelope: Envelope, data: EventData
) -> tuple[int, dict[str, Any]]:
    """Validate and store one event (raises ``Rejected``); (status code, body)."""
    norm, stale = normalize(live_plant(session, plant), envelope, data)
    body: dict[str, Any] = {
        "webhook_id": webhook_id,
        "type": envelope.type,
        "status": "stale" if stale else "accepted",
        "plant_id": plant.id,
        "occurred_at": envelope.timestamp.astimezone(UTC).isoformat(),
    }
    if stale:
        body["detail"] = "older than a known event of the same subject; not applied"
    code = 200 if stale else 202
    _add_event(session, plant, webhook_id, envelope.type, envelope, norm, code, body, stale)
    if not stale:
        urgent = envelope.type in URGENT
        request_run(
            session, plant, delay=0.0 if urgent else current_settings().plant_coalesce_seconds
        )
    return code, body


def find_event(session: Session, tenant_id: str, webhook_id: str) -> PlantEvent | None:
    return session.scalar(
        select(PlantEvent).where(
            PlantEvent.tenant_id == tenant_id, PlantEvent.webhook_id == webhook_id
        )
    )


def request_reschedule(session: Session, plant: Plant, now: int | None) -> dict[str, Any]:
    """``POST /v1/plant/reschedule``: a synthetic pending event carries ``now``."""
    hook = f"api-{uuid.uuid4()}"
    _add_event(session, plant, hook, "reschedule", None, NormalizedReschedule(now=now), 202, {})
    request_run(session, plant, delay=0.0)
    return {"plant_id": plant.id, "status": "accepted", "request": hook}


def _add_event(
    session: Session,
    plant: Plant,
    webhook_id: str,
    kind: str,
    envelope: Envelope | None,
    norm: Normalized,
    code: int,
    response: dict[str, Any],
    stale: bool = False,
) -> None:
    """One inbox row: the event as received and normalized, and the first answer."""
    now = utcnow()
    session.add(
        PlantEvent(
            tenant_id=plant.tenant_id,
            plant_id=plant.id,
            webhook_id=webhook_id,
            type=kind,
            occurred_at=envelope.timestamp if envelope is not None else now,
            payload={
                "event": envelope.model_dump(mode="json") if envelope is not None else {},
                "norm": norm.model_dump(mode="json"),
            },
            status="stale" if stale else "pending",
            status_code=code,
            response=response,
            received_at=now,
        )
    )
    session.flush()
