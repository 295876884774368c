"""Objective terms recomputed from a schedule, independent of any solver.

The solvers report what they optimised; these functions recompute the same numbers from
the problem and the schedule alone, so the two can be compared (and planners read them).
"""

from __future__ import annotations

from collections.abc import Iterable

from aps.model import Id, Objective, ObjectiveTerm, Problem
from aps.result import ScheduledOperation


def completion_times(problem: Problem, schedule: Iterable[ScheduledOperation]) -> dict[Id, int]:
    """Completion tick of each job (the latest end of its operations)."""
    done: dict[Id, int] = {}
    for row in schedule:
        done[row.job] = max(done.get(row.job, 0), row.end)
    return done


def setup_ticks(problem: Problem, schedule: Iterable[ScheduledOperation]) -> int:
    """Ticks the machines spend in setup (changeover plus fixed setup)."""
    return sum(r.start - r.busy_from for r in schedule)


def term_values(
    problem: Problem, schedule: Iterable[ScheduledOperation]
) -> dict[ObjectiveTerm, int]:
    """The value of every objective term for ``schedule``."""
    rows = list(schedule)
    done = completion_times(problem, rows)
    tardiness = late = flow = 0
    for job in problem.jobs:
        c = done.get(job.id)
        if c is None:
            continue
        flow += c - job.release
        if job.due is not None and c > job.due:
            tardiness += job.weight * (c - job.due)
            late += 1
    return {
        ObjectiveTerm.MAKESPAN: max((r.end for r in rows), default=0),
        ObjectiveTerm.WEIGHTED_TARDINESS: tardiness,
        ObjectiveTerm.LATE_JOBS: late,
        ObjectiveTerm.FLOW_TIME: flow,
        ObjectiveTerm.SETUP_TIME: setup_ticks(problem, rows),
        ObjectiveTerm.STABILITY: stability(problem, rows),
    }


def stability(problem: Problem, schedule: Iterable[ScheduledOperation]) -> int:
    """Start-time deviation plus machine-change cost against ``problem.stability``."""
    if problem.stability is None:
        return 0
    placed = {(r.job, r.op): r for r in schedule}
    total = 0
    for ref in problem.stability.reference:
        row = placed.get((ref.job, ref.op))
        if row is None:
            continue
        total += abs(row.start - ref.start)
        if row.machine != ref.machine:
            total += problem.stability.machine_change
    return total


def objective_value(objective: Objective, values: dict[ObjectiveTerm, int]) -> int:
    """The weighted sum (or, for a lexicographic objective, the primary term)."""
    if objective.kind == "lexicographic":
        return values[objective.terms[0].term]
    return sum(t.weight * values[t.term] for t in objective.terms)
