"""Tests for the flexible job-shop tabu search: reassignment moves, validity, routing.

Iteration counts, not seconds, bound the searches here, so the verdicts do not depend
on the machine's speed.
"""

from __future__ import annotations

import random
import threading

import numpy as np
import pytest

from aps import solve, validate
from aps.heuristics.fastdispatch import ShopArrays
from aps.model import Problem
from aps.solvers.jobshop import flexible
from aps.solvers.jobshop.shops import FlexibleShop, Solution
from aps.validate import makespan


def _flexible(seed: int, jobs: int = 6, ops: int = 5, machines: int = 4) -> Problem:
    """A flexible job shop: each operation on one to all machines, times 1-20."""
    rng = random.Random(seed)

    def modes() -> list[dict[str, int]]:
        eligible = rng.sample(range(machines), rng.randint(1, machines))
        return [{"machine": m, "duration": rng.randint(1, 20)} for m in eligible]

    return Problem.model_validate(
        {
            "name": f"flex{seed}",
            "machines": [{"id": m} for m in range(machines)],
            "jobs": [
                {"id": j, "operations": [{"id": o, "modes": modes()} for o in range(ops)]}
                for j in range(jobs)
            ],
        }
    )


def _start(p: Problem) -> tuple[FlexibleShop, Solution]:
    shop = FlexibleShop(p)
    value, solution = shop.dispatch("mwkr")
    assert value == makespan(shop.rows(solution))
    return shop, solution


@pytest.mark.parametrize("seed", range(8))
def test_reassignment_candidates_are_valid_and_their_estimate_is_exact(seed: int) -> None:
    """Tests the insertion filter and the estimate: every reassignment offered on the
    critical path of a dispatched schedule, applied alone, leaves a schedule that
    validates, and its estimate is the longest path through the moved operation in the
    re-timed graph (the filter leaves out every insertion whose neighbours' heads or
    tails the move could change)."""
    p = _flexible(seed, jobs=8, ops=6)
    shop, solution = _start(p)
    a = shop.a
    g = flexible._graph(a, *(x.copy() for x in solution))
    assert flexible._reset(g, *solution) == makespan(shop.rows(solution))
    plen = flexible._path(g.dur, g.jp, g.mpred, g.head, g.path)
    lo, hi = np.empty(a.n_machines, np.int64), np.empty(a.n_machines, np.int64)
    flexible._runs(g.seq, g.machine, a.n_machines, lo, hi)
    room = 4 * len(g.seq) + 4
    rx, rm, rt, rv = (np.empty(room, np.int64) for _ in range(4))
    count = flexible._reassignments(g.path, plen, g.seq, g.machine, g.dur, g.jp, g.js,
                                    a.mode_ptr, a.mode_machine, a.mode_duration, g.head,
                                    g.tail, lo, hi, rx, rm, rt, rv)  # fmt: skip
    for q in range(count):
        x, md = int(rx[q]), int(rm[q])
        assert a.mode_ptr[x] <= md < a.mode_ptr[x + 1] and a.mode_machine[md] != g.machine[x]
        h = flexible._graph(a, *(v.copy() for v in (g.seq, g.machine, g.dur)))
        flexible._reset(h, h.seq.copy(), h.machine.copy(), h.dur.copy())
        flexible._reassign(x, md, int(rt[q]), h.seq, h.pos, h.machine, h.dur, a.mode_machine,
                           a.mode_duration, h.mpred, h.msucc)  # fmt: skip
        moved = Solution(h.seq, h.machine, h.dur)
        assert validate(p, shop.rows(moved)) == [], (seed, q)
        assert flexible._reset(h, h.seq.copy(), h.machine.copy(), h.dur.copy()) >= 0
        assert h.head[x] + h.dur[x] + h.tail[x] == rv[q], (seed, q)
    assert count > 0


