"""Hypothesis properties: every schedule a solver returns validates, on random problems."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aps import solve, validate
from aps.kpi import objective_value, term_values
from aps.model import Problem
from aps.result import SolveStatus

SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


@st.composite
def job_shops(draw: st.DrawFn) -> Problem:
    n_jobs = draw(st.integers(1, 5))
    n_machines = draw(st.integers(1, 4))
    jobs = []
    for j in range(n_jobs):
        machines = draw(st.permutations(range(n_machines)))
        jobs.append(
            {
                "id": j,
                "operations": [
                    {"id": o, "modes": [{"machine": m, "duration": draw(st.integers(0, 20))}]}
                    for o, m in enumerate(machines)
                ],
            }
        )
    return Problem.model_validate(
        {"name": "random", "machines": [{"id": m} for m in range(n_machines)], "jobs": jobs}
    )


def simple_lower_bound(p: Problem) -> int:
    jobs = max(sum(op.modes[0].duration for op in job.operations) for job in p.jobs)
    load: dict[Any, int] = {}
    for job in p.jobs:
        for op in job.operations:
            load[op.modes[0].machine] = load.get(op.modes[0].machine, 0) + op.modes[0].duration
    return max(jobs, *load.values())


@SETTINGS
@given(job_shops())
def test_random_job_shops_validate(p: Problem) -> None:
    """Tests that ours and the plain model validate, respect the bound and agree at optimality."""
    ours = solve(p, time_limit=5, workers=2)
    plain = solve(p, time_limit=5, workers=2, solver="plain")
    for result in (ours, plain):
        assert result.status in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE)
        assert validate(p, result.schedule) == []
        assert result.makespan is not None and result.makespan >= simple_lower_bound(p)
    if ours.status == plain.status == SolveStatus.OPTIMAL:
        assert ours.makespan == plain.makespan


TERMS = ["makespan", "weighted_tardiness", "late_jobs", "flow_time", "setup_time"]


@st.composite
def factories(draw: st.DrawFn) -> Problem:
    """Small problems using every feature: modes, windows, pauses, setups, lags, materials."""
    n_machines = draw(st.integers(1, 3))
    families = ["a", "b"]
    matrix = {f: {g: draw(st.integers(0, 4)) for g in families if g != f} for f in families}
    machines = []
    for m in range(n_machines):
        windows = []
        t = draw(st.integers(2, 10))
        for _ in range(draw(st.integers(0, 2))):
            length = draw(st.integers(1, 5))
            windows.append({"start": t, "end": t + length})
            t += length + draw(st.integers(2, 10))
        machines.append(
            {
                "id": f"M{m}",
                "unavailable": windows,
                **({"setup_matrix": "S"} if draw(st.booleans()) else {}),
            }
        )
    materials = [
        {
            "id": "mat",
            "initial": draw(st.integers(0, 2)),
            "receipts": [{"time": draw(st.integers(0, 30)), "quantity": 1}],
        }
    ]
    jobs = []
    for j in range(draw(st.integers(1, 4))):
        ops = []
        for o in range(draw(st.integers(1, 3))):
            machine_ids = draw(
                st.lists(st.integers(0, n_machines - 1), min_size=1, max_size=2, unique=True)
            )
            op: dict[str, Any] = {
                "id": o,
                "modes": [
                    {
                        "machine": f"M{m}",
                        "duration": draw(st.integers(1, 6)),
                        "setup": draw(st.sampled_from([0, 0, 1])),
                    }
                    for m in machine_ids
                ],
                "interruptible": draw(st.booleans()),
            }
            if o > 0:
                lag: dict[str, Any] = {"op": o - 1, "min_lag": draw(st.integers(0, 2))}
                if draw(st.booleans()):
                    lag["max_lag"] = lag["min_lag"] + draw(st.integers(0, 30))
                op["predecessors"] = [lag]
            kind = draw(st.sampled_from(["none", "none", "consume", "produce"]))
            if kind != "none":
                op["consumes" if kind == "consume" else "produces"] = [
                    {"material": "mat", "quantity": 1}
                ]
            ops.append(op)
        release = draw(st.integers(0, 5))
        jobs.append(
            {
                "id": f"J{j}",
                "release": release,
                "due": release + draw(st.integers(3, 30)),
                "weight": draw(st.integers(1, 3)),
                "family": draw(st.sampled_from(families)),
                "operations": ops,
            }
        )
    terms = draw(st.lists(st.sampled_from(TERMS), min_size=1, max_size=2, unique=True))
    kind = draw(st.sampled_from(["weighted", "lexicographic"]))
    return Problem.model_validate(
        {
            "name": "factory",
            "machines": machines,
            "jobs": jobs,
            "materials": materials,
            "setup_matrices": {"S": {"changeover": matrix, "initial": {"a": 1}}},
            "objective": {"kind": kind, "terms": [{"term": t} for t in terms]},
        }
    )


@SETTINGS
@given(factories())
def test_random_factories_validate(p: Problem) -> None:
    """Tests that every FEASIBLE/OPTIMAL result validates and its objective is recomputable."""
    result = solve(p, time_limit=5, workers=2)
    assert result.status in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE, SolveStatus.INFEASIBLE)
    if result.status.has_schedule:
        assert validate(p, result.schedule) == []
        values = term_values(p, result.schedule)
        assert result.objective == objective_value(p.objective, values)
