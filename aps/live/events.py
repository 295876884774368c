"""The live plant's events: as they arrive, and normalized to ticks and ids.

An inbound event is a Standard Webhooks payload (:class:`Envelope`: ``type``,
``timestamp`` = when it occurred, ``data``) whose ``data`` has one model per type
(:data:`DATA_MODELS`). :func:`parse_event` reads it strictly and names every bad field
(:class:`Invalid`, a list of :class:`Rejected`).

Once checked against the plant (:mod:`aps.live.normalize`) an event is kept in its
*normalized* form, one model per type (:data:`NORMALIZED`): times as ticks, machines,
orders and operations as the problem's ids. That form is what the service stores
(``model_dump(mode="json")``) and reads back (``model_validate``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime
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

from aps.model import Id, Job, MaterialFlow, Mode, Problem

#: Ticks further than this from the plan start are refused (an absurd date, not a plan).
MAX_TICK = 1_000_000_000

EventType = Literal[
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

#: Events a reschedule does not wait for: a breakdown is acted on at once, where other
#: events wait a moment so that a burst of them becomes one reschedule.
URGENT: frozenset[str] = frozenset({"machine.down"})


# -- errors ---------------------------------------------------------------------------------


class Rejected(ValueError):
    """An event or request that names its bad field: ``loc`` and ``msg`` (a 422)."""

    def __init__(self, loc: Sequence[str | int], msg: str) -> None:
        super().__init__(msg)
        self.loc = list(loc)
        self.msg = msg


class Invalid(ValueError):
    """Several rejections at once (pydantic errors)."""

    def __init__(self, items: list[Rejected]) -> None:
        super().__init__("; ".join(f"{r.loc}: {r.msg}" for r in items))
        self.items = items


def rejections(exc: ValidationError, prefix: Sequence[str | int]) -> list[Rejected]:
    """Pydantic's errors as rejections, each ``loc`` under ``prefix``."""
    return [
        Rejected([*prefix, *e["loc"]], e["msg"])
        for e in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


# -- times ----------------------------------------------------------------------------------

TimeValue = Annotated[int | datetime, Field(union_mode="left_to_right")]


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


def _name(value: object) -> object:
    """Integer ids (plain job shops number their machines) are sent as numbers too."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Name = Annotated[str, BeforeValidator(_name), Field(min_length=1, max_length=200)]


# -- inbound events -------------------------------------------------------------------------


class Envelope(BaseModel):
    """Standard Webhooks payload: ``type``, ``timestamp`` (when it occurred), ``data``."""

    model_config = ConfigDict(extra="forbid")

    type: EventType
    timestamp: AwareDatetime
    data: dict[str, Any]

    @field_validator("timestamp")
    @classmethod
    def _in_range(cls, value: datetime) -> datetime:
        """Years 1970-9000 only: extreme offsets would overflow converting to UTC (a 500)."""
        if not (1970 <= value.year <= 9000):
            raise ValueError(f"timestamp {value.isoformat()} is outside the years 1970-9000")
        return value


class EventData(BaseModel):
    """The ``data`` of one event type."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class MachineDownData(EventData):
    machine: Name
    from_: TimeValue | None = Field(default=None, alias="from")
    until: TimeValue | None = None


class MachineUpData(EventData):
    machine: Name
    at: TimeValue | None = None


class OperationStartedData(EventData):
    order: Name
    operation: Name
    machine: Name
    at: TimeValue | None = None
    setup_start: TimeValue | None = None
    remaining: int | None = Field(default=None, ge=0, description="ticks of work left")


class OperationCompletedData(EventData):
    order: Name
    operation: Name
    machine: Name
    started_at: TimeValue
    completed_at: TimeValue | None = None
    setup_start: TimeValue | None = None
    quantity: int | None = Field(default=None, ge=0, description="actual good output")


class OrderCreatedData(EventData):
    order: dict[str, Any] | None = Field(default=None, description="a plant-JSON order")
    job: dict[str, Any] | None = Field(default=None, description="a tick-level Job")


class OrderUpdatedData(EventData):
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


class OrderCancelledData(EventData):
    order: Name


class MaterialReceivedData(EventData):
    material: Name
    quantity: int = Field(gt=0)
    at: TimeValue | None = None


class WindowData(EventData):
    from_: TimeValue = Field(alias="from")
    until: TimeValue
    reason: str | None = Field(default=None, max_length=200)


class CalendarChangedData(EventData):
    """The machine's planned unavailability from now on (replaces the previous list)."""

    machine: Name
    unavailable: list[WindowData] = Field(max_length=10_000)


DATA_MODELS: dict[str, type[EventData]] = {
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


def parse_event(raw: bytes) -> tuple[Envelope, EventData]:
    """The envelope and its typed data; :class:`Invalid` names every bad field."""
    try:
        envelope = Envelope.model_validate_json(raw)
    except ValidationError as exc:
        raise Invalid(rejections(exc, ["body"])) from None
    try:
        # JSON types as the schema states them (strict): `true` is not tick 1 nor a
        # quantity of 1, and "5" is not a number
        model = DATA_MODELS[envelope.type]
        data = model.model_validate_json(json.dumps(envelope.data), strict=True)
    except ValidationError as exc:
        raise Invalid(rejections(exc, ["body", "data"])) from None
    return envelope, data


# -- normalized events ----------------------------------------------------------------------


class Normalized(BaseModel):
    """An event checked against the plant: ticks and the problem's ids."""

    model_config = ConfigDict(frozen=True)


class NormalizedMachineDown(Normalized):
    machine: Id
    start: int
    until: int | None = None


class NormalizedMachineUp(Normalized):
    machine: Id
    at: int


class NormalizedOperationStarted(Normalized):
    job: Id
    op: Id
    machine: Id
    start: int
    end: None = None
    setup_start: int | None = None
    remaining: int | None = None


class NormalizedOperationCompleted(Normalized):
    job: Id
    op: Id
    machine: Id
    start: int
    end: int
    setup_start: int | None = None
    quantity: int | None = None


class NormalizedOrderCreated(Normalized):
    job: Job


class Requantified(Normalized):
    """An operation's modes and material flows recompiled at a new order quantity."""

    modes: list[Mode]
    consumes: list[MaterialFlow]
    produces: list[MaterialFlow]


class NormalizedOrderUpdated(Normalized):
    """The fields given (None: unchanged); ``operations`` when the quantity changed."""

    order: str
    release: int | None = None
    due: int | None = None
    deadline: int | None = None
    weight: int | None = None
    quantity: int | None = None
    operations: dict[str, Requantified] | None = None


class NormalizedOrderCancelled(Normalized):
    order: str


class NormalizedMaterialReceived(Normalized):
    material: Id
    quantity: int
    at: int


class NormalizedCalendarChanged(Normalized):
    machine: Id
    #: ``[start, end, reason]`` per unavailable window
    windows: list[tuple[int, int, str | None]]


class NormalizedReschedule(Normalized):
    """A reschedule asked for by the planner (not an inbound event): nothing unstarted
    is placed before ``now``."""

    now: int | None = None


#: The type of a stored event (the inbound types and ``reschedule``) to its model.
NORMALIZED: dict[str, type[Normalized]] = {
    "machine.down": NormalizedMachineDown,
    "machine.up": NormalizedMachineUp,
    "operation.started": NormalizedOperationStarted,
    "operation.completed": NormalizedOperationCompleted,
    "order.created": NormalizedOrderCreated,
    "order.updated": NormalizedOrderUpdated,
    "order.cancelled": NormalizedOrderCancelled,
    "material.received": NormalizedMaterialReceived,
    "calendar.changed": NormalizedCalendarChanged,
    "reschedule": NormalizedReschedule,
}
#: The other way round: the stored type of each normalized model.
TYPE_OF: dict[type[Normalized], str] = {model: kind for kind, model in NORMALIZED.items()}


def load_normalized(kind: str, stored: dict[str, Any]) -> Normalized:
    """A stored normalized event of type ``kind`` read back."""
    return NORMALIZED[kind].model_validate(stored)
