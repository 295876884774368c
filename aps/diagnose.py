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
from typing import Any

from pydantic import BaseModel

from aps.calendar import TickCalendar, longest_working_window
from aps.model import Id, Job, Machine, Mode, Problem
from aps.placement import earliest_slot
from aps.result import ScheduledOperation
from aps.stock import StockProfile


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


def _horizon(problem: Problem) -> int:
    if problem.horizon is not None:
        return problem.horizon
    # without a horizon every op could run after the last window: serial sum is enough
    last = max((w.end for m in problem.machines for w in m.unavailable), default=0)
    work = sum(
        max(md.duration + md.setup for md in op.modes)
        for job in problem.jobs
        for op in job.operations
    )
    return max(last, max(j.release for j in problem.jobs)) + work + 1


def earliest_finish(
    machine: Machine,
    mode: Mode,
    interruptible: bool,
    start: int,
    horizon: int,
    cal: TickCalendar | None = None,
) -> int | None:
    """Earliest end of ``mode`` on ``machine`` started no earlier than ``start``.

    Setup must sit in working time right before the run (as the validator wants); a
    non-interruptible run must fit in the same working window. None if not before
    ``horizon``.
    """
    cal = cal or TickCalendar(machine.unavailable)
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
    horizon = _horizon(problem)
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
    out: list[Finding] = []
    # a step longer than every working window it could use
    for op in job.operations:
        usable = []
        for mode in op.modes:
            need = mode.setup if op.interruptible else mode.setup + mode.duration
            if need <= longest[mode.machine]:
                usable.append(mode)
        if not usable:
            what = "its setup" if op.interruptible else "setup + run"
            detail = ", ".join(
                f"{m.machine!r} needs "
                f"{_dur(problem, m.setup + (0 if op.interruptible else m.duration))}"
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
    if out:
        return out
    # forward pass: earliest finish of each operation on its best machine, alone
    preds: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for p, s, lag in job.predecessor_lags():
        preds[s].append((p, lag.min_lag))
    ef: dict[int, int] = {}
    order = topological_order(job)
    for i in order:
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
            out.append(
                Finding(
                    code="beyond_horizon",
                    order=job.id,
                    operation=op.id,
                    message=f"order {job.id!r} operation {op.id!r} cannot start at "
                    f"{_fmt(problem, est)} or later and finish before the horizon end "
                    f"{_fmt(problem, horizon)}, even with the plant to itself",
                )
            )
            return out
        ef[i] = best
    if len(ef) == len(job.operations):
        finish = max(ef.values())
        if job.deadline is not None and finish > job.deadline:
            out.append(
                Finding(
                    code="deadline_too_early",
                    order=job.id,
                    message=f"order {job.id!r}: deadline {_fmt(problem, job.deadline)} is before "
                    f"its release {_fmt(problem, job.release)} plus the minimum processing "
                    f"time in working hours (earliest finish {_fmt(problem, finish)})",
                )
            )
        elif job.due is not None and finish > job.due:
            out.append(
                Finding(
                    code="due_unreachable",
                    severity=Severity.WARNING,
                    order=job.id,
                    message=f"order {job.id!r} will be late even with the plant to itself: due "
                    f"{_fmt(problem, job.due)}, earliest finish {_fmt(problem, finish)}",
                )
            )
    return out


def topological_order(job: Job) -> list[int]:
    """The job's operations in precedence order, those with a maximum lag last among equals
    (a greedy scheduler places a lagged predecessor as late as its successor allows)."""
    succ: dict[int, list[int]] = defaultdict(list)
    indeg = [0] * len(job.operations)
    for p, s, _ in job.predecessor_lags():
        succ[p].append(s)
        indeg[s] += 1
    stack = [i for i, d in enumerate(indeg) if d == 0]
    out: list[int] = []
    while stack:
        i = stack.pop()
        out.append(i)
        for s in succ[i]:
            indeg[s] -= 1
            if indeg[s] == 0:
                stack.append(s)
    return out


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
        tail = _tails(job)
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


def _tails(job: Job) -> list[int]:
    """Shortest processing from each operation's start to the job's end (no calendars)."""
    succ: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for p, s, lag in job.predecessor_lags():
        succ[p].append((s, lag.min_lag))
    tail = [0] * len(job.operations)
    for i in reversed(topological_order(job)):
        own = min(m.duration for m in job.operations[i].modes)
        tail[i] = own + max((lag + tail[s] for s, lag in succ[i]), default=0)
    return tail


def _capacity_checks(problem: Problem, cals: dict[Id, TickCalendar], horizon: int) -> list[Finding]:
    """Work that can only go to a set of machines must fit into their working time.

    For every set of machines some operation is restricted to (one machine, a group),
    the least work of all operations restricted to that set or a subset of it is
    compared with the set's working time before the horizon end.
    """
    out: list[Finding] = []
    sets: dict[frozenset[Id], int] = defaultdict(int)
    for job in problem.jobs:
        for op in job.operations:
            sets[frozenset(m.machine for m in op.modes)] += min(
                m.duration + m.setup for m in op.modes
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
    """Compile a :class:`~aps.factory.Plant` and diagnose it; compile errors become findings."""
    from aps.factory import CompileError, Plant, compile_plant

    if not isinstance(plant, Plant):
        raise TypeError("diagnose_plant needs an aps.factory.Plant")
    try:
        problem = compile_plant(plant)
    except CompileError as exc:
        return [Finding(code="compile", message=m) for m in exc.issues]
    return diagnose(problem)


def diagnose_path(path: str | Path) -> list[Finding]:
    """Load any plant or problem input and diagnose it; input errors become findings
    (unknown references, bad rows), so one call reports everything a planner must fix."""
    from pydantic import ValidationError

    from aps.factory import CompileError, load_problem
    from aps.io.bundle import BundleError

    p = Path(path)
    try:
        if p.is_dir() or p.suffix.lower() in (".json", ".zip", ".xlsx"):
            problem = load_problem(p)
        else:  # a job-shop file: the core's reader
            from aps.io.instances import load_problem as load_any

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


# -- a constructive witness -------------------------------------------------------------


def witness(problem: Problem, max_retries: int = 8) -> list[ScheduledOperation] | None:
    """A greedy schedule that respects every hard constraint, or None.

    Orders are placed one at a time (material producers first, then by due date),
    their operations in precedence order, each on the mode that ends first, appended
    after whatever its machine already runs. Calendars, setups and changeovers,
    interruptible runs, minimum and maximum lags and stock are all honoured; when a
    maximum lag breaks, the order is re-placed with its predecessor started later. A
    validated witness proves the plan feasible and is a good hint for the solver
    (``aps.solve(problem, hint=witness(problem))``). It makes no attempt to be good.
    """
    from aps.validate import validate

    horizon = _horizon(problem)
    cals = {m.id: TickCalendar(m.unavailable) for m in problem.machines}
    matrices = {m.id: problem.setup_matrices.get(m.setup_matrix or "") for m in problem.machines}
    free: dict[Id, int] = {m.id: 0 for m in problem.machines}
    last_family: dict[Id, str | None] = {m.id: None for m in problem.machines}
    stock = {
        m.id: StockProfile(m.initial, [(r.time, r.quantity) for r in m.receipts])
        for m in problem.materials
    }
    produced = {f.material for j in problem.jobs for o in j.operations for f in o.produces}
    consumed = {f.material for j in problem.jobs for o in j.operations for f in o.consumes}

    def rank(job: Job) -> tuple[int, int, int]:
        makes = any(f.material in consumed for o in job.operations for f in o.produces)
        needs = any(f.material in produced for o in job.operations for f in o.consumes)
        due = job.due if job.due is not None else (job.deadline or 1 << 40)
        return (0 if makes and not needs else 1, due, job.release)

    out: list[ScheduledOperation] = []
    for job in sorted(problem.jobs, key=rank):
        floor: dict[int, int] = {}
        for _ in range(max_retries):
            snapshot = (dict(free), dict(last_family), {k: v.copy() for k, v in stock.items()})
            placed = _place_job(
                problem, job, cals, matrices, free, last_family, stock, horizon, floor
            )
            if isinstance(placed, list):
                out.extend(placed)
                break
            free, last_family, stock = snapshot
            if placed is None:
                return None
            pred, earliest = placed  # a max lag broke: start that predecessor later
            floor[pred] = max(floor.get(pred, 0), earliest)
        else:
            return None
    return out if not validate(problem, out) else None


def _place_job(
    problem: Problem,
    job: Job,
    cals: dict[Id, TickCalendar],
    matrices: dict[Id, Any],
    free: dict[Id, int],
    last_family: dict[Id, str | None],
    stock: dict[Id, StockProfile],
    horizon: int,
    floor: dict[int, int],
) -> list[ScheduledOperation] | tuple[int, int] | None:
    """Place one job; a list on success, (pred index, earliest end) to retry, None to fail."""
    preds: dict[int, list[tuple[int, int, int | None]]] = defaultdict(list)
    for p, s, lag in job.predecessor_lags():
        preds[s].append((p, lag.min_lag, lag.max_lag))
    # ops with a max lag to a successor go as late as possible in the order
    order = _topo_late(job)
    end: dict[int, int] = {}
    rows: list[ScheduledOperation] = []
    for i in order:
        op = job.operations[i]
        est = max([job.release, floor.get(i, 0), *[end[p] + lo for p, lo, _ in preds[i]]])
        family = op.family if op.family is not None else job.family
        best: tuple[int, int, int, Id] | None = None
        for mode in op.modes:
            mx = matrices[mode.machine]
            change = mx.time(last_family[mode.machine], family) if mx is not None else 0
            t = max(est, free[mode.machine])
            got = earliest_slot(
                cals[mode.machine],
                mode.setup + change,
                mode.duration,
                op.interruptible,
                t,
                t,
                [(stock[f.material], f.quantity) for f in op.consumes],
                horizon,
            )
            if got is not None and (best is None or got[2] < best[2]):
                best = (got[0], got[1], got[2], mode.machine)
        if best is None:
            return None
        b, s, e, machine = best
        for p, _, hi in preds[i]:
            if hi is not None and s > end[p] + hi:
                return p, s - hi - (end[p] - _start_of(rows, job, p))
        free[machine] = e
        last_family[machine] = family
        for f in op.consumes:
            stock[f.material].add(s, -f.quantity)
        for f in op.produces:
            stock[f.material].add(e, f.quantity)
        end[i] = e
        rows.append(
            ScheduledOperation(
                job=job.id,
                op=op.id,
                machine=machine,
                start=s,
                end=e,
                setup_start=b if b < s else None,
            )
        )
    return rows


def _start_of(rows: list[ScheduledOperation], job: Job, index: int) -> int:
    op_id = job.operations[index].id
    return next(r.start for r in rows if r.op == op_id)


def _topo_late(job: Job) -> list[int]:
    """Topological order that defers operations with a max lag to their successor."""
    succ: dict[int, list[int]] = defaultdict(list)
    indeg = [0] * len(job.operations)
    has_max = set()
    for p, s, lag in job.predecessor_lags():
        succ[p].append(s)
        indeg[s] += 1
        if lag.max_lag is not None:
            has_max.add(p)
    ready = [i for i, d in enumerate(indeg) if d == 0]
    out: list[int] = []
    while ready:
        ready.sort(key=lambda i: (i in has_max, i))
        i = ready.pop(0)
        out.append(i)
        for s in succ[i]:
            indeg[s] -= 1
            if indeg[s] == 0:
                ready.append(s)
    return out
