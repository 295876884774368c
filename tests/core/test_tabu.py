"""Tests for the tabu search and the job-shop portfolio's paths."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from aps import solve, validate
from aps.io.jssp import read_jssp
from aps.result import ScheduledOperation
from aps.solvers import jobshop, tabu
from aps.solvers.dispatch import RULES, best_dispatch, dispatch
from aps.solvers.tabu import tabu_search
from aps.validate import makespan


def test_dispatch_rules_validate(jssp_dir: Path) -> None:
    """Tests that every dispatching rule yields a valid schedule."""
    p = read_jssp(jssp_dir / "la16")
    for rule in RULES:
        assert validate(p, dispatch(p, rule)) == [], rule


def test_tabu_improves_and_stays_valid(jssp_dir: Path) -> None:
    """Tests that tabu search improves a dispatching schedule and every report validates."""
    p = read_jssp(jssp_dir / "ft10")
    start = best_dispatch(p)
    seen: list[int] = []

    def on_improve(schedule: list, value: int) -> None:  # type: ignore[type-arg]
        assert validate(p, schedule) == []
        assert makespan(schedule) == value
        seen.append(value)

    schedule, value = tabu_search(p, start, time_limit=3, on_improve=on_improve)
    assert validate(p, schedule) == []
    assert value == makespan(schedule) < makespan(start)
    assert seen == sorted(seen, reverse=True) and seen[-1] == value
    assert value >= 930  # ft10's proven optimum


def test_large_shop_path_uses_tabu_only(jssp_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests the path for shops too large for one CP-SAT model: tabu threads, valid result."""
    monkeypatch.setattr(jobshop, "CPSAT_MAX_OPERATIONS", 10)
    monkeypatch.setattr(jobshop, "PROBE_OPERATIONS", 0)  # no CP-SAT probe either
    p = read_jssp(jssp_dir / "la16")
    result = solve(p, time_limit=3, workers=2)
    rounds = result.parameters["rounds"]
    assert [(r["method"], r["threads"]) for r in rounds] == [("tabu", 2)]
    assert validate(p, result.schedule) == []
    assert result.makespan is not None and result.makespan >= 945  # la16's optimum


def test_small_shop_is_proved_by_the_probe(jssp_dir: Path) -> None:
    """Tests that a small shop is proved optimal by the CP-SAT probe without the tabu phase."""
    p = read_jssp(jssp_dir / "ft06")
    result = solve(p, time_limit=30, workers=2)
    assert result.status.value == "OPTIMAL" and result.makespan == 55
    assert "probe" in result.parameters and "rounds" not in result.parameters
    assert result.wall_s < 10


