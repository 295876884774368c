"""The live plant (issue 6, service part): state, webhook inbox, reschedules, callbacks.

Each tenant holds one plant: the current problem (after every repair, the *derived*
problem of :mod:`aps.reschedule`, whose metadata carries downtimes and calendars) and
a history of published schedules (``plant_schedules``, one row per version, each with
its diff against the previous version).

Why an inbox and a single runner per plant
------------------------------------------
Webhook events are validated and stored (``plant_events``, unique per ``webhook-id``)
in the request; they change nothing else. A *run* (Celery task ``aps.plant.run`` or the
embedded pool, staged through the outbox like solves) takes every pending event, applies
them to the problem in occurrence order and reschedules once: a burst of events within
``APS_PLANT_COALESCE_SECONDS`` is one reschedule (the core's :func:`aps.reschedule.coalesce`
merges the batch). One run per plant holds a lease (``APS_LEASE_SECONDS``, renewed by a
heartbeat); publications are compare-and-set on ``plants.state`` *and* the lease owner,
in one UPDATE, so a plant replaced by ``PUT /v1/plant`` mid-run is never overwritten by
a stale repair, nor a newer run's work by a worker that lost its lease. The reaper
(:func:`reap_plants`, in the relay) retries a run whose worker died once its lease
expires, and fails the pending events after ``APS_MAX_ATTEMPTS`` lost runs in a row.

Out-of-order delivery: every event carries its occurrence time. A ``machine.down`` older
than the last repair's ``now`` re-opens what that repair only assumed had run (see
:func:`aps.reschedule.derive`). A ``machine.down`` that
arrives after a later ``machine.up`` of the machine ends at that up; a ``machine.up``
older than a known later ``machine.down``, an ``operation.started`` after the operation's
``operation.completed`` and an ``order.updated`` older than the order's latest update are
stale: accepted (200, ``"status": "stale"``) and not applied.

Callbacks: each publication stages ``schedule.published`` and one ``order.late`` per
order late in the new version but not in the previous one (the diff's ``became_late``
compares both schedules against the *new* due dates, so a due date moved earlier would
not count); ``job.succeeded``/``job.failed`` for plant solves and ordinary jobs.
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

import aps
from aps import Problem, Result, SolveStatus
from aps.factory.compile import CompileError, compile_plant
from aps.factory.model import Plant as PlantDocument
from aps.kpi import completion_times, objective_value, term_values
from aps.model import Id, Job, MaterialFlow, Receipt
from aps.reschedule.derive import REST
from aps.reschedule.diff import diff
from aps.reschedule.events import MachineDown, MachineUp, OperationProgress, coalesce
from aps.reschedule.repair import reschedule
from aps.result import ScheduledOperation
from jobs.callbacks import deliver_callback, emit
from jobs.db import Database
from jobs.outbox import PLANT_NOTIFY_TASK, PLANT_RUN_TASK, stage
from jobs.settings import Settings, current_settings
from jobs.tables import (
    Outbox,
    Plant,
    PlantEvent,
    PlantSchedule,
    Tenant,
    dml,
    utcnow,
)

log = logging.getLogger(__name__)

CALLBACK_EVENTS = ("schedule.published", "job.succeeded", "job.failed", "order.late")
MAX_TICK = 1_000_000_000
META = "aps.reschedule"


def inbound_secrets(plant: Plant | None) -> list[str]:
    """The tenant's own secrets (plant options) or ``APS_WEBHOOK_SECRETS``."""
    own = (plant.options or {}).get("webhook_secrets") if plant is not None else None
    if own:
        return [str(s) for s in own]
    return [s.strip() for s in current_settings().webhook_secrets.split(",") if s.strip()]


class Rejected(ValueError):
    """An event or request that names its bad field: ``loc`` and ``msg`` (a 422)."""

    def __init__(self, loc: Sequence[str | int], msg: str) -> None:
        super().__init__(msg)
        self.loc = list(loc)
        self.msg = msg


# -- the plant ------------------------------------------------------------------------------


class PlantOptions(BaseModel):
    """How the plant is solved and repaired (server maxima are checked by the API)."""

    model_config = ConfigDict(extra="forbid")

    time_limit: float = Field(default=3.0, gt=0, description="Seconds for the initial solve.")
    reschedule_time_limit: float = Field(
        default=3.0, gt=0, description="Seconds for one reschedule (greedy + CP-SAT)."
    )
    workers: int = Field(default=1, ge=1, le=64)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    webhook_secrets: list[str] | None = Field(
        default=None,
        max_length=2,
        description="whsec_ secrets for inbound webhooks of this tenant (overrides "
        "APS_WEBHOOK_SECRETS); never returned.",
    )

    @field_validator("webhook_secrets")
    @classmethod
    def _secrets(cls, value: list[str] | None) -> list[str] | None:
        if value:
            from standardwebhooks import Webhook

            for secret in value:
                try:
                    Webhook(secret)
                except Exception as exc:  # the library raises plain Exceptions
                    raise ValueError(f"not a whsec_<base64> secret: {exc}") from None
        return value


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
    plant.options = stored
    plant.status = "solving"
    plant.message = None
    plant.needs_solve = True
    plant.updated_at = now
    session.flush()
    request_run(session, plant, delay=0.0, force=True)
    return plant


def latest_schedule(
    session: Session, plant: Plant, version: int | None = None
) -> PlantSchedule | None:
    stmt = select(PlantSchedule).where(
        PlantSchedule.plant_id == plant.id, PlantSchedule.tenant_id == plant.tenant_id
    )
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
    return len(
        session.scalars(
            select(PlantEvent.id).where(
                PlantEvent.plant_id == plant.id, PlantEvent.status == "pending"
            )
        ).all()
    )


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
        stage(session, PLANT_RUN_TASK, plant.id, _run_budget(plant.options), delay)


