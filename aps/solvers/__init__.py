"""Solver backends, by the name ``aps.solve(solver=...)`` takes.

Every backend is a function ``(problem, params, hint) -> Result``: the problem, the
solve's :class:`~aps.params.SolveParams` (deadline, stop event, workers, seed, progress
callback, presets) and an optional warm start. :func:`aps.solve.solve` looks it up here,
runs it and validates its schedule.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

from aps.model import Problem
from aps.params import SolveParams
from aps.result import Result, ScheduledOperation
from aps.solvers.auto import solve_auto
from aps.solvers.default import solve_default
from aps.solvers.milp.solve import solve_milp
from aps.solvers.plain import solve_plain
from aps.solvers.plan.windows import solve_plan

Backend = Callable[[Problem, SolveParams, Sequence[ScheduledOperation] | None], Result]

#: name -> backend; ``auto`` picks among the others per problem.
BACKENDS: dict[str, Backend] = {
    "cpsat": solve_default,
    "plain": solve_plain,
    "milp": solve_milp,
    "auto": solve_auto,
    "plan": solve_plan,
}
SOLVERS: tuple[str, ...] = tuple(BACKENDS)
#: The solver names as a type (the API's ``options.solver``).
SolverName = Literal["cpsat", "plain", "milp", "auto", "plan"]
