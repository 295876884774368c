"""Solver backends, by the name ``aps.solve(solver=...)`` takes.

Every backend turns a :class:`~aps.model.Problem` into a :class:`~aps.result.Result`;
:func:`aps.solve.solve` looks it up here, runs it and validates its schedule.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Literal

from aps.model import Problem
from aps.result import Incumbent, Result, ScheduledOperation
from aps.solvers.auto import solve_auto
from aps.solvers.default import solve_default
from aps.solvers.milp.solve import solve_milp
from aps.solvers.plain import solve_plain
from aps.solvers.plan.windows import solve_plan

Backend = Callable[
    [
        Problem,
        float,
        int,
        int,
        Sequence[ScheduledOperation] | None,
        Callable[[Incumbent], None] | None,
        threading.Event | None,
    ],
    Result,
]


def _plain(
    problem: Problem,
    time_limit: float,
    workers: int,
    seed: int,
    hint: Sequence[ScheduledOperation] | None,
    on_progress: Callable[[Incumbent], None] | None,
    stop: threading.Event | None,
) -> Result:
    del hint  # the textbook model takes no warm start
    return solve_plain(problem, time_limit, workers, seed, on_progress, stop)


#: name -> backend; ``auto`` picks among the others per problem.
BACKENDS: dict[str, Backend] = {
    "cpsat": solve_default,
    "plain": _plain,
    "milp": solve_milp,
    "auto": solve_auto,
    "plan": solve_plan,
}
SOLVERS: tuple[str, ...] = tuple(BACKENDS)
#: The solver names as a type (the API's ``options.solver``).
SolverName = Literal["cpsat", "plain", "milp", "auto", "plan"]
