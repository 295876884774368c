"""Tests for the tabu search and the job-shop portfolio's paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from aps import solve, validate
from aps.io.jssp import read_jssp
from aps.solvers import jobshop
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
    assert result.parameters["phase1"] == {"tabu_threads": 2, "cpsat_workers": 0}
    assert "phase2" not in result.parameters
    assert validate(p, result.schedule) == []
    assert result.makespan is not None and result.makespan >= 945  # la16's optimum


def test_small_shop_is_proved_by_the_probe(jssp_dir: Path) -> None:
    """Tests that a small shop is proved optimal by the CP-SAT probe without the tabu phase."""
    p = read_jssp(jssp_dir / "ft06")
    result = solve(p, time_limit=30, workers=2)
    assert result.status.value == "OPTIMAL" and result.makespan == 55
    assert "probe" in result.parameters and "phase1" not in result.parameters
    assert result.wall_s < 10
