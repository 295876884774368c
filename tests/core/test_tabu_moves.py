"""Tests for the tabu search's neighbourhood kernel: moves, estimates, cycle test, tabu rule.

The move sets are checked against a plain-Python statement of N5 and N7 that works on
block orders, not on the kernel's index arithmetic, on Taillard-style shops and on
generated shops where a job visits a machine more than once.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from aps import validate
from aps.heuristics.dispatch import RULES, best_dispatch, dispatch
from aps.io.jssp import read_jssp
from aps.model import Problem
from aps.result import ScheduledOperation
from aps.solvers.jobshop import tabu
from aps.solvers.jobshop.tabu import tabu_search
from aps.validate import makespan

Graph = dict[str, np.ndarray]


def _reentrant(seed: int, jobs: int = 5, ops: int = 6, machines: int = 3) -> Problem:
    """A job shop whose jobs visit machines more than once, often twice in a row."""
    rng = random.Random(seed)
    return Problem.model_validate(
        {
            "machines": [{"id": m} for m in range(machines)],
            "jobs": [
                {"id": j, "operations": [
                    {"id": o, "modes": [{"machine": rng.randrange(machines),
                                         "duration": rng.randint(1, 9)}]}
                    for o in range(ops)
                ]}
                for j in range(jobs)
            ],
        }
    )  # fmt: skip


def _graph(p: Problem, schedule: list[ScheduledOperation]) -> tuple[tabu.JobShopArrays, Graph]:
    """The arrays of a schedule's disjunctive graph, timed (heads and tails)."""
    a = tabu.JobShopArrays.from_problem(p)
    seq = a.sequences_from(p, schedule)
    n = len(seq)
    g = {
        k: np.empty(n, np.int64)
        for k in ("mpred", "msucc", "pos", "head", "tail", "indeg", "order")
    }
    g["seq"] = seq
    g["pos"][seq] = np.arange(n)
    tabu._links(seq, a.machine, n, g["mpred"], g["msucc"])
    tabu._heads(a.duration, a.job_pred, a.job_succ, g["mpred"], g["msucc"], g["head"],
                g["indeg"], g["order"])  # fmt: skip
    tabu._tails(a.duration, a.job_succ, g["msucc"], g["order"], g["tail"])
    return a, g


def _kernel_moves(a: tabu.JobShopArrays, g: Graph, wide: bool) -> tuple[int, list[tuple[int, int]]]:
    n = len(g["seq"])
    path, ma, mb = (np.empty(4 * n + 4, np.int64) for _ in range(3))
    nm = tabu._n7_moves(g["seq"], a.duration, a.job_pred, a.job_succ, g["mpred"], g["pos"],
                        g["head"], g["tail"], path, ma, mb, wide)  # fmt: skip
    return nm, [(int(ma[q]), int(mb[q])) for q in range(max(nm, 0))]


def _blocks(a: tabu.JobShopArrays, g: Graph) -> list[tuple[int, int]]:
    """Blocks (first and last seq index) of the critical path the kernel walks, in path order.

    The kernel's rule: end at the first operation with the latest end; step back to the
    machine predecessor when it is tight, else to the job predecessor when that is.
    """
    head, dur, mpred, jp = g["head"], a.duration, g["mpred"], a.job_pred
    k = int(np.argmax(head + dur))
    path = []
    while k >= 0:
        path.append(k)
        m, j = int(mpred[k]), int(jp[k])
        k = (
            m
            if m >= 0 and head[m] + dur[m] == head[k]
            else j
            if j >= 0 and head[j] + dur[j] == head[k]
            else -1
        )
    path.reverse()
    blocks: list[list[int]] = []
    for k in path:
        if blocks and mpred[k] == blocks[-1][-1]:
            blocks[-1].append(k)
        else:
            blocks.append([k])
    return [(int(g["pos"][b[0]]), int(g["pos"][b[-1]])) for b in blocks]


