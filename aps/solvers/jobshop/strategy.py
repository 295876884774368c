"""Our strategy for classic job shops: dispatching, then tabu search and CP-SAT in turns.

The best of several dispatching rules is the first incumbent. Tabu search (numba,
releasing the GIL) then runs on every worker with its own seed, for at most
``TABU_SHARE`` of the budget and only while it keeps improving; then CP-SAT gets every
worker on the full model, hinted with the best schedule, its horizon cut to that
makespan and its bound carried over, while it keeps improving; a stalled method hands
the incumbent to the other. CP-SAT proves optimality on small shops and its
neighbourhood search escapes where tabu search is stuck. Shops above
``CPSAT_MAX_OPERATIONS`` get tabu search only. Every round only ever keeps a better
schedule.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from ortools.sat.python import cp_model

from aps.bounds import simple_lower_bound
from aps.heuristics.dispatch import dispatch
from aps.model import ObjectiveTerm, Problem
from aps.result import Incumbent, Result, ScheduledOperation, SolveStatus, relative_gap
from aps.solvers.cpsat.model import CpsatModel
from aps.solvers.cpsat.runtime import (
    SOLVER_VERSION,
    STATUS,
    ProgressCallback,
    StopWatcher,
    parameters,
)
from aps.solvers.jobshop.tabu import tabu_search
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
#: A method that has not improved the incumbent for this share of the time limit (at least
#: ``STALL_MIN_SECONDS``) hands it over; CP-SAT gets ``CPSAT_STALL_FACTOR`` times as long.
STALL_SHARE = 0.1
STALL_MIN_SECONDS = 1.0
CPSAT_STALL_FACTOR = 2.0
#: Whether a stalled CP-SAT hands back to tabu search (else it keeps the rest of the time).
ALTERNATE = True
#: Above this many operations CP-SAT is left out: its model would not pay for itself.
CPSAT_MAX_OPERATIONS = 10_000


class _Halt:
    """An event set when ``outer`` is, or when ``best`` has not improved for ``window`` s."""

    def __init__(self, best: _Best, outer: threading.Event, window: float | None) -> None:
        self.event = threading.Event()
        self._done = threading.Event()
        self._best, self._outer, self._window = best, outer, window
        self._since = time.monotonic()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._done.wait(0.05):
            last = max(self._since, self._best.changed)
            if self._outer.is_set() or (
                self._window is not None and time.monotonic() - last >= self._window
            ):
                self.event.set()
                return

    def close(self) -> None:
        self._done.set()
        self._thread.join()


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
        self.changed = started

    def offer(self, schedule: list[ScheduledOperation], value: int | None = None) -> bool:
        value = makespan(schedule) if value is None else value
        with self.lock:
            if self.value is not None and value >= self.value:
                return False
            self.schedule, self.value = schedule, value
            self.changed = time.monotonic()
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

    # then rounds: tabu search on every worker while it improves, CP-SAT on every worker
    # (hinted, horizon cut to the incumbent, bound carried over) while it improves, and
    # back. A tabu search on a small shop stalls within seconds (ta08 at 60 s: its last
    # improvement at 1.2 s) while CP-SAT's neighbourhood search keeps finding better
    # schedules from its hint; a stall hands the incumbent to the other method.
    # Very large shops get tabu search only (one CP-SAT model would not finish presolve).
    use_cpsat = problem.num_operations <= CPSAT_MAX_OPERATIONS
    window = max(STALL_MIN_SECONDS, STALL_SHARE * time_limit)
    tabu_until = started + (TABU_SHARE if use_cpsat else 1.0) * time_limit
    rounds: list[dict[str, object]] = []
    n_tabu = max(1, workers)
    k = 0
    while not optimal and not stop.is_set() and best.value is not None:
        if best.value <= best.bound:
            optimal = True
            break
        if deadline - time.monotonic() <= 0.2:
            break
        t0 = time.monotonic()
        halt = _Halt(best, stop, window if use_cpsat else None)

        def run_tabu(seed_k: int, until: float, halt: _Halt = halt) -> None:
            assert best.schedule is not None
            tabu_search(problem, best.schedule, max(0.0, until - time.monotonic()),
                        seed=seed_k, lower_bound=best.bound, stop=halt.event,
                        on_improve=best.offer, report_every=max(0.5, time_limit / 50))  # fmt: skip

        until = tabu_until if not rounds else deadline
        threads = [
            threading.Thread(target=run_tabu, args=(seed + k + i, until), daemon=True)
            for i in range(n_tabu)
        ]
        k += n_tabu
        for thread in threads:
            thread.start()
        while not halt.event.wait(0.05) and time.monotonic() < until:
            if any(not t.is_alive() for t in threads):
                break  # a search reached the lower bound or found a one-block path
        halt.event.set()
        for thread in threads:
            thread.join()
        halt.close()
        rounds.append({"method": "tabu", "threads": n_tabu,
                       "seconds": round(time.monotonic() - t0, 3)})  # fmt: skip
        if not use_cpsat:
            break
        remaining = deadline - time.monotonic()
        if remaining <= 0.2 or stop.is_set() or best.value is None or best.value <= best.bound:
            continue
        t0 = time.monotonic()
        built = CpsatModel(problem, horizon=best.value)
        cmax = built.terms[ObjectiveTerm.MAKESPAN]
        built.model.add(cmax >= best.bound)
        built.model.minimize(cmax)
        assert best.schedule is not None
        built.add_hint(best.schedule)
        halt = _Halt(best, stop, CPSAT_STALL_FACTOR * window if ALTERNATE else None)
        status, _ = _run_cpsat(built, best, workers, seed + k, remaining, halt.event)
        halt.close()
        k += 1
        rounds.append({"method": "cpsat", "workers": workers,
                       "seconds": round(time.monotonic() - t0, 3)})  # fmt: skip
        optimal = status == SolveStatus.OPTIMAL
    params["rounds"] = rounds
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
