"""What a planner reads after a solve: operations, orders, machines, stock and KPIs.

Everything is computed from the :class:`~aps.model.Problem` and the
:class:`~aps.result.Result` alone (no solver), in ticks and, when the problem has a
``time`` base, in local datetimes through the same calendar layer that built the ticks.
Plain job shops (no ``time``) get ticks only.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from typing import Any

from pydantic import BaseModel, Field

from aps.clock import Clock
from aps.model import Id, Job, Machine, Mode, Operation, Problem
from aps.result import Result, ScheduledOperation
from aps.worktime import TickCalendar


class Pause(BaseModel):
    start: int
    end: int
    reason: str | None = None
    start_at: str | None = None
    end_at: str | None = None


class OperationReport(BaseModel):
    """One scheduled operation. Setup is ``[setup_start, start)``, the run ``[start, end)``."""

    order: Id
    operation: Id
    machine: Id
    machine_name: str | None = None
    setup_start: int
    start: int
    end: int
    setup_ticks: int
    run_ticks: int = Field(description="working ticks of the run (pauses excluded)")
    pauses: list[Pause] = Field(default_factory=list)
    setup_start_at: str | None = None
    start_at: str | None = None
    end_at: str | None = None


class OrderReport(BaseModel):
    """Completion and lateness of one order (job); lateness < 0 means early."""

    order: Id
    product: str | None = None
    quantity: int | None = None
    release: int
    due: int | None = None
    deadline: int | None = None
    weight: int
    completion: int | None = None
    lateness: int | None = None
    tardiness: int = 0
    late: bool = False
    release_at: str | None = None
    due_at: str | None = None
    completion_at: str | None = None
    lateness_hours: float | None = None


class MachineReport(BaseModel):
    """Load of one machine over ``[0, makespan)``; utilisation = busy / working time."""

    machine: Id
    name: str | None = None
    group: str | None = None
    operations: int
    run_ticks: int
    setup_ticks: int
    working_ticks: int
    utilisation: float


class StockPoint(BaseModel):
    time: int
    at: str | None = None
    change: int
    level: int
    event: str  # initial, receipt, consume, produce
    ref: str | None = None


class MaterialReport(BaseModel):
    material: Id
    name: str | None = None
    unit: str | None = None
    minimum: int
    final: int
    profile: list[StockPoint]


class Kpis(BaseModel):
    status: str
    objective: float | None = None
    bound: float | None = None
    gap: float | None = None
    makespan: int | None = None
    makespan_at: str | None = None
    weighted_tardiness: int = 0
    late_orders: int = 0
    total_flow_time: int = 0
    setup_time: int = 0
    utilisation: float | None = None
    tick_seconds: int | None = None


class Report(BaseModel):
    """The full report of one solve."""

    name: str
    kpis: Kpis
    operations: list[OperationReport]
    orders: list[OrderReport]
    machines: list[MachineReport]
    materials: list[MaterialReport]


def _iso(clock: Clock | None, tick: int | None) -> str | None:
    if clock is None or tick is None:
        return None
    return clock.to_datetime(tick).isoformat()


def clock_for(problem: Problem) -> Clock | None:
    """The problem's tick clock, or None for plain tick problems."""
    return Clock.from_timebase(problem.time) if problem.time is not None else None


def _lookup(problem: Problem) -> dict[tuple[Id, Id], tuple[Job, Operation]]:
    return {(j.id, o.id): (j, o) for j in problem.jobs for o in j.operations}


def build_report(problem: Problem, result: Result) -> Report:
    """Assemble the report of ``result`` for ``problem``.

    Parameters
    ----------
    problem
        The problem that was solved (factory-compiled or a plain job shop).
    result
        Its result; an empty schedule gives empty tables and the status.
    """
    clock = clock_for(problem)
    cals = {m.id: TickCalendar(m.unavailable) for m in problem.machines}
    rows = sorted(result.schedule, key=lambda r: (r.busy_from, str(r.machine)))
    makespan = max((r.end for r in rows), default=None)
    ops = _operations(problem, rows, cals, clock)
    orders = _orders(problem, rows, clock)
    machine_rows = _machines(problem, ops, cals, makespan or 0)
    materials = _materials(problem, rows, clock)
    busy = sum(m.run_ticks + m.setup_ticks for m in machine_rows)
    working = sum(m.working_ticks for m in machine_rows if m.operations)
    kpis = Kpis(
        status=str(result.status),
        objective=result.objective,
        bound=result.bound,
        gap=result.gap,
        makespan=makespan,
        makespan_at=_iso(clock, makespan),
        weighted_tardiness=sum(o.weight * o.tardiness for o in orders),
        late_orders=sum(o.late for o in orders),
        total_flow_time=sum((o.completion - o.release) for o in orders if o.completion is not None),
        setup_time=sum(o.setup_ticks for o in ops),
        utilisation=round(busy / working, 4) if working else None,
        tick_seconds=clock.tick_seconds if clock else None,
    )
    return Report(
        name=result.name,
        kpis=kpis,
        operations=ops,
        orders=orders,
        machines=machine_rows,
        materials=materials,
    )


