"""Tests that the CP-SAT backends find known optima and honour every feature."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path
from typing import Any

import pytest

from aps import solve, validate
from aps.heuristics.dispatch import dispatch
from aps.io.jssp import read_jssp
from aps.kpi import objective_value, term_values
from aps.model import Problem
from aps.result import Incumbent, SolveStatus
from aps.validate import makespan

from .factories import op, problem


@pytest.mark.parametrize(("name", "optimum"), [("ft06", 55), ("la01", 666)])
@pytest.mark.parametrize("solver", ["cpsat", "plain"])
def test_known_optima(jssp_dir: Path, name: str, optimum: int, solver: str) -> None:
    """Tests that ft06 = 55 and la01 = 666 are found and proved optimal."""
    result = solve(read_jssp(jssp_dir / name), time_limit=30, workers=2, solver=solver)
    assert result.status == SolveStatus.OPTIMAL
    assert result.makespan == optimum
    assert result.bound == optimum
    assert validate(read_jssp(jssp_dir / name), result.schedule) == []


def _solve(p: Problem, **kw: Any) -> Any:
    result = solve(p, time_limit=10, workers=2, **kw)
    assert validate(p, result.schedule) == [] or not result.status.has_schedule
    return result


CASES: list[tuple[str, Problem, str, int]] = [
    (
        "alternative machine is faster",
        problem(jobs=[{"id": "J", "operations": [op(1, ("M1", 5), ("M2", 3))]}]),
        "OPTIMAL",
        3,
    ),
    (
        "non-interruptible waits for the window",
        problem(
            machines=[{"id": "M1", "unavailable": [{"start": 2, "end": 10}]}],
            jobs=[
                {"id": "A", "operations": [op(1, ("M1", 3))]},
                {"id": "B", "operations": [op(1, ("M1", 3))]},
            ],
        ),
        "OPTIMAL",
        16,
    ),
    (
        "interruptible pauses over the window",
        problem(
            machines=[{"id": "M1", "unavailable": [{"start": 2, "end": 10}]}],
            jobs=[
                {"id": "A", "operations": [op(1, ("M1", 3), interruptible=True)]},
                {"id": "B", "operations": [op(1, ("M1", 3))]},
            ],
        ),
        "OPTIMAL",
        14,
    ),
    (
        "setups group the families",
        problem(
            machines=[{"id": "M1", "setup_matrix": "S"}],
            setup_matrices={"S": {"changeover": {"a": {"b": 10}, "b": {"a": 10}}}},
            jobs=[
                {"id": "A1", "family": "a", "operations": [op(1, ("M1", 1))]},
                {"id": "B1", "family": "b", "operations": [op(1, ("M1", 1))]},
                {"id": "A2", "family": "a", "operations": [op(1, ("M1", 1))]},
            ],
        ),
        "OPTIMAL",
        13,
    ),
    (
        "fixed setup and initial changeover",
        problem(
            machines=[{"id": "M1", "setup_matrix": "S"}],
            setup_matrices={"S": {"initial": {"a": 2}}},
            jobs=[{"id": "A1", "family": "a", "operations": [op(1, ("M1", 1, 3))]}],
        ),
        "OPTIMAL",
        6,
    ),
    (
        "material produced before it is consumed",
        problem(
            materials=[{"id": "m"}],
            jobs=[
                {
                    "id": "P",
                    "operations": [op(1, ("M1", 5), produces=[{"material": "m", "quantity": 1}])],
                },
                {
                    "id": "A",
                    "operations": [op(1, ("M2", 2), consumes=[{"material": "m", "quantity": 1}])],
                },
            ],
        ),
        "OPTIMAL",
        7,
    ),
    (
        "receipt feeds the consumer earlier",
        problem(
            materials=[{"id": "m", "receipts": [{"time": 3, "quantity": 1}]}],
            jobs=[
                {
                    "id": "P",
                    "operations": [op(1, ("M1", 5), produces=[{"material": "m", "quantity": 1}])],
                },
                {
                    "id": "A",
                    "operations": [op(1, ("M2", 2), consumes=[{"material": "m", "quantity": 1}])],
                },
            ],
        ),
        "OPTIMAL",
        5,
    ),
    (
        "weighted tardiness orders by weight",
        problem(
            jobs=[
                {"id": "J1", "due": 4, "weight": 1, "operations": [op(1, ("M1", 4))]},
                {"id": "J2", "due": 2, "weight": 3, "operations": [op(1, ("M1", 2))]},
            ],
            objective={"terms": [{"term": "weighted_tardiness"}]},
        ),
        "OPTIMAL",
        2,
    ),
    (
        "max lag forces a wait before the first step",
        problem(
            jobs=[
                {
                    "id": "J",
                    "operations": [
                        op(1, ("M1", 2)),
                        op(2, ("M2", 2), predecessors=[{"op": 1, "max_lag": 0}]),
                    ],
                },
                {"id": "K", "operations": [op(1, ("M2", 5))]},
            ]
        ),
        "OPTIMAL",
        7,
    ),
    (
        "release and DAG routing",
        problem(
            jobs=[
                {
                    "id": "J",
                    "release": 4,
                    "operations": [
                        op("a", ("M1", 2), predecessors=[]),
                        op("b", ("M2", 3), predecessors=[]),
                        op("c", ("M1", 1), predecessors=[{"op": "a"}, {"op": "b", "min_lag": 1}]),
                    ],
                }
            ]
        ),
        "OPTIMAL",
        4 + 3 + 1 + 1,
    ),
    (
        "deadline too tight is infeasible",
        problem(
            jobs=[{"id": "J", "deadline": 4, "operations": [op(1, ("M1", 3)), op(2, ("M2", 3))]}]
        ),
        "INFEASIBLE",
        -1,
    ),
    (
        "flow time sums completions",
        problem(
            jobs=[
                {"id": "A", "operations": [op(1, ("M1", 3))]},
                {"id": "B", "operations": [op(1, ("M1", 1))]},
            ],
            objective={"terms": [{"term": "flow_time"}]},
        ),
        "OPTIMAL",
        1 + 4,
    ),
    (
        "setup time objective",
        problem(
            machines=[{"id": "M1", "setup_matrix": "S"}, {"id": "M2", "setup_matrix": "S"}],
            setup_matrices={"S": {"changeover": {"a": {"b": 5}, "b": {"a": 5}}}},
            jobs=[
                {"id": "A", "family": "a", "operations": [op(1, ("M1", 1), ("M2", 1))]},
                {"id": "B", "family": "b", "operations": [op(1, ("M1", 1), ("M2", 1))]},
            ],
            objective={"terms": [{"term": "setup_time"}]},
        ),
        "OPTIMAL",
        0,
    ),
]


@pytest.mark.parametrize(("label", "p", "status", "value"), CASES, ids=[c[0] for c in CASES])
def test_hand_computed_optimum(label: str, p: Problem, status: str, value: int) -> None:
    """Tests small problems whose optimum was computed by hand."""
    result = _solve(p)
    assert result.status == status, result.message
    if status == "OPTIMAL":
        assert result.objective == value
        recomputed = objective_value(p.objective, term_values(p, result.schedule))
        assert recomputed == value


def test_lexicographic_tardiness_then_makespan() -> None:
    """Tests that a lexicographic objective keeps level one optimal while improving level two."""
    p = problem(
        jobs=[
            {"id": "A", "due": 13, "operations": [op(1, ("M1", 3)), op(2, ("M2", 10))]},
            {"id": "B", "due": 100, "operations": [op(1, ("M2", 2)), op(2, ("M1", 2))]},
        ],
        objective={"kind": "lexicographic", "terms": [{"term": "late_jobs"}, {"term": "makespan"}]},
    )
    result = _solve(p)
    assert result.status == SolveStatus.OPTIMAL
    assert result.kpis["late_jobs"] == 0
    assert result.kpis["makespan"] == 13


def test_progress_and_stop(jssp_dir: Path) -> None:
    """Tests that incumbents are reported and a stop request ends the search with a schedule."""
    p = read_jssp(jssp_dir / "ta21")
    seen: list[Incumbent] = []
    stop = threading.Event()

    def on_progress(inc: Incumbent) -> None:
        seen.append(inc)
        if len(seen) >= 2:
            stop.set()

    limit = 600  # far beyond the second incumbent: only the stop can end the search early
    result = solve(p, time_limit=limit, workers=2, on_progress=on_progress, stop=stop)
    assert stop.is_set() and result.wall_s < limit / 2
    assert result.status == SolveStatus.FEASIBLE
    assert len(seen) >= 2
    assert all(a.objective >= b.objective for a, b in itertools.pairwise(seen))
    assert result.makespan is not None and result.makespan <= seen[0].objective


def test_hint_is_used_as_fallback(jssp_dir: Path) -> None:
    """Tests that a valid hint is never worsened: the result is at most the hint's makespan."""
    p = read_jssp(jssp_dir / "ft10")
    hint = dispatch(p, "spt")
    assert validate(p, hint) == []
    result = solve(p, time_limit=1, workers=1, hint=hint)
    assert result.status.has_schedule and result.makespan is not None
    assert result.makespan <= makespan(hint)


