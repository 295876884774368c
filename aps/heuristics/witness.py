"""A constructive witness: a greedy schedule that respects every hard constraint.

It proves a plan feasible before any search and is the CP-SAT backend's hint when
dispatching breaks maximum lags or stock.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from aps.bounds import horizon_of
from aps.heuristics.graph import topological_order_late
from aps.heuristics.placement import earliest_slot
from aps.heuristics.stock import StockProfile
from aps.model import Id, Job, Problem
from aps.result import ScheduledOperation
from aps.validate import validate
from aps.worktime import TickCalendar


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

    horizon = horizon_of(problem)
    cals = {m.id: TickCalendar(m.unavailable) for m in problem.machines}
    matrices = {m.id: problem.setup_matrices.get(m.setup_matrix or "") for m in problem.machines}
    off_shift = {m.id: m.off_shift_setup for m in problem.machines}
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
                problem, job, cals, matrices, off_shift, free, last_family, stock, horizon, floor
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
    off_shift: dict[Id, bool],
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
    order = topological_order_late(job)
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
                off_shift[mode.machine],
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