def _operations(
    problem: Problem,
    rows: list[ScheduledOperation],
    cals: dict[Id, TickCalendar],
    clock: Clock | None,
) -> list[OperationReport]:
    """One report per scheduled row, the pauses of interruptible runs listed."""
    lookup = _lookup(problem)
    machines = {m.id: m for m in problem.machines}
    ops: list[OperationReport] = []
    for r in rows:
        job_op = lookup.get((r.job, r.op))
        interruptible = job_op[1].interruptible if job_op else False
        cal = cals.get(r.machine) or TickCalendar([])
        pauses = cal.pauses(r.start, r.end) if interruptible else []
        ops.append(
            OperationReport(
                order=r.job,
                operation=r.op,
                machine=r.machine,
                machine_name=machines[r.machine].name if r.machine in machines else None,
                setup_start=r.busy_from,
                start=r.start,
                end=r.end,
                setup_ticks=r.start - r.busy_from,
                run_ticks=(r.end - r.start) - sum(p.end - p.start for p in pauses),
                pauses=[
                    Pause(
                        start=p.start,
                        end=p.end,
                        reason=p.reason,
                        start_at=_iso(clock, p.start),
                        end_at=_iso(clock, p.end),
                    )
                    for p in pauses
                ],
                setup_start_at=_iso(clock, r.busy_from),
                start_at=_iso(clock, r.start),
                end_at=_iso(clock, r.end),
            )
        )
    return ops


def _orders(
    problem: Problem, rows: list[ScheduledOperation], clock: Clock | None
) -> list[OrderReport]:
    done: dict[Id, int] = {}
    for r in rows:
        done[r.job] = max(done.get(r.job, r.end), r.end)
    meta: dict[str, Any] = problem.metadata.get("orders", {}) if problem.metadata else {}
    out: list[OrderReport] = []
    for job in problem.jobs:
        c = done.get(job.id)
        lateness = c - job.due if c is not None and job.due is not None else None
        info = meta.get(str(job.id), {}) if isinstance(meta, dict) else {}
        out.append(
            OrderReport(
                order=job.id,
                product=info.get("product"),
                quantity=info.get("quantity"),
                release=job.release,
                due=job.due,
                deadline=job.deadline,
                weight=job.weight,
                completion=c,
                lateness=lateness,
                tardiness=max(0, lateness or 0),
                late=lateness is not None and lateness > 0,
                release_at=_iso(clock, job.release),
                due_at=_iso(clock, job.due),
                completion_at=_iso(clock, c),
                lateness_hours=round(lateness * clock.tick_seconds / 3600, 2)
                if clock is not None and lateness is not None
                else None,
            )
        )
    return out


def _machines(
    problem: Problem, ops: list[OperationReport], cals: dict[Id, TickCalendar], makespan: int
) -> list[MachineReport]:
    by: dict[Id, list[OperationReport]] = defaultdict(list)
    for o in ops:
        by[o.machine].append(o)
    out: list[MachineReport] = []
    for m in problem.machines:
        mine = by.get(m.id, [])
        run = sum(o.run_ticks for o in mine)
        setup = sum(o.setup_ticks for o in mine)
        working = cals[m.id].working(0, makespan)
        in_shift = setup  # but setups done off shift use no working time
        if m.off_shift_setup:
            in_shift = sum(cals[m.id].working(o.setup_start, o.start) for o in mine)
        out.append(
            MachineReport(
                machine=m.id,
                name=m.name,
                group=m.group,
                operations=len(mine),
                run_ticks=run,
                setup_ticks=setup,
                working_ticks=working,
                utilisation=round((run + in_shift) / working, 4) if working else 0.0,
            )
        )
    return out


def _materials(
    problem: Problem, rows: list[ScheduledOperation], clock: Clock | None
) -> list[MaterialReport]:
    """Stock over time; at one tick arrivals come before draws (as the validator counts)."""
    if not problem.materials:
        return []
    lookup = _lookup(problem)
    events: dict[Id, list[tuple[int, int, int, str, str | None]]] = defaultdict(list)
    for mat in problem.materials:
        for rec in mat.receipts:
            events[mat.id].append((rec.time, 0, rec.quantity, "receipt", None))
    for r in rows:
        job_op = lookup.get((r.job, r.op))
        if job_op is None:
            continue
        _, op = job_op
        ref = f"{r.job}/{r.op}"
        for f in op.consumes:
            events[f.material].append((r.start, 1, -f.quantity, "consume", ref))
        for f in op.produces:
            events[f.material].append((r.end, 0, f.quantity, "produce", ref))
    units: dict[str, str] = problem.metadata.get("units", {}) if problem.metadata else {}
    out: list[MaterialReport] = []
    for mat in problem.materials:
        level = mat.initial
        points = [
            StockPoint(time=0, at=_iso(clock, 0), change=mat.initial, level=level, event="initial")
        ]
        lowest = level
        for t, _, delta, kind, who in sorted(events[mat.id], key=lambda e: (e[0], e[1])):
            level += delta
            lowest = min(lowest, level)
            points.append(
                StockPoint(
                    time=t, at=_iso(clock, t), change=delta, level=level, event=kind, ref=who
                )
            )
        out.append(
            MaterialReport(
                material=mat.id,
                name=mat.name,
                unit=units.get(str(mat.id)),
                minimum=lowest,
                final=level,
                profile=points,
            )
        )
    return out