def test_bad_parameters_are_refused() -> None:
    """Tests clear errors for bad solver arguments."""
    p = problem(jobs=[{"id": "J", "operations": [op(1, ("M1", 1))]}])
    with pytest.raises(ValueError, match="time_limit must be positive"):
        solve(p, time_limit=0)
    with pytest.raises(ValueError, match="unknown solver 'x'"):
        solve(p, solver="x")
    released = problem(jobs=[{"id": "J", "release": 5, "operations": [op(1, ("M1", 1))]}])
    with pytest.raises(ValueError, match=r"plain baseline models only \(flexible\) job shops"):
        solve(released, solver="plain")


def test_pinned_operations_and_stability() -> None:
    """Tests that pinned operations stay put, others avoid them, and stability holds starts."""
    p = problem(
        jobs=[
            {"id": "A", "operations": [op(1, ("M1", 3), fixed={"machine": "M1", "start": 2,
                                                                "end": 7})]},
            {"id": "B", "operations": [op(1, ("M1", 2), ("M2", 4))]},
            {"id": "C", "operations": [op(1, ("M1", 4))]},
        ],
        stability={"reference": [{"job": "C", "op": 1, "machine": "M1", "start": 9}],
                   "machine_change": 50},
        objective={"kind": "lexicographic", "terms": [{"term": "stability"}, {"term": "makespan"}]},
    )  # fmt: skip
    result = _solve(p)
    rows = {(r.job, r.op): r for r in result.schedule}
    assert (rows["A", 1].start, rows["A", 1].end) == (2, 7)
    assert rows["C", 1].start == 9
    assert result.kpis["stability"] == 0
    assert result.kpis["makespan"] == 13
    moved = [r.model_copy(update={"start": 3, "end": 6}) if r.job == "A" else r for r in
             result.schedule]  # fmt: skip
    assert {v.constraint for v in validate(p, moved)} >= {"fixed"}


def test_plain_models_flexible_shops() -> None:
    """Tests that the textbook baseline takes a flexible job shop: each operation on one of
    its machines, and it agrees with our solver on the optimum."""
    p = problem(
        jobs=[
            {"id": "A", "operations": [op(1, ("M1", 3), ("M2", 5)), op(2, ("M2", 2))]},
            {"id": "B", "operations": [op(1, ("M1", 4), ("M2", 2)), op(2, ("M1", 3))]},
        ]
    )
    plain = solve(p, time_limit=10, workers=1, solver="plain")
    ours = solve(p, time_limit=10, workers=1)
    assert validate(p, plain.schedule) == [] and validate(p, ours.schedule) == []
    assert plain.status == ours.status == SolveStatus.OPTIMAL
    assert plain.makespan == ours.makespan == 6  # A1 on M1, B1 on M2, then B2 and A2
