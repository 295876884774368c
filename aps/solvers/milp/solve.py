"""Solving the MILP with HiGHS: horizon, translation, callbacks, status and result."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from aps.heuristics.dispatch import best_dispatch
from aps.kpi import objective_value, term_values
from aps.model import ObjectiveTerm, Problem
from aps.result import Incumbent, Result, ScheduledOperation, SolveStatus, relative_gap
from aps.solvers.milp.model import MilpModel, check_supported, serial_horizon
from aps.solvers.milp.runtime import TRANSLATE_LOCK, highs_threads, solver_version
from aps.validate import validate


def _reader(opt: Any, highs: Any) -> Callable[[Any], float]:
    """Value of a Pyomo variable in HiGHS's current solution (via Pyomo's column map)."""
    column = opt._pyomo_var_to_solver_var_map
    col_value = highs.getSolution().col_value

    def value_of(var: Any) -> float:
        col = column.get(id(var))
        if col is None:  # in no constraint, so Pyomo never passed it: a pinned constant
            assert var.lb == var.ub, var
            return float(var.lb)
        return float(col_value[col])

    return value_of


def _status(highs: Any, has_solution: bool) -> SolveStatus:
    """Map HiGHS's model status onto ours (see the module docstring)."""
    import highspy

    st = highspy.HighsModelStatus
    code = highs.getModelStatus()
    if code == st.kOptimal:
        return SolveStatus.OPTIMAL
    if code in (st.kInfeasible, st.kUnboundedOrInfeasible):
        return SolveStatus.INFEASIBLE
    if code in (st.kLoadError, st.kModelError, st.kPresolveError, st.kSolveError):
        return SolveStatus.MODEL_INVALID
    return SolveStatus.FEASIBLE if has_solution else SolveStatus.UNKNOWN


def _starting_schedule(
    problem: Problem, hint: Sequence[ScheduledOperation] | None, seed: int
) -> tuple[str, list[ScheduledOperation]] | None:
    """A valid schedule to start from: the caller's hint, else a dispatching schedule."""

    candidates: list[tuple[str, list[ScheduledOperation]]] = []
    if hint:
        candidates.append(("hint", list(hint)))
    try:
        candidates.append(("dispatch", best_dispatch(problem, seed=seed)))
    except Exception:  # a heuristic failing must never fail the exact solve
        logging.getLogger(__name__).debug("dispatching failed", exc_info=True)
    for name, sched in candidates:
        if sched and not validate(problem, sched):
            return name, sched
    return None


def solve_milp(
    problem: Problem,
    time_limit: float,
    workers: int,
    seed: int,
    hint: Sequence[ScheduledOperation] | None = None,
    on_progress: Callable[[Incumbent], None] | None = None,
    stop: threading.Event | None = None,
) -> Result:
    """Solve with the MILP model and HiGHS (weighted or lexicographic objective)."""
    started = time.monotonic()
    check_supported(problem)
    objective = problem.objective
    horizon = serial_horizon(problem)
    only_makespan = objective.kind == "weighted" and [t.term for t in objective.terms] == [
        ObjectiveTerm.MAKESPAN
    ]
    horizon_from = None
    start = _starting_schedule(problem, hint, seed) if only_makespan else None
    if start is not None:
        # an optimal schedule never needs to end after a known feasible makespan
        horizon = min(horizon, max(r.end for r in start[1]))
        horizon_from = start[0]
    built = MilpModel(problem, horizon)
    levels: list[list[tuple[int, ObjectiveTerm]]] = (
        [[(t.weight, t.term) for t in objective.terms]]
        if objective.kind == "weighted"
        else [[(1, t.term)] for t in objective.terms]
    )

    with highs_threads(int(workers)) as threads:
        return _solve(
            problem,
            built,
            levels,
            time_limit,
            threads,
            seed,
            on_progress,
            stop,
            started,
            horizon_from,
        )


