"""Tests for the lower bounds a plant result reports."""

from __future__ import annotations

from aps import solve
from aps.model import Objective, Problem
from aps.result import SolveStatus
from aps.solvers.bounds import term_bounds
from tests.heuristics.support import tight_plant
from tests.milp.generator import random_problem


def test_bound_is_never_above_a_proven_optimum() -> None:
    """Tests on small problems the MILP proves optimal (every feature, every objective
    term) that the bound of the objective is at most the optimum."""
    proven = 0
    for seed in range(0, 132, 2):
        problem = random_problem(seed)
        result = solve(problem, time_limit=20, workers=1, solver="milp")
        if result.status != SolveStatus.OPTIMAL:
            continue  # infeasible or not proved: nothing to compare with
        assert result.objective is not None
        bound = term_bounds(problem).objective(problem.objective)
        assert bound <= result.objective + 1e-9, (seed, bound, result.objective)
        proven += 1
    assert proven >= 30


def test_plant_results_report_a_bound_and_a_gap() -> None:
    """Tests that a plant's result carries a positive bound no larger than its objective,
    and the gap between them, for makespan and weighted tardiness alike."""
    problem: Problem = tight_plant(orders=30)
    for terms in ("makespan", "weighted_tardiness:10;makespan:1"):
        p = problem.model_copy(update={"objective": Objective.parse(terms)})
        result = solve(p, time_limit=4, workers=2)
        assert result.status.has_schedule
        assert result.bound is not None and result.objective is not None
        assert 0 < result.bound <= result.objective
        assert result.gap is not None and 0 <= result.gap < 1
