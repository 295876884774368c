"""Peers for the benchmark: other ways a user could solve the same job shop.

``plain`` is the textbook CP-SAT model (:mod:`aps.solvers.plain`); ``pyjobshop`` is
PyJobShop's OR-Tools backend, installed with the optional ``bench`` extra; it models
flexible shops natively (one mode per eligible machine). Each peer
returns our :class:`~aps.result.Result`, so its schedule goes through our validator.
"""

from __future__ import annotations

import time
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from aps.model import Problem
from aps.result import Result, ScheduledOperation, SolveStatus, relative_gap


def solve_pyjobshop(problem: Problem, time_limit: float, workers: int, seed: int) -> Result:
    """Solve a (flexible) job shop with PyJobShop at the given limits (makespan objective)."""
    try:
        from pyjobshop import Model
    except ImportError as exc:
        raise ValueError(
            "the pyjobshop peer needs the bench extra: pip install 'aps[bench]'"
        ) from exc
    if not problem.is_flexible_job_shop():
        raise ValueError("the pyjobshop peer is wired for (flexible) job shops only")
    started = time.monotonic()
    model = Model()
    machines = {m.id: model.add_machine() for m in problem.machines}
    tasks: list[tuple[Any, Any]] = []
    for job in problem.jobs:
        pj = model.add_job()
        prev = None
        for op in job.operations:
            task = model.add_task(job=pj)
            for mode in op.modes:
                model.add_mode(task, machines[mode.machine], mode.duration)
            if prev is not None:
                model.add_end_before_start(prev, task)
            prev = task
            tasks.append((job.id, op.id))
    model.set_objective(weight_makespan=1)
    result = model.solve(
        time_limit=time_limit, display=False, num_workers=workers, random_seed=seed
    )
    status = {
        "OPTIMAL": SolveStatus.OPTIMAL,
        "FEASIBLE": SolveStatus.FEASIBLE,
        "INFEASIBLE": SolveStatus.INFEASIBLE,
    }.get(result.status.name, SolveStatus.UNKNOWN)
    schedule: list[ScheduledOperation] = []
    objective = bound = None
    if status.has_schedule:
        ids = [m.id for m in problem.machines]  # PyJobShop's resource index is ours
        for (job_id, op_id), st in zip(tasks, result.best.tasks, strict=True):
            schedule.append(
                ScheduledOperation(job=job_id, op=op_id, machine=ids[st.resources[0]],
                                   start=st.start, end=st.end)
            )  # fmt: skip
        objective = float(result.objective)
        bound = float(result.lower_bound)
    try:
        peer_version = f"pyjobshop {version('pyjobshop')}, ortools {version('ortools')}"
    except PackageNotFoundError:
        peer_version = "pyjobshop"
    return Result(
        name=problem.name,
        status=status,
        objective=objective,
        bound=bound,
        gap=relative_gap(objective, bound),
        makespan=int(objective) if objective is not None else None,
        wall_s=round(time.monotonic() - started, 3),
        solver="pyjobshop",
        solver_version=peer_version,
        parameters={"time_limit": time_limit, "num_workers": workers, "random_seed": seed},
        seed=seed,
        schedule=schedule,
    )
