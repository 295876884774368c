"""Tests for the benchmark harness: peers, validation and the per-group summary."""

from __future__ import annotations

from pathlib import Path

import pytest

from aps.bench import harness as bench
from aps.io.instances import resolve


def test_every_peer_is_validated(jssp_dir: Path) -> None:
    """Tests that ours, plain and pyjobshop all solve ft06 to 55 and are validated."""
    rows = bench.run(resolve(["ft06"], jssp_dir), ["ours", "plain", "pyjobshop"], 5, 2, 0,
                     jssp_dir)  # fmt: skip
    assert [(r.method, r.makespan, r.validated, r.optimal) for r in rows] == [
        ("ours", 55, True, True), ("plain", 55, True, True), ("pyjobshop", 55, True, True),
    ]  # fmt: skip
    assert all(r.gap_ub == 0 and r.gap_lb == 0 for r in rows)


def _row(instance: str, group: str, method: str, makespan: int | None, ub: int = 100) -> bench.Row:
    gap = None if makespan is None else 100.0 * (makespan - ub) / ub
    return bench.Row(instance=instance, group=group, size="1x1", method=method,
                     status="FEASIBLE", makespan=makespan, bound=None, lb=50, ub=ub,
                     gap_ub=gap, gap_lb=None, optimal=False, wall_s=1.0,
                     validated=makespan is not None)  # fmt: skip


def test_summary_means_and_ratios() -> None:
    """Tests per-group means, gaps to the best makespan known (a bound beaten in the run
    counts), instances without every method's schedule left out of the ratio, and the
    ratios of our mean gap to each peer's."""
    rows = [
        _row("a1", "A", "ours", 101), _row("a1", "A", "plain", 104),
        _row("a2", "A", "ours", 103), _row("a2", "A", "plain", 104),
        _row("b1", "B", "ours", 90), _row("b1", "B", "plain", 99),  # UB 100 beaten by ours
        _row("b2", "B", "ours", 100), _row("b2", "B", "plain", None),  # plain: no schedule
    ]  # fmt: skip
    summary = {(s.group, s.method): s for s in bench.summarize(rows, ["ours", "plain"])}
    assert summary["A", "ours"].mean_gap_ub == 2.0 and summary["A", "plain"].mean_gap_ub == 4.0
    assert summary["A", "ours"].ratio_to == {"plain": 0.5}
    assert summary["B", "ours"].mean_gap_ub == -5.0 and summary["B", "plain"].mean_gap_ub is None
    assert summary["B", "ours"].mean_gap_best == 0.0
    assert summary["B", "plain"].mean_gap_best == 10.0  # 99 against the 90 ours found
    assert (summary["B", "plain"].no_schedule, summary["B", "ours"].no_schedule) == (1, 0)
    assert summary["B", "ours"].ratio_to == {"plain": 0.0}
    assert summary["all", "ours"].mean_gap_best == pytest.approx(4 / 3, abs=1e-3)
    assert summary["all", "ours"].ratio_to["plain"] == pytest.approx((4 / 3) / 6, abs=1e-3)
    assert bench.group_of("ta41", 30, 20) == "ta 30x20"
    assert bench.group_of("swv05", 20, 10) == "swv"


def test_tables_rerender_from_the_csv() -> None:
    """Tests that a run's CSV reads back into the same rows, so reports can be re-rendered."""
    rows = [_row("a1", "A", "ours", 101), _row("a1", "A", "plain", None)]
    assert bench.rows_from_csv(bench.rows_csv(rows)) == rows
