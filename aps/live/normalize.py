"""Checking an inbound event against the plant: the event in ticks and ids, or a 422.

:func:`normalize` hands each event type to its own handler. A handler checks the event
against the plant's problem and its event history (unknown machines, orders, operations
and materials are :class:`~aps.live.events.Rejected`, naming the field) and returns the
normalized event and whether it is *stale*.

Out-of-order delivery: every event carries its occurrence time. A ``machine.down`` that
arrives after a later ``machine.up`` of the machine ends at that up. A ``machine.up``
older than a known later ``machine.down``, an ``operation.started`` after the
operation's ``operation.completed`` and an ``order.updated`` older than the order's
latest update (or its cancellation) are stale: accepted and not applied.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from pydantic import ValidationError

from aps.factory.compile import CompileError, compile_plant
from aps.factory.model import Plant as PlantDocument
from aps.live.events import (
    MAX_TICK,
    CalendarChangedData,
    Envelope,
    EventData,
    MachineDownData,
    MachineUpData,
    MaterialReceivedData,
    Normalized,
    NormalizedCalendarChanged,
    NormalizedMachineDown,
    NormalizedMachineUp,
    NormalizedMaterialReceived,
    NormalizedOperationCompleted,
    NormalizedOperationStarted,
    NormalizedOrderCancelled,
    NormalizedOrderCreated,
    NormalizedOrderUpdated,
    OperationCompletedData,
    OperationStartedData,
    OrderCancelledData,
    OrderCreatedData,
    OrderUpdatedData,
    Rejected,
    Requantified,
    TimeValue,
    to_tick,
)
from aps.model import Id, Job, Mode, Problem

N = TypeVar("N", bound=Normalized)

#: Operations of one order at most (a new order, or one re-quantified).
MAX_ORDER_OPERATIONS = 10_000

#: Where the fields of an event's ``data`` are named in a rejection.
DATA: tuple[str, ...] = ("body", "data")

Outcome = tuple[Normalized, bool]


@dataclass(frozen=True)
class Recorded:
    """An event the plant holds: its normalized form, when it occurred, as it came in."""

    norm: Normalized
    occurred_at: datetime
    #: ``pending`` (accepted, not yet applied) or ``applied``
    status: str = "pending"
    #: the event's ``data`` as received (an ``order.created`` keeps its plant-JSON order)
    data: Mapping[str, Any] = field(default_factory=dict)


class History(Protocol):
    """The plant's pending and applied events, oldest first (stale ones are left out)."""

    def events(self, *kinds: type[Normalized]) -> Sequence[Recorded]:
        """The events whose normalized form is one of ``kinds``, in occurrence order."""
        ...


@dataclass(frozen=True)
class Log:
    """A history held in memory (the service queries its store instead)."""

    recorded: Sequence[Recorded] = ()

    def events(self, *kinds: type[Normalized]) -> Sequence[Recorded]:
        kept = [
            r
            for r in self.recorded
            if isinstance(r.norm, kinds) and r.status in ("pending", "applied")
        ]
        return sorted(kept, key=lambda r: r.occurred_at)


@dataclass(frozen=True)
class LivePlant:
    """What the rules know of a plant."""

    problem: Problem
    #: the plant JSON it was loaded from (None: loaded as a tick-level problem)
    source: Mapping[str, Any] | None
    history: History


def facts(history: History, kind: type[N]) -> list[tuple[Recorded, N]]:
    """The recorded events of one kind, each with its normalized form typed."""
    return [(r, r.norm) for r in history.events(kind) if isinstance(r.norm, kind)]


@dataclass(frozen=True)
class Clock:
    """An event's times as ticks; a missing time is the event's occurrence."""

    problem: Problem
    timestamp: datetime
    #: the occurrence as a tick (None: the plant has no time base)
    occurred: int | None

    @classmethod
    def of(cls, problem: Problem, timestamp: datetime) -> Clock:
        """The clock of an event that occurred at ``timestamp`` (checked at once)."""
        occurred = None
        if problem.time is not None:
            occurred = to_tick(problem, timestamp, ["body", "timestamp"])
        return cls(problem, timestamp, occurred)

    def tick(self, value: TimeValue | None, name: str) -> int:
        """The tick of the field ``name`` of the event's data."""
        if value is None:
            if self.occurred is None:
                raise Rejected([*DATA, name], "required when the plant has no time base")
            return self.occurred
        return to_tick(self.problem, value, [*DATA, name])


