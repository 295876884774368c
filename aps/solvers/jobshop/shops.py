"""The two shops the job-shop portfolio searches: classic and flexible.

The portfolio (:mod:`.strategy`) keeps its incumbent as a :class:`Solution`, a machine
order plus the machine and duration of every operation, and asks a :class:`Shop` to
turn dispatching times or schedule rows into one, a solution back into rows, and to
improve one by tabu search. A classic shop's machines never change, so its solutions
share the shop's own machine and duration arrays; a flexible shop's carry their own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol

import numpy as np

from aps.heuristics.fastdispatch import ShopArrays
from aps.model import Mode, Problem
from aps.result import ScheduledOperation
from aps.solvers.jobshop.flexible import flexible_tabu, starts_of
from aps.solvers.jobshop.tabu import I64, JobShopArrays, tabu_improve


class Solution(NamedTuple):
    """Machine sequences concatenated by machine; each operation's machine and duration."""

    seq: I64
    machine: I64
    duration: I64


OnImprove = Callable[[Solution, int], object]


class Shop(Protocol):
    """What the portfolio needs of a shop (see the module docstring)."""

    def dispatch(self, rule: str) -> tuple[int, Solution]:
        """(makespan, solution) of a compiled dispatching rule
        (:mod:`aps.heuristics.fastdispatch`); makespan -1 when the rule failed.

        The makespan is the solution's own (its machine orders with every operation as
        early as they allow), which can be shorter than the rule's timetable."""
        ...

    def from_rows(self, schedule: Sequence[ScheduledOperation]) -> Solution: ...

    def rows(self, solution: Solution) -> list[ScheduledOperation]: ...

    def makespan(self, solution: Solution) -> int:
        """The makespan of :meth:`rows`: every operation as early as the machine orders
        allow, so at most that of any schedule the solution was made from."""
        ...

    def improve(
        self, solution: Solution, seconds: float, seed: int, lower_bound: int,
        stop: threading.Event, on_improve: OnImprove, report_every: float,
    ) -> None:  # fmt: skip
        """Tabu search from ``solution`` until ``seconds`` pass or ``stop`` is set."""
        ...


class ClassicShop:
    """Every operation on its one machine: N7 tabu search (:mod:`.tabu`)."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.a = JobShopArrays.from_problem(problem)
        self._dispatcher: ShopArrays | None = None

    def _solution(self, seq: I64) -> Solution:
        return Solution(seq, self.a.machine, self.a.duration)

    def dispatch(self, rule: str) -> tuple[int, Solution]:
        if self._dispatcher is None:
            self._dispatcher = ShopArrays(self.problem)
        value, start, _, _ = self._dispatcher.dispatch(rule)
        solution = self._solution(self.a.sequence_of(start))
        return (value if value < 0 else self.makespan(solution)), solution

    def makespan(self, solution: Solution) -> int:
        return int((self.a.starts(solution.seq) + self.a.duration).max(initial=0))

    def from_rows(self, schedule: Sequence[ScheduledOperation]) -> Solution:
        return self._solution(self.a.sequences_from(self.problem, list(schedule)))

    def rows(self, solution: Solution) -> list[ScheduledOperation]:
        return self.a.schedule(self.problem, self.a.starts(solution.seq))

    def improve(
        self, solution: Solution, seconds: float, seed: int, lower_bound: int,
        stop: threading.Event, on_improve: OnImprove, report_every: float,
    ) -> None:  # fmt: skip
        tabu_improve(self.a, solution.seq, seconds, seed=seed, lower_bound=lower_bound,
                     stop=stop, on_improve=lambda seq, v: on_improve(self._solution(seq), v),
                     report_every=report_every)  # fmt: skip


class FlexibleShop:
    """Operations with eligible machines: N7 plus reassignments (:mod:`.flexible`)."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.a = ShopArrays(problem)
        self._ids = [m.id for m in problem.machines]

    def dispatch(self, rule: str) -> tuple[int, Solution]:
        value, start, _, mode = self.a.dispatch(rule)
        solution = self.from_times(start, mode)
        return (value if value < 0 else self.makespan(solution)), solution

    def makespan(self, solution: Solution) -> int:
        seq, machine, duration = solution
        start = starts_of(duration, self.a.job_pred, self.a.job_succ, machine, seq)
        return int((start + duration).max(initial=0))

    def from_times(self, start: I64, mode: I64) -> Solution:
        machine = self.a.mode_machine[mode]
        order = np.lexsort((np.arange(len(start)), start, machine)).astype(np.int64)
        return Solution(order, machine, self.a.mode_duration[mode])

    def from_rows(self, schedule: Sequence[ScheduledOperation]) -> Solution:
        rows = {(r.job, r.op): r for r in schedule}
        n = len(self.a.job_pred)
        start, mode = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
        k = 0
        for job in self.problem.jobs:
            for op in job.operations:
                row = rows[(job.id, op.id)]
                start[k] = row.start
                mode[k] = int(self.a.mode_ptr[k]) + _mode_of(op.modes, row)
                k += 1
        return self.from_times(start, mode)

    def rows(self, solution: Solution) -> list[ScheduledOperation]:
        seq, machine, duration = solution
        start = starts_of(duration, self.a.job_pred, self.a.job_succ, machine, seq)
        out = []
        k = 0
        for job in self.problem.jobs:
            for op in job.operations:
                s = int(start[k])
                out.append(ScheduledOperation(job=job.id, op=op.id, start=s,
                                              machine=self._ids[int(machine[k])],
                                              end=s + int(duration[k])))  # fmt: skip
                k += 1
        return out

    def improve(
        self, solution: Solution, seconds: float, seed: int, lower_bound: int,
        stop: threading.Event, on_improve: OnImprove, report_every: float,
    ) -> None:  # fmt: skip
        flexible_tabu(self.a, *solution, seconds, seed=seed, lower_bound=lower_bound, stop=stop,
                      on_improve=lambda s, m, d, v: on_improve(Solution(s, m, d), v),
                      report_every=report_every)  # fmt: skip


def _mode_of(modes: Sequence[Mode], row: ScheduledOperation) -> int:
    """The mode a row ran in: its machine, and its duration when a machine has two."""
    on = [i for i, md in enumerate(modes) if md.machine == row.machine]
    if not on:
        raise ValueError(f"job {row.job} op {row.op}: machine {row.machine!r} is not eligible")
    exact = [i for i in on if modes[i].duration == row.end - row.start]
    return (exact or on)[0]


def shop_of(problem: Problem) -> Shop:
    """The shop for a (flexible) job shop."""
    return ClassicShop(problem) if problem.is_job_shop() else FlexibleShop(problem)


def warm_up() -> None:
    """Compile the dispatching and flexible tabu kernels (cached on disk afterwards)."""
    problem = Problem.model_validate(
        {
            "machines": [{"id": 0}, {"id": 1}],
            "jobs": [
                {"id": j, "operations": [
                    {"id": 0, "modes": [{"machine": 0, "duration": 2},
                                        {"machine": 1, "duration": 3}]},
                    {"id": 1, "modes": [{"machine": 1, "duration": 1}]}]}
                for j in range(3)
            ],
        }
    )  # fmt: skip
    shop = FlexibleShop(problem)
    for rule in ("mwkr", "spt"):
        _, solution = shop.dispatch(rule)
    stop = threading.Event()
    stop.set()
    shop.improve(solution, 1.0, 0, 0, stop, lambda s, v: None, 0.0)
