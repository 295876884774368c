"""Tests that the problem model validates itself with messages naming field and id."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from aps.model import Problem, json_schema

from .factories import op, problem


def test_round_trip_json() -> None:
    """Tests that a problem survives JSON serialisation unchanged."""
    p = problem(
        jobs=[
            {
                "id": "J1",
                "release": 3,
                "due": 20,
                "weight": 2,
                "family": "A",
                "operations": [
                    op(10, ("M1", 4, 1), ("M2", 6)),
                    op(
                        20,
                        ("M2", 3),
                        interruptible=True,
                        predecessors=[{"op": 10, "min_lag": 2, "max_lag": 9}],
                    ),
                ],
            },
        ],
        machines=[
            {"id": "M1", "unavailable": [{"start": 5, "end": 8}], "setup_matrix": "S"},
            {"id": "M2", "group": "G"},
        ],
        setup_matrices={"S": {"changeover": {"A": {"B": 3}}, "initial": {"A": 1}}},
        materials=[{"id": "steel", "initial": 5, "receipts": [{"time": 4, "quantity": 2}]}],
        objective={
            "kind": "lexicographic",
            "terms": [{"term": "weighted_tardiness"}, {"term": "makespan"}],
        },
    )
    again = Problem.from_json(p.to_json())
    assert again == p


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (
            {"jobs": [{"id": 1, "operations": [op(0, ("M9", 3))]}]},
            "jobs[0] (id 1).operations[0] (id 0).modes[0].machine: unknown machine 'M9'",
        ),
        (
            {"jobs": [{"id": 1, "operations": [op(0, ("M1", 3)), op(0, ("M1", 3))]}]},
            "operation id 0 is used twice",
        ),
        ({"jobs": [{"id": 1, "operations": [op(0, ("M1", -1))]}]}, "greater than or equal to 0"),
        (
            {"jobs": [{"id": 1, "release": 5, "deadline": 2, "operations": [op(0, ("M1", 1))]}]},
            "deadline 2 is before release 5",
        ),
        (
            {"jobs": [{"id": 1, "operations": [op(0, ("M1", 1), predecessors=[{"op": 7}])]}]},
            "predecessors[0]: unknown operation 7",
        ),
        (
            {
                "jobs": [
                    {
                        "id": 1,
                        "operations": [
                            op(0, ("M1", 1), predecessors=[{"op": 1}]),
                            op(1, ("M1", 1), predecessors=[{"op": 0}]),
                        ],
                    }
                ]
            },
            "cycle",
        ),
        (
            {
                "jobs": [
                    {
                        "id": 1,
                        "operations": [
                            op(0, ("M1", 1), consumes=[{"material": "x", "quantity": 1}])
                        ],
                    }
                ]
            },
            "consumes[0].material: unknown material 'x'",
        ),
        (
            {
                "jobs": [
                    {"id": 1, "operations": [op(0, ("M1", 1))]},
                    {"id": 1, "operations": [op(0, ("M1", 1))]},
                ]
            },
            "jobs[1]: id 1 is used twice",
        ),
        (
            {"jobs": [{"id": 1, "operations": [op(0, ("M1", 1), ("M1", 2))]}]},
            "machine 'M1' is listed twice",
        ),
    ],
)
def test_bad_problem_names_field_and_id(change: dict[str, object], needle: str) -> None:
    """Tests that each kind of bad input is rejected with a message naming where."""
    with pytest.raises(ValidationError) as info:
        problem(**change)
    assert needle in str(info.value)


def test_machine_windows_are_merged() -> None:
    """Tests that overlapping unavailable windows are merged into one canonical list."""
    p = problem(
        machines=[
            {
                "id": "M1",
                "unavailable": [
                    {"start": 8, "end": 12},
                    {"start": 2, "end": 5},
                    {"start": 4, "end": 9},
                ],
            }
        ],
        jobs=[{"id": 1, "operations": [op(0, ("M1", 1))]}],
    )
    assert [(w.start, w.end) for w in p.machines[0].unavailable] == [(2, 12)]


def test_published_schema_is_current() -> None:
    """Tests that aps/schema/problem.json matches the model (regenerate with aps schema)."""
    path = Path(__file__).parents[2] / "aps" / "schema" / "problem.json"
    assert path.read_text() == json_schema(), "run: aps schema > aps/schema/problem.json"