def _solve(
    problem: Problem,
    built: MilpModel,
    levels: list[list[tuple[int, ObjectiveTerm]]],
    time_limit: float,
    threads: int,
    seed: int,
    on_progress: Callable[[Incumbent], None] | None,
    stop: threading.Event | None,
    started: float,
    horizon_from: str | None,
) -> Result:
    """Run HiGHS level by level on the built model and assemble the result."""
    import pyomo.environ as pyo
    from pyomo.contrib.appsi.solvers import Highs

    m = built.m
    objective = problem.objective
    options: dict[str, Any] = {
        "threads": threads,
        "random_seed": int(seed),
        "mip_rel_gap": 0.0,
        "mip_abs_gap": 0.999,  # integral objective: a gap below one tick is a proof
        "output_flag": False,
    }
    opt = Highs()
    history: list[Incumbent] = []
    level_box = [0]

    trusted = [0.0]  # last bound known valid; 0 like CP-SAT's dispatch incumbent

    def improving(event: Any) -> None:
        out = event.data_out
        objective_now = float(out.objective_function_value)
        if level_box[0] != 0:  # later levels optimise other terms: not comparable
            return
        if history and objective_now >= history[-1].objective:
            return  # HiGHS re-announces a MIP start once it adopts it
        raw = float(out.mip_dual_bound)
        # only trust a finite bound from the main search (HiGHS sub-MIPs, e.g. completing
        # a start, report their own bound with gap 0 at node 0)
        if math.isfinite(raw) and (out.mip_node_count > 0 or out.mip_gap > 0):
            trusted[0] = max(trusted[0], raw)
        inc = Incumbent(
            objective=objective_now,
            bound=min(trusted[0], objective_now),
            elapsed=round(time.monotonic() - started, 4),
        )
        history.append(inc)
        if on_progress is not None:
            on_progress(inc)

    def interrupt(event: Any) -> None:
        if stop is not None and stop.is_set():
            event.interrupt()

    m.obj = pyo.Objective(expr=sum(w * built.terms[t] for w, t in levels[0]))
    logging.getLogger("pyomo.contrib.appsi.solvers.highs").setLevel(logging.ERROR)
    with TRANSLATE_LOCK:  # set_instance captures the process's stdout/stderr fds
        opt.set_instance(m)  # Pyomo translates the model into a highspy.Highs object ...
    highs = opt._solver_model  # ... which we run ourselves (see the module docstring)
    for key, value in options.items():
        highs.setOptionValue(key, value)
    # No MIP start: with a partial start (highspy setSolution, sparse), HiGHS 1.16 reports
    # the optimum's objective but getSolution() still returns the completed start
    # (cross-check seed 5285); the start is only used to cut a makespan horizon.
    highs.cbMipImprovingSolution += improving
    if stop is not None:
        highs.cbMipInterrupt += interrupt

    schedule: list[ScheduledOperation] | None = None
    status = SolveStatus.UNKNOWN
    bound: float | None = None
    all_optimal = True
    message: str | None = None
    for k, level in enumerate(levels):
        level_box[0] = k
        if k > 0:
            m.del_component(m.obj)
            m.obj = pyo.Objective(expr=sum(w * built.terms[t] for w, t in level))
            opt.update()  # pass the new level's bound and objective to HiGHS
        remaining = time_limit - (time.monotonic() - started)
        if k == 0 and remaining <= 0:
            message = (
                f"the time limit went on building the model ({built.num_binaries} binaries, "
                f"{time.monotonic() - started:.1f} s); HiGHS did not run"
            )
            break
        highs.setOptionValue("time_limit", max(0.05, remaining / (len(levels) - k)))
        highs.run()
        has_solution = highs.getInfo().primal_solution_status == 2
        level_status = _status(highs, has_solution)
        if not level_status.has_schedule:
            if k == 0:
                status = level_status
                message = f"HiGHS: {highs.modelStatusToString(highs.getModelStatus())}"
            break
        schedule = built.extract(_reader(opt, highs))
        values = term_values(problem, schedule)
        value = sum(w * values[t] for w, t in level)
        reported = float(highs.getInfo().objective_function_value)
        if value > reported + 0.5:
            # the model's objective is never below the schedule's true value, so HiGHS's
            # solution vector is not the solution it reports: trust neither as optimal
            level_status = SolveStatus.FEASIBLE
            message = (
                f"HiGHS reported objective {reported:g} but its solution vector has "
                f"{value}; kept as a feasible schedule, optimality not claimed"
            )
        if k == 0:
            raw = float(highs.getInfo().mip_dual_bound)
            bound = float(min(value, math.ceil(raw - 1e-6))) if math.isfinite(raw) else None
            if level_status == SolveStatus.OPTIMAL:
                bound = float(value)
        all_optimal &= level_status == SolveStatus.OPTIMAL
        status = SolveStatus.OPTIMAL if all_optimal else SolveStatus.FEASIBLE
        if k + 1 < len(levels):
            built._add(sum(w * built.terms[t] for w, t in level) <= value)
        if stop is not None and stop.is_set():
            break

    obj_value: float | None = None
    kpis: dict[str, float] = {}
    if schedule is not None:
        values = term_values(problem, schedule)
        obj_value = float(objective_value(objective, values))
        kpis = {str(t): float(v) for t, v in values.items()}
    return Result(
        name=problem.name,
        status=status,
        objective=obj_value,
        bound=bound if schedule is not None or status == SolveStatus.OPTIMAL else None,
        gap=relative_gap(obj_value, bound),
        makespan=max((r.end for r in schedule), default=0) if schedule else None,
        wall_s=round(time.monotonic() - started, 3),
        solver="milp",
        solver_version=solver_version(),
        parameters={
            "time_limit": float(time_limit),
            **{k: v for k, v in options.items() if k != "output_flag"},
            "objective": objective.kind,
            "levels": len(levels),
            "horizon": built.H,
            "horizon_from": horizon_from,
            "binaries": built.num_binaries,
            "constraints": len(m.c),
        },
        seed=seed,
        schedule=schedule or [],
        progress=history,
        kpis=kpis,
        message=message,
    )
