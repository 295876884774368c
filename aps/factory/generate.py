"""Seeded generators: realistic factory plants and Taillard-like job shops.

``generate_plant`` builds a plant of the kind in ``instances/plant.json``: four machine
groups (saw, CNC, weld, assembly) on a two-shift Mon–Fri calendar with public holidays,
a Saturday overtime shift, a short closure and a maintenance window; finished products
in three setup families; two in-house subassemblies (a 3-level BOM: product →
subassembly → purchased material) and purchased components arriving over the first two
weeks. It is feasible by construction: every material's supply covers its demand, every
non-interruptible step fits into one shift pair, the bottleneck is about half busy and
deadlines are generous. Larger ``orders`` scale the machine count, so the load per
machine stays about the same.

``generate_jssp`` uses Taillard's (1993) random generator, so the same seeds give the
same kind of instance as the published benchmarks.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aps.factory.calendar import Calendar, CalendarException, DateTimeWindow, Shift, Weekday
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


def _minutes(m: float) -> timedelta:
    return timedelta(minutes=m)


def generate_plant(
    orders: int = 60,
    seed: int = 0,
    *,
    start: date = date(2026, 3, 2),
    features: PlantFeatures | None = None,
    name: str | None = None,
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
    """
    if orders < 1:
        raise ValueError("orders must be at least 1")
    f = features or PlantFeatures()
    rng = random.Random(seed)
    zone = ZoneInfo(ZONE)
    origin = datetime.combine(start, time(0), tzinfo=zone)
    scale = max(1, math.ceil(orders / 60))
    weeks = 5 + (1 if orders > 30 else 0)

    def at(day: int, hour: float = 0.0) -> datetime:
        """Local wall-clock time ``day`` days after the start (DST-correct)."""
        d = start + timedelta(days=day)
        return datetime.combine(d, time(0), tzinfo=zone) + timedelta(hours=hour)

    # calendars ------------------------------------------------------------------------
    calendars: list[Calendar] = []
    default_calendar = None
    if f.calendars:
        calendars.append(
            Calendar(
                id="two-shift",
                timezone=ZONE,
                shifts=[
                    Shift(
                        days=[Weekday(d) for d in ("mon", "tue", "wed", "thu", "fri")],
                        start=time(6),
                        end=time(14),
                        name="early",
                    ),
                    Shift(
                        days=[Weekday(d) for d in ("mon", "tue", "wed", "thu", "fri")],
                        start=time(14),
                        end=time(22),
                        name="late",
                    ),
                ],
                holiday_country="DE" if f.holidays else None,
                holiday_subdivision="BY" if f.holidays else None,
                exceptions=[
                    CalendarException(
                        start=at(12, 6), end=at(12, 14), working=True, reason="Saturday overtime"
                    ),
                    CalendarException(
                        start=at(18, 12), end=at(18, 14), working=False, reason="works meeting"
                    ),
                ],
            )
        )
        default_calendar = "two-shift"

    # machines -------------------------------------------------------------------------
    groups = [
        MachineGroup(id="SAW", name="Saws"),
        MachineGroup(id="CNC", name="CNC machining", setup_matrix="cnc" if f.setups else None),
        MachineGroup(id="WELD", name="Welding"),
        MachineGroup(id="ASSY", name="Assembly", setup_matrix="assy" if f.setups else None),
    ]
    per_group = {"SAW": 2, "CNC": 3, "WELD": 2, "ASSY": 3}
    machines: list[PlantMachine] = []
    for g in groups:
        for k in range(per_group[g.id] * scale):
            maintenance: list[DateTimeWindow] = []
            if f.maintenance and g.id == "CNC" and k == 0:
                maintenance.append(
                    DateTimeWindow(start=at(9, 6), end=at(9, 14), reason="spindle service")
                )
            machines.append(
                PlantMachine(
                    id=f"{g.id}-{k + 1}",
                    name=f"{g.name} {k + 1}",
                    group=g.id,
                    maintenance=maintenance,
                )
            )

    matrices: dict[str, SetupTable] = {}
    families = ["housing", "pump", "valve"]
    if f.setups:
        matrices["cnc"] = SetupTable(
            changeover={
                a: {b: _minutes(0 if a == b else rng.choice([30, 45, 60])) for b in families}
                for a in families
            },
            initial={fam: _minutes(30) for fam in families},
        )
        matrices["assy"] = SetupTable(
            changeover={a: {b: _minutes(0 if a == b else 20) for b in families} for a in families},
        )

    # materials ------------------------------------------------------------------------
    purchased = {
        "STEEL-BAR": "kg",
        "SHEET": "pcs",
        "MOTOR": "pcs",
        "SEAL-KIT": "pcs",
        "BOLT": "pcs",
    }
    subassemblies = ["FRAME", "SHAFT"]

    def mach(group: str, minutes_per_unit: float, fast: bool = False) -> list[EligibleMachine]:
        """A group, or (alternatives) the group's first machine faster than the rest."""
        if not f.alternatives:
            return [EligibleMachine(machine=f"{group}-1")]
        if fast:
            return [
                EligibleMachine(
                    machine=f"{group}-1", run_per_unit=_minutes(round(minutes_per_unit * 0.75, 2))
                ),
                *[
                    EligibleMachine(machine=f"{group}-{k + 1}")
                    for k in range(1, per_group[group] * scale)
                ],
            ]
        return [EligibleMachine(machine=group)]

    def flows(*items: tuple[str, float]) -> list[Flow]:
        return [Flow(material=m, per_unit=q) for m, q in items] if f.materials else []

    products: list[Product] = [
        Product(
            id="FRAME",
            name="Welded frame",
            family="housing",
            routing=[
                RoutingOperation(
                    id="cut",
                    machines=mach("SAW", 4.0),
                    setup=_minutes(15),
                    run_per_unit=_minutes(4.0),
                    consumes=flows(("STEEL-BAR", 3)),
                ),
                RoutingOperation(
                    id="weld",
                    machines=mach("WELD", 10.0, fast=True),
                    setup=_minutes(20),
                    run_per_unit=_minutes(10.0),
                    interruptible=f.interruptible,
                    produces=flows(("FRAME", 1)),
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
                    machines=mach("SAW", 2.0),
                    setup=_minutes(10),
                    run_per_unit=_minutes(2.0),
                    consumes=flows(("STEEL-BAR", 1)),
                ),
                RoutingOperation(
                    id="turn",
                    machines=mach("CNC", 8.0, fast=True),
                    setup=_minutes(20),
                    run_per_unit=_minutes(8.0),
                    produces=flows(("SHAFT", 1)),
                ),
            ],
        ),
    ]
    finished: list[tuple[str, str, str]] = [
        ("HSG-100", "Housing 100", "housing"),
        ("HSG-200", "Housing 200", "housing"),
        ("PMP-10", "Pump 10", "pump"),
        ("PMP-20", "Pump 20", "pump"),
        ("VLV-A", "Valve A", "valve"),
        ("VLV-B", "Valve B", "valve"),
    ]
    for pid, pname, fam in finished:
        cnc = rng.choice([10.0, 12.0, 15.0])
        assy = rng.choice([15.0, 20.0, 25.0])
        uses_frame = fam != "valve"
        uses_shaft = fam != "housing"
        products.append(
            Product(
                id=pid,
                name=pname,
                family=fam,
                routing=[
                    RoutingOperation(
                        id="saw",
                        name="Cut blanks",
                        machines=mach("SAW", 3.0),
                        setup=_minutes(10),
                        run_per_unit=_minutes(3.0),
                        consumes=flows(("SHEET", 2)),
                    ),
                    RoutingOperation(
                        id="mill",
                        name="Mill housing",
                        machines=mach("CNC", cnc, True),
                        setup=_minutes(15),
                        run_per_unit=_minutes(cnc),
                        min_lag=_minutes(30) if f.lags else timedelta(0),
                    ),
                    RoutingOperation(
                        id="seal",
                        name="Glue seals",
                        predecessors=[],
                        machines=mach("WELD", 4.0),
                        setup=_minutes(10),
                        run_per_unit=_minutes(4.0),
                        consumes=flows(("SEAL-KIT", 1)),
                        min_lag=_minutes(240) if f.lags else timedelta(0),
                        max_lag=timedelta(days=5) if f.lags else None,
                    ),
                    RoutingOperation(
                        id="assemble",
                        name="Assemble",
                        predecessors=["mill", "seal"],
                        machines=mach("ASSY", assy),
                        setup=_minutes(20),
                        run_per_unit=_minutes(assy),
                        interruptible=f.interruptible,
                        consumes=flows(
                            ("MOTOR", 1),
                            ("BOLT", 8),
                            *([("FRAME", 1)] if uses_frame else []),
                            *([("SHAFT", 1)] if uses_shaft else []),
                        ),
                    ),
                    RoutingOperation(
                        id="test",
                        name="Final test",
                        machines=mach("ASSY", 1.0),
                        duration=_minutes(30),
                    ),
                ],
            )
        )

    # orders ---------------------------------------------------------------------------
    n_sub = max(0, orders // 5) if orders >= 5 else 0
    n_fin = orders - n_sub
    horizon_end = at(7 * weeks)
    plan: list[Order] = []
    demand: dict[str, int] = dict.fromkeys([*purchased, *subassemblies], 0)
    fin_specs = []
    for i in range(n_fin):
        pid, _, fam = finished[i % len(finished)] if i < len(finished) else rng.choice(finished)
        qty = rng.randint(8, 40)
        week = rng.randint(1, weeks - 2)
        release_day = max(0, 7 * (week - 1) + rng.randint(0, 4))
        due_day = release_day + rng.randint(7, 14)
        fin_specs.append((pid, fam, qty, release_day, due_day))
        demand["SHEET"] += 2 * qty
        demand["SEAL-KIT"] += qty
        demand["MOTOR"] += qty
        demand["BOLT"] += 8 * qty
        if fam != "valve":
            demand["FRAME"] += qty
        if fam != "housing":
            demand["SHAFT"] += qty
    # subassembly orders cover the demand with a margin, early in the plan
    sub_split: dict[str, list[int]] = {"FRAME": [], "SHAFT": []}
    for i in range(n_sub):
        sub_split[subassemblies[i % 2]].append(0)
    for sub, parts in sub_split.items():
        need = demand[sub]
        if not parts or need == 0:
            continue
        per = math.ceil(need * 1.1 / len(parts))
        for k in range(len(parts)):
            parts[k] = max(1, per)
    for sub in subassemblies:
        demand["STEEL-BAR"] += (3 if sub == "FRAME" else 1) * sum(sub_split[sub])
    for sub in subassemblies:  # non-interruptible steps must fit one 16 h day: cap lots
        sub_split[sub] = [min(q, 80) for q in sub_split[sub]]  # stock covers the rest

    counter = 0
    for sub in subassemblies:
        for k, qty in enumerate(sub_split[sub]):
            counter += 1
            plan.append(
                Order(
                    id=f"SA-{counter:03d}",
                    product=sub,
                    quantity=qty,
                    release=at(0),
                    due=at(3 + 2 * k, 22),
                    weight=1,
                    status=OrderStatus.RELEASED,
                )
            )
    for i, (pid, _fam, qty, release_day, due_day) in enumerate(fin_specs):
        status = OrderStatus.PLANNED if i % 7 == 6 else OrderStatus.RELEASED
        deadline = at(due_day + 10, 22) if i % 9 == 4 else None
        if deadline is not None and deadline > horizon_end:
            deadline = None
        plan.append(
            Order(
                id=f"SO-{i + 1:03d}",
                product=pid,
                quantity=qty,
                release=at(release_day, 6),
                due=at(min(due_day, 7 * weeks - 3), 22 if f.calendars else 0),
                deadline=deadline,
                weight=rng.choice([1, 1, 2, 3]),
                status=status,
            )
        )
    if len(plan) > 3:  # a finished order already on the shop floor, and one done
        first = next(k for k, o in enumerate(plan) if o.id.startswith("SO-"))
        plan[first] = plan[first].model_copy(
            update={"status": OrderStatus.IN_PROGRESS, "completed_operations": ["saw"]}
        )
    materials: list[StockItem] = []
    if f.materials:
        for mid, unit in purchased.items():
            need = demand[mid]
            initial = math.ceil(need * 0.3)
            rest = need - initial
            receipts = []
            if rest > 0:
                chunks = 4
                per = math.ceil(rest * 1.05 / chunks)
                for k in range(chunks):
                    receipts.append(StockReceipt(at=at(2 + 3 * k, 7), quantity=max(1, per)))
            materials.append(
                StockItem(
                    id=mid,
                    name=mid.title().replace("-", " "),
                    unit=unit,
                    initial_stock=initial,
                    receipts=receipts,
                )
            )
        for sub in subassemblies:  # stock covers what no subassembly order makes
            covered = sum(sub_split[sub])
            materials.append(
                StockItem(
                    id=sub,
                    name=f"{sub.title()} (in-house)",
                    unit="pcs",
                    initial_stock=max(0, demand[sub] - covered),
                )
            )

    return Plant(
        name=name or f"plant-{orders}-{seed}",
        horizon=Horizon(start=origin, end=horizon_end, tick_seconds=60, timezone=ZONE),
        calendars=calendars,
        default_calendar=default_calendar,
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


# -- Taillard-like job shops ---------------------------------------------------------------


def plant_summary(plant: Plant) -> dict[str, Any]:
    """Counts for a one-line CLI summary."""
    return {
        "orders": len(plant.orders),
        "products": len(plant.products),
        "machines": len(plant.machines),
        "groups": len(plant.machine_groups),
        "materials": len(plant.materials),
    }
