"""Plan-then-schedule: valid schedules, windows that keep the plan, never worse than greedy."""

from __future__ import annotations

import random

import aps
from aps.factory.compile import compile_plant
from aps.factory.generate import generate_plant
from aps.heuristics.witness import witness
from aps.kpi import term_values
from aps.model import Job, Machine, Mode, ObjectiveTerm, Operation, Problem
from aps.params import SolveParams
from aps.solvers.plan.buckets import make_plan
from aps.solvers.plan.windows import assign_windows, solve_plan


def _tight_shop(seed: int) -> Problem:
    """Three machines, 24 three-step orders due early: the greedy schedule is late."""
    rng = random.Random(seed)
    jobs = []
    for k in range(24):
        ops = [
            Operation(
                id=f"s{i}",
                modes=[
                    Mode(machine=m, duration=rng.randint(60, 240))
                    for m in rng.sample(["a", "b", "c"], rng.randint(1, 2))
                ],
            )
            for i in range(3)
        ]
        release = rng.randint(0, 2000)
        jobs.append(
            Job(
                id=f"j{k}",
                operations=ops,
                release=release,
                due=release + rng.randint(600, 1500),
                weight=rng.choice([1, 2, 3]),
            )
        )
    return Problem.model_validate(
        {
            "name": f"tight-{seed}",
            "machines": [Machine(id=m) for m in "abc"],
            "jobs": jobs,
            "objective": {
                "terms": [{"term": "weighted_tardiness", "weight": 10}, {"term": "makespan"}]
            },
        }
    )


def test_plan_then_schedule_on_a_generated_plant_validates() -> None:
    problem = compile_plant(generate_plant(60, 4))
    result = aps.solve(problem, time_limit=20, workers=2, seed=0, solver="plan")
    assert result.status.has_schedule
    assert aps.validate(problem, result.schedule) == []
    assert result.solver == "plan"
    assert result.parameters["plan"]["buckets"] > 1
    assert result.parameters["windows"], result.parameters


def test_windows_keep_the_plan() -> None:
    problem = compile_plant(generate_plant(60, 5))
    plan = make_plan(problem, time_limit=10)
    result = solve_plan(
        problem, SolveParams(time_limit=25, workers=2), plan=plan, window_operations=60
    )
    window, starts = assign_windows(problem.jobs, plan, 60)
    assert len(starts) > 2
    assert aps.validate(problem, result.schedule) == []
    assert result.message is None, result.message  # the plan's schedule, not the greedy one
    greedy = {(r.job, r.op): r.start for r in witness(problem) or []}
    # nothing before its window, unless the greedy start (warm start) already had it there
    early = [
        r
        for r in result.schedule
        if r.start < min(starts[window[(r.job, r.op)]], greedy[(r.job, r.op)])
    ]
    assert not early, early[:3]
    for job in problem.jobs:  # a successor's window is never earlier than its predecessor's
        for p, s, _ in job.predecessor_lags():
            wp = window[(job.id, job.operations[p].id)]
            assert window[(job.id, job.operations[s].id)] >= wp


def test_tardiness_never_worse_than_the_greedy_start() -> None:
    for seed in range(3):
        problem = _tight_shop(seed)
        greedy = witness(problem)
        assert greedy is not None
        before = term_values(problem, greedy)
        assert before[ObjectiveTerm.WEIGHTED_TARDINESS] > 0  # the case worth testing
        result = aps.solve(problem, time_limit=8, workers=2, seed=0, solver="plan")
        after = term_values(problem, result.schedule)
        wt = ObjectiveTerm.WEIGHTED_TARDINESS
        assert after[wt] <= before[wt], (seed, after[wt], before[wt])
        assert (
            result.objective is not None
            and result.objective <= 10 * before[wt] + before[ObjectiveTerm.MAKESPAN]
        )


def test_auto_picks_plan_only_where_one_model_is_too_large() -> None:
    from aps.io.taillard import generate_jssp, jssp_problem
    from aps.solvers.auto import choose

    choice, reason = choose(compile_plant(generate_plant(300, 1)))
    assert choice == "plan", reason
    assert choose(compile_plant(generate_plant(20, 1)))[0] != "plan"
    shop = jssp_problem(generate_jssp(100, 20, 1))  # 2,000 operations, a small model
    assert choose(shop)[0] == "cpsat"


def test_window_replays_validate_on_a_plant_with_changeovers() -> None:
    """Tests that every window's CP-SAT answer survives its replay on the full problem on
    a loaded plant with setup matrices. The committed operations are a prefix of each
    machine's sequence and closed under job precedence: a replay once pinned an operation
    behind a moved one, with a setup sized for a changeover it no longer had."""
    problem = compile_plant(generate_plant(60, 3, load=0.95, tightness=0.5))
    assert any(m.setup_matrix for m in problem.machines)
    params = SolveParams(time_limit=16, workers=2, seed=0)
    result = solve_plan(problem, params, window_operations=150)
    assert aps.validate(problem, result.schedule) == []
    windows = result.parameters["windows"]
    answered = [w for w in windows if "cpsat_s" in w and "found nothing" not in w["kept"]]
    assert len(answered) >= 2, windows  # CP-SAT starts from a complete valid hint
    for w in windows:
        assert "did not validate" not in w["kept"] and "replay failed" not in w["kept"], w
