"""One valid and one violating schedule for every hard constraint of the validator."""

from __future__ import annotations

from typing import Any

import pytest

from aps.model import Problem
from aps.result import ScheduledOperation
from aps.validate import ScheduleInvalidError, assert_valid, validate

from .factories import op, problem


def row(
    job: Any, o: Any, machine: Any, start: int, end: int, setup_start: int | None = None
) -> ScheduledOperation:
    return ScheduledOperation(
        job=job, op=o, machine=machine, start=start, end=end, setup_start=setup_start
    )


CHAIN = problem(jobs=[{"id": "J", "operations": [op(1, ("M1", 3)), op(2, ("M2", 2))]}])
ALT = problem(jobs=[{"id": "J", "operations": [op(1, ("M1", 3), ("M2", 5))]}])
TWO = problem(
    jobs=[
        {"id": "A", "operations": [op(1, ("M1", 3))]},
        {"id": "B", "operations": [op(1, ("M1", 2))]},
    ]
)
LAGS = problem(
    jobs=[
        {
            "id": "J",
            "operations": [
                op(1, ("M1", 3)),
                op(2, ("M2", 2), predecessors=[{"op": 1, "min_lag": 2, "max_lag": 4}]),
            ],
        }
    ]
)
WINDOWS = problem(
    machines=[{"id": "M1", "unavailable": [{"start": 4, "end": 6}]}],
    jobs=[
        {"id": "J", "operations": [op(1, ("M1", 3))]},
        {"id": "K", "operations": [op(1, ("M1", 3), interruptible=True)]},
    ],
)
TIMES = problem(
    jobs=[{"id": "J", "release": 5, "deadline": 9, "operations": [op(1, ("M1", 3))]}], horizon=20
)
SETUPS = problem(
    machines=[{"id": "M1", "setup_matrix": "S"}],
    setup_matrices={"S": {"changeover": {"a": {"b": 4}}, "initial": {"a": 1}}},
    jobs=[
        {"id": "A", "family": "a", "operations": [op(1, ("M1", 2, 1))]},
        {"id": "B", "family": "b", "operations": [op(1, ("M1", 2))]},
    ],
)
MATERIAL = problem(
    materials=[{"id": "m", "initial": 1, "receipts": [{"time": 10, "quantity": 1}]}],
    jobs=[
        {"id": "A", "operations": [op(1, ("M1", 2), consumes=[{"material": "m", "quantity": 1}])]},
        {"id": "B", "operations": [op(1, ("M2", 2), consumes=[{"material": "m", "quantity": 1}])]},
        {"id": "P", "operations": [op(1, ("M1", 1), produces=[{"material": "m", "quantity": 1}])]},
    ],
)

