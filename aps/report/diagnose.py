"""Infeasibility explained *before* solving.

A solver that says INFEASIBLE after a minute helps nobody; most impossible plans fail
for a reason a planner can fix in seconds: a step longer than any shift it could run in,
a component that never arrives in the quantity needed, a deadline before the release
plus the minimum processing time, a reference to a machine that does not exist. These
checks are cheap (no search), look at one order or one material at a time, and name the
order, operation, machine and material involved. They are necessary conditions only: a
plan without findings can still be infeasible through interactions (capacity), which
the solver's post-solve explanation covers.
"""

from __future__ import annotations

from collections import defaultdict
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel

from aps.bounds import horizon_of
from aps.factory.compile import CompileError, compile_plant
from aps.factory.model import Plant
from aps.heuristics.graph import shortest_tails, topological_order
from aps.io.bundle.tables import BundleError
from aps.io.load import load_problem
from aps.io.load import load_problem as load_any
from aps.model import Id, Job, Machine, Mode, Operation, Problem
from aps.worktime import TickCalendar, longest_working_window


class Severity(StrEnum):
    ERROR = "error"  # the plan cannot be feasible
    WARNING = "warning"  # feasible maybe, but something will not go as the planner hopes


class Finding(BaseModel):
    """One cause, named in the planner's terms."""

    code: str
    severity: Severity = Severity.ERROR
    message: str
    order: Id | None = None
    operation: Id | None = None
    machine: Id | None = None
    material: Id | None = None

    def __str__(self) -> str:
        return f"{self.severity.value}: [{self.code}] {self.message}"


def _fmt(problem: Problem, tick: int) -> str:
    if problem.time is None:
        return f"tick {tick}"
    return f"{problem.time.to_datetime(tick).isoformat(timespec='minutes')} (tick {tick})"


def _dur(problem: Problem, ticks: int) -> str:
    if problem.time is None:
        return f"{ticks} ticks"
    minutes = ticks * problem.time.tick_seconds / 60
    return f"{minutes / 60:.1f} h" if minutes >= 120 else f"{minutes:g} min"


def earliest_finish(
    machine: Machine,
    mode: Mode,
    interruptible: bool,
    start: int,
    horizon: int,
    cal: TickCalendar | None = None,
) -> int | None:
    """Earliest end of ``mode`` on ``machine`` started no earlier than ``start``.

    Setup must sit in working time right before the run (as the validator wants; with
    ``off_shift_setup`` it may take the ticks right before the run anywhere); a
    non-interruptible run must fit in the same working window. None if not before
    ``horizon``.
    """
    cal = cal or TickCalendar(machine.unavailable)
    if machine.off_shift_setup:  # the setup in elapsed ticks, then the run alone
        start, mode = start + mode.setup, Mode(machine=mode.machine, duration=mode.duration)
    t = cal.next_working(start)
    need = mode.setup + mode.duration if not interruptible else mode.setup
    while t < horizon:
        # the working window that contains t
        nxt = next((w.start for w in cal.windows if w.start >= t), horizon)
        if nxt - t >= need:
            if not interruptible:
                return t + need
            end = cal.add_working(t + mode.setup, mode.duration)
            return end if end <= horizon else None
        after = next((w.end for w in cal.windows if w.start >= t), None)
        if after is None:
            break
        t = after
    return None


def diagnose(problem: Problem) -> list[Finding]:
    """Run every pre-solve check on a tick-level problem.

    Returns
    -------
    list[Finding]
        Errors first; empty means no obvious cause of infeasibility was found.
    """
    out: list[Finding] = []
    horizon = horizon_of(problem)
    machines = {m.id: m for m in problem.machines}
    cals = {m.id: TickCalendar(m.unavailable) for m in problem.machines}
    longest = {m.id: longest_working_window(m.unavailable, horizon) for m in problem.machines}
    for job in problem.jobs:
        out.extend(_job_checks(problem, job, machines, cals, longest, horizon))
    out.extend(_material_checks(problem))
    out.extend(_capacity_checks(problem, cals, horizon))
    return sorted(out, key=lambda f: f.severity != Severity.ERROR)


def _job_checks(
    problem: Problem,
    job: Job,
    machines: dict[Id, Machine],
    cals: dict[Id, TickCalendar],
    longest: dict[Id, int],
    horizon: int,
) -> list[Finding]:
    """One order alone on the plant: steps that fit no window, the horizon, its dates."""
    out = _window_checks(problem, job, machines, longest)
    if out:
        return out
    ef, beyond = _earliest_finishes(problem, job, machines, cals, horizon)
    if beyond is not None:
        return [beyond]
    if len(ef) == len(job.operations):
        out.extend(_date_checks(problem, job, max(ef.values())))
    return out


