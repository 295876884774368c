"""Large-neighbourhood search: CP-SAT re-sequences a neighbourhood of the incumbent.

A round picks a neighbourhood of about ``size`` operations (see :func:`neighbourhood`),
builds a small CP-SAT model of it with everything else fixed where it stands, solves it
for a second or two from the incumbent as hint, and merges the answer back into the
decoder's list: every operation of the neighbourhood takes the machine CP-SAT chose
and its place in the list by CP-SAT's start; everything else keeps its incumbent start
as its sort key. The decoder then places the whole plant again, so setups, calendars,
lags and stock of the merged list are exactly what the plant demands (the small model
leaves stock out and blocks the fixed operations' machine time); the round is kept when
the decoded schedule is better (Godard, Laborie & Nuijten's partial-order relaxation: the
small model proposes an order, the decoder decides the schedule).

Neighbourhoods: the late jobs with the largest weighted tardiness and the operations
that compete with them on their machines around their critical operations; a time
window on the most loaded machine group; a random time window.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from aps.heuristics.arrays import I64, NONE, PlantArrays, operation_keys
from aps.model import Id, Job, Machine, Operation, Placement, Problem, Window
from aps.params import SolveParams
from aps.result import ScheduledOperation
from aps.solvers.cpsat.solve import solve_cpsat

#: modes a free operation keeps besides its incumbent machine
ALTERNATIVES = 2
KINDS = ("late", "bottleneck", "window")


@dataclass
class ListState:
    """The list state the neighbourhoods are read from."""

    order: I64
    mode: I64
    busy: I64
    start: I64
    end: I64


def neighbourhood(
    kind: str, a: PlantArrays, inc: ListState, size: int, rng: random.Random
) -> list[int]:
    """About ``size`` unpinned operations to re-optimise together."""
    if kind == "late":
        seeds = _late_operations(a, inc, rng)
    elif kind == "bottleneck":
        seeds = _bottleneck_operations(a, inc, rng)
    else:
        seeds = [int(inc.order[rng.randrange(len(inc.order))])] if len(inc.order) else []
    if not seeds:
        return []
    return _grow(a, inc, seeds, size)


def _late_operations(a: PlantArrays, inc: ListState, rng: random.Random) -> list[int]:
    """Operations of late jobs, the latest-finishing ones of the worst jobs first."""
    late: list[tuple[int, int]] = []
    for j in range(len(a.job_ptr) - 1):
        lo, hi = int(a.job_ptr[j]), int(a.job_ptr[j + 1])
        c = int(inc.end[lo:hi].max())
        if a.job_due[j] != NONE and c > a.job_due[j]:
            late.append((int(a.job_weight[j]) * (c - int(a.job_due[j])), j))
    if not late:
        return []
    late.sort(reverse=True)
    top = late[: max(1, min(len(late), 3 + rng.randrange(5)))]
    out = []
    for _, j in top:
        for i in range(int(a.job_ptr[j]), int(a.job_ptr[j + 1])):
            if a.op_fixed_mode[i] < 0:
                out.append(i)
    return out


def _bottleneck_operations(a: PlantArrays, inc: ListState, rng: random.Random) -> list[int]:
    """A random operation on one of the busiest machines."""
    machine = a.mode_machine[inc.mode]
    load = np.bincount(machine, weights=(inc.end - inc.busy), minlength=len(a.cal_ptr) - 1)
    busiest = np.argsort(-load)[: max(1, len(load) // 10)]
    m = int(busiest[rng.randrange(len(busiest))])
    ops = [int(i) for i in inc.order if machine[i] == m]
    return [ops[rng.randrange(len(ops))]] if ops else []


def _grow(a: PlantArrays, inc: ListState, seeds: list[int], size: int) -> list[int]:
    """The seeds and the operations around them in time on their machines (and the
    alternatives' machines), nearest first, up to ``size``."""
    machine = a.mode_machine[inc.mode]
    by_machine: dict[int, list[int]] = defaultdict(list)
    for i in inc.order:
        by_machine[int(machine[i])].append(int(i))
    chosen = dict.fromkeys(seeds)
    centre: dict[int, list[int]] = {m: [] for m in by_machine}
    for i in seeds:
        for k in range(int(a.mode_ptr[i]), int(a.mode_ptr[i + 1])):
            centre.setdefault(int(a.mode_machine[k]), []).append(int(inc.start[i]))
    candidates: list[tuple[int, int]] = []
    for m, times in centre.items():
        if not times:
            continue
        for i in by_machine.get(m, ()):
            gap = min(abs(int(inc.start[i]) - t) for t in times)
            candidates.append((gap, i))
    candidates.sort()
    for _, i in candidates:
        if len(chosen) >= size:
            break
        chosen.setdefault(i)
    return list(chosen)


def subproblem(
    problem: Problem, a: PlantArrays, inc: ListState, free: list[int]
) -> tuple[Problem, list[ScheduledOperation]]:
    """The CP-SAT model of a neighbourhood and its hint.

    Free operations keep their incumbent machine and :data:`ALTERNATIVES` others. Their
    jobs' other operations are pinned where they are (precedences and lags to them
    hold); on the machines the free operations may use, every other operation in their
    time span is pinned too when the machine has a setup matrix (its family matters for
    changeovers), else its busy time becomes an unavailable window; time before the
    neighbourhood's earliest start is blocked. Stock is left out (the decoder checks it).
    """
    keys = operation_keys(problem)
    free_set = set(free)
    machine = a.mode_machine[inc.mode]
    ids = [m.id for m in problem.machines]
    used = {
        int(a.mode_machine[k])
        for i in free
        for k in range(int(a.mode_ptr[i]), int(a.mode_ptr[i + 1]))
    }
    t0 = min(int(inc.busy[i]) for i in free)
    t1 = max(int(inc.end[i]) for i in free)
    jobs_free = {int(a.op_job[i]) for i in free}
    pinned = {i for i in range(len(keys)) if int(a.op_job[i]) in jobs_free and i not in free_set}
    blocked: dict[int, list[Window]] = defaultdict(list)
    for i in range(len(keys)):
        if i in free_set or i in pinned or int(machine[i]) not in used:
            continue
        if inc.end[i] <= t0 or inc.busy[i] >= t1 or inc.end[i] <= inc.busy[i]:
            continue
        if problem.machines[int(machine[i])].setup_matrix is not None:
            pinned.add(i)
        else:
            blocked[int(machine[i])].append(
                Window(start=int(inc.busy[i]), end=int(inc.end[i]), reason="fixed")
            )
    index = {key: i for i, key in enumerate(keys)}
    jobs, hint = _jobs(problem, a, inc, free_set, pinned, index, ids)
    machines = [
        _blocked_machine(m, blocked.get(k, []), t0 if k in used else 0)
        for k, m in enumerate(problem.machines)
    ]
    sub = Problem.model_validate(
        {
            **problem.model_dump(exclude={"jobs", "machines", "materials", "stability", "horizon"}),
            "name": f"{problem.name} neighbourhood",
            "jobs": [j.model_dump() for j in jobs],
            "machines": [m.model_dump() for m in machines],
        }
    )
    return sub, hint


def _jobs(
    problem: Problem,
    a: PlantArrays,
    inc: ListState,
    free: set[int],
    pinned: set[int],
    index: dict[tuple[Id, Id], int],
    ids: list[Id],
) -> tuple[list[Job], list[ScheduledOperation]]:
    jobs: list[Job] = []
    hint: list[ScheduledOperation] = []
    for job in problem.jobs:
        mine = [o for o in job.operations if index[(job.id, o.id)] in free | pinned]
        if not mine:
            continue
        kept = {o.id for o in mine}
        ops: list[Operation] = []
        for op in mine:
            i = index[(job.id, op.id)]
            row = _row(job.id, op.id, inc, i, ids[int(a.mode_machine[inc.mode[i]])])
            hint.append(row)
            preds = [
                lag for p, s, lag in job.predecessor_lags()
                if job.operations[s].id == op.id and job.operations[p].id in kept
            ]  # fmt: skip
            update: dict[str, Any] = {"consumes": [], "produces": [], "predecessors": preds}
            if i in free:
                update["modes"] = _modes(op, row.machine)
            elif op.fixed is None:
                update["modes"] = [m for m in op.modes if m.machine == row.machine]
                update["fixed"] = Placement(
                    machine=row.machine, start=row.start, end=row.end,
                    setup_start=row.setup_start,
                )  # fmt: skip
            ops.append(op.model_copy(update=update))
        release = job.release if any(index[(job.id, o.id)] in free for o in mine) else 0
        jobs.append(job.model_copy(update={"operations": ops, "release": release}))
    return jobs, hint


def _row(job: Id, op: Id, inc: ListState, i: int, machine: Id) -> ScheduledOperation:
    b, s = int(inc.busy[i]), int(inc.start[i])
    return ScheduledOperation(job=job, op=op, machine=machine, start=s, end=int(inc.end[i]),
                              setup_start=b if b < s else None)  # fmt: skip


def _modes(op: Operation, current: Id) -> list[Any]:
    """The incumbent machine and the fastest few others."""
    others = sorted((m for m in op.modes if m.machine != current),
                    key=lambda m: (m.duration + m.setup, str(m.machine)))  # fmt: skip
    return [m for m in op.modes if m.machine == current] + others[:ALTERNATIVES]


def _blocked_machine(machine: Machine, windows: list[Window], before: int) -> Machine:
    extra = list(windows)
    if before > 0:
        extra.append(Window(start=0, end=before, reason="before the neighbourhood"))
    if not extra:
        return machine
    return Machine.model_validate(
        {**machine.model_dump(), "unavailable": [*machine.unavailable, *extra]}
    )


def merged_list(
    problem: Problem,
    a: PlantArrays,
    inc: ListState,
    free: list[int],
    rows: list[ScheduledOperation],
) -> tuple[I64, I64]:
    """The incumbent list with the neighbourhood re-sequenced by CP-SAT's starts, and its
    modes (a topological order again: ties and precedences are kept)."""
    index = {key: i for i, key in enumerate(operation_keys(problem))}
    machine_index = problem.machine_index()
    key_of = {int(i): (int(inc.start[i]), int(inc.busy[i]), p) for p, i in enumerate(inc.order)}
    mode = inc.mode.copy()
    free_set = set(free)
    for r in rows:
        i = index[(r.job, r.op)]
        if i not in free_set:
            continue
        key_of[i] = (r.start, r.busy_from, key_of[i][2])
        m = machine_index[r.machine]
        for k in range(int(a.mode_ptr[i]), int(a.mode_ptr[i + 1])):
            if a.mode_machine[k] == m:
                mode[i] = k
    ordered = sorted(key_of, key=lambda i: key_of[i])
    return _topological(a, ordered), mode


def _topological(a: PlantArrays, ordered: list[int]) -> I64:
    """``ordered`` with every operation after its unpinned predecessors (stable)."""
    n = len(a.op_job)
    placed = np.zeros(n, dtype=bool)
    for i in range(n):
        placed[i] = a.op_fixed_mode[i] >= 0
    waiting: dict[int, list[int]] = defaultdict(list)
    out: list[int] = []

    def ready(i: int) -> int | None:
        for k in range(int(a.pred_ptr[i]), int(a.pred_ptr[i + 1])):
            p = int(a.pred_op[k])
            if not placed[p]:
                return p
        return None

    for i in ordered:
        stack = [i]
        while stack:
            x = stack.pop()
            blocker = ready(x)
            if blocker is not None:
                waiting[blocker].append(x)
                continue
            placed[x] = True
            out.append(x)
            stack.extend(reversed(waiting.pop(x, [])))
    return np.asarray(out, dtype=np.int64)


def lns_round(
    problem: Problem,
    a: PlantArrays,
    inc: ListState,
    kind: str,
    size: int,
    params: SolveParams,
    rng: random.Random,
) -> tuple[I64, I64, str] | None:
    """One round: a merged list and modes to decode, and what CP-SAT said; None when the
    neighbourhood was empty or CP-SAT found nothing."""
    free = neighbourhood(kind, a, inc, size, rng)
    if len(free) < 2:
        return None
    sub, hint = subproblem(problem, a, inc, free)
    result = solve_cpsat(sub, params, hint)
    if not (result.status.has_schedule and result.schedule):
        return None
    order, mode = merged_list(problem, a, inc, free, result.schedule)
    return order, mode, str(result.status)
