"""Seeded generator of realistic factory plants.

``generate_plant`` builds a plant of the kind in ``instances/plant.json``: four machine
groups (saw, CNC, weld, assembly) on a two-shift Mon–Fri calendar with public holidays,
a Saturday overtime shift, a short closure and a maintenance window; finished products
in three setup families; two in-house subassemblies (a 3-level BOM: product →
subassembly → purchased material) and purchased components arriving over the first two
weeks. It is feasible by construction: every material's supply covers its demand, every
non-interruptible step fits into one shift pair, the bottleneck is about half busy and
deadlines are generous. Larger ``orders`` scale the machine count, so the load per
machine stays about the same.

With ``load`` or ``tightness`` the plant is a hard one instead, at a chosen bottleneck
utilisation and due-date tightness (:mod:`aps.factory.loaded`).

Taillard-like job shops come from :func:`aps.io.taillard.generate_jssp`.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aps.factory.calendar import Calendar, CalendarException, DateTimeWindow, Shift, Weekday
from aps.factory.loaded import LOAD_DEFAULT, TIGHTNESS_DEFAULT, generate_loaded_plant
from aps.factory.model import (
    EligibleMachine,
    Flow,
    Horizon,
    MachineGroup,
    Order,
    OrderStatus,
    Plant,
    PlantMachine,
    Product,
    RoutingOperation,
    SetupTable,
    StockItem,
    StockReceipt,
)
from aps.model import Objective, ObjectiveTerm, WeightedTerm

ZONE = "Europe/Berlin"

#: machines per group in a plant of up to 60 orders (larger plants multiply them)
MACHINES_PER_GROUP = {"SAW": 2, "CNC": 3, "WELD": 2, "ASSY": 3}
#: setup families of the finished products
FAMILIES = ["housing", "pump", "valve"]
#: purchased materials and their units
PURCHASED = {
    "STEEL-BAR": "kg",
    "SHEET": "pcs",
    "MOTOR": "pcs",
    "SEAL-KIT": "pcs",
    "BOLT": "pcs",
}
#: in-house subassemblies, each made from steel bar
SUBASSEMBLIES = ["FRAME", "SHAFT"]
#: finished products: (id, name, family)
FINISHED: list[tuple[str, str, str]] = [
    ("HSG-100", "Housing 100", "housing"),
    ("HSG-200", "Housing 200", "housing"),
    ("PMP-10", "Pump 10", "pump"),
    ("PMP-20", "Pump 20", "pump"),
    ("VLV-A", "Valve A", "valve"),
    ("VLV-B", "Valve B", "valve"),
]
#: a subassembly lot's non-interruptible steps must fit one 16 h day: lots are capped
MAX_SUBASSEMBLY_LOT = 80


@dataclass(frozen=True)
class PlantFeatures:
    """Which factory features a generated plant uses (tests switch some off)."""

    calendars: bool = True
    holidays: bool = True
    maintenance: bool = True
    setups: bool = True
    materials: bool = True
    lags: bool = True
    interruptible: bool = True
    alternatives: bool = True


@dataclass(frozen=True)
class _Layout:
    """What every part of one generated plant shares: dates, size and features."""

    start: date
    features: PlantFeatures
    #: machines per group are ``MACHINES_PER_GROUP`` times this
    scale: int
    #: the horizon's length in weeks
    weeks: int

    def at(self, day: int, hour: float = 0.0) -> datetime:
        """Local wall-clock time ``day`` days after the start (DST-correct)."""
        d = self.start + timedelta(days=day)
        return datetime.combine(d, time(0), tzinfo=ZoneInfo(ZONE)) + timedelta(hours=hour)

    def machines(
        self, group: str, minutes_per_unit: float, fast: bool = False
    ) -> list[EligibleMachine]:
        """A group, or (alternatives) the group's first machine faster than the rest."""
        if not self.features.alternatives:
            return [EligibleMachine(machine=f"{group}-1")]
        if fast:
            return [
                EligibleMachine(
                    machine=f"{group}-1", run_per_unit=_minutes(round(minutes_per_unit * 0.75, 2))
                ),
                *[
                    EligibleMachine(machine=f"{group}-{k + 1}")
                    for k in range(1, MACHINES_PER_GROUP[group] * self.scale)
                ],
            ]
        return [EligibleMachine(machine=group)]

    def flows(self, *items: tuple[str, float]) -> list[Flow]:
        """Material flows, or none when the plant has no materials."""
        return [Flow(material=m, per_unit=q) for m, q in items] if self.features.materials else []