def _window_checks(
    problem: Problem, job: Job, machines: dict[Id, Machine], longest: dict[Id, int]
) -> list[Finding]:
    """Steps longer than every working window they could use (their setup counts unless
    the machine sets up off shift)."""
    out: list[Finding] = []
    for op in job.operations:

        def need(m: Mode, op: Operation = op) -> int:
            setup = 0 if machines[m.machine].off_shift_setup else m.setup
            return setup + (0 if op.interruptible else m.duration)

        if not any(need(mode) <= longest[mode.machine] for mode in op.modes):
            what = "its setup" if op.interruptible else "setup + run"
            detail = ", ".join(
                f"{m.machine!r} needs {_dur(problem, need(m))}"
                f" but its longest working window is {_dur(problem, longest[m.machine])}"
                for m in op.modes
            )
            out.append(
                Finding(
                    code="operation_exceeds_window",
                    order=job.id,
                    operation=op.id,
                    machine=op.modes[0].machine if len(op.modes) == 1 else None,
                    message=f"order {job.id!r} operation {op.id!r}: {what} must fit into one "
                    f"working window on some eligible machine, and none is long enough ({detail}); "
                    "make it interruptible, split the lot or add working time",
                )
            )
    return out


def _earliest_finishes(
    problem: Problem,
    job: Job,
    machines: dict[Id, Machine],
    cals: dict[Id, TickCalendar],
    horizon: int,
) -> tuple[dict[int, int], Finding | None]:
    """Forward pass: the earliest finish of each operation on its best machine, alone.

    The finding is the first operation that cannot finish before the horizon.
    """
    preds: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for p, s, lag in job.predecessor_lags():
        preds[s].append((p, lag.min_lag))
    ef: dict[int, int] = {}
    for i in topological_order(job):
        op = job.operations[i]
        est = max([job.release, *[ef[p] + lag for p, lag in preds[i] if p in ef]])
        if any(p not in ef for p, _ in preds[i]):
            continue
        best: int | None = None
        for mode in op.modes:
            end = earliest_finish(
                machines[mode.machine], mode, op.interruptible, est, horizon, cals[mode.machine]
            )
            if end is not None and (best is None or end < best):
                best = end
        if best is None:
            return ef, Finding(
                code="beyond_horizon",
                order=job.id,
                operation=op.id,
                message=f"order {job.id!r} operation {op.id!r} cannot start at "
                f"{_fmt(problem, est)} or later and finish before the horizon end "
                f"{_fmt(problem, horizon)}, even with the plant to itself",
            )
        ef[i] = best
    return ef, None


def _date_checks(problem: Problem, job: Job, finish: int) -> list[Finding]:
    """The order's earliest ``finish`` against its deadline (an error) or due date."""
    if job.deadline is not None and finish > job.deadline:
        return [
            Finding(
                code="deadline_too_early",
                order=job.id,
                message=f"order {job.id!r}: deadline {_fmt(problem, job.deadline)} is before "
                f"its release {_fmt(problem, job.release)} plus the minimum processing "
                f"time in working hours (earliest finish {_fmt(problem, finish)})",
            )
        ]
    if job.due is not None and finish > job.due:
        return [
            Finding(
                code="due_unreachable",
                severity=Severity.WARNING,
                order=job.id,
                message=f"order {job.id!r} will be late even with the plant to itself: due "
                f"{_fmt(problem, job.due)}, earliest finish {_fmt(problem, finish)}",
            )
        ]
    return []


def _material_checks(problem: Problem) -> list[Finding]:
    out: list[Finding] = []
    supply: dict[Id, int] = {}
    for mat in problem.materials:
        supply[mat.id] = mat.initial + sum(r.quantity for r in mat.receipts)
    produced: dict[Id, int] = defaultdict(int)
    consumed: dict[Id, int] = defaultdict(int)
    consumers: dict[Id, list[str]] = defaultdict(list)
    for job in problem.jobs:
        for op in job.operations:
            for f in op.produces:
                produced[f.material] += f.quantity
            for f in op.consumes:
                consumed[f.material] += f.quantity
                consumers[f.material].append(f"{job.id}/{op.id}")
    for mat in problem.materials:
        total = supply[mat.id] + produced[mat.id]
        if consumed[mat.id] > total:
            names = ", ".join(consumers[mat.id][:5]) + (
                f" (+{len(consumers[mat.id]) - 5} more)" if len(consumers[mat.id]) > 5 else ""
            )
            out.append(
                Finding(
                    code="material_shortage",
                    material=mat.id,
                    message=f"material {mat.id!r} never reaches the stock needed: "
                    f"{consumed[mat.id]} consumed by {names}, but only {total} available (initial "
                    f"{mat.initial}, receipts {supply[mat.id] - mat.initial}, produced "
                    f"{produced[mat.id]}); short by {consumed[mat.id] - total}",
                )
            )
    short = {f.material for f in out}
    out.extend(_material_timing(problem, produced, short))
    return out