def _run_budget(options: dict[str, Any]) -> float:
    """Time limit announced to Celery (soft limit = this + 30 s): two solves and slack."""
    return 2 * float(options.get("time_limit", 3.0)) + 2 * float(
        options.get("reschedule_time_limit", 3.0)
    )


# -- time ----------------------------------------------------------------------------------

TimeValue = Annotated[int | datetime, Field(union_mode="left_to_right")]


def _name(value: object) -> object:
    """Integer ids (plain job shops number their machines) are sent as numbers too."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Name = Annotated[str, BeforeValidator(_name), Field(min_length=1, max_length=200)]


def to_tick(problem: Problem, value: int | datetime, loc: Sequence[str | int]) -> int:
    """A tick from a tick number or a datetime (naive: the plant's local time)."""
    if isinstance(value, int):
        tick = value
    else:
        if problem.time is None:
            raise Rejected(loc, "this plant has no time base: give a tick number")
        moment = value
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=ZoneInfo(problem.time.timezone))
        seconds = (moment - problem.time.origin).total_seconds()
        tick = math.floor(seconds / problem.time.tick_seconds)
    if abs(tick) > MAX_TICK:
        raise Rejected(loc, f"more than {MAX_TICK} ticks from the plan start")
    return tick


# -- inbound events -------------------------------------------------------------------------


class Envelope(BaseModel):
    """Standard Webhooks payload: ``type``, ``timestamp`` (when it occurred), ``data``."""

    model_config = ConfigDict(extra="forbid")

    type: Literal[
        "machine.down",
        "machine.up",
        "operation.started",
        "operation.completed",
        "order.created",
        "order.updated",
        "order.cancelled",
        "material.received",
        "calendar.changed",
    ]
    timestamp: AwareDatetime
    data: dict[str, Any]

    @field_validator("timestamp")
    @classmethod
    def _in_range(cls, value: datetime) -> datetime:
        """Years 1970-9000 only: extreme offsets would overflow converting to UTC (a 500)."""
        if not (1970 <= value.year <= 9000):
            raise ValueError(f"timestamp {value.isoformat()} is outside the years 1970-9000")
        return value


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class MachineDownData(_Data):
    machine: Name
    from_: TimeValue | None = Field(default=None, alias="from")
    until: TimeValue | None = None


class MachineUpData(_Data):
    machine: Name
    at: TimeValue | None = None


class OperationStartedData(_Data):
    order: Name
    operation: Name
    machine: Name
    at: TimeValue | None = None
    setup_start: TimeValue | None = None
    remaining: int | None = Field(default=None, ge=0, description="ticks of work left")


class OperationCompletedData(_Data):
    order: Name
    operation: Name
    machine: Name
    started_at: TimeValue
    completed_at: TimeValue | None = None
    setup_start: TimeValue | None = None
    quantity: int | None = Field(default=None, ge=0, description="actual good output")


class OrderCreatedData(_Data):
    order: dict[str, Any] | None = Field(default=None, description="a plant-JSON order")
    job: dict[str, Any] | None = Field(default=None, description="a tick-level Job")


class OrderUpdatedData(_Data):
    order: Name
    release: TimeValue | None = None
    due: TimeValue | None = None
    deadline: TimeValue | None = None
    weight: int | None = Field(default=None, ge=0)
    quantity: int | None = Field(
        default=None,
        gt=0,
        description="new order quantity: per-unit run times and material flows are "
        "recompiled (plants loaded as plant JSON only)",
    )


class OrderCancelledData(_Data):
    order: Name


class MaterialReceivedData(_Data):
    material: Name
    quantity: int = Field(gt=0)
    at: TimeValue | None = None


class WindowData(_Data):
    from_: TimeValue = Field(alias="from")
    until: TimeValue
    reason: str | None = Field(default=None, max_length=200)


class CalendarChangedData(_Data):
    """The machine's planned unavailability from now on (replaces the previous list)."""

    machine: Name
    unavailable: list[WindowData] = Field(max_length=10_000)


DATA_MODELS: dict[str, type[_Data]] = {
    "machine.down": MachineDownData,
    "machine.up": MachineUpData,
    "operation.started": OperationStartedData,
    "operation.completed": OperationCompletedData,
    "order.created": OrderCreatedData,
    "order.updated": OrderUpdatedData,
    "order.cancelled": OrderCancelledData,
    "material.received": MaterialReceivedData,
    "calendar.changed": CalendarChangedData,
}


