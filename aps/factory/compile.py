"""Compiling a plant into the solver's tick model (:class:`~aps.model.Problem`).

Conventions (documented in ``docs/planner-guide.md``):

* Durations (setup, run time, changeovers) are *working* time, rounded up to ticks. A run
  lasts ``fixed_time + quantity × run_per_unit`` (rounded up once) or a fixed
  ``duration``; on machines with ``off_shift_setup`` setups may also use off-shift time.
* Lags between operations (transfer, curing, cooling) are *elapsed* time: curing goes on
  over the weekend. ``min_lag`` rounds up, ``max_lag`` rounds down.
* Releases and receipts round up to the next tick, due dates and deadlines down.
* Component and product quantities are ``per_unit × order quantity`` rounded up.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta
from typing import Any

from aps.clock import Clock, micros
from aps.factory.calendar import Calendar, Shift, Weekday, unavailable_windows
from aps.factory.model import (
    EligibleMachine,
    Flow,
    Order,
    OrderStatus,
    Plant,
    PlantMachine,
    Product,
    RoutingOperation,
    routing_predecessors,
)
from aps.model import (
    MAX_TICK,
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


def machine_off_shift_setup(plant: Plant, machine: PlantMachine) -> bool:
    """Whether the machine's setups may run off shift: its own flag, else its group's."""
    if machine.off_shift_setup is not None:
        return machine.off_shift_setup
    groups = {g.id: g for g in plant.machine_groups}
    group = groups.get(machine.group) if machine.group else None
    return group.off_shift_setup if group else False


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


def _flows(
    order: Order, op_id: str, flows: Sequence[Flow], verb: str, issues: list[str]
) -> list[MaterialFlow]:
    """The flows of one operation for the order's quantity; one over the model's limit
    is an issue (named), not an exception."""
    out: list[MaterialFlow] = []
    for f in flows:
        quantity = _qty(f.per_unit, order.quantity)
        if quantity > MAX_TICK:
            issues.append(
                f"order {order.id!r} operation {op_id!r} {verb} {quantity} of {f.material!r} "
                f"({f.per_unit:g} per unit × quantity {order.quantity}); at most {MAX_TICK}"
            )
            continue
        out.append(MaterialFlow(material=f.material, quantity=quantity))
    return out


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
    machines = _machines(plant, clock, horizon)
    matrices = _setup_matrices(plant, clock)
    materials = _materials(plant, clock)
    issues: list[str] = []
    jobs, meta_orders = _jobs(plant, clock, horizon, end, issues)
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


def _machines(plant: Plant, clock: Clock, horizon: int) -> list[Machine]:
    """Machines with their calendar's off-shift time and maintenance as unavailable."""
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
                off_shift_setup=machine_off_shift_setup(plant, m),
            )
        )
    return machines


def _setup_matrices(plant: Plant, clock: Clock) -> dict[str, SetupMatrix]:
    return {
        name: SetupMatrix(
            changeover={
                a: {b: clock.ticks(d) for b, d in row.items()} for a, row in t.changeover.items()
            },
            initial={b: clock.ticks(d) for b, d in t.initial.items()},
        )
        for name, t in plant.setup_matrices.items()
    }


def _materials(plant: Plant, clock: Clock) -> list[Material]:
    """Stock in ticks; receipts at or before the start count as initial stock."""
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
    return materials


def _jobs(
    plant: Plant, clock: Clock, horizon: int, end: datetime, issues: list[str]
) -> tuple[list[Job], dict[str, dict[str, Any]]]:
    """A job per order not done, and its product, quantity and status for the metadata.

    An order whose dates or operations cannot be compiled adds to ``issues`` instead.
    """
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
    return jobs, meta_orders


def _compile_ops(
    resources: dict[str, list[str]],
    order: Order,
    prod: Product,
    clock: Clock,
    issues: list[str],
) -> list[Operation]:
    """The order's operations not yet done; a plain chain keeps ``predecessors=None``."""
    done = set(order.completed_operations)
    preds = routing_predecessors(prod)
    by_id = {op.id: op for op in prod.routing}
    out: list[Operation] = []
    kept: list[str] = []
    for i, op in enumerate(prod.routing):
        if op.id in done:
            continue
        modes = _modes(resources, order, op, clock, issues)
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
                consumes=_flows(order, op.id, op.consumes, "consumes", issues),
                produces=_flows(order, op.id, op.produces, "produces", issues),
            )
        )
        kept.append(op.id)
    return out


def _modes(
    resources: dict[str, list[str]],
    order: Order,
    op: RoutingOperation,
    clock: Clock,
    issues: list[str],
) -> list[Mode]:
    """One mode per eligible machine (groups expanded), its run time for the quantity.

    A run time beyond any plan is an issue, and ends the list there.
    """
    modes: list[Mode] = []
    seen: set[str] = set()
    for em in op.machines:
        for mid in resources.get(em.machine, []):
            if mid in seen:
                continue
            seen.add(mid)
            duration, fixed, per_unit = run_time(op, em)
            if duration is not None:
                run_ticks = clock.ticks(duration)
            else:  # exact integer arithmetic: quantity × per-unit time may be huge
                total = micros(fixed) + micros(per_unit) * order.quantity
                run_ticks = -(-total // (clock.tick_seconds * 1_000_000))
            if run_ticks > MAX_TICKS:
                issues.append(
                    f"order {order.id!r} operation {op.id!r}: {fixed} + {order.quantity} × "
                    f"{per_unit} is beyond any plan ({run_ticks} ticks)"
                )
                break
            setup = em.setup if em.setup is not None else op.setup
            modes.append(Mode(machine=mid, duration=run_ticks, setup=clock.ticks(setup)))
    return modes


def run_time(
    op: RoutingOperation, em: EligibleMachine
) -> tuple[timedelta | None, timedelta, timedelta]:
    """The run time of ``op`` on the machine entry ``em``: ``(duration, fixed, per_unit)``.

    A ``duration`` (the machine's, else the operation's when the machine gives no rate)
    is the whole run, whatever the quantity; otherwise the run lasts ``fixed +
    quantity × per_unit``, each taken from the machine entry, else from the operation
    (the model refuses combinations where one of them would be ignored).
    """
    if em.duration is not None:
        return em.duration, timedelta(0), timedelta(0)
    if em.run_per_unit is None and op.duration is not None:
        return op.duration, timedelta(0), timedelta(0)
    per_unit = em.run_per_unit if em.run_per_unit is not None else op.run_per_unit
    fixed = em.fixed_time if em.fixed_time is not None else op.fixed_time
    return None, fixed or timedelta(0), per_unit or timedelta(0)


#: Durations beyond this many ticks (about 2 million years of minutes) are input errors.
MAX_TICKS = 2**40


def _lag(pred_id: str, pred: RoutingOperation, clock: Clock) -> Lag:
    """Lags are elapsed time: min rounds up, max rounds down (never promise too much)."""
    max_lag = None if pred.max_lag is None else clock.ticks(pred.max_lag, "floor")
    return Lag(op=pred_id, min_lag=clock.ticks(pred.min_lag, "ceil"), max_lag=max_lag)


#: The calendar of a machine nobody gave one: always working (maintenance still applies).
ALWAYS = Calendar(
    id="always", shifts=[Shift(days=list(Weekday), start=time(0), end=time(0), name="24/7")]
)
