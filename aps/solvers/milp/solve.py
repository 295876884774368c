"""Solving the MILP with HiGHS: horizon, translation, callbacks, status and result."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

from aps.heuristics.dispatch import best_dispatch
from aps.kpi import objective_value, term_values
from aps.model import ObjectiveTerm, Problem
from aps.params import SolveParams
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
    import highspy  # lazy: the milp extra is optional

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


Level = list[tuple[int, ObjectiveTerm]]


def solve_milp(
    problem: Problem, params: SolveParams, hint: Sequence[ScheduledOperation] | None = None
) -> Result:
    """Solve with the MILP model and HiGHS (weighted or lexicographic objective)."""
    check_supported(problem)
    objective = problem.objective
    horizon = serial_horizon(problem)
    only_makespan = objective.kind == "weighted" and [t.term for t in objective.terms] == [
        ObjectiveTerm.MAKESPAN
    ]
    horizon_from = None
    start = _starting_schedule(problem, hint, params.seed) if only_makespan else None
    if start is not None:
        # an optimal schedule never needs to end after a known feasible makespan
        horizon = min(horizon, max(r.end for r in start[1]))
        horizon_from = start[0]
    built = MilpModel(problem, horizon)
    levels: list[Level] = (
        [[(t.weight, t.term) for t in objective.terms]]
        if objective.kind == "weighted"
        else [[(1, t.term)] for t in objective.terms]
    )
    with highs_threads(params.workers) as threads:
        options: dict[str, Any] = {
            "threads": threads,
            "random_seed": params.seed,
            "mip_rel_gap": 0.0,
            "mip_abs_gap": 0.999,  # integral objective: a gap below one tick is a proof
            "output_flag": False,
        }
        run = _Run(problem, built, params)
        run.translate(levels[0], options)
        run.levels(levels)
    return run.result(options, levels, horizon_from)


class _Run:
    """One HiGHS run of a built model: translation, callbacks, levels, result."""

    def __init__(self, problem: Problem, built: MilpModel, params: SolveParams) -> None:
        self.problem, self.built, self.params = problem, built, params
        self.history: list[Incumbent] = []
        self.level = 0
        self.trusted = 0.0  # last bound known valid; 0 like CP-SAT's dispatch incumbent
        self.schedule: list[ScheduledOperation] | None = None
        self.status = SolveStatus.UNKNOWN
        self.bound: float | None = None
        self.message: str | None = None
        self.opt: Any = None
        self.highs: Any = None

    def improving(self, event: Any) -> None:
        """HiGHS's improving-solution callback: report the first level's incumbents."""
        out = event.data_out
        objective_now = float(out.objective_function_value)
        if self.level != 0:  # later levels optimise other terms: not comparable
            return
        if self.history and objective_now >= self.history[-1].objective:
            return  # HiGHS re-announces a MIP start once it adopts it
        raw = float(out.mip_dual_bound)
        # only trust a finite bound from the main search (HiGHS sub-MIPs, e.g. completing
        # a start, report their own bound with gap 0 at node 0)
        if math.isfinite(raw) and (out.mip_node_count > 0 or out.mip_gap > 0):
            self.trusted = max(self.trusted, raw)
        self.history.append(self.params.report(objective_now, min(self.trusted, objective_now)))

    def interrupt(self, event: Any) -> None:
        if self.params.stopped():
            event.interrupt()

    def translate(self, first: Level, options: dict[str, Any]) -> None:
        """Let Pyomo translate the model into a ``highspy.Highs`` object we run ourselves."""
        import pyomo.environ as pyo  # lazy: the milp extra is optional
        from pyomo.contrib.appsi.solvers import Highs  # lazy: the milp extra is optional

        m = self.built.m
        m.obj = pyo.Objective(expr=sum(w * self.built.terms[t] for w, t in first))
        logging.getLogger("pyomo.contrib.appsi.solvers.highs").setLevel(logging.ERROR)
        self.opt = Highs()
        with TRANSLATE_LOCK:  # set_instance captures the process's stdout/stderr fds
            self.opt.set_instance(m)
        self.highs = self.opt._solver_model  # run by us (see the package docstring)
        for key, value in options.items():
            self.highs.setOptionValue(key, value)
        # No MIP start: with a partial start (highspy setSolution, sparse), HiGHS 1.16
        # reports the optimum's objective but getSolution() still returns the completed
        # start (cross-check seed 5285); the start is only used to cut a makespan horizon.
        self.highs.cbMipImprovingSolution += self.improving
        self.highs.cbMipInterrupt += self.interrupt

    def levels(self, levels: list[Level]) -> None:
        """Minimise each level in turn, bounding it by its value before the next one."""
        import pyomo.environ as pyo  # lazy: the milp extra is optional

        m, all_optimal = self.built.m, True
        for k, level in enumerate(levels):
            self.level = k
            if k > 0:
                m.del_component(m.obj)
                m.obj = pyo.Objective(expr=sum(w * self.built.terms[t] for w, t in level))
                self.opt.update()  # pass the new level's bound and objective to HiGHS
            remaining = self.params.remaining()
            if k == 0 and remaining <= 0:
                self.message = (
                    f"the time limit went on building the model ({self.built.num_binaries} "
                    f"binaries, {self.params.elapsed():.1f} s); HiGHS did not run"
                )
                return
            self.highs.setOptionValue("time_limit", max(0.05, remaining / (len(levels) - k)))
            self.highs.run()
            level_status, value = self._read_level(level)
            if level_status is None:
                return
            all_optimal &= level_status == SolveStatus.OPTIMAL
            self.status = SolveStatus.OPTIMAL if all_optimal else SolveStatus.FEASIBLE
            if k + 1 < len(levels):
                self.built._add(sum(w * self.built.terms[t] for w, t in level) <= value)
            if self.params.stopped():
                return

    def _read_level(self, level: Level) -> tuple[SolveStatus | None, int]:
        """Read HiGHS's answer to one level; (None, 0) when it has no schedule."""
        highs = self.highs
        has_solution = highs.getInfo().primal_solution_status == 2
        level_status = _status(highs, has_solution)
        if not level_status.has_schedule:
            if self.level == 0:
                self.status = level_status
                self.message = f"HiGHS: {highs.modelStatusToString(highs.getModelStatus())}"
            return None, 0
        self.schedule = self.built.extract(_reader(self.opt, highs))
        values = term_values(self.problem, self.schedule)
        value = sum(w * values[t] for w, t in level)
        reported = float(highs.getInfo().objective_function_value)
        if value > reported + 0.5:
            # the model's objective is never below the schedule's true value, so HiGHS's
            # solution vector is not the solution it reports: trust neither as optimal
            level_status = SolveStatus.FEASIBLE
            self.message = (
                f"HiGHS reported objective {reported:g} but its solution vector has "
                f"{value}; kept as a feasible schedule, optimality not claimed"
            )
        if self.level == 0:
            raw = float(highs.getInfo().mip_dual_bound)
            self.bound = float(min(value, math.ceil(raw - 1e-6))) if math.isfinite(raw) else None
            if level_status == SolveStatus.OPTIMAL:
                self.bound = float(value)
        return level_status, value

    def result(
        self, options: dict[str, Any], levels: list[Level], horizon_from: str | None
    ) -> Result:
        schedule, problem = self.schedule, self.problem
        obj_value: float | None = None
        kpis: dict[str, float] = {}
        if schedule is not None:
            values = term_values(problem, schedule)
            obj_value = float(objective_value(problem.objective, values))
            kpis = {str(t): float(v) for t, v in values.items()}
        bound = self.bound if schedule is not None or self.status == SolveStatus.OPTIMAL else None
        return Result(
            name=problem.name,
            status=self.status,
            objective=obj_value,
            bound=bound,
            gap=relative_gap(obj_value, self.bound),
            makespan=max((r.end for r in schedule), default=0) if schedule else None,
            wall_s=round(self.params.elapsed(), 3),
            solver="milp",
            solver_version=solver_version(),
            parameters={
                "time_limit": float(self.params.time_limit),
                **{k: v for k, v in options.items() if k != "output_flag"},
                "objective": problem.objective.kind,
                "levels": len(levels),
                "horizon": self.built.H,
                "horizon_from": horizon_from,
                "binaries": self.built.num_binaries,
                "constraints": len(self.built.m.c),
            },
            seed=self.params.seed,
            schedule=schedule or [],
            progress=self.history,
            kpis=kpis,
            message=self.message,
        )