def pydantic_rejections(exc: ValidationError, prefix: Sequence[str | int]) -> list[Rejected]:
    return [
        Rejected([*prefix, *e["loc"]], e["msg"])
        for e in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


class Invalid(ValueError):
    """Several rejections at once (pydantic errors)."""

    def __init__(self, items: list[Rejected]) -> None:
        super().__init__("; ".join(f"{r.loc}: {r.msg}" for r in items))
        self.items = items


def parse_event(raw: bytes) -> tuple[Envelope, _Data]:
    """The envelope and its typed data; :class:`Invalid` names every bad field."""
    try:
        envelope = Envelope.model_validate_json(raw)
    except ValidationError as exc:
        raise Invalid(pydantic_rejections(exc, ["body"])) from None
    try:
        # JSON types as the schema states them (strict): `true` is not tick 1 nor a
        # quantity of 1, and "5" is not a number
        model = DATA_MODELS[envelope.type]
        data = model.model_validate_json(json.dumps(envelope.data), strict=True)
    except ValidationError as exc:
        raise Invalid(pydantic_rejections(exc, ["body", "data"])) from None
    return envelope, data


def _machine(problem: Problem, name: str, loc: list[str | int]) -> Id:
    for m in problem.machines:
        if str(m.id) == name:
            return m.id
    known = ", ".join(str(m.id) for m in problem.machines[:50])
    raise Rejected(loc, f"unknown machine {name!r}; known: {known}")


def _history(session: Session, plant: Plant, types: Sequence[str]) -> list[PlantEvent]:
    return list(
        session.scalars(
            select(PlantEvent)
            .where(
                PlantEvent.plant_id == plant.id,
                PlantEvent.type.in_(list(types)),
                PlantEvent.status.in_(["pending", "applied"]),
            )
            .order_by(PlantEvent.occurred_at, PlantEvent.id)
        )
    )


def _orders(session: Session, plant: Plant, problem: Problem) -> dict[str, Job | None]:
    """Known orders: the problem's jobs, plus pending creations, minus cancellations."""
    known: dict[str, Job | None] = {str(j.id): j for j in problem.jobs}
    for ev in _history(session, plant, ["order.created", "order.cancelled"]):
        if ev.status != "pending":
            continue
        norm = ev.payload["norm"]
        if ev.type == "order.created":
            job = Job.model_validate(norm["job"])
            known[str(job.id)] = job
        else:
            known.pop(str(norm["order"]), None)
    return known


def _operation(
    orders: dict[str, Job | None], order: str, operation: str, machine: Id
) -> tuple[Id, Id]:
    job = orders.get(order)
    if job is None:
        raise Rejected(["body", "data", "order"], f"unknown order {order!r}")
    op = next((o for o in job.operations if str(o.id) == operation), None)
    if op is None:
        known = ", ".join(str(o.id) for o in job.operations)
        raise Rejected(
            ["body", "data", "operation"],
            f"order {order!r} has no operation {operation!r}; known: {known}",
        )
    if machine not in {m.machine for m in op.modes}:
        allowed = ", ".join(str(m.machine) for m in op.modes)
        raise Rejected(
            ["body", "data", "machine"],
            f"operation {operation!r} of {order!r} cannot run on {machine!r}; eligible: {allowed}",
        )
    return job.id, op.id


def normalize(
    session: Session, plant: Plant, problem: Problem, envelope: Envelope, data: _Data
) -> tuple[dict[str, Any], bool]:
    """Check ``data`` against the plant; (the event in ticks and ids, stale?).

    Raises :class:`Rejected` naming the field when the event is inconsistent.
    """
    occurred = to_tick(problem, envelope.timestamp, ["body", "timestamp"]) if problem.time else None
    d: list[str | int] = ["body", "data"]

    def when(value: int | datetime | None, field: str) -> int:
        if value is None:
            if occurred is None:
                raise Rejected([*d, field], "required when the plant has no time base")
            return occurred
        return to_tick(problem, value, [*d, field])

    if isinstance(data, MachineDownData):
        machine = _machine(problem, data.machine, [*d, "machine"])
        start = when(data.from_, "from")
        until = None if data.until is None else when(data.until, "until")
        if until is not None and until <= start:
            raise Rejected([*d, "until"], "until must be after from")
        for ev in _history(session, plant, ["machine.up"]):
            at = ev.payload["norm"]["at"]
            if ev.payload["norm"]["machine"] == machine and at > start:
                until = at if until is None else min(until, at)  # a later up already came
                break
        return {"machine": machine, "start": max(start, 0), "until": until}, False
    if isinstance(data, MachineUpData):
        machine = _machine(problem, data.machine, [*d, "machine"])
        at = when(data.at, "at")
        stale = any(
            ev.payload["norm"]["machine"] == machine and ev.payload["norm"]["start"] > at
            for ev in _history(session, plant, ["machine.down"])
        )
        return {"machine": machine, "at": at}, stale
    if isinstance(data, OperationStartedData | OperationCompletedData):
        machine = _machine(problem, data.machine, [*d, "machine"])
        orders = _orders(session, plant, problem)
        job, op = _operation(orders, data.order, data.operation, machine)
        norm: dict[str, Any] = {"job": job, "op": op, "machine": machine}
        norm["setup_start"] = (
            None if data.setup_start is None else when(data.setup_start, "setup_start")
        )
        if isinstance(data, OperationStartedData):
            norm["start"] = when(data.at, "at")
            norm["end"] = None
            norm["remaining"] = data.remaining
        else:
            norm["start"] = when(data.started_at, "started_at")
            norm["end"] = when(data.completed_at, "completed_at")
            if norm["end"] <= norm["start"]:
                raise Rejected([*d, "completed_at"], "completed_at must be after started_at")
            norm["quantity"] = data.quantity
        if norm["setup_start"] is not None and norm["setup_start"] > norm["start"]:
            raise Rejected([*d, "setup_start"], "setup_start must not be after the start")
        stale = isinstance(data, OperationStartedData) and any(
            ev.payload["norm"]["job"] == job and ev.payload["norm"]["op"] == op
            for ev in _history(session, plant, ["operation.completed"])
        )
        return norm, stale
    if isinstance(data, OrderCreatedData):
        new = _new_job(plant, problem, data)
        if str(new.id) in _orders(session, plant, problem):
            raise Rejected([*d, "order" if data.order else "job", "id"], "order exists already")
        for k, step in enumerate(new.operations):
            for i, mode in enumerate(step.modes):
                if mode.machine not in {m.id for m in problem.machines}:
                    raise Rejected(
                        [*d, "job", "operations", k, "modes", i, "machine"],
                        f"unknown machine {mode.machine!r}",
                    )
        try:
            Problem.model_validate({**problem.model_dump(), "jobs": [new.model_dump()]})
        except ValidationError as exc:
            first = exc.errors()[0]
            raise Rejected([*d, "job", *first["loc"][2:]], first["msg"]) from None
        return {"job": new.model_dump(mode="json")}, False
    if isinstance(data, OrderUpdatedData):
        orders = _orders(session, plant, problem)
        cancelled = [
            ev
            for ev in _history(session, plant, ["order.cancelled"])
            if ev.payload["norm"]["order"] == data.order
        ]
        if cancelled and cancelled[-1].occurred_at > envelope.timestamp:
            return {"order": data.order}, True  # updated before it was cancelled
        if data.order not in orders:
            raise Rejected([*d, "order"], f"unknown order {data.order!r}")
        norm = {"order": data.order}
        for field in ("release", "due", "deadline"):
            value = getattr(data, field)
            if value is not None:
                norm[field] = (
                    max(0, when(value, field)) if field == "release" else when(value, field)
                )
        if data.weight is not None:
            norm["weight"] = data.weight
        if data.quantity is not None:
            norm["quantity"] = data.quantity
            norm["operations"] = _requantified(session, plant, data.order, data.quantity)
        if len(norm) == 1:
            raise Rejected(
                [*d], "nothing to update: give release, due, deadline, weight or quantity"
            )
        stale = any(
            ev.payload["norm"]["order"] == data.order and ev.occurred_at > envelope.timestamp
            for ev in _history(session, plant, ["order.updated"])
        )
        return norm, stale
    if isinstance(data, OrderCancelledData):
        if data.order not in _orders(session, plant, problem):
            raise Rejected([*d, "order"], f"unknown order {data.order!r}")
        return {"order": data.order}, False
    if isinstance(data, MaterialReceivedData):
        material = next((m.id for m in problem.materials if str(m.id) == data.material), None)
        if material is None:
            raise Rejected([*d, "material"], f"unknown material {data.material!r}")
        return {"material": material, "quantity": data.quantity, "at": when(data.at, "at")}, False
    assert isinstance(data, CalendarChangedData)
    machine = _machine(problem, data.machine, [*d, "machine"])
    windows: list[list[Any]] = []
    for i, w in enumerate(data.unavailable):
        s = to_tick(problem, w.from_, [*d, "unavailable", i, "from"])
        e = to_tick(problem, w.until, [*d, "unavailable", i, "until"])
        if e <= s:
            raise Rejected([*d, "unavailable", i, "until"], "until must be after from")
        windows.append([s, e, w.reason])
    return {"machine": machine, "windows": windows}, False


def _requantified(
    session: Session, plant: Plant, order: str, quantity: int
) -> dict[str, dict[str, Any]]:
    """Per operation id, the modes and material flows of ``order`` at ``quantity``.

    Why recompile: run times (``run_per_unit``) and flows (``per_unit``) scale with the
    quantity, and only the plant JSON knows the per-unit values (the tick model holds
    their products). The order's plant-JSON definition comes from the loaded plant or
    from its ``order.created`` event.
    """
    loc: list[str | int] = ["body", "data", "quantity"]
    if plant.source is None:
        raise Rejected(
            loc, "this plant was loaded as a tick-level problem (no per-unit times): "
            "send order.cancelled and order.created with the new job instead",
        )  # fmt: skip
    source = json.loads(plant.source)
    document = next((o for o in source.get("orders", []) if str(o.get("id")) == order), None)
    for ev in _history(session, plant, ["order.created"]):
        created = (ev.payload["event"].get("data") or {}).get("order")
        if created is not None and str(created.get("id")) == order:
            document = created
    if document is None:
        raise Rejected(loc, f"order {order!r} has no plant-JSON definition to recompile")

    try:
        compiled = compile_plant(
            PlantDocument.model_validate({**source, "orders": [{**document, "quantity": quantity}]})
        )
    except (ValidationError, CompileError) as exc:
        raise Rejected(loc, f"order {order!r} at quantity {quantity}: {exc}") from None
    return {
        str(o.id): {
            "modes": [m.model_dump(mode="json") for m in o.modes],
            "consumes": [f.model_dump(mode="json") for f in o.consumes],
            "produces": [f.model_dump(mode="json") for f in o.produces],
        }
        for o in compiled.jobs[0].operations
    }


def _requantify(job: dict[str, Any], operations: dict[str, dict[str, Any]]) -> None:
    """New run times and flows for the order's operations that have not started.

    Pinned operations (started or done) keep their actual times. The remainder
    ``<op>~rest`` of a resumed operation gets the change in run time on its own machine
    (the work already done stays done) and full new run times elsewhere.
    """

    ops: list[dict[str, Any]] = job["operations"]
    by_id = {str(o["id"]): o for o in ops}
    for o in ops:
        if o.get("fixed") is not None:
            continue
        oid = str(o["id"])
        new = operations.get(oid)
        if new is not None:
            o.update({k: [dict(x) for x in v] for k, v in new.items()})
            continue
        base = oid.removesuffix(REST)
        new, done = operations.get(base), by_id.get(base)
        if not oid.endswith(REST) or new is None or done is None:
            continue
        old_run = {m["machine"]: m["duration"] for m in done["modes"]}
        new_run = {m["machine"]: m for m in new["modes"]}
        modes = []
        for k, m in enumerate(o["modes"]):
            fresh = new_run.get(m["machine"])
            if fresh is None:
                continue  # no longer eligible at this quantity
            if k == 0 and m["machine"] in old_run:  # resumes on the machine it ran on
                left = m["duration"] + fresh["duration"] - old_run[m["machine"]]
                modes.append({**m, "duration": max(0, left)})
            else:
                modes.append(dict(fresh))
        o["modes"] = modes or o["modes"]
        o["produces"] = [dict(x) for x in new["produces"]]


def _new_job(plant: Plant, problem: Problem, data: OrderCreatedData) -> Job:
    """The new order as a Job: compiled from a plant order, or given at tick level."""
    d: list[str | int] = ["body", "data"]
    if (data.order is None) == (data.job is None):
        raise Rejected(d, "give exactly one of order (plant JSON order) or job (tick level)")
    if data.job is not None:
        try:
            return Job.model_validate(data.job)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise Rejected([*d, "job", *first["loc"]], first["msg"]) from None
    if plant.source is None:
        raise Rejected(
            [*d, "order"], "this plant was loaded as a tick-level problem: send data.job instead"
        )

    source = json.loads(plant.source)
    try:
        document = PlantDocument.model_validate({**source, "orders": [data.order]})
        compiled = compile_plant(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = list(first["loc"])
        msg = str(first["msg"]).replace("Value error, ", "").replace("orders[0].", "order.")
        if loc[:2] == ["orders", 0]:
            loc = ["order", *loc[2:]]
        elif not loc and msg.startswith("order."):  # a reference check names its field
            loc = ["order", msg.split(":")[0].removeprefix("order.")]
        raise Rejected([*d, *loc], msg) from None
    except CompileError as exc:
        raise Rejected([*d, "order"], str(exc)) from None
    if not compiled.jobs:
        raise Rejected([*d, "order"], "the order compiles to no operations (done?)")
    return compiled.jobs[0]


def accept_event(
    session: Session, plant: Plant, webhook_id: str, envelope: Envelope, data: _Data
) -> tuple[int, dict[str, Any]]:
    """Validate and store one event (raises :class:`Rejected`); (status code, body)."""
    problem = Problem.model_validate_json(plant.problem)
    norm, stale = normalize(session, plant, problem, envelope, data)
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
    session.add(
        PlantEvent(
            tenant_id=plant.tenant_id,
            plant_id=plant.id,
            webhook_id=webhook_id,
            type=envelope.type,
            occurred_at=envelope.timestamp,
            payload={"event": envelope.model_dump(mode="json"), "norm": norm},
            status="stale" if stale else "pending",
            status_code=code,
            response=body,
            received_at=utcnow(),
        )
    )
    session.flush()
    if not stale:
        request_run(session, plant, delay=current_settings().plant_coalesce_seconds)
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
    session.add(
        PlantEvent(
            tenant_id=plant.tenant_id,
            plant_id=plant.id,
            webhook_id=hook,
            type="reschedule",
            occurred_at=utcnow(),
            payload={"event": {}, "norm": {"now": now}},
            status="pending",
            status_code=202,
            response={},
            received_at=utcnow(),
        )
    )
    session.flush()
    request_run(session, plant, delay=0.0)
    return {"plant_id": plant.id, "status": "accepted", "request": hook}


# -- applying a batch --------------------------------------------------------------------


_ORDER_FIELDS = ("release", "due", "deadline", "weight")


def _apply_edits(problem: Problem, events: Sequence[PlantEvent]) -> Problem:
    """Order, material and calendar events, in occurrence order, on the problem."""
    data = problem.model_dump()
    jobs: list[dict[str, Any]] = data["jobs"]
    meta = data.setdefault("metadata", {})
    for ev in events:
        norm = ev.payload["norm"]
        if ev.type == "order.created":
            jobs.append(norm["job"])
        elif ev.type == "order.cancelled":
            jobs[:] = [j for j in jobs if str(j["id"]) != str(norm["order"])]
        elif ev.type == "order.updated":
            for j in jobs:
                if str(j["id"]) == str(norm["order"]):
                    j.update({k: v for k, v in norm.items() if k in _ORDER_FIELDS})
                    if "operations" in norm:
                        _requantify(j, norm["operations"])
            orders = (meta.get("orders") or {}).get(str(norm["order"]))
            if "quantity" in norm and isinstance(orders, dict):
                orders["quantity"] = norm["quantity"]
        elif ev.type == "material.received":
            for mat in data["materials"]:
                if mat["id"] == norm["material"]:
                    receipt = Receipt(time=norm["at"], quantity=norm["quantity"])
                    mat["receipts"] = [*mat["receipts"], receipt.model_dump()]
        elif ev.type == "calendar.changed":
            windows = [{"start": s, "end": e, "reason": r} for s, e, r in norm["windows"]]
            calendars = (meta.get(META) or {}).get("calendars")
            if calendars is not None:  # the core keeps base calendars in its metadata
                meta[META] = {
                    **meta[META],
                    "calendars": [
                        [mid, [[w["start"], w["end"], w["reason"]] for w in windows]]
                        if mid == norm["machine"]
                        else [mid, ws]
                        for mid, ws in calendars
                    ],
                }
            else:
                for m in data["machines"]:
                    if m["id"] == norm["machine"]:
                        m["unavailable"] = windows
    return Problem.model_validate(data)


def _core_events(problem: Problem, events: Sequence[PlantEvent]) -> list[Any]:

    out: list[MachineDown | MachineUp | OperationProgress] = []
    ops = {(j.id, o.id): o for j in problem.jobs for o in j.operations}
    for ev in events:
        n = ev.payload["norm"]
        if ev.type == "machine.down":
            out.append(MachineDown(machine=n["machine"], start=n["start"], until=n["until"]))
        elif ev.type == "machine.up":
            out.append(MachineUp(machine=n["machine"], at=n["at"]))
        elif ev.type in ("operation.started", "operation.completed"):
            op = ops.get((n["job"], n["op"]))
            if op is None:
                continue  # its order was cancelled in the same batch
            produced = None
            if n.get("quantity") is not None:
                produced = [
                    MaterialFlow(material=f.material, quantity=n["quantity"]) for f in op.produces
                ]
            out.append(
                OperationProgress(
                    job=n["job"],
                    op=n["op"],
                    machine=n["machine"],
                    start=n["start"],
                    end=n["end"],
                    setup_start=n.get("setup_start"),
                    remaining=n.get("remaining"),
                    produced=produced,
                )
            )
    return coalesce(out)


def _now(problem: Problem, events: Sequence[PlantEvent], core: Sequence[Any]) -> int:
    """The reschedule's ``now``: the latest known fact (event ticks, occurrence times)."""
    ticks = [int((problem.metadata.get(META) or {}).get("now", 0))]
    ticks += [e.time for e in core]
    for ev in events:
        if ev.type == "reschedule" and ev.payload["norm"].get("now") is not None:
            ticks.append(int(ev.payload["norm"]["now"]))
        elif ev.type != "reschedule" and problem.time is not None:
            stamp = datetime.fromisoformat(ev.payload["event"]["timestamp"])
            ticks.append(to_tick(problem, stamp, ["timestamp"]))
    return max(0, *ticks)


# -- runs ----------------------------------------------------------------------------------


def run_plant(
    db: Database, settings: Settings, plant_id: str, owner: str, stop: threading.Event | None = None
) -> str:
    """Claim the plant, then solve or reschedule until nothing is pending; release."""
    stop = stop or threading.Event()
    now = utcnow()
    with db.write() as session:
        plant = session.scalar(select(Plant).where(Plant.id == plant_id))
        if plant is None:
            return "no_plant"
        lease = now + timedelta(seconds=settings.lease_seconds)
        won = (
            dml(
                session,
                update(Plant)
                .where(
                    Plant.id == plant_id,
                    or_(Plant.run_owner.is_(None), Plant.run_lease_expires_at < now),
                )
                .values(run_owner=owner, run_lease_expires_at=lease, run_queued=False),
            )
            == 1
        )
        if not won:
            # Another run holds the plant: it picks up pending events before it ends, but
            # an event can slip in after its last look, and a crashed holder only lets
            # go when its lease expires. Try again soon, or at that expiry.
            left = (plant.run_lease_expires_at or now) - now
            wait = min(max(left.total_seconds(), 0.0) + 0.1, 1.0)
            stage(session, PLANT_RUN_TASK, plant_id, _run_budget(plant.options), wait)
            return "busy"
    outcome = "idle"
    beat = _Heartbeat(db, settings, plant_id, owner, stop)
    beat.start()
    try:
        for _ in range(20):
            if stop.is_set() or not _renew(db, settings, plant_id, owner):
                break
            step = _step(db, settings, plant_id, owner, stop)
            if step == "idle":
                break
            outcome = step
    finally:
        beat.halt()
        with db.write() as session:
            session.execute(
                update(Plant)
                .where(Plant.id == plant_id, Plant.run_owner == owner)
                .values(run_owner=None, run_lease_expires_at=None, run_lost=0)
            )
            plant = session.scalar(select(Plant).where(Plant.id == plant_id))
            if plant is not None and (plant.needs_solve or pending_count(session, plant)):
                request_run(session, plant, delay=0.2)
    return outcome


def _renew(db: Database, settings: Settings, plant_id: str, owner: str) -> bool:
    """Extend this run's lease; False when another run (or the reaper) took it."""
    with db.write() as session:
        return (
            dml(
                session,
                update(Plant)
                .where(Plant.id == plant_id, Plant.run_owner == owner)
                .values(run_lease_expires_at=utcnow() + timedelta(seconds=settings.lease_seconds)),
            )
            == 1
        )


class _Heartbeat(threading.Thread):
    """Renews the run's lease every ``heartbeat_seconds`` while it solves.

    Why: the lease is short (``APS_LEASE_SECONDS``, like a job's), so the reaper sees a
    dead worker within seconds; a run that loses its lease is told to stop.
    """

    def __init__(
        self, db: Database, settings: Settings, plant_id: str, owner: str, stop: threading.Event
    ) -> None:
        super().__init__(name=f"aps-plant-beat-{plant_id[:8]}", daemon=True)
        self.db, self.settings, self.plant_id, self.owner, self.stop = (
            db, settings, plant_id, owner, stop,
        )  # fmt: skip
        self._halt = threading.Event()

    def halt(self) -> None:
        self._halt.set()
        self.join(5.0)

    def run(self) -> None:
        while not self._halt.wait(self.settings.heartbeat_seconds):
            try:
                if not _renew(self.db, self.settings, self.plant_id, self.owner):
                    log.warning("plant %s: lease lost by %s; stopping", self.plant_id, self.owner)
                    self.stop.set()
                    return
            except Exception:  # a DB blip: keep solving, the lease has slack
                log.exception("plant %s: heartbeat failed", self.plant_id)


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
    expired = session.execute(
        select(Plant.id, Plant.run_owner, Plant.run_lease_expires_at, Plant.run_lost)
        .where(Plant.run_owner.is_not(None), Plant.run_lease_expires_at < now)
        .limit(100)
    ).all()
    for plant_id, owner, lease, lost in expired:
        lost += 1
        give_up = lost >= settings.max_attempts
        won = dml(
            session,
            update(Plant)
            .where(
                Plant.id == plant_id,
                Plant.run_owner == owner,
                Plant.run_lease_expires_at == lease,
            )
            .values(run_owner=None, run_lease_expires_at=None, run_lost=0 if give_up else lost),
        )
        if won != 1:
            continue
        plant = session.scalar(select(Plant).where(Plant.id == plant_id))
        assert plant is not None
        acted.append(plant_id)
        if not give_up:
            log.warning("plant %s: run of %s lost (%d); retrying", plant_id, owner, lost)
            request_run(session, plant, delay=0.0, force=True)
            continue
        message = f"the plant run's worker was lost {lost} times in a row; giving up"
        log.error("plant %s: %s", plant_id, message)
        ids = list(
            session.scalars(
                select(PlantEvent.id).where(
                    PlantEvent.plant_id == plant_id, PlantEvent.status == "pending"
                )
            )
        )
        _close_events(session, ids, "failed", None)
        run = "solve" if plant.needs_solve else "reschedule"
        plant.needs_solve = False
        plant.message = message
        plant.updated_at = now
        if run == "solve":  # as a failed solve: the last published version stays readable
            plant.status = "failed"
        emit(session, plant.tenant_id, "job.failed", _run_data(plant, message, run))
    return acted


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


def _step(
    db: Database, settings: Settings, plant_id: str, owner: str, stop: threading.Event
) -> str:
    with db.read() as session:
        plant = session.scalar(select(Plant).where(Plant.id == plant_id))
        if plant is None:
            return "idle"
        state, options = plant.state, dict(plant.options)
        problem = Problem.model_validate_json(plant.problem)
        needs_solve = plant.needs_solve
        current = latest_schedule(session, plant)
        previous = Result.model_validate_json(current.result) if current else None
        events = list(
            session.scalars(
                select(PlantEvent)
                .where(PlantEvent.plant_id == plant_id, PlantEvent.status == "pending")
                .order_by(PlantEvent.occurred_at, PlantEvent.id)
            )
        )
    if needs_solve:
        return _initial(db, settings, plant_id, owner, state, problem, options, previous, stop)
    if not events:
        return "idle"
    if previous is None:  # nothing published (a failed solve): solve the edited problem
        problem = _apply_edits(problem, events)
        ids = [e.id for e in events]
        return _initial(db, settings, plant_id, owner, state, problem, options, None, stop, ids)
    return _reschedule(db, plant_id, owner, state, problem, previous, options, events, stop)


def _initial(
    db: Database,
    settings: Settings,
    plant_id: str,
    owner: str,
    state: int,
    problem: Problem,
    options: dict[str, Any],
    previous: Result | None,
    stop: threading.Event,
    event_ids: Sequence[int] = (),
) -> str:
    """Solve the whole plant (CP-SAT through ``aps.solve``) and publish it."""
    limit = min(float(options.get("time_limit", 3.0)), settings.max_time_limit)
    message = ""
    try:
        result = aps.solve(
            problem,
            time_limit=limit,
            workers=int(options.get("workers", 1)),
            seed=int(options.get("seed", 0)),
            stop=stop,
        )
    except Exception as exc:
        log.exception("plant %s: solve crashed", plant_id)
        result = None
        message = f"solve failed: {type(exc).__name__}: {exc}"
    if result is None or not result.schedule:
        if result is not None:
            message = f"no schedule: {result.status.value}; {result.message or ''}".strip("; ")
        with db.write() as session:
            won = dml(
                session,
                update(Plant)
                .where(Plant.id == plant_id, Plant.state == state, Plant.run_owner == owner)
                .values(
                    state=state + 1,
                    needs_solve=False,
                    status="failed",
                    message=message,
                    updated_at=utcnow(),
                ),
            )
            if won:
                _close_events(session, event_ids, "failed", None)
                plant = session.scalar(select(Plant).where(Plant.id == plant_id))
                if plant is not None:
                    emit(session, plant.tenant_id, "job.failed", _run_data(plant, message))
        return "failed"
    diff_json: dict[str, Any] | None = None
    if previous is not None:
        diff_json = _safe_diff(problem, previous.schedule, result.schedule)
    version = _publish(
        db,
        plant_id,
        owner,
        state,
        problem,
        result,
        phase="solved",
        cause="plant loaded" if not event_ids else "solve after events",
        diff=diff_json,
        details={},
        event_ids=event_ids,
    )
    return "stale" if version is None else "published"


def _safe_diff(
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


def _late_orders(problem: Problem, schedule: Sequence[ScheduledOperation]) -> list[str]:

    done = completion_times(problem, schedule)
    return [str(j.id) for j in problem.jobs if j.due is not None and done.get(j.id, 0) > j.due]


def _reschedule(
    db: Database,
    plant_id: str,
    owner: str,
    state: int,
    problem: Problem,
    previous: Result,
    options: dict[str, Any],
    events: Sequence[PlantEvent],
    stop: threading.Event,
) -> str:
    """Greedy repair published at once, then the CP-SAT improvement (two core calls)."""

    ids = [e.id for e in events]
    try:
        edited = _apply_edits(problem, events)
        core = _core_events(edited, events)
        now = _now(edited, events, core)
    except (ValidationError, ValueError) as exc:
        with db.write() as session:
            if _set_message(session, plant_id, owner, f"events not applicable: {exc}"):
                _close_events(session, ids, "failed", None)
        return "failed"
    keys = {(j.id, o.id) for j in edited.jobs for o in j.operations}
    published = [r for r in previous.schedule if (r.job, r.op) in keys]
    limit = float(options.get("reschedule_time_limit", 3.0))
    common: dict[str, Any] = {
        "now": now,
        "workers": int(options.get("workers", 1)),
        "seed": int(options.get("seed", 0)),
        "stop": stop,
    }
    started = time.monotonic()
    try:
        greedy = reschedule(edited, published, core, time_limit=limit, improve=False, **common)
        reason = None if greedy.publications else f"no valid repair: {greedy.solver_message}"
    except Exception as exc:  # never leave the events pending: they would loop forever
        log.exception("plant %s: reschedule crashed", plant_id)
        reason = f"reschedule failed: {type(exc).__name__}: {exc}"
    if reason is not None:
        with db.write() as session:
            if not _set_message(session, plant_id, owner, reason):
                return "stale"  # the lease was lost: the new holder decides
            _close_events(session, ids, "failed", None)
            plant = session.scalar(select(Plant).where(Plant.id == plant_id))
            if plant is not None:
                emit(session, plant.tenant_id, "job.failed", _run_data(plant, reason, "reschedule"))
        return "failed"
    cause = ", ".join(sorted({e.type for e in events}))
    version = _publish(
        db,
        plant_id,
        owner,
        state,
        greedy.problem,
        _as_result(greedy.problem, greedy.schedule, previous, "greedy", time.monotonic() - started),
        phase="greedy",
        cause=cause,
        diff=greedy.publications[0].diff.model_dump(mode="json"),
        details=_details(greedy, events),
        event_ids=ids,
    )
    if version is None:
        return "stale"
    remaining = limit - (time.monotonic() - started)
    if remaining <= 0.5 or stop.is_set():
        return "published"
    try:
        better = reschedule(edited, published, core, time_limit=remaining, improve=True, **common)
    except Exception:  # the greedy repair is published; the improvement is optional
        log.exception("plant %s: CP-SAT improvement crashed", plant_id)
        return "published"
    if len(better.publications) < 2:
        return "published"
    second = better.publications[-1]
    _publish(
        db,
        plant_id,
        owner,
        state + 1,
        better.problem,
        _as_result(better.problem, better.schedule, previous, "improved", second.elapsed),
        phase="improved",
        cause=cause,
        diff=second.diff.model_dump(mode="json"),
        details=_details(better, events),
        event_ids=(),
    )
    return "published"


def _details(outcome: Any, events: Sequence[PlantEvent]) -> dict[str, Any]:
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


def _as_result(
    problem: Problem,
    schedule: list[ScheduledOperation],
    previous: Result,
    phase: str,
    elapsed: float,
) -> Result:

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


def _close_events(session: Session, ids: Sequence[int], status: str, version: int | None) -> None:
    if ids:
        session.execute(
            update(PlantEvent)
            .where(PlantEvent.id.in_(list(ids)), PlantEvent.status == "pending")
            .values(status=status, applied_version=version)
        )


def _set_message(session: Session, plant_id: str, owner: str, message: str) -> bool:
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


def _publish(
    db: Database,
    plant_id: str,
    owner: str,
    state: int,
    problem: Problem,
    result: Result,
    *,
    phase: str,
    cause: str,
    diff: dict[str, Any] | None,
    details: dict[str, Any],
    event_ids: Sequence[int],
) -> int | None:
    """Store a new version if ``owner`` still holds the run and the plant is still at
    ``state``; None otherwise.

    Why both, in the one UPDATE: ``state`` alone lets a stale worker (its lease expired
    and taken over) publish while the new holder works from the same state; the owner
    check refuses it, and the row lock orders it against a concurrent claim.
    """
    with db.write() as session:
        won = dml(
            session,
            update(Plant)
            .where(Plant.id == plant_id, Plant.state == state, Plant.run_owner == owner)
            .values(
                state=state + 1,
                version=Plant.version + 1,
                problem=problem.model_dump_json(exclude_defaults=True),
                needs_solve=False,
                status="published",
                message=None,
                updated_at=utcnow(),
            ),
        )
        if not won:
            return None
        plant = session.scalar(select(Plant).where(Plant.id == plant_id))
        assert plant is not None
        before = latest_schedule(session, plant)  # the previous version (not yet added)
        was_late = set(before.details.get("late_orders", [])) if before is not None else set()
        late_now = _late_orders(problem, result.schedule)
        details = {**details, "late_orders": late_now}
        late = [o for o in late_now if o not in was_late]
        session.add(
            PlantSchedule(
                tenant_id=plant.tenant_id,
                plant_id=plant_id,
                version=plant.version,
                phase=phase,
                cause=cause[:200],
                problem=problem.model_dump_json(exclude_defaults=True),
                result=result.model_dump_json(),
                diff=diff,
                details=details,
                created_at=utcnow(),
            )
        )
        _close_events(session, event_ids, "applied", plant.version)
        moved = len(diff.get("moved", [])) if diff else 0
        emit(
            session,
            plant.tenant_id,
            "schedule.published",
            {
                "plant_id": plant_id,
                "version": plant.version,
                "phase": phase,
                "cause": cause,
                "objective": result.objective,
                "makespan": result.makespan,
                "moved": moved,
                "links": {"schedule": f"/v1/plant/schedule?version={plant.version}"},
            },
        )
        if phase == "solved":  # a repair announces itself by schedule.published alone
            emit(session, plant.tenant_id, "job.succeeded", _run_data(plant, None))
        done = _completions(problem, result.schedule)
        jobs = {str(j.id): j for j in problem.jobs}
        for order in late:
            job = jobs.get(order)
            emit(
                session,
                plant.tenant_id,
                "order.late",
                {
                    "plant_id": plant_id,
                    "version": plant.version,
                    "order": order,
                    "due": job.due if job else None,
                    "completion": done.get(order),
                },
            )
        return plant.version


def _completions(problem: Problem, schedule: Sequence[ScheduledOperation]) -> dict[str, int]:

    return {str(k): v for k, v in completion_times(problem, schedule).items()}


def _run_data(plant: Plant, message: str | None, run: str = "solve") -> dict[str, Any]:
    """The ``job.*`` payload of a plant run (``run``: solve or reschedule)."""
    return {
        "plant_id": plant.id,
        "run": run,
        "version": plant.version,
        "status": plant.status,
        "message": message,
        "links": {"plant": "/v1/plant", "schedule": "/v1/plant/schedule"},
    }


# -- outbound callbacks ---------------------------------------------------------------------


# -- dispatch ---------------------------------------------------------------------------


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