def _material_timing(
    problem: Problem, produced: dict[Id, int], skip: set[Id | None]
) -> list[Finding]:
    """A step of an order with a deadline must start early enough; is its component there?

    The latest start is the deadline minus the shortest remaining processing (fastest
    machines, no calendars); stock by then counts initial stock, receipts up to then and,
    optimistically, everything any order produces.
    """
    out: list[Finding] = []
    mats = {m.id: m for m in problem.materials}
    for job in problem.jobs:
        if job.deadline is None or not any(op.consumes for op in job.operations):
            continue
        tail = shortest_tails(job)
        for i, op in enumerate(job.operations):
            latest = job.deadline - tail[i]
            for f in op.consumes:
                mat = mats[f.material]
                if f.material in skip:
                    continue
                by_then = (
                    mat.initial
                    + produced[f.material]
                    + sum(r.quantity for r in mat.receipts if r.time <= latest)
                )
                if f.quantity > by_then:
                    nxt = min((r.time for r in mat.receipts if r.time > latest), default=None)
                    when = f"; the next receipt is at {_fmt(problem, nxt)}" if nxt else ""
                    out.append(
                        Finding(
                            code="material_late",
                            order=job.id,
                            operation=op.id,
                            material=f.material,
                            message=f"order {job.id!r} operation {op.id!r} must start by "
                            f"{_fmt(problem, latest)} to meet the deadline, but material "
                            f"{f.material!r} can reach only {by_then} of the "
                            f"{f.quantity} it needs by then{when}",
                        )
                    )
    return out


def _capacity_checks(problem: Problem, cals: dict[Id, TickCalendar], horizon: int) -> list[Finding]:
    """Work that can only go to a set of machines must fit into their working time.

    For every set of machines some operation is restricted to (one machine, a group),
    the least work of all operations restricted to that set or a subset of it is
    compared with the set's working time before the horizon end.
    """
    out: list[Finding] = []
    sets: dict[frozenset[Id], int] = defaultdict(int)
    off_shift = {m.id for m in problem.machines if m.off_shift_setup}
    for job in problem.jobs:
        for op in job.operations:
            sets[frozenset(m.machine for m in op.modes)] += min(
                m.duration + (0 if m.machine in off_shift else m.setup) for m in op.modes
            )
    avail = {m.id: cals[m.id].working(0, horizon) for m in problem.machines}
    for target in sorted(sets, key=len):
        work = sum(w for s, w in sets.items() if s <= target)
        capacity = sum(avail[m] for m in target)
        if work > capacity:
            names = sorted(str(m) for m in target)
            what = f"machine {names[0]!r}" if len(names) == 1 else f"machines {names}"
            out.append(
                Finding(
                    code="machine_overloaded",
                    machine=next(iter(target)) if len(target) == 1 else None,
                    message=f"{what} must do {_dur(problem, work)} of work that can run nowhere "
                    f"else, but have only {_dur(problem, capacity)} of working time "
                    "before the horizon end",
                )
            )
    return out


def diagnose_plant(plant: object) -> list[Finding]:
    """Compile a :class:`~aps.factory.model.Plant` and diagnose it.

    Compile errors become findings.
    """

    if not isinstance(plant, Plant):
        raise TypeError("diagnose_plant needs an aps.factory.model.Plant")
    try:
        problem = compile_plant(plant)
    except CompileError as exc:
        return [Finding(code="compile", message=m) for m in exc.issues]
    return diagnose(problem)


def diagnose_path(path: str | Path) -> list[Finding]:
    """Load any plant or problem input and diagnose it; input errors become findings
    (unknown references, bad rows), so one call reports everything a planner must fix."""
    from pydantic import ValidationError

    p = Path(path)
    try:
        if p.is_dir() or p.suffix.lower() in (".json", ".zip", ".xlsx"):
            problem = load_problem(p)
        else:  # a job-shop file: the core's reader
            problem = load_any(p)
    except BundleError as exc:
        return [Finding(code="invalid_input", message=m) for m in exc.errors]
    except CompileError as exc:
        return [Finding(code="compile", message=m) for m in exc.issues]
    except ValidationError as exc:
        return [
            Finding(code="invalid_input", message=f"{p.name}: {e['loc']}: {e['msg']}")
            for e in exc.errors()
        ]
    except (OSError, ValueError) as exc:
        return [Finding(code="invalid_input", message=f"{p.name}: {exc}")]
    return diagnose(problem)
