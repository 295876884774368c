"""End to end: small plants whose optimum is known by hand, and a property test.

Every schedule aps.solve returns is validated inside solve(); the tests validate again
with the independent validator and compare with optima computed by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

import aps
from aps.factory.compile import compile_plant
from aps.factory.model import Plant
from aps.heuristics.witness import witness
from aps.kpi import term_values
from aps.model import Objective, ObjectiveTerm, WeightedTerm
from aps.report.diagnose import Severity, diagnose
from aps.report.report import build_report
from aps.result import SolveStatus
from aps.validate import validate
from tests.factory.plants import iso, small_plants, tiny


def solve(data: dict[str, Any], objective: Objective | None = None) -> aps.Result:
    problem = compile_plant(Plant.model_validate(data), objective)
    result = aps.solve(problem, time_limit=5, workers=2, seed=0)
    assert result.status == SolveStatus.OPTIMAL, result
    assert validate(problem, result.schedule) == []
    return result


def op(id_: str, *machines: str, **kw: Any) -> dict[str, Any]:
    return {"id": id_, "machines": [{"machine": m} for m in machines], **kw}


def test_setup_matrix_groups_families() -> None:
    # A, B, A on one machine, 60 min each; A<->B changeover 30 min: best is A A B = 210
    result = solve(
        tiny(
            setup_matrices={"m": {"changeover": {"A": {"B": "PT30M"}, "B": {"A": "PT30M"}}}},
            machines=[{"id": "M1", "setup_matrix": "m"}],
            products=[
                {"id": "PA", "family": "A", "routing": [op("x", "M1", duration="PT1H")]},
                {"id": "PB", "family": "B", "routing": [op("x", "M1", duration="PT1H")]},
            ],
            orders=[
                {"id": "O1", "product": "PA", "quantity": 1},
                {"id": "O2", "product": "PB", "quantity": 1},
                {"id": "O3", "product": "PA", "quantity": 1},
            ],
        )
    )
    assert result.makespan == 210


def test_alternative_machines_at_different_speeds() -> None:
    # three lots of 60 units: M1 at 1 min/unit, M2 at 2 min/unit -> two on M1, one on M2
    result = solve(
        tiny(
            machines=[{"id": "M1"}, {"id": "M2"}],
            products=[
                {
                    "id": "P",
                    "routing": [
                        {
                            "id": "x",
                            "run_per_unit": "PT2M",
                            "machines": [
                                {"machine": "M1", "run_per_unit": "PT1M"},
                                {"machine": "M2"},
                            ],
                        }
                    ],
                }
            ],
            orders=[{"id": f"O{i}", "product": "P", "quantity": 60} for i in range(3)],
        )
    )
    assert result.makespan == 120
    assert sorted(str(r.machine) for r in result.schedule) == ["M1", "M1", "M2"]


DAY = {
    "id": "day",
    "timezone": "UTC",
    "shifts": [{"days": "mon-sun", "start": "06:00", "end": "14:00"}],
}


@pytest.mark.parametrize(("interruptible", "end"), [(False, 1440 + 660), (True, 1440 + 420)])
def test_calendar_waits_or_pauses(interruptible: bool, end: int) -> None:
    # released Mon 10:00, 5 h of work, shift 06:00-14:00: either wait for Tuesday 06:00
    # (ends 11:00) or run 10-14 and 06-07 (ends 07:00)
    result = solve(
        tiny(
            calendars=[DAY],
            default_calendar="day",
            products=[
                {
                    "id": "P",
                    "routing": [op("x", "M1", duration="PT5H", interruptible=interruptible)],
                }
            ],
            orders=[{"id": "O1", "product": "P", "quantity": 1, "release": iso(600)}],
        )
    )
    assert result.makespan == end


def test_components_wait_for_receipts_and_subassemblies() -> None:
    # F needs 10 bolts (receipt at 12:00) and 2 SUB made by order S (60 min on M2)
    result = solve(
        tiny(
            machines=[{"id": "M1"}, {"id": "M2"}],
            materials=[
                {"id": "BOLT", "receipts": [{"at": iso(720), "quantity": 10}]},
                {"id": "SUB"},
            ],
            products=[
                {
                    "id": "S",
                    "routing": [op("make", "M2", duration="PT1H", produces=[{"material": "SUB"}])],
                },
                {
                    "id": "F",
                    "routing": [
                        op(
                            "assemble",
                            "M1",
                            duration="PT1H",
                            consumes=[{"material": "BOLT", "per_unit": 5}, {"material": "SUB"}],
                        )
                    ],
                },
            ],
            orders=[
                {"id": "S1", "product": "S", "quantity": 2},
                {"id": "F1", "product": "F", "quantity": 2},
            ],
        )
    )
    f1 = next(r for r in result.schedule if r.job == "F1")
    assert (f1.start, result.makespan) == (720, 780)


def test_minimum_lag_between_steps() -> None:
    result = solve(
        tiny(
            products=[
                {
                    "id": "P",
                    "routing": [
                        op("a", "M1", duration="PT30M", min_lag="PT45M"),
                        op("b", "M1", duration="PT30M"),
                    ],
                }
            ]
        )
    )
    assert result.makespan == 105


def test_weighted_tardiness_puts_the_heavy_order_first() -> None:
    objective = Objective(terms=[WeightedTerm(term=ObjectiveTerm.WEIGHTED_TARDINESS)])
    result = solve(
        tiny(
            products=[{"id": "P", "routing": [op("x", "M1", duration="PT1H")]}],
            orders=[
                {"id": "light", "product": "P", "quantity": 1, "due": iso(60), "weight": 1},
                {"id": "heavy", "product": "P", "quantity": 1, "due": iso(60), "weight": 3},
            ],
        ),
        objective,
    )
    assert result.objective == 60
    heavy = next(r for r in result.schedule if r.job == "heavy")
    assert heavy.start == 0


# -- property: random small plants --------------------------------------------------------


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_plants())
def test_random_small_plants_solve_to_valid_schedules(data: dict[str, Any]) -> None:
    problem = compile_plant(Plant.model_validate(data))
    result = aps.solve(problem, time_limit=1, workers=1, seed=0)
    if result.status.has_schedule:
        assert validate(problem, result.schedule) == []
        assert {(r.job, r.op) for r in result.schedule} == {
            (j.id, o.id) for j in problem.jobs for o in j.operations
        }
        # the report's KPIs agree with the core's independent recomputation
        kpis = build_report(problem, result).kpis
        values = term_values(problem, result.schedule)
        assert kpis.makespan == values[ObjectiveTerm.MAKESPAN]
        assert kpis.weighted_tardiness == values[ObjectiveTerm.WEIGHTED_TARDINESS]
        assert kpis.late_orders == values[ObjectiveTerm.LATE_JOBS]
        assert kpis.total_flow_time == values[ObjectiveTerm.FLOW_TIME]
        assert kpis.setup_time == values[ObjectiveTerm.SETUP_TIME]
        # the pre-solve diagnostics are necessary conditions: no error on a feasible plan
        assert [f for f in diagnose(problem) if f.severity is Severity.ERROR] == []
    hint = witness(problem)
    if hint is not None:  # a witness proves feasibility
        assert validate(problem, hint) == []
        assert result.status != SolveStatus.INFEASIBLE


# -- the example plant ---------------------------------------------------------------------

EXAMPLE = Path(__file__).resolve().parents[2] / "instances" / "plant.json"


def test_example_plant_solves_from_the_witness() -> None:
    from aps.io.load import load_problem

    problem = load_problem(EXAMPLE)
    hint = witness(problem)
    assert hint is not None
    result = aps.solve(problem, time_limit=3, workers=2, seed=0, hint=hint)
    assert result.status.has_schedule
    assert validate(problem, result.schedule) == []


@pytest.mark.slow
def test_example_plant_solves_in_ten_seconds() -> None:
    """The acceptance check of the example: aps.solve at 10 s returns a valid schedule."""
    from aps.io.load import load_problem

    problem = load_problem(EXAMPLE)
    result = aps.solve(problem, time_limit=10, workers=2, seed=0)
    assert result.status.has_schedule
    assert validate(problem, result.schedule) == []
