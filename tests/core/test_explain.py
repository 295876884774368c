"""Tests that a proven INFEASIBLE comes with a minimal set of conflicting requirements."""

from __future__ import annotations

from aps import solve
from aps.model import Problem
from aps.result import SolveStatus
from aps.solvers.cpsat.explain import explain_infeasibility

from .factories import op, problem


def kinds(p: Problem) -> list[tuple[str, str]]:
    found = explain_infeasibility(p, time_limit=20)
    assert found is not None
    return sorted((r.kind, r.subject) for r in found)


def test_deadline_too_early() -> None:
    """Tests that a deadline shorter than the route is named, and nothing else."""
    p = problem(
        jobs=[
            {"id": "A", "deadline": 5, "operations": [op(1, ("M1", 3)), op(2, ("M2", 3))]},
            {"id": "B", "deadline": 50, "release": 2, "operations": [op(1, ("M1", 3))]},
        ]
    )
    assert kinds(p) == [("deadline", "A")]
    result = solve(p, time_limit=5)
    assert result.status == SolveStatus.INFEASIBLE
    assert [r.subject for r in result.explanation] == ["A"]
    assert "deadline tick 5" in (result.message or "")


def test_two_deadlines_compete_for_one_machine() -> None:
    """Tests that two deadlines that fit alone but not together are named as a pair."""
    p = problem(
        jobs=[
            {"id": "A", "deadline": 4, "operations": [op(1, ("M1", 3))]},
            {"id": "B", "deadline": 4, "operations": [op(1, ("M1", 3))]},
            {"id": "C", "deadline": 40, "operations": [op(1, ("M1", 3))]},
        ]
    )
    assert kinds(p) == [("deadline", "A"), ("deadline", "B")]


def test_material_never_reaches_the_stock() -> None:
    """Tests that a component short of stock for good names the material."""
    p = problem(
        materials=[{"id": "steel", "initial": 1, "receipts": [{"time": 5, "quantity": 1}]}],
        jobs=[
            {"id": "A", "operations": [op(1, ("M1", 2), consumes=[
                {"material": "steel", "quantity": 3}])]},
        ],
    )  # fmt: skip
    assert kinds(p) == [("material", "steel")]


def test_receipt_after_deadline() -> None:
    """Tests that a receipt too late for a deadline names both the stock and the deadline."""
    p = problem(
        materials=[{"id": "steel", "receipts": [{"time": 10, "quantity": 1}]}],
        jobs=[
            {"id": "A", "deadline": 6, "operations": [op(1, ("M1", 2), consumes=[
                {"material": "steel", "quantity": 1}])]},
        ],
    )  # fmt: skip
    assert kinds(p) == [("deadline", "A"), ("material", "steel")]


def test_calendar_and_max_lag() -> None:
    """Tests that a zero wait into a maintenance window names lag, calendars and deadline."""
    p = problem(
        machines=[
            {"id": "M1", "unavailable": [{"start": 3, "end": 20}]},
            {"id": "M2", "unavailable": [{"start": 3, "end": 6}]},
        ],
        jobs=[
            {"id": "A", "deadline": 8, "operations": [
                op(1, ("M1", 3)),
                op(2, ("M2", 2), predecessors=[{"op": 1, "max_lag": 0}]),
            ]},
        ],
    )  # fmt: skip
    assert kinds(p) == [
        ("calendar", "M1"), ("calendar", "M2"), ("deadline", "A"), ("max_lag", "A/1->2"),
    ]  # fmt: skip


def test_feasible_problem_has_no_conflict() -> None:
    """Tests that a feasible problem is not explained as infeasible."""
    p = problem(jobs=[{"id": "A", "deadline": 9, "operations": [op(1, ("M1", 3))]}])
    assert explain_infeasibility(p, time_limit=5) is None
