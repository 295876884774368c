"""A heuristic schedule reported as a :class:`~aps.result.Result` (no exact model built)."""

from __future__ import annotations

import time

from aps.kpi import objective_value, term_values
from aps.model import ObjectiveTerm, Problem
from aps.result import (
    Result,
    ScheduledOperation,
    SolveStatus,
)
from aps.solvers.cpsat.runtime import (
    SOLVER_VERSION,
)


def heuristic_result(
    problem: Problem,
    schedule: list[ScheduledOperation],
    started: float,
    seed: int,
    message: str,
) -> Result:
    """A greedy schedule reported as a result, for problems no CP-SAT model was built for."""
    values = term_values(problem, schedule)
    return Result(
        name=problem.name,
        status=SolveStatus.FEASIBLE,
        objective=float(objective_value(problem.objective, values)),
        makespan=values[ObjectiveTerm.MAKESPAN],
        wall_s=round(time.monotonic() - started, 3),
        solver="heuristic",
        solver_version=SOLVER_VERSION,
        seed=seed,
        schedule=schedule,
        kpis={str(t): float(v) for t, v in values.items()},
        message=message,
    )
