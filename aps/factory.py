"""The plant model a production planner writes, and its compiler to ticks.

Planners think in orders with due dates, routings whose steps run on several machines
at different speeds, changeovers between product families, two-shift calendars with
weekends and maintenance, and components that must be in stock. This module holds that
model (pydantic v2, ISO 8601 datetimes *with* UTC offsets at every edge, ISO 8601
durations such as ``"PT1M30S"``) and :func:`compile_plant`, which turns it into the
solver's :class:`aps.Problem` in integer ticks. Order ids become job ids and routing
operation ids become operation ids, so every result maps straight back.

Conventions (documented in ``docs/planner-guide.md``):

* Durations (setup, run time, changeovers) are *working* time, rounded up to ticks.
* Lags between operations (transfer, curing, cooling) are *elapsed* time: curing goes on
  over the weekend. ``min_lag`` rounds up, ``max_lag`` rounds down.
* Releases and receipts round up to the next tick, due dates and deadlines down.
* Component and product quantities are ``per_unit × order quantity`` rounded up.
"""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    field_validator,
    model_validator,
)

from aps.calendar import Calendar, Clock, DateTimeWindow, Shift, Weekday, unavailable_windows
from aps.model import (
    Job,
    Lag,
    Machine,
    Material,
    MaterialFlow,
    Mode,
    Objective,
    Operation,
    Problem,
    Receipt,
    SetupMatrix,
    Window,
)

Name = str


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _non_negative(value: timedelta | None) -> timedelta | None:
    if value is not None and value < timedelta(0):
        raise ValueError("duration must not be negative")
    return value


