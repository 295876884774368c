"""After a proven INFEASIBLE: a minimal set of relaxable requirements that conflict."""

from __future__ import annotations

import time

from ortools.sat.python import cp_model

from aps.bounds import horizon_of
from aps.model import Problem
from aps.result import (
    Requirement,
)
from aps.solvers.cpsat.model import CpsatModel


def explain_infeasibility(
    problem: Problem, time_limit: float = 10.0, seed: int = 0
) -> list[Requirement] | None:
    """A minimal set of requirements (deadlines, releases, maximum lags, stock, calendars,
    horizon) that cannot all hold, found with CP-SAT assumptions and then shrunk by
    deletion. None when the search could not decide in time; an empty list when the
    conflict lies in requirements that cannot be relaxed (routings, durations, capacity).
    """
    started = time.monotonic()
    relaxed = problem.model_copy(update={"horizon": None})
    built = CpsatModel(problem, horizon=horizon_of(relaxed), explain=True)
    m = built.model
    by_index = {lit.index: req for lit, req in built.assumptions}
    lits = {lit.index: lit for lit, _ in built.assumptions}

    def infeasible(core: list[int]) -> tuple[bool | None, list[int]]:
        remaining = time_limit - (time.monotonic() - started)
        if remaining <= 0.05:
            return None, core
        m.clear_assumptions()
        m.add_assumptions([lits[i] for i in core])
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = remaining
        solver.parameters.num_workers = 1  # assumptions need a single worker
        solver.parameters.random_seed = seed
        code = solver.solve(m)
        if code == cp_model.INFEASIBLE:
            found = [int(i) for i in solver.sufficient_assumptions_for_infeasibility()]
            return True, [i for i in found if i in lits] or []
        if code in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return False, core
        return None, core

    verdict, core = infeasible(list(lits))
    if verdict is not True:
        return None
    i = 0
    while i < len(core):
        trial = core[:i] + core[i + 1 :]
        verdict, smaller = infeasible(trial)
        if verdict is True:
            core = smaller if len(smaller) < len(trial) else trial
        elif verdict is None:
            break  # out of time: what is left is still a conflicting set
        else:
            i += 1
    return [by_index[i] for i in core]