@pytest.mark.parametrize("seed", range(6))
def test_every_step_leaves_a_valid_schedule_and_an_honest_value(seed: int) -> None:
    """Tests the search loop: after each chunk of iterations the current and the best
    solution validate, and the reported best is the best solution's makespan."""
    p = _flexible(100 + seed, jobs=10, ops=6, machines=5)
    shop, solution = _start(p)
    first = makespan(shop.rows(solution))
    search = flexible.FlexibleTabu(shop.a, *solution)
    previous = first
    for chunk in range(10):
        value = search.steps(30, seed=chunk)
        best_rows = shop.rows(Solution(*search.best))
        assert validate(p, best_rows) == []
        assert value == makespan(best_rows) <= previous
        g = search.g
        assert validate(p, shop.rows(Solution(g.seq, g.machine, g.dur))) == []
        previous = value
    assert previous <= first


def test_reassignment_spreads_work_off_an_overloaded_machine() -> None:
    """Tests that the search moves operations between machines: from everything on
    machine 0 in one long sequence, it must use machine 1 and shorten the makespan."""
    p = Problem.model_validate(
        {
            "machines": [{"id": 0}, {"id": 1}],
            "jobs": [
                {"id": j, "operations": [{"id": 0, "modes": [
                    {"machine": 0, "duration": 10}, {"machine": 1, "duration": 12}]}]}
                for j in range(6)
            ],
        }
    )  # fmt: skip
    a = ShopArrays(p)
    n = 6
    machine = np.zeros(n, np.int64)
    duration = np.full(n, 10, np.int64)
    seq = np.arange(n, dtype=np.int64)
    search = flexible.FlexibleTabu(a, seq, machine, duration)
    value = search.steps(200, seed=0)
    assert value < 60 and set(search.best.machine.tolist()) == {0, 1}
    assert value == 36  # the optimum: three on each (4 and 2 take 40, 2 and 4 take 48)


def test_flexible_tabu_ends_on_stop_with_a_valid_solution() -> None:
    """Tests the stop event: already set, the search returns after one chunk however long
    its time limit, with a solution that validates and its own makespan."""
    p = _flexible(7, jobs=12, ops=6, machines=5)
    shop, solution = _start(p)
    stop = threading.Event()
    stop.set()
    seq, machine, duration, value = flexible.flexible_tabu(shop.a, *solution, 1e9, stop=stop)
    rows = shop.rows(Solution(seq, machine, duration))
    assert validate(p, rows) == [] and makespan(rows) == value


def test_solve_routes_flexible_shops_to_the_job_shop_portfolio() -> None:
    """Tests the default solver on a flexible shop: the tabu + CP-SAT portfolio answers,
    with a valid schedule no worse than dispatching; CP-SAT proves this small one."""
    p = _flexible(3)
    _, solution = _start(p)
    dispatched = makespan(FlexibleShop(p).rows(solution))
    result = solve(p, time_limit=30, workers=2)
    assert result.solver == "cpsat+tabu"
    assert validate(p, result.schedule) == []
    assert result.makespan is not None and result.makespan <= dispatched
    assert result.status.value == "OPTIMAL"
    assert result.makespan == solve(p, solver="plain", time_limit=30, workers=2).makespan


def test_from_rows_reads_back_machines_and_order() -> None:
    """Tests the round trip rows -> solution -> rows of a flexible shop."""
    p = _flexible(11)
    shop, solution = _start(p)
    rows = shop.rows(solution)
    again = shop.rows(shop.from_rows(rows))
    assert sorted(rows, key=lambda r: (r.job, r.op)) == sorted(again, key=lambda r: (r.job, r.op))


def test_a_large_flexible_shop_stopped_early_returns_a_valid_schedule() -> None:
    """Tests the time limit on a shop too large to finish: 3,000 operations, 1 s; the
    answer is a validated schedule (FEASIBLE), whatever phase the limit cut short."""
    p = _flexible(5, jobs=150, ops=20, machines=12)
    result = solve(p, time_limit=1, workers=2)
    assert result.status.value == "FEASIBLE" and result.schedule
    assert validate(p, result.schedule) == []
    assert result.makespan == makespan(result.schedule)
