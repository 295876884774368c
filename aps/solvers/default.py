"""What ``solver="cpsat"`` runs: the job-shop portfolio for classic job shops, else our
CP-SAT model of the full problem."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from aps.model import Problem
from aps.result import Incumbent, Result, ScheduledOperation
from aps.solvers.cpsat.solve import solve_cpsat
from aps.solvers.jobshop.strategy import solve_job_shop


def solve_default(
    problem: Problem,
    time_limit: float,
    workers: int,
    seed: int,
    hint: Sequence[ScheduledOperation] | None = None,
    on_progress: Callable[[Incumbent], None] | None = None,
    stop: threading.Event | None = None,
) -> Result:
    """Solve with the method that fits the problem (see the module docstring)."""
    if problem.is_job_shop():
        return solve_job_shop(problem, time_limit, workers, seed, hint, on_progress, stop)
    return solve_cpsat(problem, time_limit, workers, seed, hint, on_progress, stop)