@dataclass(frozen=True)
class _FinishedSpec:
    """The random draws of one finished-product order."""

    product: str
    family: str
    quantity: int
    release_day: int
    due_day: int


def _minutes(m: float) -> timedelta:
    return timedelta(minutes=m)


def generate_plant(
    orders: int = 60,
    seed: int = 0,
    *,
    start: date = date(2026, 3, 2),
    features: PlantFeatures | None = None,
    name: str | None = None,
    load: float | None = None,
    tightness: float | None = None,
) -> Plant:
    """A seeded, feasible plant with ``orders`` orders (see the module docstring).

    Parameters
    ----------
    orders
        Number of orders (at least 1); about one in five is a subassembly order.
    seed
        Random seed: the same arguments always give the same plant.
    start
        The Monday the plan starts (00:00 local time in Europe/Berlin).
    features
        Switch off features, e.g. for solvers that do not support them yet.
    load, tightness
        Either one asks for a hard plant instead
        (:func:`aps.factory.loaded.generate_loaded_plant`): the bottleneck group's target
        utilisation over the plan (default 0.95) and the due-date tightness from 0 (loose)
        to 1 (default 0.5). Without them the plant is the easy kind described above.
    """
    if load is not None or tightness is not None:
        if features is not None:
            raise ValueError("features apply to the default plants, not to load/tightness")
        return generate_loaded_plant(
            orders,
            seed,
            load=LOAD_DEFAULT if load is None else load,
            tightness=TIGHTNESS_DEFAULT if tightness is None else tightness,
            start=start,
            name=name,
        )
    if orders < 1:
        raise ValueError("orders must be at least 1")
    layout = _Layout(
        start=start,
        features=features or PlantFeatures(),
        scale=max(1, math.ceil(orders / 60)),
        weeks=5 + (1 if orders > 30 else 0),
    )
    # the draws happen in this order: setups, products, order specs, order weights
    rng = random.Random(seed)
    calendars = _calendars(layout)
    groups = _machine_groups(layout.features)
    machines = _machines(layout, groups)
    matrices = _setup_matrices(layout.features, rng)
    products = [*_subassembly_products(layout), *_finished_products(layout, rng)]
    n_sub = orders // 5 if orders >= 5 else 0
    specs, demand = _finished_specs(layout, rng, orders - n_sub)
    lots = _subassembly_lots(n_sub, demand)
    demand["STEEL-BAR"] += sum(
        (3 if sub == "FRAME" else 1) * sum(lots[sub]) for sub in SUBASSEMBLIES
    )
    # stock covers what the capped lots do not make
    lots = {sub: [min(q, MAX_SUBASSEMBLY_LOT) for q in lots[sub]] for sub in SUBASSEMBLIES}
    plan = [*_subassembly_orders(layout, lots), *_finished_orders(layout, rng, specs)]
    _start_first_finished(plan)
    materials = _materials(layout, demand, lots) if layout.features.materials else []
    return Plant(
        name=name or f"plant-{orders}-{seed}",
        horizon=Horizon(
            start=layout.at(0), end=layout.at(7 * layout.weeks), tick_seconds=60, timezone=ZONE
        ),
        calendars=calendars,
        default_calendar="two-shift" if calendars else None,
        machine_groups=groups,
        machines=machines,
        setup_matrices=matrices,
        products=products,
        materials=materials,
        orders=plan,
        objective=Objective(
            terms=[
                WeightedTerm(term=ObjectiveTerm.WEIGHTED_TARDINESS, weight=10),
                WeightedTerm(term=ObjectiveTerm.MAKESPAN, weight=1),
            ]
        ),
    )


