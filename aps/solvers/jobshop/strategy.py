"""Our strategy for (flexible) job shops: dispatching, then tabu search and CP-SAT in turns.

The best of several dispatching rules is the first incumbent. Tabu search resequences
machines (N7) in a classic shop and also moves operations between their eligible
machines in a flexible one (:mod:`.shops`). It (numba, releasing the GIL) runs on
every worker with its own seed, for at most ``JobShopOptions.tabu_share`` of the budget
and only while it keeps improving; then CP-SAT gets every worker on the full model,
hinted with the best schedule, its horizon cut to that makespan and its bound carried
over, while it keeps improving; a stalled method hands the incumbent to the other.
CP-SAT proves optimality on small shops and its neighbourhood search escapes where tabu
search is stuck. Shops with more than ``JobShopOptions.cpsat_max_operations`` modes
(operations times their eligible machines) get tabu search only. Every round only ever
keeps a better schedule.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from ortools.sat.python import cp_model

from aps.bounds import simple_lower_bound
from aps.model import ObjectiveTerm, Problem
from aps.params import SolveParams
from aps.result import Incumbent, Result, ScheduledOperation, SolveStatus, relative_gap
from aps.solvers.cpsat.model import CpsatModel
from aps.solvers.cpsat.runtime import (
    SOLVER_VERSION,
    STATUS,
    ProgressCallback,
    StopWatcher,
    parameters,
)
from aps.solvers.jobshop.shops import Shop, Solution, shop_of
from aps.validate import makespan

#: above this many operations the search stops early enough to build and check the rows
HUGE_OPERATIONS = 200_000
#: seconds per operation kept for that (rows, then the caller's validation)
FINISH_SECONDS_PER_OPERATION = 3e-5


class Halt:
    """An event set when ``outer`` is, or when ``best`` has not improved for ``window`` s.

    ``reason`` says which: ``"stop"`` (the outer event: a stop or the deadline of the
    phase above) or ``"stall"``.
    """

    def __init__(self, best: Best, outer: threading.Event, window: float | None) -> None:
        self.event = threading.Event()
        self.reason: str | None = None
        self._done = threading.Event()
        self._best, self._outer, self._window = best, outer, window
        self._since = time.monotonic()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def check(self, now: float) -> str | None:
        """Why the turn should end at ``now`` (``"stop"``, ``"stall"``), or None."""
        if self._outer.is_set():
            return "stop"
        last = max(self._since, self._best.changed)
        if self._window is not None and now - last >= self._window:
            return "stall"
        return None

    def _watch(self) -> None:
        while not self._done.wait(0.05):
            reason = self.check(time.monotonic())
            if reason is not None:
                self.reason = reason
                self.event.set()
                return

    def close(self) -> None:
        self._done.set()
        self._thread.join()


class Best:
    """The best solution so far, shared by the threads; reports each improvement.

    It keeps the solution as arrays (:class:`Solution`): a tabu search on a million
    operations improves it many times, and schedule rows are built once, on demand.
    """

    def __init__(
        self,
        shop: Shop,
        on_progress: Callable[[Incumbent], None] | None,
        started: float,
        lb: int,
    ) -> None:
        self.shop = shop
        self.lock = threading.Lock()
        self.solution: Solution | None = None
        self.value: int | None = None
        self.bound = lb
        self.on_progress = on_progress
        self.started = started
        self.history: list[Incumbent] = []
        self.changed = started
        self._rows: tuple[int, list[ScheduledOperation]] | None = None

    def offer_solution(self, solution: Solution, value: int) -> bool:
        """Keep a solution when it beats the incumbent; report it."""
        with self.lock:
            if self.value is not None and value >= self.value:
                return False
            self.solution, self.value = solution, value
            self.changed = time.monotonic()
            inc = Incumbent(objective=value, bound=self.bound,
                            elapsed=round(time.monotonic() - self.started, 4))  # fmt: skip
            self.history.append(inc)
        if self.on_progress is not None:
            self.on_progress(inc)
        return True

    def offer(self, schedule: list[ScheduledOperation], value: int | None = None) -> bool:
        """Keep a schedule (rows) when it beats the incumbent.

        The incumbent is the rows' machine orders, whose own makespan (every operation as
        early as the orders allow) can be below the rows': a CP-SAT solution may leave an
        idle gap. That makespan is the one kept, so that value and rows always agree.
        """
        value = makespan(schedule) if value is None else value
        if self.value is not None and value >= self.value:
            return False
        solution = self.shop.from_rows(schedule)
        return self.offer_solution(solution, self.shop.makespan(solution))

    @property
    def schedule(self) -> list[ScheduledOperation] | None:
        """The incumbent as schedule rows (built once per incumbent)."""
        got = self.snapshot()
        return None if got is None else got[1]

    def snapshot(self) -> tuple[int, list[ScheduledOperation]] | None:
        """The incumbent's value and rows, of the same incumbent (another thread may offer
        a better one between reading ``value`` and ``schedule``)."""
        with self.lock:
            solution, value = self.solution, self.value
        if solution is None or value is None:
            return None
        rows = self._rows
        if rows is None or rows[0] != value:
            rows = (value, self.shop.rows(solution))
            self._rows = rows
        return rows

    def raise_bound(self, bound: int) -> None:
        with self.lock:
            self.bound = max(self.bound, bound)


def solve_job_shop(
    problem: Problem, params: SolveParams, hint: Sequence[ScheduledOperation] | None = None
) -> Result:
    """Solve a (flexible) job shop (``problem.is_flexible_job_shop()``) to minimum makespan."""
    opts = params.jobshop
    best = Best(shop_of(problem), params.on_progress, params.started, simple_lower_bound(problem))
    _first_schedule(problem, params, best, hint)
    if problem.num_operations > HUGE_OPERATIONS:
        # leave time to turn the order into rows and for the caller to validate them
        reserve = FINISH_SECONDS_PER_OPERATION * problem.num_operations
        params = params.phase(max(0.5 * params.remaining(), params.remaining() - reserve))
    notes: dict[str, object] = {}
    # phase 0, small shops only: CP-SAT often proves them at once (ft06 in 0.03 s), and
    # the user should not wait for a tabu search that cannot prove anything
    if problem.num_operations <= opts.probe_operations and best.value is not None:
        probe = min(opts.probe_seconds, opts.probe_share * params.time_limit)
        status = _cpsat_turn(problem, best, params.phase(probe), params.seed)
        notes["probe"] = {"cpsat_workers": params.workers, "seconds": round(probe, 3)}
        if status == SolveStatus.OPTIMAL:
            return _result(problem, best, True, params, notes)
    notes["rounds"], optimal = _rounds(problem, params, best)
    if best.value is not None and best.value <= best.bound:
        optimal = True
    return _result(problem, best, optimal, params, notes)


def _first_schedule(
    problem: Problem, params: SolveParams, best: Best, hint: Sequence[ScheduledOperation] | None
) -> None:
    """The hint, else the compiled dispatching rules, each offered at once."""
    if hint:
        best.offer(list(hint))
        return
    for rule in params.jobshop.dispatch_rules:
        if best.value is not None and params.expired():
            break
        value, solution = best.shop.dispatch(rule)
        if value >= 0:
            best.offer_solution(solution, value)


def _rounds(
    problem: Problem, params: SolveParams, best: Best
) -> tuple[list[dict[str, object]], bool]:
    """Tabu search on every worker while it improves, CP-SAT on every worker (hinted,
    horizon cut to the incumbent, bound carried over) while it improves, and back.

    A tabu search on a small shop stalls within seconds (ta08 at 60 s: its last
    improvement at 1.2 s) while CP-SAT's neighbourhood search keeps finding better
    schedules from its hint; a stall hands the incumbent to the other method. Very
    large shops get tabu search only (one CP-SAT model would not finish presolve).
    """
    opts = params.jobshop
    modes = sum(len(op.modes) for job in problem.jobs for op in job.operations)
    use_cpsat = modes <= opts.cpsat_max_operations
    window = max(opts.stall_min_seconds, opts.stall_share * params.time_limit)
    tabu_until = params.started + (opts.tabu_share if use_cpsat else 1.0) * params.time_limit
    rounds: list[dict[str, object]] = []
    k = 0
    while not params.stopped() and best.value is not None:
        if best.value <= best.bound:
            return rounds, True
        if params.remaining() <= 0.2:
            break
        until = tabu_until if not rounds else params.deadline
        t0 = time.monotonic()
        n_tabu, ended = _tabu_turn(problem, params, best, window if use_cpsat else None, until, k)
        k += n_tabu
        rounds.append({"method": "tabu", "threads": n_tabu, "ended": ended,
                       "seconds": round(time.monotonic() - t0, 3)})  # fmt: skip
        if not use_cpsat:
            break
        if params.expired(0.2) or best.value is None or best.value <= best.bound:
            continue
        t0 = time.monotonic()
        halt = Halt(best, params.stop, opts.cpsat_stall_factor * window if opts.alternate else None)
        status = _cpsat_turn(problem, best, params.phase(stop=halt.event), params.seed + k)
        halt.close()
        k += 1
        ended = "optimal" if status == SolveStatus.OPTIMAL else (halt.reason or "time")
        rounds.append({"method": "cpsat", "workers": params.workers, "ended": ended,
                       "seconds": round(time.monotonic() - t0, 3)})  # fmt: skip
        if status == SolveStatus.OPTIMAL:
            return rounds, True
    return rounds, False


def _tabu_turn(
    problem: Problem,
    params: SolveParams,
    best: Best,
    window: float | None,
    until: float,
    k: int,
) -> tuple[int, str]:
    """Tabu search on every worker from the incumbent; (threads, why the turn ended:
    ``"stall"``, ``"stop"``, ``"time"`` or ``"done"`` when a search finished early)."""
    halt = Halt(best, params.stop, window)
    report_every = max(0.5, params.time_limit / 50)

    def run(seed_k: int) -> None:
        assert best.solution is not None
        best.shop.improve(
            best.solution,
            max(0.0, until - time.monotonic()),
            seed_k,
            best.bound,
            halt.event,
            best.offer_solution,
            report_every,
        )

    n_tabu = max(1, params.workers)
    threads = [
        threading.Thread(target=run, args=(params.seed + k + i,), daemon=True)
        for i in range(n_tabu)
    ]
    for thread in threads:
        thread.start()
    ended = "time"
    while not halt.event.wait(0.05) and time.monotonic() < until:
        if any(not t.is_alive() for t in threads):
            ended = "done"  # a search reached the lower bound or found a one-block path
            break
    halt.event.set()
    for thread in threads:
        thread.join()
    halt.close()
    return n_tabu, halt.reason or ended


def _result(
    problem: Problem, best: Best, optimal: bool, params: SolveParams, notes: dict[str, object]
) -> Result:
    got = best.snapshot()  # one incumbent: the threads may still offer while this runs
    assert got is not None
    value, rows = got
    bound = value if optimal else best.bound
    return Result(
        name=problem.name,
        status=SolveStatus.OPTIMAL if optimal else SolveStatus.FEASIBLE,
        objective=float(value),
        bound=float(bound),
        gap=relative_gap(value, bound),
        makespan=value,
        wall_s=round(params.elapsed(), 3),
        solver="cpsat+tabu",
        solver_version=SOLVER_VERSION,
        parameters={
            "time_limit": params.time_limit,
            "num_workers": params.workers,
            "random_seed": params.seed,
            "tabu_share": params.jobshop.tabu_share,
            **notes,
        },
        seed=params.seed,
        schedule=rows,
        progress=best.history,
        kpis={"makespan": float(value)},
    )


def _cpsat_turn(problem: Problem, best: Best, params: SolveParams, seed: int) -> SolveStatus:
    """CP-SAT on the full model, hinted with the incumbent, its horizon cut to it and its
    bound carried over, until ``params`` ends (a deadline or a stall); feeds ``best``."""
    if params.remaining() <= 0.05 or best.value is None or best.schedule is None:
        return SolveStatus.UNKNOWN
    built = CpsatModel(problem, horizon=best.value)
    cmax = built.terms[ObjectiveTerm.MAKESPAN]
    built.model.add(cmax >= best.bound)
    built.model.minimize(cmax)
    built.add_hint(best.schedule)
    solver = cp_model.CpSolver()
    parameters(solver, params.remaining(), params.workers, seed)

    class _Cb(ProgressCallback):
        def on_solution_callback(self) -> None:
            value = round(self.objective_value)
            best.raise_bound(round(self.best_objective_bound))
            if best.value is None or value < best.value:
                best.offer(built.extract(self), value)  # reads values like a solver

    callback = _Cb(None)
    with StopWatcher(solver, params.stop):
        code = solver.solve(built.model, callback)
    status = STATUS[code]
    if status.has_schedule:
        best.raise_bound(round(solver.best_objective_bound))
        if status == SolveStatus.OPTIMAL:
            best.offer(built.extract(solver))
    return status
