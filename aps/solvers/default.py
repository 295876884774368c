"""What ``solver="cpsat"`` runs: the job-shop portfolio for (flexible) job shops, else the
plant search (construction portfolio, one CP-SAT model where it fits, local search)."""

from __future__ import annotations

from collections.abc import Sequence

from aps.model import Problem
from aps.params import SolveParams
from aps.result import Result, ScheduledOperation
from aps.solvers.jobshop.strategy import solve_job_shop
from aps.solvers.plant.strategy import solve_plant


def solve_default(
    problem: Problem, params: SolveParams, hint: Sequence[ScheduledOperation] | None = None
) -> Result:
    """Solve with the method that fits the problem (see the module docstring)."""
    if problem.is_flexible_job_shop():
        return solve_job_shop(problem, params, hint)
    return solve_plant(problem, params, hint)
