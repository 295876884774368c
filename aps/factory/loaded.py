"""Seeded plants at a chosen load and due-date tightness (``aps generate plant --load``).

Where :func:`aps.factory.generate.generate_plant` builds easy plants (the bottleneck about
half busy, generous due dates), :func:`generate_loaded_plant` builds hard ones of the same
kind, larger per order:

* ten machine groups on a two-shift Mon–Fri calendar with Bavarian public holidays (the
  furnaces on three shifts), maintenance windows, and alternative machines at different
  rates (in a group of two or more the first machine is faster, the last of three or
  more slower);
* 16 finished products in four setup families with routings of 7 to 13 steps (a parallel
  cover branch merging at assembly), family changeovers on the mills, paint lines and
  assembly (the paint lines set up off shift), runs of a fixed part plus a rate (heat
  treatment, washing, painting, the final test), cooling and drying times (minimum lags)
  and a maximum wait between hardening and grinding;
* a bill of materials: purchased bar, sheet, paint, motors, bearings, seals and bolts
  arriving weekly, and in-house shafts, frames and gear sets made by subassembly orders
  (about one order in six) in lots due when the finished orders need them.

**Load.** Each group's work is estimated at nominal rates: setups, half the average
changeover on family-setup machines, fixed parts and ``quantity × rate`` at the group's
mean machine speed. Machine counts are chosen for a plan of about five weeks; the plan
end ``P`` is then set so that the busiest group's utilisation over ``[start, P]`` (work
over its machines' working time) is exactly ``load``. Finished orders are released over
the first three quarters of the plan.

**Tightness.** With ``p_j`` the order's own processing (its longest routing path at nominal
rates, in working time) and ``W(r_j, P)`` the working time from its release to the plan
end, the due date is ``r_j + p_j + (1 - tightness) × max(0, W(r_j, P) - p_j)`` in working
time: 0 puts every due date at the plan end (loose), 1 at the earliest completion on an
empty plant (impossible to meet under load). Subassembly lots are due a shift before
their first consumer is released. About one finished order in twelve released in the
first 30 % of the plan has a deadline: its release plus its processing plus half the
plan, a day after its due date at least, and no earlier than the greedy witness
(:func:`aps.heuristics.witness.witness`, which does not read deadlines) finishes it, so
a feasible schedule exists. The horizon ends another ``max(1, load)`` plan lengths of
working time plus a week after ``P``, so an overloaded plant still finishes.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aps.factory.calendar import Calendar, DateTimeWindow, Shift, Weekday, working_intervals
from aps.factory.compile import compile_plant
from aps.factory.model import (
    EligibleMachine,
    Flow,
    Horizon,
    MachineGroup,
    Order,
    Plant,
    PlantMachine,
    Product,
    RoutingOperation,
    SetupTable,
    StockItem,
    StockReceipt,
)
from aps.heuristics.witness import witness
from aps.model import Objective, ObjectiveTerm, WeightedTerm

ZONE = "Europe/Berlin"
#: defaults of the loaded generator when only one of the options is given
LOAD_DEFAULT = 0.95
TIGHTNESS_DEFAULT = 0.5
FAMILIES = ("housing", "pump", "valve", "gear")
#: the plan length machine counts are chosen for, in weeks
PLAN_WEEKS = 5
#: finished orders are released over this share of the plan
RELEASE_SHARE = 0.75
#: a subassembly lot's steps must fit one 16 h day: lots are capped
MAX_LOT = 300
#: share of the average changeover counted per operation on family-setup machines
CHANGE_SHARE = 0.5
#: purchased materials and their units
PURCHASED = {
    "BAR": "kg",
    "SHEET": "pcs",
    "PAINT": "l",
    "MOTOR": "pcs",
    "BEARING": "pcs",
    "SEAL-KIT": "pcs",
    "BOLT": "pcs",
}
#: in-house intermediates: the finished families that use one per unit, and their family
INTERMEDIATES: dict[str, tuple[tuple[str, ...], str]] = {
    "SHAFT": (("pump", "valve", "gear"), "pump"),
    "FRAME": (("housing", "pump"), "housing"),
    "GEARSET": (("gear",), "gear"),
}
#: purchased components assembled per unit, by finished family
ASSEMBLY_PARTS: dict[str, tuple[tuple[str, float], ...]] = {
    "housing": (("SEAL-KIT", 1.0), ("BOLT", 8.0)),
    "pump": (("MOTOR", 1.0), ("BEARING", 2.0), ("SEAL-KIT", 1.0), ("BOLT", 8.0)),
    "valve": (("SEAL-KIT", 1.0), ("BOLT", 4.0)),
    "gear": (("MOTOR", 1.0), ("BEARING", 2.0), ("SEAL-KIT", 1.0), ("BOLT", 8.0)),
}
#: machine speed factors on the rate: the first machine of a group is faster, the last of
#: three or more slower
FAST, SLOW = 0.8, 1.25


@dataclass(frozen=True)
class _Group:
    id: str
    name: str
    calendar: str = "two-shift"
    matrix: bool = False
    off_shift: bool = False
    #: target utilisation relative to the bottleneck's (machine counts are chosen by it)
    share: float = 0.8


GROUPS = (
    _Group("SAW", "Saws", share=0.7),
    _Group("LATHE", "Lathes", share=0.85),
    _Group("MILL", "CNC mills", matrix=True, share=1.0),
    _Group("DRILL", "Drills", share=0.75),
    _Group("HEAT", "Furnaces", calendar="three-shift", share=0.8),
    _Group("GRIND", "Grinders", share=0.9),
    _Group("WASH", "Washers", share=0.6),
    _Group("PAINT", "Paint lines", matrix=True, off_shift=True, share=0.8),
    _Group("ASSY", "Assembly", matrix=True, share=0.9),
    _Group("TEST", "Test benches", share=0.75),
)


@dataclass(frozen=True)
class _Step:
    """A drawn routing step; minutes, the rate per unit at nominal machine speed."""

    id: str
    group: str
    setup: float = 10.0
    fixed: float = 0.0
    rate: float = 0.0
    duration: float = 0.0
    consumes: tuple[tuple[str, float], ...] = ()
    produces: tuple[tuple[str, float], ...] = ()
    min_lag: float = 0.0
    max_lag: float | None = None
    interruptible: bool = False
    predecessors: tuple[str, ...] | None = None

    def busy(self, quantity: int, speed: float = 1.0) -> float:
        """Minutes the step keeps a machine of mean ``speed`` busy (changeovers aside)."""
        return self.setup + self.fixed + self.duration + quantity * self.rate / speed


@dataclass(frozen=True)
class _Template:
    """A product to be: its family and drawn steps."""

    id: str
    name: str
    family: str
    steps: tuple[_Step, ...]


@dataclass
class _Spec:
    """One order to be: product, quantity, release and dates (minutes from the start)."""

    product: str
    quantity: int
    release: int = 0
    due: int = 0
    deadline: int | None = None
    weight: int = 1
    #: finished: its release point as a share of the plan; subassembly: when it is needed
    share: float = 0.0
    hard: bool = False  # gets a deadline


@dataclass
class _Work:
    """Cumulative working minutes of one calendar from the plan start."""

    starts: list[int]
    ends: list[int]
    before: list[int] = field(default_factory=list)  # working minutes before interval k

    def __post_init__(self) -> None:
        total = 0
        for s, e in zip(self.starts, self.ends, strict=True):
            self.before.append(total)
            total += e - s

    def upto(self, t: int) -> int:
        """Working minutes in ``[0, t)``."""
        k = bisect_right(self.starts, t) - 1
        if k < 0:
            return 0
        return self.before[k] + min(t, self.ends[k]) - self.starts[k]

    def at(self, work: float) -> int:
        """The first minute by which ``work`` working minutes have passed."""
        w = math.ceil(work)
        k = max(0, bisect_left(self.before, w) - 1)
        return self.starts[k] + w - self.before[k]  # past the last interval: continuous


def generate_loaded_plant(
    orders: int = 600,
    seed: int = 0,
    *,
    load: float = LOAD_DEFAULT,
    tightness: float = TIGHTNESS_DEFAULT,
    start: date = date(2026, 3, 2),
    name: str | None = None,
) -> Plant:
    """A seeded plant whose busiest machine group is ``load`` busy over the plan, with due
    dates of the given ``tightness`` (see the module docstring)."""
    if orders < 1:
        raise ValueError("orders must be at least 1")
    if not 0 < load <= 3:
        raise ValueError("load must be in (0, 3]")
    if not 0 <= tightness <= 1:
        raise ValueError("tightness must be in [0, 1]")
    rng = random.Random(seed)  # draws: matrices, products, orders
    origin = datetime.combine(start, time(0), tzinfo=ZoneInfo(ZONE))
    calendars = _calendars()
    work = {c.id: _work_time(c, origin) for c in calendars}
    two = work["two-shift"]
    matrices = _setup_matrices(rng)
    templates = [*_subassembly_templates(), *_finished_templates(rng)]
    by_id = {t.id: t for t in templates}
    n_sub = orders // 6
    finished = _finished_specs(rng, orders - n_sub)
    subs, initial = _subassembly_specs(finished, by_id, n_sub)
    counts, plan = _size([*finished, *subs], by_id, matrices, work, load)
    _dates(finished, subs, by_id, two, plan, tightness)
    end = two.at(two.upto(plan) * (1 + max(1.0, load))) + 7 * 1440
    parts: dict[str, Any] = {
        "name": name or f"plant-{orders}-{seed}-load{load:g}-tight{tightness:g}",
        "horizon": Horizon(start=origin, end=_at(origin, end), tick_seconds=60, timezone=ZONE),
        "calendars": calendars,
        "default_calendar": "two-shift",
        "machine_groups": [
            MachineGroup(
                id=g.id,
                name=g.name,
                calendar=g.calendar,
                setup_matrix=g.id.lower() if g.matrix else None,
                off_shift_setup=g.off_shift,
            )
            for g in GROUPS
        ],
        "machines": _machines(counts, origin),
        "setup_matrices": matrices,
        "products": [_product(t, counts) for t in templates],
        "materials": _materials([*finished, *subs], by_id, initial, origin),
        "orders": _orders(finished, subs, origin, deadlines=False),
        "objective": Objective(
            terms=[
                WeightedTerm(term=ObjectiveTerm.WEIGHTED_TARDINESS, weight=10),
                WeightedTerm(term=ObjectiveTerm.MAKESPAN, weight=1),
            ]
        ),
    }
    plant = Plant(**parts)
    if _witnessed_deadlines(plant, finished):
        plant = Plant(**{**parts, "orders": _orders(finished, subs, origin)})
    return plant


def _witnessed_deadlines(plant: Plant, finished: list[_Spec]) -> bool:
    """Give the chosen orders their deadline, no earlier than the greedy witness (which
    does not read deadlines) finishes them: the deadlines are feasible by construction.

    False when no order gets one (none chosen, or no witness: then none gets one).
    """
    chosen = [(f"SO-{i + 1:0{max(3, len(str(len(finished))))}d}", s)
              for i, s in enumerate(finished) if s.hard]  # fmt: skip
    if not chosen:
        return False
    rows = witness(compile_plant(plant))
    if rows is None:
        for _, spec in chosen:
            spec.deadline = None
        return False
    done: dict[str, int] = defaultdict(int)
    for r in rows:
        done[str(r.job)] = max(done[str(r.job)], r.end)
    for order, spec in chosen:
        assert spec.deadline is not None
        spec.deadline = max(spec.deadline, _hour(done[order] + 119))
    return True


def _hour(minute: int) -> int:
    return minute - minute % 60


def _calendars() -> list[Calendar]:
    """Two shifts Mon–Fri, and three (Mon 06:00 to Sat 06:00) for the furnaces; holidays of
    Bavaria in both."""
    weekdays = [Weekday(d) for d in ("mon", "tue", "wed", "thu", "fri")]
    two = [
        Shift(days=weekdays, start=time(6), end=time(14), name="early"),
        Shift(days=weekdays, start=time(14), end=time(22), name="late"),
    ]
    return [
        Calendar(
            id="two-shift",
            timezone=ZONE,
            shifts=two,
            holiday_country="DE",
            holiday_subdivision="BY",
        ),
        Calendar(
            id="three-shift",
            timezone=ZONE,
            shifts=[*two, Shift(days=weekdays, start=time(22), end=time(6), name="night")],
            holiday_country="DE",
            holiday_subdivision="BY",
        ),
    ]


def _work_time(calendar: Calendar, origin: datetime) -> _Work:
    """The calendar's working minutes over two years from ``origin``."""
    base = origin.astimezone(UTC)
    spans = working_intervals(calendar, origin, origin + timedelta(days=730))
    minutes = [
        (int((a - base).total_seconds()) // 60, int((b - base).total_seconds()) // 60)
        for a, b in spans
    ]
    return _Work([a for a, _ in minutes], [b for _, b in minutes])


def _setup_matrices(rng: random.Random) -> dict[str, SetupTable]:
    """Family changeovers on the mills, paint lines (colours) and assembly, drawn."""
    out: dict[str, SetupTable] = {}
    for group, choices in (("mill", (30, 45, 60)), ("paint", (40, 60, 90)), ("assy", (20, 30))):
        out[group] = SetupTable(
            changeover={
                a: {b: timedelta(minutes=0 if a == b else rng.choice(choices)) for b in FAMILIES}
                for a in FAMILIES
            },
            initial={f: timedelta(minutes=min(choices)) for f in FAMILIES},
        )
    return out


# -- products -------------------------------------------------------------------------------


def _subassembly_templates() -> list[_Template]:
    """Shafts, frames and gear sets: short routings cut from bar, in lots."""
    bar = (("BAR", 1.0),)
    return [
        _Template("SHAFT", "Turned shaft", "pump", (
            _Step("cut", "SAW", setup=10, rate=0.5, consumes=bar),
            _Step("turn", "LATHE", setup=20, rate=1.5),
            _Step("harden", "HEAT", setup=0, fixed=120, rate=0.2, min_lag=120, max_lag=7200),
            _Step("grind", "GRIND", setup=15, rate=1.5, produces=(("SHAFT", 1.0),)),
        )),
        _Template("FRAME", "Welded frame", "housing", (
            _Step("cut", "SAW", setup=10, rate=0.8, consumes=(("BAR", 3.0),)),
            _Step("mill", "MILL", setup=20, rate=2.0),
            _Step("drill", "DRILL", setup=10, rate=1.0),
            _Step("wash", "WASH", setup=5, fixed=15, rate=0.2, produces=(("FRAME", 1.0),)),
        )),
        _Template("GEARSET", "Gear set", "gear", (
            _Step("cut", "SAW", setup=10, rate=0.5, consumes=bar),
            _Step("hob", "MILL", setup=25, rate=2.0),
            _Step("harden", "HEAT", setup=0, fixed=120, rate=0.2, min_lag=120, max_lag=7200),
            _Step("grind", "GRIND", setup=15, rate=1.8, produces=(("GEARSET", 1.0),)),
        )),
    ]  # fmt: skip


def _finished_templates(rng: random.Random) -> list[_Template]:
    """Four products in each family, their optional steps and rates drawn."""
    out: list[_Template] = []
    for family in FAMILIES:
        for k in range(4):
            pid = f"{family[:3].upper()}-{k + 1}"
            out.append(
                _Template(pid, f"{family.title()} {k + 1}", family, _finished_steps(rng, family))
            )
    return out


def _finished_steps(rng: random.Random, family: str) -> tuple[_Step, ...]:
    """Cut, turn, mill, [drill], [harden, grind], wash, [paint], [cover branch], assemble,
    test, pack."""
    steps = [
        _Step("saw", "SAW", setup=10, rate=rng.choice((1.0, 1.5, 2.0)), consumes=(("BAR", 2.0),)),
        _Step("turn", "LATHE", setup=15, rate=rng.choice((3.0, 4.5, 6.0))),
        _Step("mill", "MILL", setup=15, rate=rng.choice((4.0, 6.0, 9.0))),
    ]
    if rng.random() < 0.7:
        steps.append(_Step("drill", "DRILL", setup=10, rate=rng.choice((1.0, 2.0, 3.0))))
    if rng.random() < 0.6:
        steps.append(_Step("harden", "HEAT", setup=0, fixed=120, rate=0.5, min_lag=120,
                           max_lag=7200))  # fmt: skip
        steps.append(_Step("grind", "GRIND", setup=15, rate=rng.choice((2.0, 3.5, 5.0))))
    steps.append(_Step("wash", "WASH", setup=5, fixed=15, rate=0.3))
    if rng.random() < 0.7:
        steps.append(_Step("paint", "PAINT", setup=10, fixed=30, rate=1.0, min_lag=240,
                           consumes=(("PAINT", 0.2),)))  # fmt: skip
    merge: tuple[str, ...] | None = None
    if rng.random() < 0.5:
        merge = (steps[-1].id, "cover_mill")
        steps.append(_Step("cover_cut", "SAW", setup=10, rate=1.0, consumes=(("SHEET", 1.0),),
                           predecessors=()))  # fmt: skip
        steps.append(_Step("cover_mill", "MILL", setup=10, rate=rng.choice((2.0, 3.0, 4.0))))
    parts = ASSEMBLY_PARTS[family] + tuple(
        (item, 1.0) for item, (families, _) in INTERMEDIATES.items() if family in families
    )
    steps.append(_Step("assemble", "ASSY", setup=20, rate=rng.choice((8.0, 11.0, 15.0)),
                       interruptible=True, consumes=parts, predecessors=merge))  # fmt: skip
    steps.append(_Step("test", "TEST", setup=0, fixed=45, rate=1.5))
    steps.append(_Step("pack", "TEST", setup=0, duration=20))
    return tuple(steps)


def _speed(n: int) -> float:
    """A group's mean machine speed (rate divisor): fast first, slow last of three."""
    if n == 1:
        return 1.0
    factors = [FAST, *([SLOW] if n >= 3 else []), *[1.0] * (n - 2 if n >= 3 else n - 1)]
    return sum(1 / f for f in factors) / n


def _eligible(step: _Step, n: int) -> list[EligibleMachine]:
    """The group, with its first machine faster and (three or more) its last slower."""
    if step.rate == 0 or n == 1:
        return [EligibleMachine(machine=step.group)]
    out = [EligibleMachine(machine=f"{step.group}-1", run_per_unit=_min(step.rate * FAST))]
    if n >= 3:
        out.append(
            EligibleMachine(machine=f"{step.group}-{n}", run_per_unit=_min(step.rate * SLOW))
        )
    return [*out, EligibleMachine(machine=step.group)]


def _min(minutes: float) -> timedelta:
    return timedelta(seconds=round(minutes * 60))


def _product(t: _Template, counts: dict[str, int]) -> Product:
    """The product of template ``t`` on a plant with ``counts`` machines per group."""
    return Product(
        id=t.id,
        name=t.name,
        family=t.family,
        routing=[
            RoutingOperation(
                id=s.id,
                machines=_eligible(s, counts[s.group]),
                setup=_min(s.setup),
                run_per_unit=_min(s.rate) if s.rate else None,
                fixed_time=_min(s.fixed) if s.fixed else None,
                duration=_min(s.duration) if not s.rate else None,
                predecessors=None if s.predecessors is None else list(s.predecessors),
                min_lag=_min(s.min_lag),
                max_lag=None if s.max_lag is None else _min(s.max_lag),
                interruptible=s.interruptible,
                consumes=[Flow(material=m, per_unit=q) for m, q in s.consumes],
                produces=[Flow(material=m, per_unit=q) for m, q in s.produces],
            )
            for s in t.steps
        ],
    )


# -- orders ---------------------------------------------------------------------------------


def _finished_specs(rng: random.Random, count: int) -> list[_Spec]:
    """Product, quantity, weight and release point of ``count`` finished orders; the first
    make every product once, about one in twelve early ones gets a deadline."""
    ids = [f"{family[:3].upper()}-{k + 1}" for family in FAMILIES for k in range(4)]
    specs: list[_Spec] = []
    for i in range(count):
        pid = ids[i] if i < len(ids) else rng.choice(ids)
        share = rng.uniform(0, RELEASE_SHARE)
        specs.append(
            _Spec(
                product=pid,
                quantity=rng.randint(5, 40),
                weight=rng.choice((1, 1, 2, 3)),
                share=share,
                hard=i % 12 == 5 and share < 0.3,
            )
        )
    return specs


def _intermediate_demand(
    finished: list[_Spec], by_id: dict[str, _Template]
) -> dict[str, list[tuple[float, int]]]:
    """Per intermediate, (release point, quantity) of each finished order using it."""
    out: dict[str, list[tuple[float, int]]] = {item: [] for item in INTERMEDIATES}
    for spec in finished:
        for item, (families, _) in INTERMEDIATES.items():
            if by_id[spec.product].family in families:
                out[item].append((spec.share, spec.quantity))
    return {item: sorted(uses) for item, uses in out.items()}


def _subassembly_specs(
    finished: list[_Spec], by_id: dict[str, _Template], count: int
) -> tuple[list[_Spec], dict[str, int]]:
    """``count`` subassembly lots over the intermediates by demand, and their initial stock.

    Stock covers the orders released in the first 5 % of the plan and what capped lots do
    not make; lot ``k`` of an item is needed when its consumers have drawn ``k`` lots.
    """
    demand = _intermediate_demand(finished, by_id)
    initial = {item: sum(q for x, q in uses if x < 0.05) for item, uses in demand.items()}
    rest = {item: sum(q for _, q in uses) - initial[item] for item, uses in demand.items()}
    lots = _split(count, rest)
    subs: list[_Spec] = []
    for item, uses in demand.items():
        if lots[item] == 0:
            initial[item] += rest[item]
            continue
        lot = math.ceil(1.05 * rest[item] / lots[item])
        if lot > MAX_LOT:
            initial[item] += rest[item] - MAX_LOT * lots[item]
            lot = MAX_LOT
        drawn, k = initial[item], 0
        for share, quantity in uses:
            drawn += quantity
            while k < lots[item] and drawn > initial[item] + k * lot:
                subs.append(_Spec(product=item, quantity=lot, weight=2, share=share))
                k += 1
        subs.extend(_Spec(product=item, quantity=lot, weight=2, share=RELEASE_SHARE)
                    for _ in range(k, lots[item]))  # fmt: skip
    return subs, initial


def _split(count: int, weights: dict[str, int]) -> dict[str, int]:
    """``count`` split in proportion to ``weights`` (largest remainders)."""
    total = sum(w for w in weights.values() if w > 0)
    if total == 0:
        return dict.fromkeys(weights, 0)
    exact = {k: count * max(0, w) / total for k, w in weights.items()}
    out = {k: int(v) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: out[k] - exact[k])[: count - sum(out.values())]:
        out[k] += 1
    return out


def _path(t: _Template, quantity: int) -> float:
    """The longest path of the routing at nominal speed, with minimum lags (minutes)."""
    steps = {s.id: s for s in t.steps}
    done: dict[str, float] = {}
    for k, s in enumerate(t.steps):  # templates list predecessors before their successors
        if s.predecessors is not None:
            preds = list(s.predecessors)
        else:
            preds = [t.steps[k - 1].id] if k else []
        before = max((done[p] + steps[p].min_lag for p in preds), default=0.0)
        done[s.id] = before + s.busy(quantity)
    return max(done.values())


# -- load, dates ----------------------------------------------------------------------------


def _group_work(
    specs: list[_Spec], by_id: dict[str, _Template], matrices: dict[str, SetupTable]
) -> tuple[dict[str, float], dict[str, float]]:
    """Per group, the minutes of work that do not depend on machine speed (setups, part of
    the changeovers, fixed parts) and those that do (``quantity × rate``)."""
    change: dict[str, float] = {}
    for g in GROUPS:
        if g.matrix:
            times = [d.total_seconds() / 60 for row in matrices[g.id.lower()].changeover.values()
                     for d in row.values() if d]  # fmt: skip
            change[g.id] = CHANGE_SHARE * sum(times) / max(1, len(times))
    fixed: dict[str, float] = defaultdict(float)
    rated: dict[str, float] = defaultdict(float)
    for spec in specs:
        for step in by_id[spec.product].steps:
            fixed[step.group] += step.setup + step.fixed + step.duration
            fixed[step.group] += change.get(step.group, 0.0)
            rated[step.group] += spec.quantity * step.rate
    return fixed, rated


def _size(
    specs: list[_Spec],
    by_id: dict[str, _Template],
    matrices: dict[str, SetupTable],
    work: dict[str, _Work],
    load: float,
) -> tuple[dict[str, int], int]:
    """Machines per group for a plan of :data:`PLAN_WEEKS`, and the plan end (minutes)
    at which the busiest group is exactly ``load`` busy."""
    fixed, rated = _group_work(specs, by_id, matrices)
    weeks = PLAN_WEEKS * 7 * 1440
    counts: dict[str, int] = {}
    busy: dict[str, float] = {}
    for g in GROUPS:
        cap = load * g.share * work[g.calendar].upto(weeks)
        n = max(1, math.ceil((fixed[g.id] + rated[g.id]) / cap))
        n = max(1, math.ceil((fixed[g.id] + rated[g.id] / _speed(n)) / cap))
        counts[g.id], busy[g.id] = n, fixed[g.id] + rated[g.id] / _speed(n)

    def fits(end: int) -> bool:
        return all(busy[g.id] <= load * counts[g.id] * work[g.calendar].upto(end) for g in GROUPS)

    lo, hi = 60, 700 * 1440
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if fits(mid) else (mid + 1, hi)
    return counts, lo


def _dates(
    finished: list[_Spec],
    subs: list[_Spec],
    by_id: dict[str, _Template],
    two: _Work,
    plan: int,
    tightness: float,
) -> None:
    """Releases, due dates and deadlines in minutes (in place; see the module docstring)."""
    span = two.upto(plan)
    for spec in finished:
        spec.release = _hour(two.at(spec.share * span))
        p, w = _path(by_id[spec.product], spec.quantity), two.upto(spec.release)
        spec.due = two.at(w + p + (1 - tightness) * max(0.0, span - w - p))
        if spec.hard:  # the first of _witnessed_deadlines' bounds
            spec.deadline = two.at(max(w + p + 0.5 * span, two.upto(spec.due) + 960))
    for spec in subs:  # released a working week before needed, due a shift before
        needed = two.upto(two.at(spec.share * span))
        spec.release = _hour(two.at(max(0, needed - 5 * 960)))
        p, w = _path(by_id[spec.product], spec.quantity), two.upto(spec.release)
        spec.due = two.at(max(w + p, needed - 480))


# -- machines, materials, orders ------------------------------------------------------------


def _at(origin: datetime, minutes: int) -> datetime:
    """``minutes`` of elapsed time after ``origin``, in the plant's zone."""
    return (origin.astimezone(UTC) + timedelta(minutes=minutes)).astimezone(ZoneInfo(ZONE))


#: maintenance: group, machine number, day after the start, local hours
MAINTENANCE = (("MILL", 1, 9, 6, 14), ("GRIND", 1, 16, 6, 14), ("LATHE", 1, 23, 14, 22))


def _machines(counts: dict[str, int], origin: datetime) -> list[PlantMachine]:
    """``counts`` machines per group; three have a maintenance window."""
    zone = ZoneInfo(ZONE)
    service: dict[str, list[DateTimeWindow]] = defaultdict(list)
    for group, k, day, a, b in MAINTENANCE:
        d = origin.date() + timedelta(days=day)
        service[f"{group}-{k}"].append(
            DateTimeWindow(
                start=datetime.combine(d, time(a), tzinfo=zone),
                end=datetime.combine(d, time(b), tzinfo=zone),
                reason="service",
            )
        )
    return [
        PlantMachine(
            id=f"{g.id}-{k + 1}",
            name=f"{g.name} {k + 1}",
            group=g.id,
            maintenance=service.get(f"{g.id}-{k + 1}", []),
        )
        for g in GROUPS
        for k in range(counts[g.id])
    ]


def _materials(
    specs: list[_Spec], by_id: dict[str, _Template], initial: dict[str, int], origin: datetime
) -> list[StockItem]:
    """Purchased items (30 % in stock, the rest arriving each Monday 05:00 for the week's
    releases, 5 % extra) and the intermediates' initial stock."""
    week = 7 * 1440
    draws: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for spec in specs:
        for step in by_id[spec.product].steps:
            for material, per_unit in step.consumes:
                if material in PURCHASED:
                    draws[material].append((spec.release, math.ceil(per_unit * spec.quantity)))
    out: list[StockItem] = []
    for material, unit in PURCHASED.items():
        uses = sorted(draws[material])
        stock = math.ceil(0.3 * sum(q for _, q in uses))
        receipts: list[StockReceipt] = []
        supplied, need = stock, 0
        for w in range(uses[-1][0] // week + 1 if uses else 0):
            need += sum(q for t, q in uses if w * week <= t < (w + 1) * week)
            extra = math.ceil(1.05 * need) - supplied
            if extra > 0:
                receipts.append(StockReceipt(at=_at(origin, w * week + 300), quantity=extra))
                supplied += extra
        out.append(StockItem(id=material, name=material.title().replace("-", " "), unit=unit,
                             initial_stock=stock, receipts=receipts))  # fmt: skip
    for item in INTERMEDIATES:
        out.append(StockItem(id=item, name=f"{item.title()} (in-house)", unit="pcs",
                             initial_stock=max(0, initial[item])))  # fmt: skip
    return out


def _orders(
    finished: list[_Spec], subs: list[_Spec], origin: datetime, deadlines: bool = True
) -> list[Order]:
    """Subassembly lots ``SA-…`` first, then the finished orders ``SO-…`` (with their
    deadlines, unless ``deadlines`` is off)."""
    out: list[Order] = []
    for prefix, specs in (("SA", subs), ("SO", finished)):
        width = max(3, len(str(len(specs))))
        for i, spec in enumerate(specs):
            out.append(
                Order(
                    id=f"{prefix}-{i + 1:0{width}d}",
                    product=spec.product,
                    quantity=spec.quantity,
                    release=_at(origin, spec.release),
                    due=_at(origin, spec.due),
                    deadline=None
                    if spec.deadline is None or not deadlines
                    else _at(origin, spec.deadline),
                    weight=spec.weight,
                )
            )
    return out