class Horizon(_Frozen):
    """The planning window and tick resolution: tick 0 is ``start``."""

    start: AwareDatetime
    end: AwareDatetime | None = Field(
        default=None,
        description="Last instant anything may end; default: 14 days after the latest "
        "release, due date, deadline or receipt",
    )
    tick_seconds: PositiveInt = Field(default=60, description="Resolution: 60 = minutes")
    timezone: str | None = Field(
        default=None, description="Zone for displaying ticks; default: the default calendar's"
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end is not None and self.end <= self.start:
            raise ValueError("horizon end must be after its start")
        return self


class MachineGroup(_Frozen):
    """Machines that share a calendar, a setup matrix, and can stand in for each other."""

    id: Name = Field(min_length=1, max_length=200)
    name: str | None = Field(default=None, max_length=200)
    calendar: Name | None = None
    setup_matrix: Name | None = None


class PlantMachine(_Frozen):
    """A machine; ``calendar``/``setup_matrix`` default to its group's."""

    id: Name = Field(min_length=1, max_length=200)
    name: str | None = Field(default=None, max_length=200)
    group: Name | None = None
    calendar: Name | None = None
    setup_matrix: Name | None = None
    maintenance: list[DateTimeWindow] = Field(default_factory=list)


class SetupTable(_Frozen):
    """Sequence-dependent changeovers between product families (working time).

    ``changeover[from][to]``; a missing pair means no changeover. ``initial[to]`` applies
    to the first operation a machine runs in the plan.
    """

    changeover: dict[str, dict[str, timedelta]] = Field(default_factory=dict)
    initial: dict[str, timedelta] = Field(default_factory=dict)

    @field_validator("changeover")
    @classmethod
    def _co(cls, value: dict[str, dict[str, timedelta]]) -> dict[str, dict[str, timedelta]]:
        for row in value.values():
            for d in row.values():
                _non_negative(d)
        return value

    @field_validator("initial")
    @classmethod
    def _init(cls, value: dict[str, timedelta]) -> dict[str, timedelta]:
        for d in value.values():
            _non_negative(d)
        return value


class EligibleMachine(_Frozen):
    """Where an operation may run; ``machine`` names a machine or a whole group.

    ``run_per_unit``, ``duration`` and ``setup`` override the operation's values on
    this machine (machine-specific speeds).
    """

    machine: Name = Field(min_length=1, max_length=200)
    run_per_unit: timedelta | None = None
    duration: timedelta | None = None
    setup: timedelta | None = None

    _check = field_validator("run_per_unit", "duration", "setup")(_non_negative)


class Flow(_Frozen):
    """A component consumed at an operation's start or an item produced at its end."""

    material: Name = Field(min_length=1, max_length=200)
    per_unit: PositiveFloat = 1.0


class RoutingOperation(_Frozen):
    """One step of a product's routing.

    ``predecessors=None`` means "after the previous step" (a chain); a list (possibly
    empty) builds a DAG where assembly steps merge branches. ``min_lag``/``max_lag``
    constrain the wait from this step's end to each successor's start (transfer time;
    maximum wait such as curing or cooling). ``interruptible`` steps may pause over
    non-working time; the others must fit inside one working window.
    """

    id: Name = Field(min_length=1, max_length=200)
    name: str | None = Field(default=None, max_length=200)
    machines: list[EligibleMachine] = Field(min_length=1)
    setup: timedelta = timedelta(0)
    run_per_unit: timedelta | None = None
    duration: timedelta | None = Field(default=None, description="fixed duration")
    predecessors: list[Name] | None = None
    min_lag: timedelta = timedelta(0)
    max_lag: timedelta | None = None
    interruptible: bool = False
    family: str | None = Field(default=None, max_length=200)
    consumes: list[Flow] = Field(default_factory=list)
    produces: list[Flow] = Field(default_factory=list)

    _check = field_validator("setup", "run_per_unit", "duration", "min_lag", "max_lag")(
        _non_negative
    )

    @model_validator(mode="after")
    def _timing(self) -> Self:
        if self.run_per_unit is not None and self.duration is not None:
            raise ValueError("give run_per_unit or duration, not both")
        if self.run_per_unit is None and self.duration is None:
            missing = [
                m.machine for m in self.machines if m.run_per_unit is None and m.duration is None
            ]
            if missing:
                raise ValueError(
                    f"no run_per_unit or duration for machine(s) {missing} and none on the "
                    "operation"
                )
        if self.max_lag is not None and self.max_lag < self.min_lag:
            raise ValueError("max_lag is below min_lag")
        return self


class Product(_Frozen):
    """A product with its routing and its setup family (default: the product id)."""

    id: Name = Field(min_length=1, max_length=200)
    name: str | None = Field(default=None, max_length=200)
    family: str | None = Field(default=None, max_length=200)
    routing: list[RoutingOperation] = Field(min_length=1)


class StockReceipt(_Frozen):
    """A scheduled arrival (purchase order, delivery)."""

    at: AwareDatetime
    quantity: PositiveInt


class StockItem(_Frozen):
    """A material with stock: purchased components or intermediate products."""

    id: Name = Field(min_length=1, max_length=200)
    name: str | None = Field(default=None, max_length=200)
    unit: str | None = Field(default=None, max_length=50)
    initial_stock: NonNegativeInt = 0
    receipts: list[StockReceipt] = Field(default_factory=list)


class OrderStatus(StrEnum):
    PLANNED = "planned"
    RELEASED = "released"
    IN_PROGRESS = "in_progress"
    DONE = "done"


class Order(_Frozen):
    """A production order: ``quantity`` units of ``product``.

    ``release`` is the earliest start (default: plan start), ``due`` the date lateness is
    measured from, ``deadline`` a hard latest end. Orders ``done`` are not planned;
    ``in_progress`` orders skip their ``completed_operations``.
    """

    id: Name = Field(min_length=1, max_length=200)
    product: Name = Field(min_length=1, max_length=200)
    quantity: PositiveInt
    release: AwareDatetime | None = None
    due: AwareDatetime | None = None
    deadline: AwareDatetime | None = None
    weight: NonNegativeInt = Field(default=1, description="priority; scales tardiness")
    status: OrderStatus = OrderStatus.RELEASED
    completed_operations: list[Name] = Field(default_factory=list)

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, value: object) -> object:
        return value.strip().lower().replace(" ", "_") if isinstance(value, str) else value


