"""Tests for the CP-SAT neighbourhoods of the plant search."""

from __future__ import annotations

import random

from aps.heuristics.arrays import PlantArrays, build_arrays, to_schedule
from aps.heuristics.construct import Rule, construct
from aps.heuristics.decode import Scratch, normalize, run
from aps.model import Problem
from aps.params import SolveParams
from aps.solvers.plant.lns import KINDS, ListState, lns_round, neighbourhood, subproblem
from aps.validate import validate
from tests.heuristics.support import tight_plant


def _state() -> tuple[Problem, PlantArrays, Scratch, ListState]:
    problem = tight_plant(orders=30)
    a = build_arrays(problem)
    s = Scratch(a, len(problem.machines))
    start = construct(problem, a, s, SolveParams(time_limit=60), rules=[Rule("atc")])[0]
    assert run(a, s, start.order, start.mode) == 0
    inc = ListState(start.order, start.mode, s.busy.copy(), s.start.copy(), s.end.copy())
    return problem, a, s, inc


def test_neighbourhoods_are_unpinned_operations_of_the_requested_size() -> None:
    """Tests every kind: distinct unpinned operations, at most the size asked for."""
    _, a, _, inc = _state()
    rng = random.Random(1)
    for kind in KINDS:
        free = neighbourhood(kind, a, inc, 25, rng)
        assert len(free) == len(set(free)) <= 25
        assert all(a.op_fixed_mode[i] < 0 for i in free)


def test_the_hint_is_a_schedule_of_the_neighbourhood_model() -> None:
    """Tests that the incumbent, cut to the neighbourhood, covers the small model's
    operations (free and pinned ones) once each."""
    problem, a, _, inc = _state()
    free = neighbourhood("window", a, inc, 30, random.Random(2))
    sub, hint = subproblem(problem, a, inc, free)
    keys = {(j.id, o.id) for j in sub.jobs for o in j.operations}
    assert {(r.job, r.op) for r in hint} == keys and len(hint) == len(keys)


def test_a_round_merges_into_a_list_that_decodes_valid() -> None:
    """Tests that the merged list keeps every operation once, keeps precedences (the
    decoder accepts it) and decodes to a valid schedule or says why not."""
    problem, a, s, inc = _state()
    rng = random.Random(3)
    merged = 0
    for kind in KINDS:
        got = lns_round(problem, a, inc, kind, 30, SolveParams(time_limit=5, workers=1), rng)
        if got is None:
            continue
        order, mode, _ = got
        order = normalize(a, order)
        assert sorted(order.tolist()) == sorted(inc.order.tolist())
        flags = run(a, s, order, mode)
        assert flags & 1 == 0  # never an order the decoder refuses
        if flags == 0:
            assert validate(problem, to_schedule(problem, a, mode, s.busy, s.start, s.end)) == []
        merged += 1
    assert merged > 0