def normalize(plant: LivePlant, envelope: Envelope, data: EventData) -> Outcome:
    """Check ``data`` against the plant: (the event in ticks and ids, stale?).

    Raises :class:`~aps.live.events.Rejected` naming the field when the event is
    inconsistent with the plant.
    """
    clock = Clock.of(plant.problem, envelope.timestamp)
    match data:
        case MachineDownData():
            return machine_down(plant, data, clock)
        case MachineUpData():
            return machine_up(plant, data, clock)
        case OperationStartedData():
            return operation_started(plant, data, clock)
        case OperationCompletedData():
            return operation_completed(plant, data, clock)
        case OrderCreatedData():
            return order_created(plant, data, clock)
        case OrderUpdatedData():
            return order_updated(plant, data, clock)
        case OrderCancelledData():
            return order_cancelled(plant, data, clock)
        case MaterialReceivedData():
            return material_received(plant, data, clock)
        case CalendarChangedData():
            return calendar_changed(plant, data, clock)
    raise TypeError(f"no rule for {type(data).__name__}")


# -- machines -------------------------------------------------------------------------------


def machine_down(plant: LivePlant, data: MachineDownData, clock: Clock) -> Outcome:
    """A breakdown; ended by an already known later ``machine.up`` of the machine."""
    machine = _machine(plant.problem, data.machine)
    start = clock.tick(data.from_, "from")
    until = None if data.until is None else clock.tick(data.until, "until")
    if until is not None and until <= start:
        raise Rejected([*DATA, "until"], "until must be after from")
    for _, up in facts(plant.history, NormalizedMachineUp):
        if up.machine == machine and up.at > start:
            until = up.at if until is None else min(until, up.at)  # a later up already came
            break
    return NormalizedMachineDown(machine=machine, start=max(start, 0), until=until), False


def machine_up(plant: LivePlant, data: MachineUpData, clock: Clock) -> Outcome:
    """A repair; stale when a later breakdown of the machine is known."""
    machine = _machine(plant.problem, data.machine)
    at = clock.tick(data.at, "at")
    stale = any(
        down.machine == machine and down.start > at
        for _, down in facts(plant.history, NormalizedMachineDown)
    )
    return NormalizedMachineUp(machine=machine, at=at), stale


def calendar_changed(plant: LivePlant, data: CalendarChangedData, clock: Clock) -> Outcome:
    """The machine's planned unavailability from now on."""
    machine = _machine(plant.problem, data.machine)
    windows: list[tuple[int, int, str | None]] = []
    for i, w in enumerate(data.unavailable):
        s = to_tick(plant.problem, w.from_, [*DATA, "unavailable", i, "from"])
        e = to_tick(plant.problem, w.until, [*DATA, "unavailable", i, "until"])
        if e <= s:
            raise Rejected([*DATA, "unavailable", i, "until"], "until must be after from")
        windows.append((s, e, w.reason))
    return NormalizedCalendarChanged(machine=machine, windows=windows), False


def _machine(problem: Problem, name: str) -> Id:
    for m in problem.machines:
        if str(m.id) == name:
            return m.id
    known = ", ".join(str(m.id) for m in problem.machines[:50])
    raise Rejected([*DATA, "machine"], f"unknown machine {name!r}; known: {known}")


# -- operations -----------------------------------------------------------------------------


def operation_started(plant: LivePlant, data: OperationStartedData, clock: Clock) -> Outcome:
    """An operation began; stale once its completion is known."""
    job, op, machine = _operation(plant, data.order, data.operation, data.machine)
    setup_start = None if data.setup_start is None else clock.tick(data.setup_start, "setup_start")
    start = clock.tick(data.at, "at")
    _check_setup(setup_start, start)
    stale = any(
        (done.job, done.op) == (job, op)
        for _, done in facts(plant.history, NormalizedOperationCompleted)
    )
    norm = NormalizedOperationStarted(
        job=job, op=op, machine=machine, start=start, setup_start=setup_start,
        remaining=data.remaining,
    )  # fmt: skip
    return norm, stale


def operation_completed(plant: LivePlant, data: OperationCompletedData, clock: Clock) -> Outcome:
    """An operation finished, with its actual times and output."""
    job, op, machine = _operation(plant, data.order, data.operation, data.machine)
    setup_start = None if data.setup_start is None else clock.tick(data.setup_start, "setup_start")
    start = clock.tick(data.started_at, "started_at")
    end = clock.tick(data.completed_at, "completed_at")
    if end <= start:
        raise Rejected([*DATA, "completed_at"], "completed_at must be after started_at")
    _check_setup(setup_start, start)
    norm = NormalizedOperationCompleted(
        job=job, op=op, machine=machine, start=start, end=end, setup_start=setup_start,
        quantity=data.quantity,
    )  # fmt: skip
    return norm, False


def _check_setup(setup_start: int | None, start: int) -> None:
    if setup_start is not None and setup_start > start:
        raise Rejected([*DATA, "setup_start"], "setup_start must not be after the start")