def _calendars(layout: _Layout) -> list[Calendar]:
    """The two-shift calendar with overtime and a closure, unless calendars are off."""
    f = layout.features
    if not f.calendars:
        return []
    weekdays = [Weekday(d) for d in ("mon", "tue", "wed", "thu", "fri")]
    return [
        Calendar(
            id="two-shift",
            timezone=ZONE,
            shifts=[
                Shift(days=weekdays, start=time(6), end=time(14), name="early"),
                Shift(days=weekdays, start=time(14), end=time(22), name="late"),
            ],
            holiday_country="DE" if f.holidays else None,
            holiday_subdivision="BY" if f.holidays else None,
            exceptions=[
                CalendarException(
                    start=layout.at(12, 6),
                    end=layout.at(12, 14),
                    working=True,
                    reason="Saturday overtime",
                ),
                CalendarException(
                    start=layout.at(18, 12),
                    end=layout.at(18, 14),
                    working=False,
                    reason="works meeting",
                ),
            ],
        )
    ]


def _machine_groups(f: PlantFeatures) -> list[MachineGroup]:
    return [
        MachineGroup(id="SAW", name="Saws"),
        MachineGroup(id="CNC", name="CNC machining", setup_matrix="cnc" if f.setups else None),
        MachineGroup(id="WELD", name="Welding"),
        MachineGroup(id="ASSY", name="Assembly", setup_matrix="assy" if f.setups else None),
    ]


def _machines(layout: _Layout, groups: list[MachineGroup]) -> list[PlantMachine]:
    """The machines of every group; the first CNC machine has a maintenance window."""
    machines: list[PlantMachine] = []
    for g in groups:
        for k in range(MACHINES_PER_GROUP[g.id] * layout.scale):
            maintenance: list[DateTimeWindow] = []
            if layout.features.maintenance and g.id == "CNC" and k == 0:
                maintenance.append(
                    DateTimeWindow(
                        start=layout.at(9, 6), end=layout.at(9, 14), reason="spindle service"
                    )
                )
            machines.append(
                PlantMachine(
                    id=f"{g.id}-{k + 1}",
                    name=f"{g.name} {k + 1}",
                    group=g.id,
                    maintenance=maintenance,
                )
            )
    return machines


def _setup_matrices(f: PlantFeatures, rng: random.Random) -> dict[str, SetupTable]:
    """Family changeovers on CNC (drawn) and assembly (fixed), unless setups are off."""
    if not f.setups:
        return {}
    return {
        "cnc": SetupTable(
            changeover={
                a: {b: _minutes(0 if a == b else rng.choice([30, 45, 60])) for b in FAMILIES}
                for a in FAMILIES
            },
            initial={fam: _minutes(30) for fam in FAMILIES},
        ),
        "assy": SetupTable(
            changeover={a: {b: _minutes(0 if a == b else 20) for b in FAMILIES} for a in FAMILIES},
        ),
    }


def _subassembly_products(layout: _Layout) -> list[Product]:
    """The welded frame and the turned shaft, both cut from steel bar."""
    f = layout.features
    return [
        Product(
            id="FRAME",
            name="Welded frame",
            family="housing",
            routing=[
                RoutingOperation(
                    id="cut",
                    machines=layout.machines("SAW", 4.0),
                    setup=_minutes(15),
                    run_per_unit=_minutes(4.0),
                    consumes=layout.flows(("STEEL-BAR", 3)),
                ),
                RoutingOperation(
                    id="weld",
                    machines=layout.machines("WELD", 10.0, fast=True),
                    setup=_minutes(20),
                    run_per_unit=_minutes(10.0),
                    interruptible=f.interruptible,
                    produces=layout.flows(("FRAME", 1)),
                ),
            ],
        ),
        Product(
            id="SHAFT",
            name="Turned shaft",
            family="pump",
            routing=[
                RoutingOperation(
                    id="cut",
                    machines=layout.machines("SAW", 2.0),
                    setup=_minutes(10),
                    run_per_unit=_minutes(2.0),
                    consumes=layout.flows(("STEEL-BAR", 1)),
                ),
                RoutingOperation(
                    id="turn",
                    machines=layout.machines("CNC", 8.0, fast=True),
                    setup=_minutes(20),
                    run_per_unit=_minutes(8.0),
                    produces=layout.flows(("SHAFT", 1)),
                ),
            ],
        ),
    ]


