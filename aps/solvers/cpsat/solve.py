"""Solving with our CP-SAT model: hint, horizon, size guard, objective levels, result."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from ortools.sat.python import cp_model

from aps.bounds import horizon_of, simple_lower_bound
from aps.heuristics.dispatch import best_dispatch
from aps.heuristics.witness import witness
from aps.kpi import objective_value, term_values
from aps.model import ObjectiveTerm, Problem
from aps.result import (
    Incumbent,
    Requirement,
    Result,
    ScheduledOperation,
    SolveStatus,
    relative_gap,
)
from aps.solvers.cpsat.explain import explain_infeasibility
from aps.solvers.cpsat.model import CpsatModel
from aps.solvers.cpsat.runtime import (
    SOLVER_VERSION,
    STATUS,
    ProgressCallback,
    StopWatcher,
    parameters,
)
from aps.solvers.cpsat.size import LARGE_OPERATIONS, MAX_MODEL_SIZE, model_size
from aps.solvers.heuristic import heuristic_result
from aps.validate import validate


def solve_cpsat(
    problem: Problem,
    time_limit: float,
    workers: int,
    seed: int,
    hint: Sequence[ScheduledOperation] | None = None,
    on_progress: Callable[[Incumbent], None] | None = None,
    stop: threading.Event | None = None,
) -> Result:
    """Solve with our CP-SAT model (weighted or lexicographic objective)."""
    started = time.monotonic()
    objective = problem.objective
    fallback: list[ScheduledOperation] | None = None
    if hint is None:
        heuristic: list[ScheduledOperation] | None = best_dispatch(problem, seed=seed)
        if heuristic is not None and validate(problem, heuristic):
            # dispatching ignores stock and maximum lags; the witness builder does not
            heuristic = witness(problem)
        if heuristic is not None and not validate(problem, heuristic):
            fallback = hint = heuristic
    elif not validate(problem, hint):
        fallback = list(hint)
    horizon = horizon_of(problem)
    only_makespan = objective.kind == "weighted" and [t.term for t in objective.terms] == [
        ObjectiveTerm.MAKESPAN
    ]
    horizon_cut = False
    if fallback is not None:
        known = max(r.end for r in fallback)
        if only_makespan:
            # an optimal schedule never needs to end after a known feasible makespan
            horizon = min(horizon, known)
        elif problem.num_operations > LARGE_OPERATIONS and problem.horizon is None:
            # large plants: the serial bound makes calendars enormous; plan within a
            # margin past a known schedule instead (optimality then holds in that horizon)
            cut = known + max(known // 4, 1)
            horizon_cut = cut < horizon
            horizon = min(horizon, cut)
    if fallback is not None and on_progress is not None:
        value = objective_value(objective, term_values(problem, fallback))
        on_progress(Incumbent(objective=value, bound=0, elapsed=time.monotonic() - started))

    size = model_size(problem, horizon)
    if size > MAX_MODEL_SIZE and fallback is not None:
        return heuristic_result(
            problem, fallback, started, seed,
            f"one CP-SAT model would need about {size:,} calendar and sequencing literals "
            f"(limit {MAX_MODEL_SIZE:,}); returning the heuristic schedule",
        )  # fmt: skip

    built = CpsatModel(problem, horizon)
    m = built.model
    if only_makespan:
        cmax = built.terms[ObjectiveTerm.MAKESPAN]
        m.add(cmax >= simple_lower_bound(problem))
    if hint:
        built.add_hint(hint)

    levels: list[list[tuple[int, ObjectiveTerm]]] = (
        [[(t.weight, t.term) for t in objective.terms]]
        if objective.kind == "weighted"
        else [[(1, t.term)] for t in objective.terms]
    )

    solver = cp_model.CpSolver()
    params: dict[str, object] = {}
    history: list[Incumbent] = []
    schedule: list[ScheduledOperation] | None = None
    status = SolveStatus.UNKNOWN
    obj_value: float | None = None
    bound: float | None = None
    all_optimal = True
    for k, level in enumerate(levels):
        expr = sum(w * built.terms[t] for w, t in level)
        m.minimize(expr)
        remaining = time_limit - (time.monotonic() - started)
        share = max(0.05, remaining / (len(levels) - k))
        # large models with a complete hint: improve it by LNS at once; full presolve and
        # the LP workers can spend the whole budget before the first improvement
        lns = fallback is not None and problem.num_operations > LARGE_OPERATIONS
        extra = {"cp_model_presolve": False, "use_lns_only": True} if lns else {}
        params = parameters(solver, share, workers, seed, **extra)
        callback = ProgressCallback(on_progress, started=started)
        with StopWatcher(solver, stop):
            code = solver.solve(m, callback)
        history.extend(callback.history)
        level_status = STATUS[code]
        if not level_status.has_schedule:
            if k == 0:
                status = level_status
            break
        schedule = built.extract(solver)
        value = round(solver.objective_value)
        if k == 0:
            obj_value, bound = float(value), float(solver.best_objective_bound)
        all_optimal &= level_status == SolveStatus.OPTIMAL
        status = SolveStatus.OPTIMAL if all_optimal else SolveStatus.FEASIBLE
        if k + 1 < len(levels):
            m.add(expr <= value)
            built.add_hint(schedule)
        if stop is not None and stop.is_set():
            break

    message = None
    if schedule is None and fallback is not None and status == SolveStatus.UNKNOWN:
        schedule = fallback
        status = SolveStatus.FEASIBLE
        obj_value = float(objective_value(objective, term_values(problem, fallback)))
        bound = float(simple_lower_bound(problem)) if only_makespan else None
        message = "CP-SAT found no solution in time; returning the heuristic schedule"
    if horizon_cut and status == SolveStatus.OPTIMAL:
        status = SolveStatus.FEASIBLE
        message = (
            f"optimal within the planning horizon of {horizon} ticks (cut past a known schedule)"
        )
    elif horizon_cut and status == SolveStatus.INFEASIBLE and fallback is not None:
        schedule, status = fallback, SolveStatus.FEASIBLE  # cannot happen: the fallback fits
    explanation: list[Requirement] = []
    if status == SolveStatus.INFEASIBLE and not horizon_cut:
        spent = time.monotonic() - started
        found = explain_infeasibility(problem, max(2.0, time_limit - spent), seed)
        if found is None:
            message = "infeasible; no explanation found in time"
        elif not found:
            message = (
                "infeasible even with every deadline, release, maximum lag, stock and "
                "calendar relaxed: routings, durations and capacity conflict"
            )
        else:
            explanation = found
            message = "infeasible: these requirements cannot all hold: " + "; ".join(
                r.detail for r in found
            )
    kpis: dict[str, float] = {}
    if schedule is not None:
        kpis = {str(t): float(v) for t, v in term_values(problem, schedule).items()}
    return Result(
        name=problem.name,
        status=status,
        objective=obj_value,
        bound=bound,
        gap=relative_gap(obj_value, bound),
        makespan=max((r.end for r in schedule), default=0) if schedule else None,
        wall_s=round(time.monotonic() - started, 3),
        solver="cpsat",
        solver_version=SOLVER_VERSION,
        parameters={**params, "objective": objective.kind, "levels": len(levels)},
        seed=seed,
        schedule=schedule or [],
        progress=history,
        kpis=kpis,
        message=message,
        explanation=explanation,
    )