CASES: list[tuple[str, Problem, list[ScheduledOperation], list[ScheduledOperation]]] = [
    (
        "missing",
        CHAIN,
        [row("J", 1, "M1", 0, 3), row("J", 2, "M2", 3, 5)],
        [row("J", 1, "M1", 0, 3)],
    ),
    (
        "duplicate",
        ALT,
        [row("J", 1, "M1", 0, 3)],
        [row("J", 1, "M1", 0, 3), row("J", 1, "M1", 5, 8)],
    ),
    (
        "unknown_operation",
        ALT,
        [row("J", 1, "M2", 0, 5)],
        [row("J", 1, "M2", 0, 5), row("J", 9, "M2", 5, 6)],
    ),
    (
        "eligibility",
        CHAIN,
        [row("J", 1, "M1", 0, 3), row("J", 2, "M2", 3, 5)],
        [row("J", 1, "M2", 0, 3), row("J", 2, "M2", 3, 5)],
    ),
    ("duration", ALT, [row("J", 1, "M2", 0, 5)], [row("J", 1, "M2", 0, 3)]),
    (
        "no_overlap",
        TWO,
        [row("A", 1, "M1", 0, 3), row("B", 1, "M1", 3, 5)],
        [row("A", 1, "M1", 0, 3), row("B", 1, "M1", 2, 4)],
    ),
    (
        "precedence",
        CHAIN,
        [row("J", 1, "M1", 0, 3), row("J", 2, "M2", 3, 5)],
        [row("J", 1, "M1", 0, 3), row("J", 2, "M2", 2, 4)],
    ),
    (
        "precedence",
        LAGS,
        [row("J", 1, "M1", 0, 3), row("J", 2, "M2", 5, 7)],
        [row("J", 1, "M1", 0, 3), row("J", 2, "M2", 4, 6)],
    ),
    (
        "max_lag",
        LAGS,
        [row("J", 1, "M1", 0, 3), row("J", 2, "M2", 7, 9)],
        [row("J", 1, "M1", 0, 3), row("J", 2, "M2", 8, 10)],
    ),
    (
        "calendar",
        WINDOWS,
        [row("J", 1, "M1", 6, 9), row("K", 1, "M1", 1, 4)],
        [row("J", 1, "M1", 2, 5), row("K", 1, "M1", 9, 12)],
    ),
    (
        "duration",
        WINDOWS,
        [row("J", 1, "M1", 0, 3), row("K", 1, "M1", 3, 6 + 2)],
        [row("J", 1, "M1", 0, 3), row("K", 1, "M1", 3, 6)],
    ),
    (
        "calendar",
        WINDOWS,
        [row("J", 1, "M1", 0, 3), row("K", 1, "M1", 3, 8)],
        [row("J", 1, "M1", 0, 3), row("K", 1, "M1", 4, 9)],
    ),
    ("release", TIMES, [row("J", 1, "M1", 5, 8)], [row("J", 1, "M1", 4, 7)]),
    ("deadline", TIMES, [row("J", 1, "M1", 6, 9)], [row("J", 1, "M1", 7, 10)]),
    ("horizon", TIMES, [row("J", 1, "M1", 5, 8)], [row("J", 1, "M1", 18, 21)]),
    (
        "setup",
        SETUPS,
        [row("A", 1, "M1", 2, 4, 0), row("B", 1, "M1", 8, 10, 4)],
        [row("A", 1, "M1", 2, 4, 0), row("B", 1, "M1", 7, 9, 4)],
    ),
    (
        "setup",
        SETUPS,
        [row("A", 1, "M1", 2, 4, 0), row("B", 1, "M1", 8, 10, 4)],
        [row("A", 1, "M1", 1, 3, 0), row("B", 1, "M1", 8, 10, 4)],
    ),
    (
        "no_overlap",
        SETUPS,
        [row("A", 1, "M1", 2, 4, 0), row("B", 1, "M1", 8, 10, 4)],
        [row("A", 1, "M1", 2, 4, 0), row("B", 1, "M1", 7, 9, 3)],
    ),
    (
        "material",
        MATERIAL,
        [row("A", 1, "M1", 0, 2), row("P", 1, "M1", 2, 3), row("B", 1, "M2", 3, 5)],
        [row("A", 1, "M1", 0, 2), row("B", 1, "M2", 1, 3), row("P", 1, "M1", 2, 3)],
    ),
    (
        "material",
        MATERIAL,
        [row("A", 1, "M1", 0, 2), row("B", 1, "M2", 10, 12), row("P", 1, "M1", 2, 3)],
        [row("A", 1, "M1", 0, 2), row("B", 1, "M2", 9, 11), row("P", 1, "M1", 12, 13)],
    ),
]


@pytest.mark.parametrize(
    ("constraint", "p", "good", "bad"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_constraint_pair(
    constraint: str, p: Problem, good: list[ScheduledOperation], bad: list[ScheduledOperation]
) -> None:
    """Tests that the valid schedule passes and the violating one is caught by name."""
    assert validate(p, good) == []
    found = validate(p, bad)
    assert constraint in {v.constraint for v in found}, found
    offending = next(v for v in found if v.constraint == constraint)
    assert offending.message


def test_assert_valid_raises_with_all_violations() -> None:
    """Tests that assert_valid raises an error listing the violations."""
    with pytest.raises(ScheduleInvalidError) as info:
        assert_valid(TWO, [row("A", 1, "M1", 0, 3), row("B", 1, "M1", 1, 2)])
    assert info.value.violations[0].constraint in {"no_overlap", "duration"}
    assert "violates" in str(info.value)


def test_validator_does_not_import_ortools() -> None:
    """Tests that the validator stays independent of the solver library."""
    import ast
    from pathlib import Path

    source = (Path(__file__).parents[2] / "aps" / "validate.py").read_text()
    imported = {
        (n.module or "") if isinstance(n, ast.ImportFrom) else a.name
        for n in ast.walk(ast.parse(source))
        if isinstance(n, ast.Import | ast.ImportFrom)
        for a in n.names
    }
    assert not any(m.startswith(("ortools", "aps.solvers", "aps.solve")) for m in imported)
