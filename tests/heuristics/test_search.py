"""Tests for the local search's moves and its incremental evaluation.

Every move is judged by the incremental engine; a full decode of the changed list must
give exactly the same flags, terms and times, and a taken-back move must leave the list
as it was.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from aps.factory.compile import compile_plant
from aps.factory.loaded import generate_loaded_plant
from aps.heuristics.arrays import TERMS, build_arrays, to_schedule
from aps.heuristics.construct import Rule, construct
from aps.heuristics.decode import Scratch, run
from aps.heuristics.engine import accept, new_engine, trial
from aps.heuristics.search import (
    BOTH,
    JUMP,
    REASSIGN,
    SWAP,
    family_depth,
    machine_predecessors,
    propose,
    search,
    take_back,
)
from aps.model import Problem
from aps.params import SolveParams
from aps.validate import validate
from tests.heuristics.support import random_list, tight_plant
from tests.milp.generator import random_problem


def _check_moves(
    problem: Problem, order: np.ndarray, mode: np.ndarray, seed: int, count: int, depth: int = 3
) -> int:
    """Random moves (jumps of up to ``depth`` machine predecessors); each trial against a
    full decode; accept some. Moves checked."""
    a = build_arrays(problem)
    s = Scratch(a, len(problem.machines))
    e = new_engine(a, s, order, mode)
    rng = random.Random(seed)
    mpred = np.zeros(len(a.op_job), dtype=np.int64)
    undo = np.zeros(8, dtype=np.int64)
    checked = 0
    for _ in range(count):
        if len(e.order) == 0:
            break
        machine_predecessors(a, e.order, e.mode, e.pinned, mpred)
        i = int(e.order[rng.randrange(len(e.order))])
        kind = rng.choice((JUMP, SWAP, REASSIGN, BOTH))
        lo, hi = int(a.mode_ptr[i]), int(a.mode_ptr[i + 1])
        before = (e.order.copy(), e.mode.copy())
        floors = e.floors.copy()
        if not propose(a, e, kind, i, rng.randint(1, depth), rng.randrange(lo, hi), mpred, undo):
            assert np.array_equal(e.order, before[0]) and np.array_equal(e.mode, before[1])
            continue
        flags = trial(a, e, int(undo[5]), int(undo[6]))
        full = run(a, s, e.order.copy(), e.mode.copy(), floors)  # the same floors
        assert flags == full
        assert np.array_equal(e.terms, s.terms)
        assert np.array_equal(e.t_start, s.start) and np.array_equal(e.t_end, s.end)
        assert np.array_equal(e.t_busy, s.busy)
        if flags == 0:
            rows = to_schedule(problem, a, e.mode, e.t_busy, e.t_start, e.t_end)
            assert validate(problem, rows) == []
        checked += 1
        if rng.random() < 0.4:
            accept(a, e, flags)
        else:
            take_back(e, undo)
            assert np.array_equal(e.order, before[0]) and np.array_equal(e.mode, before[1])
    return checked


@pytest.mark.parametrize("seed", range(0, 66, 5))
def test_moves_on_small_problems_agree_with_a_full_decode(seed: int) -> None:
    """Tests each move kind on problems with every feature: same verdict, same times."""
    problem = random_problem(seed)
    a = build_arrays(problem)
    order, mode = random_list(a, seed)
    _check_moves(problem, order, mode, seed, 60)


def test_moves_on_a_plant_agree_with_a_full_decode() -> None:
    """Tests the same on a generated plant (checkpoints, early stops, stock, lags)."""
    problem = tight_plant(orders=30)
    a = build_arrays(problem)
    s = Scratch(a, len(problem.machines))
    start = construct(problem, a, s, SolveParams(time_limit=60), rules=[Rule("atc")])[0]
    assert _check_moves(problem, start.order, start.mode, 7, 300) > 100


def test_moves_on_a_loaded_plant_agree_with_a_full_decode() -> None:
    """Tests long jumps on a loaded plant, where an operation that moved can have a
    successor beyond a checkpoint whose machines and stock equal the current list's: the
    trial must not stop early there (the successor starts later or earlier)."""
    problem = compile_plant(generate_loaded_plant(40, 2, load=0.95, tightness=0.5))
    a = build_arrays(problem)
    s = Scratch(a, len(problem.machines))
    start = construct(problem, a, s, SolveParams(time_limit=60), rules=[Rule("atcs")])[0]
    for seed in (1, 5, 9):
        assert _check_moves(problem, start.order, start.mode, seed, 400, depth=24) > 100


def test_a_family_jump_lands_behind_the_same_family() -> None:
    """Tests the changeover-saving jump: jumping ``family_depth`` machine predecessors puts
    the operation right behind an operation of its own family on its machine (unless its
    job's predecessors forbid going that far), and the move is undone exactly."""
    problem = compile_plant(generate_loaded_plant(40, 2, load=0.95, tightness=0.5))
    a = build_arrays(problem)
    s = Scratch(a, len(problem.machines))
    start = construct(problem, a, s, SolveParams(time_limit=60), rules=[Rule("atcs")])[0]
    e = new_engine(a, s, start.order, start.mode)
    mpred = np.zeros(len(a.op_job), dtype=np.int64)
    undo = np.zeros(8, dtype=np.int64)
    machine_predecessors(a, e.order, e.mode, e.pinned, mpred)
    moved = grouped = 0
    for i in [int(i) for i in e.order]:
        depth = family_depth(a, i, mpred)
        if depth == 0:
            continue
        b = i
        for _ in range(depth):
            b = int(mpred[b])
        before = e.order.copy()
        if not propose(a, e, JUMP, i, depth, -1, mpred, undo):
            continue
        if undo[4] == int(np.flatnonzero(before == b)[0]):  # not held back by its job
            moved += 1
            after = np.zeros_like(mpred)
            machine_predecessors(a, e.order, e.mode, e.pinned, after)
            grouped += a.op_family[after[i]] == a.op_family[i]
        take_back(e, undo)
        assert np.array_equal(e.order, before)
    assert moved > 20
    assert grouped == moved


def test_search_never_worsens_and_stays_valid() -> None:
    """Tests that the local search returns a list no worse than its start, and valid."""
    problem = tight_plant(orders=30)
    a = build_arrays(problem)
    s = Scratch(a, len(problem.machines))
    start = min(construct(problem, a, s, SolveParams(time_limit=60)), key=lambda c: c.score)
    e = new_engine(a, s, start.order, start.mode)
    weights = np.asarray([1.0, 10.0, 0, 0, 0, 0])[: len(TERMS)]
    best_order, best_mode, best_floors = e.order.copy(), e.mode.copy(), e.floors.copy()
    stats = np.asarray([np.nan, 0, 0, 0, 0], dtype=np.float64)
    search(a, e, weights, 2000, 1, 0.002, best_order, best_mode, best_floors, stats)
    assert stats[3] > 0  # moves were tried
    assert run(a, s, best_order, best_mode, best_floors) == 0
    assert validate(problem, to_schedule(problem, a, best_mode, s.busy, s.start, s.end)) == []
    value = float(weights @ s.terms)
    assert value <= float(weights @ start.terms)