def _spec_moves(a: tabu.JobShopArrays, g: Graph, wide: bool) -> set[tuple[int, int]]:
    """N5 or N7 as published, as (from index, to index), minus moves that cannot help.

    N5 leaves out the swaps that keep the first block's last operation last or the last
    block's first operation first (the path stays at least as long); N7 as used here
    keeps such moves. A path that is one block, one machine's run from time 0, has no
    move. Swaps are named by their lower index moving up.
    """
    blocks = _blocks(a, g)
    out: set[tuple[int, int]] = set()
    for number, (s, e) in enumerate(blocks):
        first, final = number == 0, number == len(blocks) - 1
        if e == s or (first and final):
            continue
        if wide:
            moves = {(c, s) for c in range(s + 1, e + 1)} | {(c, e) for c in range(s, e)}
            moves |= {(s, c) for c in range(s + 1, e)} | {(e, c) for c in range(s + 1, e)}
        else:
            moves = {(s + 1, s), (e - 1, e)}
        for x, y in moves:
            order = list(range(s, e + 1))
            order.insert(y - s, order.pop(x - s))
            if not wide and ((first and order[-1] == e) or (final and order[0] == s)):
                continue
            out.add((min(x, y), max(x, y)) if abs(x - y) == 1 else (x, y))
    return out


def _normal(moves: list[tuple[int, int]]) -> list[tuple[int, int]]:
    return [(min(x, y), max(x, y)) if abs(x - y) == 1 else (x, y) for x, y in moves]


def _cases(jssp_dir: Path) -> list[tuple[Problem, list[ScheduledOperation]]]:
    cases = []
    for name in ("ft10", "la21", "abz7"):
        p = read_jssp(jssp_dir / name)
        cases += [(p, dispatch(p, rule, seed)) for rule in RULES for seed in (0, 1)]
    for seed in range(40):
        p = _reentrant(seed)
        cases.append((p, dispatch(p, RULES[seed % len(RULES)], seed)))
    return cases


@pytest.mark.parametrize("wide", [True, False], ids=["N7", "N5"])
def test_moves_are_the_published_neighbourhood(jssp_dir: Path, wide: bool) -> None:
    """Tests the kernel's moves against N5/N7 as published, less the cycle-test rejects."""
    checked = 0
    for p, schedule in _cases(jssp_dir):
        a, g = _graph(p, schedule)
        nm, moves = _kernel_moves(a, g, wide)
        spec = _spec_moves(a, g, wide)
        times = (g["seq"], a.duration, a.job_pred, a.job_succ, g["head"], g["tail"])
        kept = {
            (x, y) for x, y in spec
            if tabu._acyclic(x, y, *times) or (abs(x - y) == 1 and tabu._acyclic(y, x, *times))
        }  # fmt: skip
        assert len(moves) == len(set(_normal(moves))), "a move listed twice"
        assert set(_normal(moves)) == kept
        assert nm == (len(moves) if moves else (-1 if spec else 0))
        checked += len(moves)
    assert checked > 100


@pytest.mark.parametrize("wide", [True, False], ids=["N7", "N5"])
def test_moves_keep_the_graph_acyclic_and_estimates_match(jssp_dir: Path, wide: bool) -> None:
    """Tests every move: acyclic once applied (also with re-entrant jobs), links right.

    For a swap the job neighbours keep their times, so the estimate must be the exact
    length of the longest path through the two swapped operations.
    """
    swaps = 0
    for p, schedule in _cases(jssp_dir):
        a, g = _graph(p, schedule)
        n = len(g["seq"])
        buf = np.empty(2 * n + 2, np.int64)
        for x, y in _kernel_moves(a, g, wide)[1]:
            seq, pos = g["seq"].copy(), g["pos"].copy()
            mpred, msucc = g["mpred"].copy(), g["msucc"].copy()
            est = tabu._estimate(x, y, seq, a.duration, a.job_pred, a.job_succ, a.machine,
                                 g["head"], g["tail"], buf)  # fmt: skip
            tabu._shift(x, y, seq, pos, a.machine, mpred, msucc)
            want_p, want_s = np.empty(n, np.int64), np.empty(n, np.int64)
            tabu._links(seq, a.machine, n, want_p, want_s)
            assert (mpred == want_p).all() and (msucc == want_s).all()
            assert (pos[seq] == np.arange(n)).all()
            head, tail, order = (np.empty(n, np.int64) for _ in range(3))
            exact = tabu._heads(a.duration, a.job_pred, a.job_succ, mpred, msucc, head,
                                np.empty(n, np.int64), order)  # fmt: skip
            assert exact > 0, f"move {x}->{y} closed a cycle"
            if abs(x - y) == 1:
                swaps += 1
                tabu._tails(a.duration, a.job_succ, msucc, order, tail)
                moved = seq[[x, y]]
                assert est == max(head[moved] + a.duration[moved] + tail[moved]) <= exact
    assert swaps > 100


