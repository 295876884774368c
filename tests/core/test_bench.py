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


def _row(instance: str, group: str, method: str, gap: float) -> bench.Row:
    return bench.Row(instance=instance, group=group, size="1x1", method=method,
                     status="FEASIBLE", makespan=1, bound=None, lb=1, ub=1, gap_ub=gap,
                     gap_lb=gap, optimal=False, wall_s=1.0, validated=True)  # fmt: skip


def test_summary_means_and_ratios() -> None:
    """Tests per-group means, the 'all' row and the ratios of our mean gap to each peer's."""
    rows = [
        _row("a1", "A", "ours", 1.0), _row("a1", "A", "plain", 4.0),
        _row("a2", "A", "ours", 3.0), _row("a2", "A", "plain", 4.0),
        _row("b1", "B", "ours", 0.0), _row("b1", "B", "plain", 0.0),
    ]  # fmt: skip
    summary = {(s.group, s.method): s for s in bench.summarize(rows, ["ours", "plain"])}
    assert summary["A", "ours"].mean_gap_ub == 2.0
    assert summary["A", "ours"].ratio_to == {"plain": 0.5}
    assert summary["B", "ours"].ratio_to == {"plain": 1.0}
    assert summary["all", "ours"].mean_gap_ub == pytest.approx(4 / 3, abs=1e-3)
    assert summary["all", "ours"].ratio_to["plain"] == pytest.approx(0.5, abs=1e-3)
    assert bench.group_of("ta41", 30, 20) == "ta 30x20"
    assert bench.group_of("swv05", 20, 10) == "swv"