# -- output formats -----------------------------------------------------------------------


def report_csv(report: Report, table: str = "operations") -> str:
    """One table of the report as CSV: operations, orders, machines or stock."""
    buf = io.StringIO()
    if table == "stock":
        w = csv.writer(buf)
        w.writerow(["material", "time", "at", "change", "level", "event", "ref"])
        for m in report.materials:
            for p in m.profile:
                w.writerow(
                    [m.material, p.time, p.at or "", p.change, p.level, p.event, p.ref or ""]
                )
        return buf.getvalue()
    items: list[BaseModel] = {
        "operations": report.operations,
        "orders": report.orders,
        "machines": report.machines,
    }.get(table, [])  # type: ignore[assignment]
    if table not in ("operations", "orders", "machines"):
        raise ValueError(f"unknown table {table!r}; use operations, orders, machines or stock")
    rows = [i.model_dump(mode="json") for i in items]
    for r in rows:
        if "pauses" in r:
            r["pauses"] = ";".join(f"{p['start']}-{p['end']}" for p in r["pauses"])
    fields = list(rows[0]) if rows else []
    w2 = csv.DictWriter(buf, fieldnames=fields)
    w2.writeheader()
    w2.writerows(rows)
    return buf.getvalue()


def _hours(ticks: int | None, k: Kpis) -> str:
    if ticks is None:
        return "-"
    if k.tick_seconds is None:
        return f"{ticks} ticks"
    return f"{ticks * k.tick_seconds / 3600:.1f} h"


def report_text(report: Report, limit: int = 20) -> str:
    """A compact plain-text summary for the terminal."""
    k = report.kpis
    gap = "-" if k.gap is None else f"{100 * k.gap:.2f}%"
    util = "-" if k.utilisation is None else f"{100 * k.utilisation:.1f}%"
    lines = [
        f"{report.name}: {k.status}  objective {k.objective}  bound {k.bound}  gap {gap}",
        f"makespan {k.makespan} ({k.makespan_at or 'ticks'})  weighted tardiness "
        f"{_hours(k.weighted_tardiness, k)}  late orders {k.late_orders}/{len(report.orders)}  "
        f"setup {_hours(k.setup_time, k)}  utilisation {util}",
        "",
        "orders (latest first):",
    ]

    def latest(o: OrderReport) -> int:
        return -(10**12) if o.lateness is None else o.lateness

    for o in sorted(report.orders, key=latest, reverse=True)[:limit]:
        done = o.completion_at or o.completion
        lines.append(
            f"  {o.order!s:<12} {o.product or '':<10} done {done}"
            f"  due {o.due_at or o.due}  lateness {_hours(o.lateness, k)}"
            + ("  LATE" if o.late else "")
        )
    lines.append("")
    lines.append("machines:")
    for m in report.machines:
        lines.append(
            f"  {m.machine!s:<10} {m.group or '':<6} ops {m.operations:>4}  "
            f"run {_hours(m.run_ticks, k):>9}  setup {_hours(m.setup_ticks, k):>8}  "
            f"utilisation {100 * m.utilisation:5.1f}%"
        )
    if report.materials:
        lines.append("")
        lines.append("materials:")
        for mat in report.materials:
            lines.append(
                f"  {mat.material!s:<10} min {mat.minimum:>6}  final {mat.final:>6} "
                f"{mat.unit or ''}"
            )
    return "\n".join(lines) + "\n"


def problem_from_schedule(result: Result) -> Problem:
    """A stand-in problem when only a result is at hand (ticks, no calendars).

    Lets ``aps gantt RESULT`` and ``aps report RESULT`` draw a schedule without its problem;
    downtime, pauses and datetimes need the real problem.
    """

    machines = list(dict.fromkeys(r.machine for r in result.schedule))
    jobs: dict[Id, list[Operation]] = defaultdict(list)
    for r in sorted(result.schedule, key=lambda r: r.start):
        jobs[r.job].append(
            Operation(
                id=r.op, modes=[Mode(machine=r.machine, duration=r.end - r.start)], predecessors=[]
            )
        )
    if not machines:
        raise ValueError("the result has no schedule to show")
    return Problem(
        name=result.name,
        machines=[Machine(id=m) for m in machines],
        jobs=[Job(id=j, operations=ops) for j, ops in jobs.items()],
    )