def test_no_moves_when_one_machine_run_or_one_job_is_critical() -> None:
    """Tests that 0 (optimal) comes back exactly when the critical path cannot be shortened."""
    one_machine = Problem.model_validate({
        "machines": [{"id": 0}, {"id": 1}],
        "jobs": [{"id": j, "operations": [{"id": 0, "modes": [{"machine": 0, "duration": 5}]}]}
                 for j in range(3)] + [
                {"id": 3, "operations": [{"id": 0, "modes": [{"machine": 1, "duration": 2}]}]}],
    })  # fmt: skip
    schedule = dispatch(one_machine, "spt")
    a, g = _graph(one_machine, schedule)
    assert makespan(schedule) == 15  # the three runs on machine 0
    for wide in (True, False):
        assert _kernel_moves(a, g, wide)[0] == 0
    one_job = Problem.model_validate({
        "machines": [{"id": 0}, {"id": 1}],
        "jobs": [{"id": 0, "operations": [{"id": 0, "modes": [{"machine": 0, "duration": 9}]},
                                          {"id": 1, "modes": [{"machine": 1, "duration": 9}]}]},
                 {"id": 1, "operations": [{"id": 0, "modes": [{"machine": 1, "duration": 1}]}]}],
    })  # fmt: skip
    a, g = _graph(one_job, dispatch(one_job, "mwkr"))
    for wide in (True, False):
        assert _kernel_moves(a, g, wide)[0] == 0


def test_tabu_search_on_reentrant_jobs_stays_valid() -> None:
    """Tests that tabu search keeps every schedule valid when jobs revisit machines."""
    for seed in range(6):
        p = _reentrant(seed, jobs=8, ops=8, machines=3)
        start = best_dispatch(p)
        schedule, value = tabu_search(p, start, time_limit=0.3, seed=seed)
        assert validate(p, schedule) == []
        assert value == makespan(schedule) <= makespan(start)


def test_order_table_forbids_undoing_a_move(jssp_dir: Path) -> None:
    """Tests that after a move, in either direction, restoring the old order is tabu."""
    p = read_jssp(jssp_dir / "ft10")
    for x, y in ((3, 6), (6, 3)):
        a, g = _graph(p, dispatch(p, "spt"))
        row, rank, arcs = tabu._order_table(a.machine, a.n_machines)
        assert arcs.shape[0] == sum(int((a.machine == m).sum()) ** 2 for m in range(a.n_machines))
        seq, pos = g["seq"], g["pos"]
        moved = int(seq[x])
        assert a.machine[seq[3]] == a.machine[seq[6]]  # ft10: ten operations per machine
        assert not tabu._arcs_tabu(x, y, seq, row, rank, arcs, 0)
        tabu._forbid(x, y, seq, row, rank, arcs, 10)
        tabu._shift(x, y, seq, pos, a.machine, g["mpred"], g["msucc"])
        assert int(seq[y]) == moved
        assert tabu._arcs_tabu(y, x, seq, row, rank, arcs, 5)  # back where it was: forbidden
        assert not tabu._arcs_tabu(y, x, seq, row, rank, arcs, 10)  # until the tenure ends
        step = 1 if y > x else -1
        assert not tabu._arcs_tabu(y, y + step, seq, row, rank, arcs, 5)  # further on: allowed
        assert tabu._arcs_tabu(y, y - step, seq, row, rank, arcs, 5)  # back past one it passed


def test_swap_ring_forbids_the_reverse_swap() -> None:
    """Tests the N5 rule for shops without a table: the swapped pair may not swap back."""
    seq = np.asarray([7, 8, 9], dtype=np.int64)
    fu, fv, until = np.asarray([7]), np.asarray([8]), np.asarray([10])  # 7 before 8: forbidden
    seq[[0, 1]] = seq[[1, 0]]  # the swap that made 8 come before 7
    assert tabu._swap_tabu(0, 1, seq, fu, fv, until, 5)
    assert tabu._swap_tabu(1, 0, seq, fu, fv, until, 5)
    assert not tabu._swap_tabu(0, 1, seq, fu, fv, until, 10)
    assert not tabu._swap_tabu(1, 2, seq, fu, fv, until, 5)


def test_order_table_left_out_when_too_big(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests that a shop whose table would be too big gets none (tabu search then uses N5)."""
    monkeypatch.setattr(tabu, "ORDER_TABLE_MAX", 99)
    machine = np.repeat(np.arange(2, dtype=np.int64), 10)
    _, _, arcs = tabu._order_table(machine, 2)
    assert arcs.shape[0] == 1
    monkeypatch.setattr(tabu, "ORDER_TABLE_MAX", 200)
    assert tabu._order_table(machine, 2)[2].shape[0] == 200