def _operation(plant: LivePlant, order: str, operation: str, name: str) -> tuple[Id, Id, Id]:
    """The ids of a known order's operation and of a machine it may run on."""
    machine = _machine(plant.problem, name)
    job = known_orders(plant).get(order)
    if job is None:
        raise Rejected([*DATA, "order"], f"unknown order {order!r}")
    op = next((o for o in job.operations if str(o.id) == operation), None)
    if op is None:
        known = ", ".join(str(o.id) for o in job.operations)
        raise Rejected(
            [*DATA, "operation"], f"order {order!r} has no operation {operation!r}; known: {known}"
        )
    if machine not in {m.machine for m in op.modes}:
        allowed = ", ".join(str(m.machine) for m in op.modes)
        raise Rejected(
            [*DATA, "machine"],
            f"operation {operation!r} of {order!r} cannot run on {machine!r}; eligible: {allowed}",
        )
    return job.id, op.id, machine


# -- orders ---------------------------------------------------------------------------------


def known_orders(plant: LivePlant) -> dict[str, Job]:
    """The problem's orders, plus pending creations, minus pending cancellations."""
    known = {str(j.id): j for j in plant.problem.jobs}
    for ev in plant.history.events(NormalizedOrderCreated, NormalizedOrderCancelled):
        if ev.status != "pending":
            continue
        if isinstance(ev.norm, NormalizedOrderCreated):
            known[str(ev.norm.job.id)] = ev.norm.job
        elif isinstance(ev.norm, NormalizedOrderCancelled):
            known.pop(ev.norm.order, None)
    return known


def order_created(plant: LivePlant, data: OrderCreatedData, clock: Clock) -> Outcome:
    """A new order: compiled from a plant-JSON order, or a tick-level job."""
    new = _new_job(plant, data)
    if str(new.id) in known_orders(plant):
        raise Rejected([*DATA, "order" if data.order else "job", "id"], "order exists already")
    # a plant-JSON order is sized by its quantity; a tick-level job names its durations
    where: list[str | int] = (
        [*DATA, "order", "quantity"] if data.order is not None else [*DATA, "job"]
    )
    check_size(plant.problem, new, where)
    machines = {m.id for m in plant.problem.machines}
    for k, step in enumerate(new.operations):
        for i, mode in enumerate(step.modes):
            if mode.machine not in machines:
                raise Rejected(
                    [*DATA, "job", "operations", k, "modes", i, "machine"],
                    f"unknown machine {mode.machine!r}",
                )
    try:
        Problem.model_validate({**plant.problem.model_dump(), "jobs": [new.model_dump()]})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise Rejected([*DATA, "job", *first["loc"][2:]], first["msg"]) from None
    return NormalizedOrderCreated(job=new), False


