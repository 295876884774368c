"""What ``solver="cpsat"`` runs: the job-shop portfolio for classic job shops, else our
CP-SAT model of the full problem."""

from __future__ import annotations

from collections.abc import Sequence

from aps.model import Problem
from aps.params import SolveParams
from aps.result import Result, ScheduledOperation
from aps.solvers.cpsat.solve import solve_cpsat
from aps.solvers.jobshop.strategy import solve_job_shop


def solve_default(
    problem: Problem, params: SolveParams, hint: Sequence[ScheduledOperation] | None = None
) -> Result:
    """Solve with the method that fits the problem (see the module docstring)."""
    if problem.is_job_shop():
        return solve_job_shop(problem, params, hint)
    return solve_cpsat(problem, params, hint)
