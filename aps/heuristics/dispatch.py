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

from aps.model import Id, Problem
from aps.result import ScheduledOperation
from aps.validate import makespan
from aps.worktime import Periods

RULES = ("mwkr", "spt", "mor", "lpt", "edd", "random")


def dispatch(problem: Problem, rule: str = "mwkr", seed: int = 0) -> list[ScheduledOperation]:
    """Build one schedule with the given priority ``rule`` (lower key = placed first)."""
    if rule not in RULES:
        raise ValueError(f"unknown dispatching rule {rule!r}; choose one of {', '.join(RULES)}")
    return _Dispatch(problem, rule, seed).run()


class _Dispatch:
    """One serial dispatch: the jobs' tables, the machines' state, and the ready heap."""

    def __init__(self, problem: Problem, rule: str, seed: int) -> None:
        self.problem, self.rule, self.rng = problem, rule, random.Random(seed)
        self.jobs = jobs = problem.jobs
        horizon_guess = problem.horizon or 1 << 40
        self.periods = {m.id: Periods(m.unavailable, horizon_guess) for m in problem.machines}
        self.machines = {m.id: m for m in problem.machines}
        self.families = [
            [op.family if op.family is not None else job.family for op in job.operations]
            for job in jobs
        ]
        self.mean_dur = [
            [sum(m.duration + m.setup for m in op.modes) / len(op.modes) for op in job.operations]
            for job in jobs
        ]
        self.succs: list[list[list[tuple[int, int]]]] = [[[] for _ in j.operations] for j in jobs]
        self.npred: list[list[int]] = [[0] * len(job.operations) for job in jobs]
        for j, job in enumerate(jobs):
            for p, s, lag in job.predecessor_lags():
                self.succs[j][p].append((s, lag.min_lag))
                self.npred[j][s] += 1
        self._tails()
        self.ready_at: list[list[int]] = [[job.release] * len(job.operations) for job in jobs]
        self.free: dict[Id, int] = {m.id: 0 for m in problem.machines}
        self.family: dict[Id, str | None] = {m.id: None for m in problem.machines}
        self.used: dict[Id, bool] = {m.id: False for m in problem.machines}

    def _tails(self) -> None:
        """Work remaining along the longest successor path (MWKR), operations left (MOR)."""
        self.tail = [[0.0] * len(job.operations) for job in self.jobs]
        self.count = [[0] * len(job.operations) for job in self.jobs]
        for j, job in enumerate(self.jobs):
            succs = self.succs[j]
            for o in reversed(_topological(len(job.operations), succs)):
                best = max((self.tail[j][s] for s, _ in succs[o]), default=0.0)
                self.tail[j][o] = self.mean_dur[j][o] + best
                self.count[j][o] = 1 + max((self.count[j][s] for s, _ in succs[o]), default=0)

    def priority(self, j: int, o: int) -> float:
        rule, job = self.rule, self.jobs[j]
        if rule == "mwkr":
            return -self.tail[j][o]
        if rule == "spt":
            return self.mean_dur[j][o]
        if rule == "lpt":
            return -self.mean_dur[j][o]
        if rule == "mor":
            return -self.count[j][o]
        if rule == "edd":
            due = job.due if job.due is not None else job.deadline
            return float(due) if due is not None else float(1 << 40)
        return self.rng.random()  # "random"

    def place(self, j: int, o: int) -> tuple[int, int, int, Id, int]:
        """Best (end, setup_start, start, machine, changeover) for op (j, o) now."""
        best: tuple[int, int, int, Id, int] | None = None
        op = self.jobs[j].operations[o]
        ready = self.ready_at[j][o]
        for mode in op.modes:
            m = mode.machine
            matrix_name = self.machines[m].setup_matrix
            change = 0
            if matrix_name is not None:
                prev = self.family[m] if self.used[m] else None
                change = self.problem.setup_matrices[matrix_name].time(prev, self.families[j][o])
            setup = mode.setup + change
            per = self.periods[m]
            run = min(1, mode.duration) if op.interruptible else mode.duration
            if self.machines[m].off_shift_setup:  # the run alone keeps to the calendar
                start = per.earliest_fit(max(self.free[m] + setup, ready), run)
                setup_start = start - setup
            else:
                setup_start, start = _setup_in_shift(
                    per, max(self.free[m], ready - setup, 0), setup, run, ready
                )
            end = per.finish(start, mode.duration) if op.interruptible else start + mode.duration
            if best is None or end < best[0]:
                best = (end, setup_start, start, m, change)
        assert best is not None
        return best

    def run(self) -> list[ScheduledOperation]:
        """Place the ready operation that can start first (ties: by the rule) until none is
        left; one placed late since it was queued goes back with its new start."""
        heap: list[tuple[int, float, int, int, int]] = []
        counter = 0
        for j, job in enumerate(self.jobs):
            for o in range(len(job.operations)):
                if self.npred[j][o] == 0:
                    heap.append((self.place(j, o)[2], self.priority(j, o), counter, j, o))
                    counter += 1
        heapq.heapify(heap)
        out: list[ScheduledOperation] = []
        while heap:
            est, prio, _, j, o = heapq.heappop(heap)
            end, setup_start, start, m, _change = self.place(j, o)
            counter += 1
            if start > est:
                heapq.heappush(heap, (start, prio, counter, j, o))
                continue
            job = self.jobs[j]
            setup = setup_start if setup_start != start else None
            out.append(
                ScheduledOperation(job=job.id, op=job.operations[o].id, machine=m, start=start,
                                   end=end, setup_start=setup)
            )  # fmt: skip
            self.free[m] = max(self.free[m], end)
            self.family[m] = self.families[j][o]
            self.used[m] = True
            for s, min_lag in self.succs[j][o]:
                self.ready_at[j][s] = max(self.ready_at[j][s], end + min_lag)
                self.npred[j][s] -= 1
                if self.npred[j][s] == 0:
                    counter += 1
                    heapq.heappush(heap, (self.place(j, s)[2], self.priority(j, s), counter, j, s))
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