class Plant(_Frozen):
    """Everything a planner feeds in: calendars, machines, products, materials, orders."""

    name: str = Field(default="plant", max_length=200)
    horizon: Horizon
    orders: list[Order] = Field(min_length=1)
    calendars: list[Calendar] = Field(default_factory=list)
    default_calendar: Name | None = Field(
        default=None, description="Calendar of machines and groups that name none"
    )
    machine_groups: list[MachineGroup] = Field(default_factory=list)
    machines: list[PlantMachine] = Field(min_length=1)
    setup_matrices: dict[Name, SetupTable] = Field(default_factory=dict)
    products: list[Product] = Field(min_length=1)
    materials: list[StockItem] = Field(default_factory=list)
    objective: Objective = Field(default_factory=Objective)

    @model_validator(mode="after")
    def _references(self) -> Self:
        issues = reference_issues(self)
        if issues:
            raise ValueError("; ".join(str(i) for i in issues[:20]))
        return self

    def to_problem(self, objective: Objective | None = None) -> Problem:
        """Compile to ticks; see :func:`compile_plant`."""
        return compile_plant(self, objective)

    def to_json(self, indent: int | None = 2) -> str:
        return self.model_dump_json(indent=indent, exclude_defaults=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Plant:
        return cls.model_validate_json(text)


class Issue(BaseModel):
    """A broken reference or rule, located by its path in the plant model."""

    path: tuple[str | int, ...]
    message: str

    def __str__(self) -> str:
        return f"{format_path(self.path)}: {self.message}"


def format_path(path: tuple[str | int, ...]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
    return out


def reference_issues(plant: Plant) -> list[Issue]:
    """Every unknown or duplicate id in ``plant`` (checked on construction)."""
    out: list[Issue] = []

    def unique(field: str, ids: list[str]) -> set[str]:
        seen: set[str] = set()
        for i, v in enumerate(ids):
            if v in seen:
                out.append(Issue(path=(field, i, "id"), message=f"id {v!r} is used twice"))
            seen.add(v)
        return seen

    calendars = unique("calendars", [c.id for c in plant.calendars])
    groups = unique("machine_groups", [g.id for g in plant.machine_groups])
    machines = unique("machines", [m.id for m in plant.machines])
    products = unique("products", [p.id for p in plant.products])
    materials = unique("materials", [m.id for m in plant.materials])
    unique("orders", [o.id for o in plant.orders])
    matrices = set(plant.setup_matrices)

    if plant.default_calendar is not None and plant.default_calendar not in calendars:
        out.append(
            Issue(
                path=("default_calendar",), message=f"unknown calendar {plant.default_calendar!r}"
            )
        )
    for i, g in enumerate(plant.machine_groups):
        if g.id in machines:
            out.append(
                Issue(path=("machine_groups", i, "id"), message=f"{g.id!r} is also a machine id")
            )
        if g.calendar is not None and g.calendar not in calendars:
            out.append(
                Issue(
                    path=("machine_groups", i, "calendar"),
                    message=f"unknown calendar {g.calendar!r}",
                )
            )
        if g.setup_matrix is not None and g.setup_matrix not in matrices:
            out.append(
                Issue(
                    path=("machine_groups", i, "setup_matrix"),
                    message=f"unknown setup matrix {g.setup_matrix!r}",
                )
            )
    for i, m in enumerate(plant.machines):
        if m.group is not None and m.group not in groups:
            out.append(Issue(path=("machines", i, "group"), message=f"unknown group {m.group!r}"))
        if m.calendar is not None and m.calendar not in calendars:
            out.append(
                Issue(path=("machines", i, "calendar"), message=f"unknown calendar {m.calendar!r}")
            )
        if m.setup_matrix is not None and m.setup_matrix not in matrices:
            out.append(
                Issue(
                    path=("machines", i, "setup_matrix"),
                    message=f"unknown setup matrix {m.setup_matrix!r}",
                )
            )
    resources = machines | groups
    routing_ops: dict[str, set[str]] = {}
    for p, prod in enumerate(plant.products):
        ops: set[str] = set()
        for o, op in enumerate(prod.routing):
            here = ("products", p, "routing", o)
            if op.id in ops:
                out.append(
                    Issue(
                        path=(*here, "id"),
                        message=f"operation id {op.id!r} is used twice in product {prod.id!r}",
                    )
                )
            ops.add(op.id)
        routing_ops[prod.id] = ops
        for o, op in enumerate(prod.routing):
            here = ("products", p, "routing", o)
            for k, pred in enumerate(op.predecessors or ()):
                if pred not in ops:
                    out.append(
                        Issue(
                            path=(*here, "predecessors", k),
                            message=f"unknown operation {pred!r} in product {prod.id!r}",
                        )
                    )
                elif pred == op.id:
                    out.append(
                        Issue(
                            path=(*here, "predecessors", k),
                            message=f"operation {op.id!r} precedes itself",
                        )
                    )
            for k, em in enumerate(op.machines):
                if em.machine not in resources:
                    out.append(
                        Issue(
                            path=(*here, "machines", k, "machine"),
                            message=f"unknown machine or group {em.machine!r}",
                        )
                    )
            for field, flows in (("consumes", op.consumes), ("produces", op.produces)):
                for k, flow in enumerate(flows):
                    if flow.material not in materials:
                        out.append(
                            Issue(
                                path=(*here, field, k, "material"),
                                message=f"unknown material {flow.material!r}",
                            )
                        )
        cycle = _cycle(prod)
        if cycle:
            out.append(
                Issue(
                    path=("products", p, "routing"),
                    message=f"precedences form a cycle through {cycle}",
                )
            )
    for i, order in enumerate(plant.orders):
        if order.product not in products:
            out.append(
                Issue(path=("orders", i, "product"), message=f"unknown product {order.product!r}")
            )
            continue
        for k, op_id in enumerate(order.completed_operations):
            if op_id not in routing_ops[order.product]:
                out.append(
                    Issue(
                        path=("orders", i, "completed_operations", k),
                        message=f"product {order.product!r} has no operation {op_id!r}",
                    )
                )
    return out


def _predecessors(prod: Product) -> dict[str, list[str]]:
    preds: dict[str, list[str]] = {}
    for i, op in enumerate(prod.routing):
        if op.predecessors is None:
            preds[op.id] = [prod.routing[i - 1].id] if i > 0 else []
        else:
            preds[op.id] = list(op.predecessors)
    return preds


def _cycle(prod: Product) -> list[str]:
    preds = _predecessors(prod)
    done: set[str] = set()
    left = {k: [p for p in v if p in preds and p != k] for k, v in preds.items()}
    progress = True
    while progress:
        progress = False
        for k, v in left.items():
            if k not in done and all(p in done for p in v):
                done.add(k)
                progress = True
    return [k for k in preds if k not in done]


# -- compilation ------------------------------------------------------------------------


class CompileError(ValueError):
    """The plant is well-formed but cannot be expressed in ticks (e.g. deadline < release)."""

    def __init__(self, issues: list[str]) -> None:
        self.issues = issues
        super().__init__("; ".join(issues))


def plan_end(plant: Plant) -> datetime:
    """The horizon's end, or 14 days after the latest date the plant mentions."""
    if plant.horizon.end is not None:
        return plant.horizon.end
    dates: list[datetime] = [plant.horizon.start]
    for o in plant.orders:
        dates.extend(d for d in (o.release, o.due, o.deadline) if d is not None)
    for m in plant.materials:
        dates.extend(r.at for r in m.receipts)
    return max(dates) + timedelta(days=14)


def clock_of(plant: Plant) -> Clock:
    """The plan's tick clock (origin, resolution, display zone)."""
    zone = plant.horizon.timezone
    if zone is None:
        cal = _calendar_by_id(plant).get(plant.default_calendar or "")
        zone = cal.timezone if cal else (plant.calendars[0].timezone if plant.calendars else "UTC")
    return Clock(plant.horizon.start, plant.horizon.tick_seconds, zone)


def _calendar_by_id(plant: Plant) -> dict[str, Calendar]:
    return {c.id: c for c in plant.calendars}


def machine_calendar(plant: Plant, machine: PlantMachine) -> Calendar | None:
    """The calendar that applies: the machine's, its group's, or the plant default."""
    cals = _calendar_by_id(plant)
    groups = {g.id: g for g in plant.machine_groups}
    group = groups.get(machine.group) if machine.group else None
    name = machine.calendar or (group.calendar if group else None) or plant.default_calendar
    return cals[name] if name else None


def machine_setup_matrix(plant: Plant, machine: PlantMachine) -> str | None:
    groups = {g.id: g for g in plant.machine_groups}
    group = groups.get(machine.group) if machine.group else None
    return machine.setup_matrix or (group.setup_matrix if group else None)


def eligible_machines(plant: Plant, em: EligibleMachine) -> list[str]:
    """Expand a machine-or-group reference to machine ids."""
    return _resources(plant).get(em.machine, [])


def _resources(plant: Plant) -> dict[str, list[str]]:
    """Machine or group id → machine ids."""
    out = {m.id: [m.id] for m in plant.machines}
    for m in plant.machines:
        if m.group is not None and m.group not in out:
            out[m.group] = [x.id for x in plant.machines if x.group == m.group]
    return out


def _qty(per_unit: float, quantity: int) -> int:
    exact = per_unit * quantity
    return max(1, int(-(-round(exact, 9) // 1)))


def compile_plant(plant: Plant, objective: Objective | None = None) -> Problem:
    """Compile a plant into the solver's tick model.

    Parameters
    ----------
    plant
        The validated plant.
    objective
        Override the plant's objective for this solve.

    Returns
    -------
    Problem
        Jobs are the orders not ``done`` (job id = order id, operation id = routing
        operation id); ``time`` maps ticks back to datetimes; ``metadata`` keeps order
        product, quantity and status.

    Raises
    ------
    CompileError
        When a date cannot be honoured in ticks (deadline before release, a date after
        the horizon end) or an operation has no eligible machine.
    """
    clock = clock_of(plant)
    end = plan_end(plant)
    horizon = clock.to_tick(end, "floor")
    issues: list[str] = []

    machines: list[Machine] = []
    shared: dict[str, list[Window]] = {}  # machines without maintenance share windows
    for m in plant.machines:
        cal = machine_calendar(plant, m) or ALWAYS
        if m.maintenance:
            windows = unavailable_windows(cal, clock, horizon, m.maintenance)
        else:
            if cal.id not in shared:
                shared[cal.id] = unavailable_windows(cal, clock, horizon)
            windows = shared[cal.id]
        machines.append(
            Machine(
                id=m.id,
                name=m.name,
                group=m.group,
                unavailable=windows,
                setup_matrix=machine_setup_matrix(plant, m),
            )
        )

    matrices = {
        name: SetupMatrix(
            changeover={
                a: {b: clock.ticks(d) for b, d in row.items()} for a, row in t.changeover.items()
            },
            initial={b: clock.ticks(d) for b, d in t.initial.items()},
        )
        for name, t in plant.setup_matrices.items()
    }

    materials: list[Material] = []
    for item in plant.materials:
        initial = item.initial_stock
        receipts: list[Receipt] = []
        for r in item.receipts:
            tick = clock.to_tick(r.at, "ceil")
            if tick <= 0:
                initial += r.quantity
            else:
                receipts.append(Receipt(time=tick, quantity=r.quantity))
        materials.append(
            Material(
                id=item.id,
                name=item.name,
                initial=initial,
                receipts=sorted(receipts, key=lambda r: r.time),
            )
        )

    products = {p.id: p for p in plant.products}
    resources = _resources(plant)
    jobs: list[Job] = []
    meta_orders: dict[str, dict[str, Any]] = {}
    for order in plant.orders:
        if order.status is OrderStatus.DONE:
            continue
        prod = products[order.product]
        release = max(0, clock.to_tick(order.release, "ceil")) if order.release else 0
        due = clock.to_tick(order.due, "floor") if order.due else None
        deadline = clock.to_tick(order.deadline, "floor") if order.deadline else None
        if deadline is not None and deadline < release:
            issues.append(
                f"order {order.id!r}: deadline {order.deadline} is before its "
                f"release {order.release or plant.horizon.start}"
            )
            continue
        if release >= horizon:
            issues.append(f"order {order.id!r}: release is at or after the horizon end {end}")
            continue
        known = len(issues)
        ops = _compile_ops(resources, order, prod, clock, issues)
        if not ops or len(issues) > known:
            continue
        jobs.append(
            Job(
                id=order.id,
                operations=ops,
                release=release,
                due=due,
                deadline=deadline,
                weight=order.weight,
                family=prod.family or prod.id,
            )
        )
        meta_orders[order.id] = {
            "product": order.product,
            "quantity": order.quantity,
            "status": order.status.value,
        }
    if issues:
        raise CompileError(issues)
    if not jobs:
        raise CompileError(["no order left to plan (all are done)"])
    return Problem(
        name=plant.name,
        machines=machines,
        jobs=jobs,
        materials=materials,
        setup_matrices=matrices,
        objective=objective or plant.objective,
        horizon=horizon,
        time=clock.timebase(),
        metadata={
            "source": "plant",
            "orders": meta_orders,
            "units": {m.id: m.unit for m in plant.materials if m.unit},
        },
    )


def _compile_ops(
    resources: dict[str, list[str]],
    order: Order,
    prod: Product,
    clock: Clock,
    issues: list[str],
) -> list[Operation]:
    done = set(order.completed_operations)
    preds = _predecessors(prod)
    by_id = {op.id: op for op in prod.routing}
    out: list[Operation] = []
    kept: list[str] = []
    for i, op in enumerate(prod.routing):
        if op.id in done:
            continue
        modes: list[Mode] = []
        seen: set[str] = set()
        for em in op.machines:
            for mid in resources.get(em.machine, []):
                if mid in seen:
                    continue
                seen.add(mid)
                fixed = (
                    em.duration
                    if em.duration is not None
                    else (None if em.run_per_unit is not None else op.duration)
                )
                per_unit = em.run_per_unit if em.run_per_unit is not None else op.run_per_unit
                if fixed is not None:
                    run_ticks = clock.ticks(fixed)
                else:  # exact integer arithmetic: quantity × per-unit time may be huge
                    micros = _micros(per_unit or timedelta(0)) * order.quantity
                    run_ticks = -(-micros // (clock.tick_seconds * 1_000_000))
                if run_ticks > MAX_TICKS:
                    issues.append(
                        f"order {order.id!r} operation {op.id!r}: {order.quantity} × "
                        f"{per_unit} is beyond any plan ({run_ticks} ticks)"
                    )
                    break
                setup = em.setup if em.setup is not None else op.setup
                modes.append(Mode(machine=mid, duration=run_ticks, setup=clock.ticks(setup)))
        if not modes:
            issues.append(f"order {order.id!r} operation {op.id!r}: no machine in its groups")
            continue
        lags = [_lag(p, by_id[p], clock) for p in preds[op.id] if p not in done]
        plain_chain = (
            op.predecessors is None
            and (i == 0 or (kept and kept[-1] == prod.routing[i - 1].id))
            and all(lag.min_lag == 0 and lag.max_lag is None for lag in lags)
        )
        out.append(
            Operation(
                id=op.id,
                modes=modes,
                predecessors=None if plain_chain else lags,
                interruptible=op.interruptible,
                family=op.family,
                consumes=[
                    MaterialFlow(material=f.material, quantity=_qty(f.per_unit, order.quantity))
                    for f in op.consumes
                ],
                produces=[
                    MaterialFlow(material=f.material, quantity=_qty(f.per_unit, order.quantity))
                    for f in op.produces
                ],
            )
        )
        kept.append(op.id)
    return out


#: Durations beyond this many ticks (about 2 million years of minutes) are input errors.
MAX_TICKS = 2**40


def _micros(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _lag(pred_id: str, pred: RoutingOperation, clock: Clock) -> Lag:
    """Lags are elapsed time: min rounds up, max rounds down (never promise too much)."""
    max_lag = None if pred.max_lag is None else clock.ticks(pred.max_lag, "floor")
    return Lag(op=pred_id, min_lag=clock.ticks(pred.min_lag, "ceil"), max_lag=max_lag)


#: The calendar of a machine nobody gave one: always working (maintenance still applies).
ALWAYS = Calendar(
    id="always", shifts=[Shift(days=list(Weekday), start=time(0), end=time(0), name="24/7")]
)


# -- loading ----------------------------------------------------------------------------


def plant_json_schema() -> str:
    """The published JSON Schema of :class:`Plant` (``aps/schema/plant.json``)."""
    return json.dumps(Plant.model_json_schema(), indent=2, sort_keys=True) + "\n"


def is_plant_document(data: object) -> bool:
    """Plant JSON has a top-level ``orders`` key; tick-level Problem JSON has ``jobs``."""
    return isinstance(data, dict) and "orders" in data and "jobs" not in data


def load_problem(path: str | Path, objective: Objective | None = None) -> Problem:
    """Load a Problem from plant JSON, a CSV bundle (folder, .zip, .xlsx) or Problem JSON.

    This is what ``aps solve`` calls for factory inputs.

    Raises
    ------
    aps.io.bundle.BundleError
        A bad file, row or reference (names file/sheet, row, column and reason).
    CompileError
        A well-formed plant that cannot be expressed in ticks.
    """
    p = Path(path)
    if p.suffix.lower() == ".json":
        from aps.io.bundle import BundleError, read_json_plant

        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BundleError([f"{p.name}: cannot read JSON: {exc}"]) from exc
        if not is_plant_document(data):
            from pydantic import ValidationError

            try:
                problem = Problem.model_validate(data)
            except ValidationError as exc:
                raise BundleError(
                    [f"{p.name}: {e['loc']}: {e['msg']}" for e in exc.errors()]
                ) from exc
            return (
                problem
                if objective is None
                else problem.model_copy(update={"objective": objective})
            )
        return compile_plant(read_json_plant(p, data), objective)
    from aps.io.bundle import load_plant

    return compile_plant(load_plant(p), objective)
