"""Solving with our CP-SAT model: hint, horizon, size guard, objective levels, result."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from aps.bounds import horizon_of, simple_lower_bound
from aps.heuristics.dispatch import best_dispatch
from aps.heuristics.witness import witness
from aps.kpi import objective_value, term_values
from aps.model import Objective, ObjectiveTerm, Problem
from aps.params import SolveParams
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

Level = list[tuple[int, ObjectiveTerm]]


@dataclass
class _Search:
    """What the objective levels found: the last schedule, the first level's value."""

    status: SolveStatus = SolveStatus.UNKNOWN
    schedule: list[ScheduledOperation] | None = None
    objective: float | None = None
    bound: float | None = None
    history: list[Incumbent] = field(default_factory=list)
    parameters: dict[str, object] = field(default_factory=dict)


def solve_cpsat(
    problem: Problem, params: SolveParams, hint: Sequence[ScheduledOperation] | None = None
) -> Result:
    """Solve with our CP-SAT model (weighted or lexicographic objective).

    A valid ``hint`` (else the best dispatching rule, else the greedy witness) is the
    search's hint and the fallback answer; the horizon is cut to it where that is safe;
    a model estimated too large to build returns the fallback at once.
    """
    fallback, hint = _start(problem, params, hint)
    horizon, horizon_cut = _horizon(problem, fallback)
    if fallback is not None:
        value = objective_value(problem.objective, term_values(problem, fallback))
        params.report(value, 0)
    size = model_size(problem, horizon)
    if size > MAX_MODEL_SIZE:
        # estimated before building: a model this large would not fit the time or memory
        why = (
            f"one CP-SAT model would need about {size:,} calendar and sequencing literals "
            f"(limit {MAX_MODEL_SIZE:,})"
        )
        if fallback is not None:
            return heuristic_result(
                problem, fallback, params.started, params.seed,
                f"{why}; returning the heuristic schedule",
            )  # fmt: skip
        return _refused(problem, params, f"{why}, and no heuristic schedule was found")
    built = CpsatModel(problem, horizon)
    if _only_makespan(problem.objective):
        built.model.add(built.terms[ObjectiveTerm.MAKESPAN] >= simple_lower_bound(problem))
    if hint:
        built.add_hint(hint)
    lns = fallback is not None and problem.num_operations > LARGE_OPERATIONS
    search = _search_levels(built, _levels(problem.objective), params, lns)
    return _result(problem, params, search, fallback, horizon, horizon_cut)


def _only_makespan(objective: Objective) -> bool:
    return objective.kind == "weighted" and [t.term for t in objective.terms] == [
        ObjectiveTerm.MAKESPAN
    ]


def _start(
    problem: Problem, params: SolveParams, hint: Sequence[ScheduledOperation] | None
) -> tuple[list[ScheduledOperation] | None, Sequence[ScheduledOperation] | None]:
    """(a valid fallback schedule or None, the hint to give CP-SAT)."""
    if hint is not None:
        return (None if validate(problem, hint) else list(hint)), hint
    heuristic: list[ScheduledOperation] | None = best_dispatch(problem, seed=params.seed)
    if heuristic is not None and validate(problem, heuristic):
        # dispatching ignores stock and maximum lags; the witness builder does not
        heuristic = witness(problem)
    if heuristic is not None and not validate(problem, heuristic):
        return heuristic, heuristic
    return None, None