def _finished_products(layout: _Layout, rng: random.Random) -> list[Product]:
    """Every finished product: cut, mill, glue seals, assemble (with subassemblies), test."""
    return [_finished_product(layout, rng, *spec) for spec in FINISHED]


def _finished_product(
    layout: _Layout, rng: random.Random, pid: str, pname: str, fam: str
) -> Product:
    f = layout.features
    cnc = rng.choice([10.0, 12.0, 15.0])
    assy = rng.choice([15.0, 20.0, 25.0])
    uses_frame = fam != "valve"
    uses_shaft = fam != "housing"
    return Product(
        id=pid,
        name=pname,
        family=fam,
        routing=[
            RoutingOperation(
                id="saw",
                name="Cut blanks",
                machines=layout.machines("SAW", 3.0),
                setup=_minutes(10),
                run_per_unit=_minutes(3.0),
                consumes=layout.flows(("SHEET", 2)),
            ),
            RoutingOperation(
                id="mill",
                name="Mill housing",
                machines=layout.machines("CNC", cnc, True),
                setup=_minutes(15),
                run_per_unit=_minutes(cnc),
                min_lag=_minutes(30) if f.lags else timedelta(0),
            ),
            RoutingOperation(
                id="seal",
                name="Glue seals",
                predecessors=[],
                machines=layout.machines("WELD", 4.0),
                setup=_minutes(10),
                run_per_unit=_minutes(4.0),
                consumes=layout.flows(("SEAL-KIT", 1)),
                min_lag=_minutes(240) if f.lags else timedelta(0),
                max_lag=timedelta(days=5) if f.lags else None,
            ),
            RoutingOperation(
                id="assemble",
                name="Assemble",
                predecessors=["mill", "seal"],
                machines=layout.machines("ASSY", assy),
                setup=_minutes(20),
                run_per_unit=_minutes(assy),
                interruptible=f.interruptible,
                consumes=layout.flows(
                    ("MOTOR", 1),
                    ("BOLT", 8),
                    *([("FRAME", 1)] if uses_frame else []),
                    *([("SHAFT", 1)] if uses_shaft else []),
                ),
            ),
            RoutingOperation(
                id="test",
                name="Final test",
                machines=layout.machines("ASSY", 1.0),
                duration=_minutes(30),
            ),
        ],
    )


def _finished_specs(
    layout: _Layout, rng: random.Random, count: int
) -> tuple[list[_FinishedSpec], dict[str, int]]:
    """Product, quantity and dates of ``count`` finished orders, and what they consume.

    The first orders make each finished product once, the rest are drawn.
    """
    demand: dict[str, int] = dict.fromkeys([*PURCHASED, *SUBASSEMBLIES], 0)
    specs: list[_FinishedSpec] = []
    for i in range(count):
        pid, _, fam = FINISHED[i] if i < len(FINISHED) else rng.choice(FINISHED)
        qty = rng.randint(8, 40)
        week = rng.randint(1, layout.weeks - 2)
        release_day = max(0, 7 * (week - 1) + rng.randint(0, 4))
        due_day = release_day + rng.randint(7, 14)
        specs.append(_FinishedSpec(pid, fam, qty, release_day, due_day))
        demand["SHEET"] += 2 * qty
        demand["SEAL-KIT"] += qty
        demand["MOTOR"] += qty
        demand["BOLT"] += 8 * qty
        if fam != "valve":
            demand["FRAME"] += qty
        if fam != "housing":
            demand["SHAFT"] += qty
    return specs, demand


