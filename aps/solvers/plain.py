"""The textbook CP-SAT (flexible) job-shop model, kept as the benchmark baseline.

One interval per operation (flexible shops: one optional interval per eligible machine,
exactly one present), job precedences, one NoOverlap per machine, minimise the
makespan: what a user writes from the OR-Tools samples (``minimal_jobshop_sat.py``,
``flexible_job_shop_sat.py``). It is deliberately plain; improvements belong in our
backends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ortools.sat.python import cp_model

from aps.model import Id, Problem
from aps.params import SolveParams
from aps.result import Result, ScheduledOperation, relative_gap
from aps.solvers.cpsat.runtime import (
    SOLVER_VERSION,
    STATUS,
    ProgressCallback,
    StopWatcher,
    parameters,
)


@dataclass
class _Task:
    """One operation's start and end, and its (machine, presence) alternatives."""

    job: Id
    op: Id
    start: cp_model.IntVar
    end: cp_model.IntVar
    modes: list[tuple[Id, cp_model.IntVar | int]]


def solve_plain(
    problem: Problem, params: SolveParams, hint: Sequence[ScheduledOperation] | None = None
) -> Result:
    """Solve a (flexible) job shop with the textbook model (``hint`` is not used)."""
    del hint  # the textbook model takes no warm start
    if not problem.is_flexible_job_shop():
        raise ValueError(
            "the plain baseline models only (flexible) job shops (chains of operations on "
            "eligible machines, makespan); use solver='cpsat'"
        )
    model, tasks = _build(problem)
    solver = cp_model.CpSolver()
    recorded = parameters(solver, params.remaining(), params.workers, params.seed)
    callback = ProgressCallback(params.on_progress, started=params.started)
    with StopWatcher(solver, params.stop):
        code = solver.solve(model, callback)
    status = STATUS[code]
    schedule: list[ScheduledOperation] = []
    objective = bound = None
    if status.has_schedule:
        schedule = [_row(solver, t) for t in tasks]
        objective = float(solver.objective_value)
        bound = float(solver.best_objective_bound)
    return Result(
        name=problem.name,
        status=status,
        objective=objective,
        bound=bound,
        gap=relative_gap(objective, bound),
        makespan=int(objective) if objective is not None else None,
        wall_s=round(params.elapsed(), 3),
        solver="plain-cpsat",
        solver_version=SOLVER_VERSION,
        parameters=recorded,
        seed=params.seed,
        schedule=schedule,
        progress=callback.history,
    )


def _build(problem: Problem) -> tuple[cp_model.CpModel, list[_Task]]:
    model = cp_model.CpModel()
    horizon = sum(
        max(md.duration for md in op.modes) for job in problem.jobs for op in job.operations
    )
    by_machine: dict[Id, list[cp_model.IntervalVar]] = {m.id: [] for m in problem.machines}
    tasks: list[_Task] = []
    last_ends = []
    for j, job in enumerate(problem.jobs):
        previous: cp_model.IntVar | None = None
        for o, op in enumerate(job.operations):
            s = model.new_int_var(0, horizon, f"s{j}_{o}")
            e = model.new_int_var(0, horizon, f"e{j}_{o}")
            task = _Task(job.id, op.id, s, e, [])
            if len(op.modes) == 1:
                md = op.modes[0]
                by_machine[md.machine].append(
                    model.new_interval_var(s, md.duration, e, f"i{j}_{o}")
                )
                task.modes.append((md.machine, 1))
            else:
                for md in op.modes:
                    lit = model.new_bool_var(f"p{j}_{o}_{md.machine}")
                    by_machine[md.machine].append(
                        model.new_optional_interval_var(
                            s, md.duration, e, lit, f"i{j}_{o}_{md.machine}"
                        )
                    )
                    task.modes.append((md.machine, lit))
                model.add_exactly_one(lit for _, lit in task.modes)
            if previous is not None:
                model.add(s >= previous)
            previous = e
            tasks.append(task)
        assert previous is not None
        last_ends.append(previous)
    for intervals in by_machine.values():
        model.add_no_overlap(intervals)
    makespan = model.new_int_var(0, horizon, "makespan")
    model.add_max_equality(makespan, last_ends)
    model.minimize(makespan)
    return model, tasks


def _row(solver: cp_model.CpSolver, task: _Task) -> ScheduledOperation:
    machine = next(m for m, lit in task.modes if isinstance(lit, int) or solver.boolean_value(lit))
    return ScheduledOperation(
        job=task.job,
        op=task.op,
        machine=machine,
        start=solver.value(task.start),
        end=solver.value(task.end),
    )