def _new_job(plant: LivePlant, data: OrderCreatedData) -> Job:
    """The new order as a Job: compiled from a plant order, or given at tick level."""
    if (data.order is None) == (data.job is None):
        raise Rejected(DATA, "give exactly one of order (plant JSON order) or job (tick level)")
    if data.job is not None:
        try:
            return Job.model_validate(data.job)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise Rejected([*DATA, "job", *first["loc"]], first["msg"]) from None
    if plant.source is None:
        raise Rejected(
            [*DATA, "order"], "this plant was loaded as a tick-level problem: send data.job instead"
        )
    try:
        document = PlantDocument.model_validate({**plant.source, "orders": [data.order]})
        compiled = compile_plant(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = list(first["loc"])
        msg = str(first["msg"]).replace("Value error, ", "").replace("orders[0].", "order.")
        if loc[:2] == ["orders", 0]:
            loc = ["order", *loc[2:]]
        elif not loc and msg.startswith("order."):  # a reference check names its field
            loc = ["order", msg.split(":")[0].removeprefix("order.")]
        raise Rejected([*DATA, *loc], msg) from None
    except CompileError as exc:
        raise Rejected([*DATA, "order"], str(exc)) from None
    if not compiled.jobs:
        raise Rejected([*DATA, "order"], "the order compiles to no operations (done?)")
    return compiled.jobs[0]


def check_size(problem: Problem, job: Job, loc: list[str | int]) -> None:
    """An order that fits the plant: a bounded number of operations, every mode within
    the plan's horizon, and its least work too (:class:`Rejected` otherwise).

    Why at intake: an order whose quantity makes its run times absurd (``1e9`` units)
    was accepted and then failed the reschedule of every event that came with it.
    """
    horizon = problem.horizon or MAX_TICK
    if len(job.operations) > MAX_ORDER_OPERATIONS:
        raise Rejected(
            loc, f"{len(job.operations)} operations; at most {MAX_ORDER_OPERATIONS} per order"
        )
    check_modes([m for op in job.operations for m in op.modes], horizon, loc)
    work = sum(min(m.duration for m in op.modes) for op in job.operations if op.modes)
    if work > horizon:
        raise Rejected(
            loc,
            f"the order needs at least {work} ticks of work; the plan's horizon is {horizon} ticks",
        )
    for name in ("release", "due", "deadline"):
        value = getattr(job, name)
        if value is not None and abs(value) > MAX_TICK:
            raise Rejected(loc, f"{name} is more than {MAX_TICK} ticks from the plan start")


def check_modes(modes: Sequence[Mode], horizon: int, loc: list[str | int]) -> None:
    """Every mode's duration within the plan's horizon."""
    longest = max((m.duration for m in modes), default=0)
    if longest > horizon:
        raise Rejected(
            loc, f"an operation would take {longest} ticks; the plan's horizon is {horizon} ticks"
        )


def order_updated(plant: LivePlant, data: OrderUpdatedData, clock: Clock) -> Outcome:
    """New dates, weight or quantity of an order; stale when a later update or the
    order's cancellation is known."""
    cancelled = [
        ev for ev, c in facts(plant.history, NormalizedOrderCancelled) if c.order == data.order
    ]
    if cancelled and cancelled[-1].occurred_at > clock.timestamp:
        return NormalizedOrderUpdated(order=data.order), True  # updated before it was cancelled
    if data.order not in known_orders(plant):
        raise Rejected([*DATA, "order"], f"unknown order {data.order!r}")
    release = None if data.release is None else max(0, clock.tick(data.release, "release"))
    due = None if data.due is None else clock.tick(data.due, "due")
    deadline = None if data.deadline is None else clock.tick(data.deadline, "deadline")
    operations = None
    if data.quantity is not None:
        operations = requantified(plant, data.order, data.quantity)
    norm = NormalizedOrderUpdated(
        order=data.order, release=release, due=due, deadline=deadline, weight=data.weight,
        quantity=data.quantity, operations=operations,
    )  # fmt: skip
    if all(v is None for v in (release, due, deadline, data.weight, data.quantity)):
        raise Rejected(DATA, "nothing to update: give release, due, deadline, weight or quantity")
    stale = any(
        u.order == data.order and ev.occurred_at > clock.timestamp
        for ev, u in facts(plant.history, NormalizedOrderUpdated)
    )
    return norm, stale


def order_cancelled(plant: LivePlant, data: OrderCancelledData, clock: Clock) -> Outcome:
    """An order withdrawn (with whatever of it has not run)."""
    if data.order not in known_orders(plant):
        raise Rejected([*DATA, "order"], f"unknown order {data.order!r}")
    return NormalizedOrderCancelled(order=data.order), False


def requantified(plant: LivePlant, order: str, quantity: int) -> dict[str, Requantified]:
    """Per operation id, the modes and material flows of ``order`` at ``quantity``.

    Why recompile: run times (``run_per_unit``) and flows (``per_unit``) scale with the
    quantity, and only the plant JSON knows the per-unit values (the tick model holds
    their products). The order's plant-JSON definition comes from the loaded plant or
    from its ``order.created`` event.
    """
    loc: list[str | int] = [*DATA, "quantity"]
    if plant.source is None:
        raise Rejected(
            loc, "this plant was loaded as a tick-level problem (no per-unit times): "
            "send order.cancelled and order.created with the new job instead",
        )  # fmt: skip
    orders: Sequence[Mapping[str, Any]] = plant.source.get("orders", [])
    document = next((o for o in orders if str(o.get("id")) == order), None)
    for ev in plant.history.events(NormalizedOrderCreated):
        created = ev.data.get("order")
        if created is not None and str(created.get("id")) == order:
            document = created
    if document is None:
        raise Rejected(loc, f"order {order!r} has no plant-JSON definition to recompile")
    try:
        compiled = compile_plant(
            PlantDocument.model_validate(
                {**plant.source, "orders": [{**document, "quantity": quantity}]}
            )
        )
    except (ValidationError, CompileError) as exc:
        raise Rejected(loc, f"order {order!r} at quantity {quantity}: {exc}") from None
    if not compiled.jobs:
        raise Rejected(loc, f"order {order!r} at quantity {quantity} compiles to no operations")
    check_size(plant.problem, compiled.jobs[0], loc)
    return {
        str(o.id): Requantified(modes=o.modes, consumes=o.consumes, produces=o.produces)
        for o in compiled.jobs[0].operations
    }


# -- material -------------------------------------------------------------------------------


def material_received(plant: LivePlant, data: MaterialReceivedData, clock: Clock) -> Outcome:
    """A receipt of material (stock from ``at`` on)."""
    material = next((m.id for m in plant.problem.materials if str(m.id) == data.material), None)
    if material is None:
        raise Rejected([*DATA, "material"], f"unknown material {data.material!r}")
    at = clock.tick(data.at, "at")
    return NormalizedMaterialReceived(material=material, quantity=data.quantity, at=at), False
