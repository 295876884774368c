"""Our strategy for classic job shops: dispatching, tabu search, then CP-SAT.

The best of several dispatching rules is the first incumbent. Tabu search (numba,
releasing the GIL) then runs on every worker with its own seed for most of the budget;
in the last part CP-SAT gets every worker on the full model, hinted with the best
schedule and its horizon cut to that makespan: it proves optimality on small shops and
polishes the others. Shops above ``CPSAT_MAX_OPERATIONS`` skip CP-SAT. Every phase only
ever keeps a better schedule.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from ortools.sat.python import cp_model

from aps.model import ObjectiveTerm, Problem
from aps.result import Incumbent, Result, ScheduledOperation, SolveStatus, relative_gap
from aps.solvers.common import SOLVER_VERSION, STATUS, ProgressCallback, StopWatcher, parameters
from aps.solvers.cpsat import CpsatModel, simple_lower_bound
from aps.solvers.dispatch import dispatch
from aps.solvers.tabu import tabu_search
from aps.validate import makespan

#: Share of the time limit given to tabu search before CP-SAT takes over.
TABU_SHARE = 0.8
#: Dispatching rules tried for the first schedule, while they fit in this share of the time.
DISPATCH_RULES = ("mwkr", "mor", "spt", "edd")
DISPATCH_SHARE = 0.1
#: Shops up to this many operations first get a short CP-SAT probe that may prove them.
PROBE_OPERATIONS = 200
PROBE_SECONDS = 2.0
PROBE_SHARE = 0.2
#: Whether CP-SAT runs beside the tabu search in phase 1 (else tabu on every worker).
#: Measured at 10 s on ft10, la24, la27, ta01, ta02, ta11, ta21, ta31, ta41, ta61: tabu on
#: both workers then CP-SAT was better on 8 of 10 and equal on 2 (mean gap 1.3 % vs 2.2 %;
#: scripts/jobshop_variants.py, one run each, so a hint rather than proof).
CPSAT_BESIDE_TABU = False
#: Above this many operations CP-SAT is left out: its model would not pay for itself.
CPSAT_MAX_OPERATIONS = 10_000


class _Best:
    """The best schedule so far, shared by the threads; reports each improvement."""

    def __init__(
        self, on_progress: Callable[[Incumbent], None] | None, started: float, lb: int
    ) -> None:
        self.lock = threading.Lock()
        self.schedule: list[ScheduledOperation] | None = None
        self.value: int | None = None
        self.bound = lb
        self.on_progress = on_progress
        self.started = started
        self.history: list[Incumbent] = []

    def offer(self, schedule: list[ScheduledOperation], value: int | None = None) -> bool:
        value = makespan(schedule) if value is None else value
        with self.lock:
            if self.value is not None and value >= self.value:
                return False
            self.schedule, self.value = schedule, value
            inc = Incumbent(objective=value, bound=self.bound,
                            elapsed=round(time.monotonic() - self.started, 4))  # fmt: skip
            self.history.append(inc)
        if self.on_progress is not None:
            self.on_progress(inc)
        return True

    def raise_bound(self, bound: int) -> None:
        with self.lock:
            self.bound = max(self.bound, bound)


def solve_job_shop(
    problem: Problem,
    time_limit: float,
    workers: int,
    seed: int,
    hint: Sequence[ScheduledOperation] | None = None,
    on_progress: Callable[[Incumbent], None] | None = None,
    stop: threading.Event | None = None,
) -> Result:
    """Solve a classic job shop (``problem.is_job_shop()``) to minimum makespan."""
    started = time.monotonic()
    deadline = started + time_limit
    lb = simple_lower_bound(problem)
    best = _Best(on_progress, started, lb)
    if hint:
        best.offer(list(hint))
    else:
        # one rule at a time, each offered at once: on 100,000 operations a rule takes
        # seconds in Python, so the first schedule must not wait for all of them
        for k, rule in enumerate(DISPATCH_RULES):
            t0 = time.monotonic()
            best.offer(dispatch(problem, rule, seed))
            took = time.monotonic() - t0
            spent = time.monotonic() - started
            if k + 1 < len(DISPATCH_RULES) and spent + took > DISPATCH_SHARE * time_limit:
                break
    stop = stop or threading.Event()
    tabu_stop = threading.Event()
    optimal = False
    params: dict[str, object] = {}

    # phase 0, small shops only: CP-SAT often proves them at once (ft06 in 0.03 s), and
    # the user should not wait for a tabu search that cannot prove anything
    if problem.num_operations <= PROBE_OPERATIONS and best.value is not None:
        assert best.schedule is not None
        built = CpsatModel(problem, horizon=best.value)
        cmax = built.terms[ObjectiveTerm.MAKESPAN]
        built.model.add(cmax >= lb)
        built.model.minimize(cmax)
        built.add_hint(best.schedule)
        probe = min(PROBE_SECONDS, PROBE_SHARE * time_limit)
        status, _ = _run_cpsat(built, best, workers, seed, probe, stop)
        params["probe"] = {"cpsat_workers": workers, "seconds": round(probe, 3)}
        if status == SolveStatus.OPTIMAL:
            return _result(problem, best, True, started, time_limit, workers, seed, params)

    # phase 1: tabu search thread(s) + CP-SAT on the other workers; very large shops get
    # tabu search on every worker (one CP-SAT model would not even finish presolve)
    use_cpsat = problem.num_operations <= CPSAT_MAX_OPERATIONS
    phase1_end = started + (TABU_SHARE if use_cpsat else 1.0) * time_limit
    cpsat_beside = use_cpsat and CPSAT_BESIDE_TABU
    n_tabu = 1 if cpsat_beside else max(1, workers)

    def run_tabu(k: int) -> None:
        assert best.schedule is not None
        tabu_search(problem, best.schedule, max(0.0, phase1_end - time.monotonic()),
                    seed=seed + k, lower_bound=best.bound, stop=tabu_stop,
                    on_improve=best.offer, report_every=max(0.5, time_limit / 50))  # fmt: skip

    threads = [threading.Thread(target=run_tabu, args=(k,), daemon=True) for k in range(n_tabu)]
    for thread in threads:
        thread.start()
    status = SolveStatus.UNKNOWN
    if cpsat_beside:
        assert best.value is not None and best.schedule is not None
        built = CpsatModel(problem, horizon=best.value)
        cmax = built.terms[ObjectiveTerm.MAKESPAN]
        built.model.add(cmax >= lb)
        built.model.minimize(cmax)
        built.add_hint(best.schedule)
        status, _ = _run_cpsat(built, best, max(1, workers - 1), seed,
                               phase1_end - time.monotonic(), stop)  # fmt: skip
    else:
        while not stop.wait(0.05) and time.monotonic() < phase1_end:
            if any(not t.is_alive() for t in threads):
                break  # a search reached the lower bound
    if status == SolveStatus.OPTIMAL or stop.is_set() or not cpsat_beside:
        tabu_stop.set()
    for thread in threads:
        thread.join()
    if status == SolveStatus.OPTIMAL:
        optimal = True
    params["phase1"] = {
        "tabu_threads": n_tabu,
        "cpsat_workers": max(1, workers - 1) * cpsat_beside,
    }

    # phase 2: every worker on CP-SAT, hinted with the best schedule and a cut horizon
    remaining = deadline - time.monotonic()
    if (
        use_cpsat
        and not optimal
        and not stop.is_set()
        and remaining > 0.2
        and best.value is not None
    ):
        if best.value <= best.bound:
            optimal = True
        else:
            built = CpsatModel(problem, horizon=best.value)
            cmax = built.terms[ObjectiveTerm.MAKESPAN]
            built.model.add(cmax >= best.bound)
            built.model.minimize(cmax)
            assert best.schedule is not None
            built.add_hint(best.schedule)
            status, _ = _run_cpsat(built, best, workers, seed, remaining, stop)
            optimal = status == SolveStatus.OPTIMAL
            params["phase2"] = {"cpsat_workers": workers}
    if best.value is not None and best.value <= best.bound:
        optimal = True
    return _result(problem, best, optimal, started, time_limit, workers, seed, params)


def _result(
    problem: Problem,
    best: _Best,
    optimal: bool,
    started: float,
    time_limit: float,
    workers: int,
    seed: int,
    params: dict[str, object],
) -> Result:
    assert best.schedule is not None and best.value is not None
    return Result(
        name=problem.name,
        status=SolveStatus.OPTIMAL if optimal else SolveStatus.FEASIBLE,
        objective=float(best.value),
        bound=float(best.value if optimal else best.bound),
        gap=relative_gap(best.value, best.value if optimal else best.bound),
        makespan=best.value,
        wall_s=round(time.monotonic() - started, 3),
        solver="cpsat+tabu",
        solver_version=SOLVER_VERSION,
        parameters={
            "time_limit": time_limit,
            "num_workers": workers,
            "random_seed": seed,
            "tabu_share": TABU_SHARE,
            **params,
        },
        seed=seed,
        schedule=best.schedule,
        progress=best.history,
        kpis={"makespan": float(best.value)},
    )


def _run_cpsat(
    built: CpsatModel,
    best: _Best,
    workers: int,
    seed: int,
    seconds: float,
    stop: threading.Event,
) -> tuple[SolveStatus, int]:
    if seconds <= 0.05:
        return SolveStatus.UNKNOWN, best.bound
    solver = cp_model.CpSolver()
    parameters(solver, seconds, workers, seed)

    class _Cb(ProgressCallback):
        def on_solution_callback(self) -> None:
            value = round(self.objective_value)
            best.raise_bound(round(self.best_objective_bound))
            if best.value is None or value < best.value:
                best.offer(built.extract(self), value)  # reads values like a solver

    callback = _Cb(None)
    with StopWatcher(solver, stop):
        code = solver.solve(built.model, callback)
    status = STATUS[code]
    if status.has_schedule:
        best.raise_bound(round(solver.best_objective_bound))
        if status == SolveStatus.OPTIMAL:
            best.offer(built.extract(solver))
    return status, best.bound
