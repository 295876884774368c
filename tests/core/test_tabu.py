"""Tests for the tabu search and the job-shop portfolio's paths."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import pytest

from aps import solve, validate
from aps.heuristics.dispatch import RULES, best_dispatch, dispatch
from aps.io.jssp import read_jssp
from aps.result import ScheduledOperation
from aps.solvers.jobshop import strategy as jobshop
from aps.solvers.jobshop import tabu
from aps.solvers.jobshop.tabu import tabu_search
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


def test_tabu_without_order_table_uses_n5(jssp_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests the large-shop kernel (N5 swaps, a ring of forbidden swaps): improves, validates."""
    monkeypatch.setattr(tabu, "ORDER_TABLE_MAX", 0)
    p = read_jssp(jssp_dir / "la21")
    start = best_dispatch(p)
    schedule, value = tabu_search(p, start, time_limit=2)
    assert validate(p, schedule) == []
    assert 1046 <= value == makespan(schedule) < makespan(start)  # la21's optimum is 1,046
