"""The plant as a planner writes it: orders, products and routings, machines, calendars, stock."""

from __future__ import annotations

import json
from datetime import timedelta
from enum import StrEnum
from typing import Self
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
from pydantic_core import PydanticCustomError

from aps.factory.calendar import Calendar, DateTimeWindow
from aps.model import (
    Objective,
)

Name = str


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _non_negative(value: timedelta | None) -> timedelta | None:
    if value is not None and value < timedelta(0):
        raise ValueError("duration must not be negative")
    return value


def contradiction(message: str, fields: list[str], at: list[str | int] | None = None) -> Exception:
    """A refusal of fields that contradict each other, naming them.

    ``fields`` are the contradicting field names (a bundle reader names the first one
    present in the row as the cell); ``at`` is the path, relative to the model
    validated, of the entry the first field belongs to (e.g. ``["machines", 1]``).
    """
    return PydanticCustomError(
        "contradictory_fields", "{message}", {"message": message, "fields": fields, "at": at or []}
    )


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
    off_shift_setup: bool = Field(
        default=False,
        description="A setup crew changes over while the machines are off shift: setups "
        "(fixed and changeover) may run in unavailable time, the run may not",
    )


class PlantMachine(_Frozen):
    """A machine; ``calendar``/``setup_matrix``/``off_shift_setup`` default to its group's."""

    id: Name = Field(min_length=1, max_length=200)
    name: str | None = Field(default=None, max_length=200)
    group: Name | None = None
    calendar: Name | None = None
    setup_matrix: Name | None = None
    maintenance: list[DateTimeWindow] = Field(default_factory=list)
    off_shift_setup: bool | None = Field(
        default=None,
        description="Setups (fixed and changeover) may run while the machine is "
        "unavailable (off shift, breaks, holidays, maintenance); the run may not. "
        "Default: its group's, else false",
    )


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

    ``run_per_unit``, ``fixed_time``, ``duration`` and ``setup`` override the
    operation's values on this machine (machine-specific speeds). A ``duration`` here
    replaces the operation's whole run time; a ``run_per_unit`` here replaces the
    operation's ``duration`` or rate, with this entry's ``fixed_time`` (else the
    operation's) added.
    """

    machine: Name = Field(min_length=1, max_length=200)
    run_per_unit: timedelta | None = None
    fixed_time: timedelta | None = Field(
        default=None, description="quantity-independent part of the run on this machine"
    )
    duration: timedelta | None = None
    setup: timedelta | None = None

    _check = field_validator("run_per_unit", "fixed_time", "duration", "setup")(_non_negative)

    @model_validator(mode="after")
    def _timing(self) -> Self:
        _refuse_duration_with_rate(self, f"machine {self.machine!r}")
        return self


def _refuse_duration_with_rate(
    entry: EligibleMachine | RoutingOperation, where: str, at: list[str | int] | None = None
) -> None:
    """A fixed ``duration`` is the whole run: a rate or a fixed part beside it contradicts."""
    for other in ("run_per_unit", "fixed_time"):
        if entry.duration is not None and getattr(entry, other) is not None:
            raise contradiction(
                f"{where}: duration and {other} contradict each other: duration is the "
                f"whole run time, {other} is part of a run of fixed_time + quantity × "
                "run_per_unit; give one or the other",
                ["duration", other],
                at,
            )


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
    run_per_unit: timedelta | None = Field(
        default=None, description="run time per unit of the order quantity"
    )
    fixed_time: timedelta | None = Field(
        default=None,
        description="quantity-independent part of the run (e.g. a 45 min test): the run "
        "lasts fixed_time + quantity × run_per_unit",
    )
    duration: timedelta | None = Field(
        default=None, description="fixed run time, whatever the quantity"
    )
    predecessors: list[Name] | None = None
    min_lag: timedelta = timedelta(0)
    max_lag: timedelta | None = None
    interruptible: bool = False
    family: str | None = Field(default=None, max_length=200)
    consumes: list[Flow] = Field(default_factory=list)
    produces: list[Flow] = Field(default_factory=list)

    _check = field_validator(
        "setup", "run_per_unit", "fixed_time", "duration", "min_lag", "max_lag"
    )(_non_negative)

    @model_validator(mode="after")
    def _timing(self) -> Self:
        _refuse_duration_with_rate(self, f"operation {self.id!r}")
        for k, em in enumerate(self.machines):
            _check_machine_timing(self, k, em)
        if self.run_per_unit is None and self.duration is None:
            missing = [
                m.machine for m in self.machines if m.run_per_unit is None and m.duration is None
            ]
            if missing:
                fixed = " (fixed_time alone is no run time)" if self.fixed_time else ""
                raise ValueError(
                    f"no run_per_unit or duration for machine(s) {missing} and none on the "
                    f"operation{fixed}"
                )
        if self.max_lag is not None and self.max_lag < self.min_lag:
            raise ValueError("max_lag is below min_lag")
        return self


def _check_machine_timing(op: RoutingOperation, k: int, em: EligibleMachine) -> None:
    """A machine entry's ``fixed_time`` needs a rate to add to: its own or the operation's.

    Without one the run is the operation's fixed ``duration`` (or nothing), and the
    entry's ``fixed_time`` would be ignored.
    """
    if em.fixed_time is None or em.run_per_unit is not None or em.duration is not None:
        return
    if op.run_per_unit is not None:
        return
    where = f"operation {op.id!r}, machines[{k}] (machine {em.machine!r})"
    if op.duration is not None:
        raise contradiction(
            f"{where}: fixed_time contradicts the operation's duration: with no run_per_unit "
            "on the machine the operation's duration is the whole run; give the machine a "
            "run_per_unit (fixed_time + quantity × run_per_unit) or a duration",
            ["fixed_time", "duration"],
            ["machines", k],
        )
    raise contradiction(
        f"{where}: fixed_time without run_per_unit on the machine or the operation; give "
        "run_per_unit (the run is fixed_time + quantity × run_per_unit) or a duration",
        ["fixed_time", "run_per_unit"],
        ["machines", k],
    )


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
    calendars = _unique(out, "calendars", [c.id for c in plant.calendars])
    groups = _unique(out, "machine_groups", [g.id for g in plant.machine_groups])
    machines = _unique(out, "machines", [m.id for m in plant.machines])
    products = _unique(out, "products", [p.id for p in plant.products])
    materials = _unique(out, "materials", [m.id for m in plant.materials])
    _unique(out, "orders", [o.id for o in plant.orders])
    matrices = set(plant.setup_matrices)
    if plant.default_calendar is not None and plant.default_calendar not in calendars:
        out.append(
            Issue(
                path=("default_calendar",), message=f"unknown calendar {plant.default_calendar!r}"
            )
        )
    out += _machine_issues(plant, calendars, groups, machines, matrices)
    resources: dict[str, list[str]] = {m: [m] for m in machines}
    for g in groups:
        resources.setdefault(g, [m.id for m in plant.machines if m.group == g])
    routing_ops: dict[str, set[str]] = {}
    for p, prod in enumerate(plant.products):
        routing_ops[prod.id] = _routing_issues(out, p, prod, resources, materials)
    out += _order_issues(plant, products, routing_ops)
    return out


def _unique(out: list[Issue], field: str, ids: list[str]) -> set[str]:
    """The set of ``ids``; each id seen before adds an issue to ``out``."""
    seen: set[str] = set()
    for i, v in enumerate(ids):
        if v in seen:
            out.append(Issue(path=(field, i, "id"), message=f"id {v!r} is used twice"))
        seen.add(v)
    return seen


def _machine_issues(
    plant: Plant, calendars: set[str], groups: set[str], machines: set[str], matrices: set[str]
) -> list[Issue]:
    """Groups and machines: unknown calendars, setup matrices and groups."""
    out: list[Issue] = []
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
    return out


def _routing_issues(
    out: list[Issue],
    p: int,
    prod: Product,
    resources: dict[str, list[str]],
    materials: set[str],
) -> set[str]:
    """The routing of product ``p``: duplicate ids, unknown references, a cycle (added
    to ``out``). Returns the routing's operation ids."""
    ops: set[str] = set()
    for o, op in enumerate(prod.routing):
        if op.id in ops:
            out.append(
                Issue(
                    path=("products", p, "routing", o, "id"),
                    message=f"operation id {op.id!r} is used twice in product {prod.id!r}",
                )
            )
        ops.add(op.id)
    for o, op in enumerate(prod.routing):
        out += _operation_issues(("products", p, "routing", o), prod, op, ops, resources, materials)
    cycle = _cycle(prod)
    if cycle:
        out.append(
            Issue(
                path=("products", p, "routing"),
                message=f"precedences form a cycle through {cycle}",
            )
        )
    return ops


def _operation_issues(
    here: tuple[str | int, ...],
    prod: Product,
    op: RoutingOperation,
    ops: set[str],
    resources: dict[str, list[str]],
    materials: set[str],
) -> list[Issue]:
    """One routing operation's predecessors, machines and materials."""
    out: list[Issue] = []
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
    out += _shadowed_entries(here, op, resources)
    for field, flows in (("consumes", op.consumes), ("produces", op.produces)):
        for k, flow in enumerate(flows):
            if flow.material not in materials:
                out.append(
                    Issue(
                        path=(*here, field, k, "material"),
                        message=f"unknown material {flow.material!r}",
                    )
                )
    return out


def _entry_times(em: EligibleMachine) -> tuple[timedelta | None, ...]:
    return (em.run_per_unit, em.fixed_time, em.duration, em.setup)


def _shadowed_entries(
    here: tuple[str | int, ...], op: RoutingOperation, resources: dict[str, list[str]]
) -> list[Issue]:
    """Machine entries that earlier entries cover entirely, with other times.

    The first entry that reaches a machine sets its times (a machine listed before its
    group overrides the group's times there); an entry whose every machine is already
    covered with different times would be ignored, so it is refused.
    """
    out: list[Issue] = []
    first: dict[str, int] = {}  # machine id -> the entry that sets its times
    for k, em in enumerate(op.machines):
        reached = resources.get(em.machine, [])
        earlier = [first[m] for m in reached if m in first]
        if reached and len(earlier) == len(reached):
            differ = sorted(
                {j for j in earlier if _entry_times(op.machines[j]) != _entry_times(em)}
            )
            if differ:
                names = ", ".join(f"machines[{j}] ({op.machines[j].machine!r})" for j in differ)
                out.append(
                    Issue(
                        path=(*here, "machines", k, "machine"),
                        message=f"machines[{k}] ({em.machine!r}) would be ignored: {names} "
                        "already set the times of every machine it names, differently; list "
                        "each machine once (a machine before its group overrides the group)",
                    )
                )
        for m in reached:
            first.setdefault(m, k)
    return out


def _order_issues(
    plant: Plant, products: set[str], routing_ops: dict[str, set[str]]
) -> list[Issue]:
    """Orders of unknown products, or with completed operations their product lacks."""
    out: list[Issue] = []
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


def routing_predecessors(prod: Product) -> dict[str, list[str]]:
    """Each routing operation's predecessors: the listed ones, else the step before."""
    preds: dict[str, list[str]] = {}
    for i, op in enumerate(prod.routing):
        if op.predecessors is None:
            preds[op.id] = [prod.routing[i - 1].id] if i > 0 else []
        else:
            preds[op.id] = list(op.predecessors)
    return preds


def _cycle(prod: Product) -> list[str]:
    preds = routing_predecessors(prod)
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


def plant_json_schema() -> str:
    """The published JSON Schema of :class:`Plant` (``aps/schema/plant.json``)."""
    return json.dumps(Plant.model_json_schema(), indent=2, sort_keys=True) + "\n"


def is_plant_document(data: object) -> bool:
    """Plant JSON has a top-level ``orders`` key; tick-level Problem JSON has ``jobs``."""
    return isinstance(data, dict) and "orders" in data and "jobs" not in data
