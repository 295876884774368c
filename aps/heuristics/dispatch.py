"""Priority dispatching: a fast serial schedule, used as the first incumbent and CP-SAT hint.

Operations become ready when their predecessors are placed; among ready operations the
one that can start earliest is placed next (ties broken by the priority rule) on the
mode that finishes first, appended after whatever its machine already runs. Machine
calendars, setups, release dates and minimum lags are respected; maximum lags and
material stock are not, so every result is checked by the caller's validator.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable

from aps.model import Id, Problem
from aps.result import ScheduledOperation
from aps.validate import makespan
from aps.worktime import Periods

Rule = Callable[[int, int], float]

RULES = ("mwkr", "spt", "mor", "lpt", "edd", "random")


def dispatch(problem: Problem, rule: str = "mwkr", seed: int = 0) -> list[ScheduledOperation]:
    """Build one schedule with the given priority ``rule`` (lower key = placed first)."""
    jobs = problem.jobs
    horizon_guess = problem.horizon or 1 << 40
    periods = {m.id: Periods(m.unavailable, horizon_guess) for m in problem.machines}
    machines = {m.id: m for m in problem.machines}
    families = [
        [op.family if op.family is not None else job.family for op in job.operations]
        for job in jobs
    ]
    mean_dur = [
        [sum(m.duration + m.setup for m in op.modes) / len(op.modes) for op in job.operations]
        for job in jobs
    ]
    succs: list[list[list[tuple[int, int]]]] = [[[] for _ in job.operations] for job in jobs]
    npred: list[list[int]] = [[0] * len(job.operations) for job in jobs]
    for j, job in enumerate(jobs):
        for p, s, lag in job.predecessor_lags():
            succs[j][p].append((s, lag.min_lag))
            npred[j][s] += 1
    # work remaining along the longest successor path (for MWKR), ops remaining (MOR)
    tail = [[0.0] * len(job.operations) for job in jobs]
    count = [[0] * len(job.operations) for job in jobs]
    for j, job in enumerate(jobs):
        for o in reversed(_topological(len(job.operations), succs[j])):
            best = max((tail[j][s] for s, _ in succs[j][o]), default=0.0)
            tail[j][o] = mean_dur[j][o] + best
            count[j][o] = 1 + max((count[j][s] for s, _ in succs[j][o]), default=0)
    rng = random.Random(seed)

    def priority(j: int, o: int) -> float:
        if rule == "mwkr":
            return -tail[j][o]
        if rule == "spt":
            return mean_dur[j][o]
        if rule == "lpt":
            return -mean_dur[j][o]
        if rule == "mor":
            return -count[j][o]
        if rule == "edd":
            due = jobs[j].due if jobs[j].due is not None else jobs[j].deadline
            return float(due) if due is not None else float(1 << 40)
        if rule == "random":
            return rng.random()
        raise ValueError(f"unknown dispatching rule {rule!r}; choose one of {', '.join(RULES)}")

    ready_at: list[list[int]] = [[job.release] * len(job.operations) for job in jobs]
    machine_free: dict[Id, int] = {m.id: 0 for m in problem.machines}
    machine_family: dict[Id, str | None] = {m.id: None for m in problem.machines}
    machine_used: dict[Id, bool] = {m.id: False for m in problem.machines}

    def place(j: int, o: int) -> tuple[int, int, int, Id, int]:
        """Best (end, setup_start, start, machine, changeover) for op (j, o) now."""
        best: tuple[int, int, int, Id, int] | None = None
        op = jobs[j].operations[o]
        for mode in op.modes:
            m = mode.machine
            matrix_name = machines[m].setup_matrix
            change = 0
            if matrix_name is not None:
                prev = machine_family[m] if machine_used[m] else None
                change = problem.setup_matrices[matrix_name].time(prev, families[j][o])
            setup = mode.setup + change
            per = periods[m]
            run = min(1, mode.duration) if op.interruptible else mode.duration
            if machines[m].off_shift_setup:  # the run alone keeps to the calendar
                start = per.earliest_fit(max(machine_free[m] + setup, ready_at[j][o]), run)
                setup_start = start - setup
            else:
                setup_start, start = _setup_in_shift(
                    per, max(machine_free[m], ready_at[j][o] - setup, 0), setup, run,
                    ready_at[j][o],
                )  # fmt: skip
            end = per.finish(start, mode.duration) if op.interruptible else start + mode.duration
            cand = (end, setup_start, start, m, change)
            if best is None or cand[0] < best[0]:
                best = cand
        assert best is not None
        return best

    heap: list[tuple[int, float, int, int, int]] = []
    counter = 0
    for j, job in enumerate(jobs):
        for o in range(len(job.operations)):
            if npred[j][o] == 0:
                heap.append((place(j, o)[2], priority(j, o), counter, j, o))
                counter += 1
    heapq.heapify(heap)
    out: list[ScheduledOperation] = []
    while heap:
        est, prio, _, j, o = heapq.heappop(heap)
        end, setup_start, start, m, _change = place(j, o)
        if start > est:
            counter += 1
            heapq.heappush(heap, (start, prio, counter, j, o))
            continue
        job = jobs[j]
        out.append(
            ScheduledOperation(
                job=job.id,
                op=job.operations[o].id,
                machine=m,
                start=start,
                end=end,
                setup_start=setup_start if setup_start != start else None,
            )
        )
        machine_free[m] = max(machine_free[m], end)
        machine_family[m] = families[j][o]
        machine_used[m] = True
        for s, min_lag in succs[j][o]:
            ready_at[j][s] = max(ready_at[j][s], end + min_lag)
            npred[j][s] -= 1
            if npred[j][s] == 0:
                counter += 1
                heapq.heappush(heap, (place(j, s)[2], priority(j, s), counter, j, s))
    return out


def best_dispatch(
    problem: Problem, rules: tuple[str, ...] = ("mwkr", "mor", "spt", "edd"), seed: int = 0
) -> list[ScheduledOperation]:
    """The shortest-makespan schedule among several rules (cheap, and no rule wins always)."""
    best: list[ScheduledOperation] | None = None
    for rule in rules:
        sched = dispatch(problem, rule, seed)
        if best is None or makespan(sched) < makespan(best):
            best = sched
    assert best is not None
    return best


def _setup_in_shift(
    per: Periods, earliest: int, setup: int, run: int, ready: int
) -> tuple[int, int]:
    """(setup start, start): the setup and (for interruptible runs) the first run tick
    share one period, the setup starting no earlier than ``earliest`` and the run no
    earlier than ``ready``."""
    t = earliest
    while True:
        setup_start = per.earliest_fit(t, setup + run)
        if setup_start + setup >= ready:
            return setup_start, setup_start + setup
        t = ready - setup


def _topological(n: int, succs: list[list[tuple[int, int]]]) -> list[int]:
    indeg = [0] * n
    for o in range(n):
        for s, _ in succs[o]:
            indeg[s] += 1
    order = []
    stack = [o for o in range(n) if indeg[o] == 0]
    while stack:
        o = stack.pop()
        order.append(o)
        for s, _ in succs[o]:
            indeg[s] -= 1
            if indeg[s] == 0:
                stack.append(s)
    return order