def _horizon(problem: Problem, fallback: list[ScheduledOperation] | None) -> tuple[int, bool]:
    """The model's horizon, and whether it was cut past a known schedule."""
    horizon = horizon_of(problem)
    if fallback is None:
        return horizon, False
    known = max(r.end for r in fallback)
    if _only_makespan(problem.objective):
        # an optimal schedule never needs to end after a known feasible makespan
        return min(horizon, known), False
    if problem.num_operations > LARGE_OPERATIONS and problem.horizon is None:
        # large plants: the serial bound makes calendars enormous; plan within a
        # margin past a known schedule instead (optimality then holds in that horizon)
        cut = known + max(known // 4, 1)
        return min(horizon, cut), cut < horizon
    return horizon, False


def _levels(objective: Objective) -> list[Level]:
    if objective.kind == "weighted":
        return [[(t.weight, t.term) for t in objective.terms]]
    return [[(1, t.term)] for t in objective.terms]


def _search_levels(
    built: CpsatModel, levels: list[Level], params: SolveParams, lns: bool
) -> _Search:
    """Minimise each level in turn, bounding it by its value before the next one.

    ``lns``: large models with a complete hint improve it by LNS at once; full presolve
    and the LP workers can spend the whole budget before the first improvement.
    """
    m, out = built.model, _Search()
    solver = cp_model.CpSolver()
    all_optimal = True
    for k, level in enumerate(levels):
        expr = sum(w * built.terms[t] for w, t in level)
        m.minimize(expr)
        share = max(0.05, params.remaining() / (len(levels) - k))
        extra = {"cp_model_presolve": False, "use_lns_only": True} if lns else {}
        out.parameters = parameters(solver, share, params.workers, params.seed, **extra)
        callback = ProgressCallback(params.on_progress, started=params.started)
        with StopWatcher(solver, params.stop):
            code = solver.solve(m, callback)
        out.history.extend(callback.history)
        level_status = STATUS[code]
        if not level_status.has_schedule:
            if k == 0:
                out.status = level_status
            break
        out.schedule = built.extract(solver)
        value = round(solver.objective_value)
        if k == 0:
            out.objective, out.bound = float(value), float(solver.best_objective_bound)
        all_optimal &= level_status == SolveStatus.OPTIMAL
        out.status = SolveStatus.OPTIMAL if all_optimal else SolveStatus.FEASIBLE
        if k + 1 < len(levels):
            m.add(expr <= value)
            built.add_hint(out.schedule)
        if params.stopped():
            break
    return out


def _result(
    problem: Problem,
    params: SolveParams,
    search: _Search,
    fallback: list[ScheduledOperation] | None,
    horizon: int,
    horizon_cut: bool,
) -> Result:
    status, schedule = search.status, search.schedule
    objective, bound, message = search.objective, search.bound, None
    if schedule is None and fallback is not None and status == SolveStatus.UNKNOWN:
        schedule, status = fallback, SolveStatus.FEASIBLE
        objective = float(objective_value(problem.objective, term_values(problem, fallback)))
        bound = float(simple_lower_bound(problem)) if _only_makespan(problem.objective) else None
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
        explanation, message = _explain(problem, params)
    kpis: dict[str, float] = {}
    if schedule is not None:
        kpis = {str(t): float(v) for t, v in term_values(problem, schedule).items()}
    return Result(
        name=problem.name,
        status=status,
        objective=objective,
        bound=bound,
        gap=relative_gap(objective, bound),
        makespan=max((r.end for r in schedule), default=0) if schedule else None,
        wall_s=round(params.elapsed(), 3),
        solver="cpsat",
        solver_version=SOLVER_VERSION,
        parameters={
            **search.parameters,
            "objective": problem.objective.kind,
            "levels": len(_levels(problem.objective)),
        },
        seed=params.seed,
        schedule=schedule or [],
        progress=search.history,
        kpis=kpis,
        message=message,
        explanation=explanation,
    )


def _explain(problem: Problem, params: SolveParams) -> tuple[list[Requirement], str]:
    """The conflicting requirements after a proven INFEASIBLE, and the message."""
    found = explain_infeasibility(problem, max(2.0, params.remaining()), params.seed)
    if found is None:
        return [], "infeasible; no explanation found in time"
    if not found:
        return [], (
            "infeasible even with every deadline, release, maximum lag, stock and "
            "calendar relaxed: routings, durations and capacity conflict"
        )
    return found, "infeasible: these requirements cannot all hold: " + "; ".join(
        r.detail for r in found
    )


def _refused(problem: Problem, params: SolveParams, message: str) -> Result:
    """No schedule and no model: UNKNOWN, saying why."""
    return Result(
        name=problem.name,
        status=SolveStatus.UNKNOWN,
        wall_s=round(params.elapsed(), 3),
        solver="cpsat",
        solver_version=SOLVER_VERSION,
        seed=params.seed,
        message=message,
    )
