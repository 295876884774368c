"""Lower bounds of every objective term, for the gap a plant result reports.

Each job alone, with the plant to itself (machine capacity relaxed, stock relaxed,
changeovers at zero), cannot finish before its *path bound*: operations in precedence
order, each on its fastest eligible machine at the earliest working time its calendar
allows after its predecessors' ends plus minimum lags (a pinned operation ends when it
ended). From those completions:

* makespan: the largest path bound, or the busiest machine's fixed load
  (:func:`aps.bounds.simple_lower_bound`), whichever is larger;
* weighted tardiness: ``sum w_j * max(0, C_j - d_j)``; late jobs: how many ``C_j > d_j``
  (the *structurally late* jobs, late whatever the schedule);
* flow time: ``sum C_j - r_j``; setup time: the fixed setups of the operations that have
  one mode (and 0 where a mode without setup exists); stability: 0.

Each bound holds for its term alone, so a weighted objective is bounded by the weighted
sum of the bounds; a lexicographic one by its first term's bound.
"""

from __future__ import annotations

from dataclasses import dataclass

from aps.bounds import horizon_of, simple_lower_bound
from aps.heuristics.graph import topological_order
from aps.heuristics.placement import earliest_slot
from aps.model import Id, Job, Machine, Objective, ObjectiveTerm, Problem
from aps.worktime import TickCalendar


@dataclass(frozen=True)
class TermBounds:
    """A lower bound of each objective term, and each job's path-bound completion."""

    terms: dict[ObjectiveTerm, int]
    completion: dict[Id, int]

    def objective(self, objective: Objective) -> int:
        """The bound of a weighted objective, or of a lexicographic one's first level."""
        if objective.kind == "lexicographic":
            return self.terms[objective.terms[0].term]
        return sum(t.weight * self.terms[t.term] for t in objective.terms)

    def structurally_late(self, problem: Problem) -> list[Id]:
        """Jobs late in every schedule (their path bound is past their due date)."""
        return [j.id for j in problem.jobs if j.due is not None and self.completion[j.id] > j.due]


def term_bounds(problem: Problem) -> TermBounds:
    """Lower bounds of every term (see the module docstring); linear in the problem."""
    horizon = horizon_of(problem)
    machines = {m.id: m for m in problem.machines}
    cals = {m.id: TickCalendar(m.unavailable) for m in problem.machines}
    completion = {job.id: _path_bound(job, machines, cals, horizon) for job in problem.jobs}
    tardiness = late = flow = 0
    for job in problem.jobs:
        c = completion[job.id]
        flow += max(0, c - job.release)
        if job.due is not None and c > job.due:
            tardiness += job.weight * (c - job.due)
            late += 1
    setup = sum(
        min(m.setup for m in op.modes) for job in problem.jobs for op in job.operations
        if op.fixed is None
    )  # fmt: skip
    makespan = max([simple_lower_bound(problem), *completion.values()])
    return TermBounds(
        terms={
            ObjectiveTerm.MAKESPAN: makespan,
            ObjectiveTerm.WEIGHTED_TARDINESS: tardiness,
            ObjectiveTerm.LATE_JOBS: late,
            ObjectiveTerm.FLOW_TIME: flow,
            ObjectiveTerm.SETUP_TIME: setup,
            ObjectiveTerm.STABILITY: 0,
        },
        completion=completion,
    )


def _path_bound(
    job: Job, machines: dict[Id, Machine], cals: dict[Id, TickCalendar], horizon: int
) -> int:
    """The job's earliest completion with the plant to itself."""
    ends: dict[int, int] = {}
    preds: dict[int, list[tuple[int, int]]] = {}
    for p, s, lag in job.predecessor_lags():
        preds.setdefault(s, []).append((p, lag.min_lag))
    for i in topological_order(job):
        op = job.operations[i]
        pinned = op.fixed_end()
        if pinned is not None:
            ends[i] = pinned
            continue
        est = max([job.release, *(ends[p] + lag for p, lag in preds.get(i, ()))])
        best: int | None = None
        for mode in op.modes:
            if mode.duration == 0 and mode.setup == 0:
                best = est  # a zero-length operation may sit anywhere, windows included
                break
            got = earliest_slot(
                cals[mode.machine], mode.setup, mode.duration, op.interruptible, 0, est, [],
                max(horizon, est) + mode.setup + mode.duration + 1,
                machines[mode.machine].off_shift_setup,
            )  # fmt: skip
            end = est + mode.duration if got is None else got[2]
            best = end if best is None else min(best, end)
        assert best is not None
        ends[i] = best
    return max(ends.values(), default=job.release)