def _subassembly_lots(count: int, demand: dict[str, int]) -> dict[str, list[int]]:
    """``count`` subassembly lots, alternating FRAME and SHAFT, covering demand + 10 %."""
    lots: dict[str, list[int]] = {sub: [] for sub in SUBASSEMBLIES}
    for i in range(count):
        lots[SUBASSEMBLIES[i % 2]].append(0)
    for sub, parts in lots.items():
        need = demand[sub]
        if not parts or need == 0:
            continue
        per = math.ceil(need * 1.1 / len(parts))
        lots[sub] = [max(1, per)] * len(parts)
    return lots


def _subassembly_orders(layout: _Layout, lots: dict[str, list[int]]) -> list[Order]:
    """One released order per lot, early in the plan, due every second day."""
    plan: list[Order] = []
    for sub in SUBASSEMBLIES:
        for k, qty in enumerate(lots[sub]):
            plan.append(
                Order(
                    id=f"SA-{len(plan) + 1:03d}",
                    product=sub,
                    quantity=qty,
                    release=layout.at(0),
                    due=layout.at(3 + 2 * k, 22),
                    weight=1,
                    status=OrderStatus.RELEASED,
                )
            )
    return plan


def _finished_orders(
    layout: _Layout, rng: random.Random, specs: list[_FinishedSpec]
) -> list[Order]:
    """The finished orders; every seventh only planned, every ninth with a deadline."""
    last_day = 7 * layout.weeks
    plan: list[Order] = []
    for i, spec in enumerate(specs):
        status = OrderStatus.PLANNED if i % 7 == 6 else OrderStatus.RELEASED
        deadline = layout.at(spec.due_day + 10, 22) if i % 9 == 4 else None
        if deadline is not None and deadline > layout.at(last_day):
            deadline = None
        plan.append(
            Order(
                id=f"SO-{i + 1:03d}",
                product=spec.product,
                quantity=spec.quantity,
                release=layout.at(spec.release_day, 6),
                due=layout.at(
                    min(spec.due_day, last_day - 3), 22 if layout.features.calendars else 0
                ),
                deadline=deadline,
                weight=rng.choice([1, 1, 2, 3]),
                status=status,
            )
        )
    return plan


def _start_first_finished(plan: list[Order]) -> None:
    """Put the first finished order on the shop floor, its first step done (in place)."""
    if len(plan) <= 3:
        return
    first = next(k for k, o in enumerate(plan) if o.id.startswith("SO-"))
    plan[first] = plan[first].model_copy(
        update={"status": OrderStatus.IN_PROGRESS, "completed_operations": ["saw"]}
    )


def _materials(
    layout: _Layout, demand: dict[str, int], lots: dict[str, list[int]]
) -> list[StockItem]:
    """Purchased stock (30 % on hand, the rest in four receipts) and subassembly stock."""
    materials: list[StockItem] = []
    for mid, unit in PURCHASED.items():
        need = demand[mid]
        initial = math.ceil(need * 0.3)
        rest = need - initial
        receipts = []
        if rest > 0:
            chunks = 4
            per = math.ceil(rest * 1.05 / chunks)
            for k in range(chunks):
                receipts.append(StockReceipt(at=layout.at(2 + 3 * k, 7), quantity=max(1, per)))
        materials.append(
            StockItem(
                id=mid,
                name=mid.title().replace("-", " "),
                unit=unit,
                initial_stock=initial,
                receipts=receipts,
            )
        )
    for sub in SUBASSEMBLIES:  # stock covers what no subassembly order makes
        materials.append(
            StockItem(
                id=sub,
                name=f"{sub.title()} (in-house)",
                unit="pcs",
                initial_stock=max(0, demand[sub] - sum(lots[sub])),
            )
        )
    return materials


def plant_summary(plant: Plant) -> dict[str, Any]:
    """Counts for a one-line CLI summary."""
    return {
        "orders": len(plant.orders),
        "products": len(plant.products),
        "machines": len(plant.machines),
        "groups": len(plant.machine_groups),
        "materials": len(plant.materials),
    }
