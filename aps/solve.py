"""Solver dispatch: one entry point for every backend, validation included."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from aps.model import Problem
from aps.params import JobShopOptions, SolveParams
from aps.result import Incumbent, Result, ScheduledOperation
from aps.solvers import BACKENDS, SOLVERS
from aps.validate import ScheduleInvalidError, validate


def solve(
    problem: Problem,
    time_limit: float = 10.0,
    workers: int = 2,
    seed: int = 0,
    hint: Sequence[ScheduledOperation] | None = None,
    on_progress: Callable[[Incumbent], None] | None = None,
    *,
    solver: str = "cpsat",
    stop: threading.Event | None = None,
    check: bool = True,
    jobshop: JobShopOptions | None = None,
) -> Result:
    """Solve ``problem`` and return a validated :class:`~aps.result.Result`.

    Parameters
    ----------
    problem
        The problem in ticks.
    time_limit, workers, seed
        Wall-clock seconds, CP-SAT search workers and the random seed.
    hint
        A previous or heuristic schedule to start from (warm start).
    on_progress
        Called with every improving incumbent (objective, bound, elapsed seconds).
    solver
        ``"cpsat"`` (our model), ``"plain"`` (the textbook job-shop model, benchmarks),
        ``"milp"`` (the Pyomo/HiGHS model, :mod:`aps.solvers.milp`) or ``"auto"`` (CP-SAT,
        the MILP, or CP-SAT checked by the MILP, per problem: :mod:`aps.solvers.auto`; the
        choice and the check are in ``parameters``) or ``"plan"`` (a bucket plan, then
        CP-SAT window by window, for plants too large for one model: :mod:`aps.solvers.plan`).
    stop
        Set this event to stop the search early; the best schedule so far is kept.
    check
        Validate the returned schedule independently (raise on any violation).
    jobshop
        The job-shop portfolio's preset (:class:`~aps.params.JobShopOptions`).

    Raises
    ------
    ScheduleInvalidError
        When the solver returned a schedule that breaks a hard constraint: a bug, never
        something to ship.
    ValueError
        For an unknown solver name or a problem the chosen backend cannot express.
    """
    backend = BACKENDS.get(solver)
    if backend is None:
        raise ValueError(f"unknown solver {solver!r}; choose one of {', '.join(SOLVERS)}")
    params = SolveParams(
        time_limit=time_limit,
        workers=workers,
        seed=seed,
        on_progress=on_progress,
        stop=stop if stop is not None else threading.Event(),
        jobshop=jobshop if jobshop is not None else JobShopOptions(),
    )
    result = backend(problem, params, hint)
    if check and result.status.has_schedule:
        violations = validate(problem, result.schedule)
        if violations:
            raise ScheduleInvalidError(violations)
    return result
