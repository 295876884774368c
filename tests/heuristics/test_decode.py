"""Tests for the list decoder: every list it calls feasible validates, with the same terms."""

from __future__ import annotations

import pytest

from aps.heuristics.arrays import TERMS, build_arrays, from_schedule, to_schedule
from aps.heuristics.decode import NO_SLOT, Scratch, run
from aps.heuristics.witness import witness
from aps.kpi import term_values
from aps.validate import validate
from tests.heuristics.support import random_list, tight_plant
from tests.milp.generator import random_problem


@pytest.mark.parametrize("seed", range(0, 132, 3))
def test_random_lists_decode_to_valid_schedules(seed: int) -> None:
    """Tests on problems with every feature (calendars, setups, lags, stock, pins,
    stability) that a list the decoder calls feasible validates and scores as the
    independent KPI code scores it."""
    problem = random_problem(seed)
    a = build_arrays(problem)
    s = Scratch(a, len(problem.machines))
    feasible = 0
    for k in range(20):
        order, mode = random_list(a, seed * 100 + k)
        flags = run(a, s, order, mode)
        rows = to_schedule(problem, a, mode, s.busy, s.start, s.end)
        if flags == 0:
            feasible += 1
            assert validate(problem, rows) == [], (seed, k)
            values = term_values(problem, rows)
            assert [int(x) for x in s.terms] == [values[t] for t in TERMS]
    assert (
        feasible > 0
        or problem.horizon is not None
        or any(j.deadline is not None for j in problem.jobs)
        or problem.materials
    ), "some list of a loose problem must be feasible"


def test_decoding_a_schedule_gives_no_later_times() -> None:
    """Tests that a valid schedule's own list decodes to a valid schedule that starts no
    operation later (the decoder places each one at its earliest slot)."""
    problem = tight_plant()
    rows = witness(problem)
    assert rows is not None
    a = build_arrays(problem)
    s = Scratch(a, len(problem.machines))
    order, mode = from_schedule(problem, a, rows)
    assert run(a, s, order, mode) == 0
    decoded = to_schedule(problem, a, mode, s.busy, s.start, s.end)
    assert validate(problem, decoded) == []
    starts = {(r.job, r.op): r.start for r in rows}
    assert all(r.start <= starts[(r.job, r.op)] for r in decoded)


def test_stock_that_never_comes_is_flagged() -> None:
    """Tests that a list whose draw can never be covered is flagged, not silently placed."""
    from aps.model import Problem

    problem = Problem.model_validate(
        {
            "machines": [{"id": "M"}],
            "materials": [{"id": "X", "initial": 1}],
            "jobs": [
                {"id": "A", "operations": [
                    {"id": 1, "modes": [{"machine": "M", "duration": 2}],
                     "consumes": [{"material": "X", "quantity": 2}]}]},
            ],
        }
    )  # fmt: skip
    a = build_arrays(problem)
    s = Scratch(a, 1)
    order, mode = random_list(a, 0)
    assert run(a, s, order, mode) & NO_SLOT