def test_stalled_tabu_hands_over_to_cpsat(jssp_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests that tabu search stuck on a small shop hands it to CP-SAT long before its cap.

    Without the stall rule tabu search would keep la16 for 80 % of the 30 s; it stalls
    within seconds there, and CP-SAT then proves the optimum.
    """
    monkeypatch.setattr(jobshop, "PROBE_OPERATIONS", 0)  # no probe: tabu search first
    p = read_jssp(jssp_dir / "la16")
    result = solve(p, time_limit=30, workers=2)
    rounds = result.parameters["rounds"]
    methods = [r["method"] for r in rounds]
    assert methods[0] == "tabu" and "cpsat" in methods
    assert all(a != b for a, b in itertools.pairwise(methods))  # in turns
    assert rounds[0]["seconds"] < 15
    assert validate(p, result.schedule) == []
    assert result.status.value == "OPTIMAL" and result.makespan == 945


def test_halt_fires_only_after_a_quiet_window() -> None:
    """Tests the stall watch: improvements keep it quiet, silence or a stop sets it."""
    best = jobshop._Best(None, time.monotonic(), 0)
    outer = threading.Event()
    halt = jobshop._Halt(best, outer, 0.3)
    rows = [ScheduledOperation(job=0, op=0, machine=0, start=0, end=100)]
    for value in range(100, 90, -1):  # an improvement every 0.1 s for 1 s
        best.offer(rows, value)
        assert not halt.event.is_set()
        time.sleep(0.1)
    assert halt.event.wait(1.0)
    halt.close()
    outer.set()
    stopped = jobshop._Halt(best, outer, None)  # no window: only the outer stop
    assert stopped.event.wait(1.0)
    stopped.close()


def _graph(
    name: str, jssp_dir: Path, rule: str
) -> tuple[tabu.JobShopArrays, dict[str, np.ndarray]]:
    """The arrays of a dispatching schedule's disjunctive graph, timed (heads and tails)."""
    p = read_jssp(jssp_dir / name)
    a = tabu.JobShopArrays.from_problem(p)
    seq = a.sequences_from(p, dispatch(p, rule))
    n = len(seq)
    g = {
        k: np.empty(n, np.int64)
        for k in ("mpred", "msucc", "pos", "head", "tail", "indeg", "order")
    }
    g["seq"] = seq
    g["pos"][seq] = np.arange(n)
    tabu._links(seq, a.machine, n, g["mpred"], g["msucc"])
    tabu._heads(
        a.duration,
        a.job_pred,
        a.job_succ,
        g["mpred"],
        g["msucc"],
        g["head"],
        g["indeg"],
        g["order"],
    )
    tabu._tails(a.duration, a.job_succ, g["msucc"], g["order"], g["tail"])
    return a, g


@pytest.mark.parametrize(("name", "rule"), [("ft10", "spt"), ("la21", "mwkr"), ("abz7", "mor")])
def test_n7_moves_keep_the_graph_acyclic_and_estimates_match(
    jssp_dir: Path, name: str, rule: str
) -> None:
    """Tests every N7 move of a schedule: acyclic once applied, links right, estimate sound.

    For a swap the job neighbours keep their times, so the estimate must be the exact
    length of the longest path through the two swapped operations.
    """
    a, g = _graph(name, jssp_dir, rule)
    n = len(g["seq"])
    path, ma, mb = (np.empty(4 * n + 4, np.int64) for _ in range(3))
    nm = tabu._n7_moves(g["seq"], a.duration, a.job_pred, a.job_succ, g["mpred"], g["pos"],
                        g["head"], g["tail"], path, ma, mb, True)  # fmt: skip
    assert nm > 0
    buf = np.empty(2 * n + 2, np.int64)
    swaps = 0
    for q in range(nm):
        seq, pos = g["seq"].copy(), g["pos"].copy()
        mpred, msucc = g["mpred"].copy(), g["msucc"].copy()
        est = tabu._estimate(int(ma[q]), int(mb[q]), seq, a.duration, a.job_pred, a.job_succ,
                             a.machine, g["head"], g["tail"], buf)  # fmt: skip
        tabu._shift(int(ma[q]), int(mb[q]), seq, pos, a.machine, mpred, msucc)
        want_p, want_s = np.empty(n, np.int64), np.empty(n, np.int64)
        tabu._links(seq, a.machine, n, want_p, want_s)
        assert (
            (mpred == want_p).all() and (msucc == want_s).all() and (pos[seq] == np.arange(n)).all()
        )
        head, tail, order = (np.empty(n, np.int64) for _ in range(3))
        exact = tabu._heads(a.duration, a.job_pred, a.job_succ, mpred, msucc, head,
                            np.empty(n, np.int64), order)  # fmt: skip
        assert exact > 0, "an N7 move closed a cycle"
        if abs(int(ma[q]) - int(mb[q])) == 1:
            swaps += 1
            tabu._tails(a.duration, a.job_succ, msucc, order, tail)
            moved = seq[[ma[q], mb[q]]]
            assert est == max(head[moved] + a.duration[moved] + tail[moved]) <= exact
    assert swaps > 0


def test_order_table_forbids_undoing_a_move(jssp_dir: Path) -> None:
    """Tests that after a move the move restoring the old order is tabu, and others are not."""
    a, g = _graph("ft10", jssp_dir, "spt")
    row, rank, arcs = tabu._order_table(a.machine, a.n_machines)
    assert arcs.shape[0] == sum(int((a.machine == m).sum()) ** 2 for m in range(a.n_machines))
    seq, pos = g["seq"], g["pos"]
    x = int(seq[3])
    assert a.machine[seq[3]] == a.machine[seq[6]]  # ft10: ten operations per machine
    assert not tabu._arcs_tabu(3, 6, seq, row, rank, arcs, 0)
    tabu._forbid(3, 6, seq, row, rank, arcs, 10)
    tabu._shift(3, 6, seq, pos, a.machine, g["mpred"], g["msucc"])
    assert int(seq[6]) == x
    assert tabu._arcs_tabu(6, 3, seq, row, rank, arcs, 5)  # back in front: forbidden
    assert not tabu._arcs_tabu(6, 3, seq, row, rank, arcs, 10)  # until the tenure ends
    assert not tabu._arcs_tabu(6, 7, seq, row, rank, arcs, 5)  # further back: allowed
    assert tabu._arcs_tabu(6, 5, seq, row, rank, arcs, 5)  # in front of one it passed


def test_order_table_left_out_when_too_big(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests that a shop whose table would be too big gets none (tabu search then uses N5)."""
    monkeypatch.setattr(tabu, "ORDER_TABLE_MAX", 99)
    machine = np.repeat(np.arange(2, dtype=np.int64), 10)
    _, _, arcs = tabu._order_table(machine, 2)
    assert arcs.shape[0] == 1
    monkeypatch.setattr(tabu, "ORDER_TABLE_MAX", 200)
    assert tabu._order_table(machine, 2)[2].shape[0] == 200


def test_tabu_without_order_table_uses_n5(jssp_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests the large-shop kernel (N5 swaps, a ring of forbidden swaps): improves, validates."""
    monkeypatch.setattr(tabu, "ORDER_TABLE_MAX", 0)
    p = read_jssp(jssp_dir / "la21")
    start = best_dispatch(p)
    schedule, value = tabu_search(p, start, time_limit=2)
    assert validate(p, schedule) == []
    assert 1046 <= value == makespan(schedule) < makespan(start)  # la21's optimum is 1,046
