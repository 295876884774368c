"""The textbook CP-SAT job-shop model, kept as the benchmark baseline.

One interval per operation, job precedences, one NoOverlap per machine, minimise the
makespan: what a user writes from the OR-Tools samples. It is deliberately plain;
improvements belong in :mod:`aps.solvers.cpsat`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ortools.sat.python import cp_model

from aps.model import Problem
from aps.result import Incumbent, Result, ScheduledOperation, relative_gap
from aps.solvers.cpsat.runtime import (
    SOLVER_VERSION,
    STATUS,
    ProgressCallback,
    StopWatcher,
    parameters,
)


def solve_plain(
    problem: Problem,
    time_limit: float,
    workers: int,
    seed: int,
    on_progress: Callable[[Incumbent], None] | None = None,
    stop: threading.Event | None = None,
) -> Result:
    """Solve a pure job shop with the textbook model."""
    if not problem.is_job_shop():
        raise ValueError(
            "the plain baseline models only classic job shops (one machine per operation, "
            "chain precedences, makespan); use solver='cpsat'"
        )
    started = time.monotonic()
    model = cp_model.CpModel()
    horizon = sum(op.modes[0].duration for job in problem.jobs for op in job.operations)
    by_machine: dict[object, list[cp_model.IntervalVar]] = {m.id: [] for m in problem.machines}
    starts: list[list[cp_model.IntVar]] = []
    ends: list[list[cp_model.IntVar]] = []
    for j, job in enumerate(problem.jobs):
        js: list[cp_model.IntVar] = []
        je: list[cp_model.IntVar] = []
        for o, op in enumerate(job.operations):
            d = op.modes[0].duration
            s = model.new_int_var(0, horizon, f"s{j}_{o}")
            e = model.new_int_var(0, horizon, f"e{j}_{o}")
            by_machine[op.modes[0].machine].append(model.new_interval_var(s, d, e, f"i{j}_{o}"))
            if o > 0:
                model.add(s >= je[-1])
            js.append(s)
            je.append(e)
        starts.append(js)
        ends.append(je)
    for intervals in by_machine.values():
        model.add_no_overlap(intervals)
    makespan = model.new_int_var(0, horizon, "makespan")
    model.add_max_equality(makespan, [je[-1] for je in ends])
    model.minimize(makespan)

    solver = cp_model.CpSolver()
    params = parameters(solver, time_limit, workers, seed)
    callback = ProgressCallback(on_progress, started=started)
    with StopWatcher(solver, stop):
        code = solver.solve(model, callback)
    status = STATUS[code]
    schedule: list[ScheduledOperation] = []
    objective = bound = None
    if status.has_schedule:
        for j, job in enumerate(problem.jobs):
            for o, op in enumerate(job.operations):
                schedule.append(
                    ScheduledOperation(
                        job=job.id,
                        op=op.id,
                        machine=op.modes[0].machine,
                        start=solver.value(starts[j][o]),
                        end=solver.value(ends[j][o]),
                    )
                )
        objective = float(solver.objective_value)
        bound = float(solver.best_objective_bound)
    return Result(
        name=problem.name,
        status=status,
        objective=objective,
        bound=bound,
        gap=relative_gap(objective, bound),
        makespan=int(objective) if objective is not None else None,
        wall_s=round(time.monotonic() - started, 3),
        solver="plain-cpsat",
        solver_version=SOLVER_VERSION,
        parameters=params,
        seed=seed,
        schedule=schedule,
        progress=callback.history,
    )
