"""Tests for the job-shop file readers and instance lookup."""

from __future__ import annotations

from pathlib import Path

import pytest

from aps.io.instances import load_bounds, resolve
from aps.io.jssp import InstanceFormatError, read_jssp, write_orlib
from aps.io.load import load_problem


def test_read_ft06(jssp_dir: Path) -> None:
    """Tests that ft06 reads as 6 jobs of 6 chained operations with 0-based machines."""
    p = read_jssp(jssp_dir / "ft06")
    assert (len(p.jobs), len(p.machines), p.num_operations) == (6, 6, 36)
    first = p.jobs[0].operations[0].modes[0]
    assert (first.machine, first.duration) == (2, 1)
    assert p.is_job_shop()


def test_taillard_format_matches_orlib(tmp_path: Path) -> None:
    """Tests that Taillard's Times/Machines layout (1-based machines) gives the same problem."""
    orlib = tmp_path / "a"
    orlib.write_text("2 2\n0 3 1 2\n1 4 0 1\n")
    ta = tmp_path / "b"
    ta.write_text(
        "Nb of jobs, Nb of Machines, Time seed, Machine seed, Upper bound, Lower bound\n"
        "2 2 1 1 10 5\nTimes\n3 2\n4 1\nMachines\n1 2\n2 1\n"
    )
    a, b = read_jssp(orlib, name="x"), read_jssp(ta, name="x")
    assert a == b


def test_write_orlib_round_trip(tmp_path: Path, jssp_dir: Path) -> None:
    """Tests that writing OR-Library and reading back gives the same jobs."""
    p = read_jssp(jssp_dir / "la01")
    out = tmp_path / "la01"
    out.write_text(write_orlib(p))
    assert read_jssp(out) == p


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", ":1: empty file"),
        ("2 x\n", ":1: expected integers, found 'x'"),
        ("2 2\n0 3 1 2\n", "header announces 2 jobs, file has 1"),
        ("1 2\n0 3 1\n", ":2: job 0 has 3 numbers, expected 4"),
        ("1 2\n0 3 5 2\n", ":2: job 0 operation 1: machine 5 is outside 0..1"),
        ("1 1\nTimes\n3\nMachines\n0\n", "machine 0 is outside 1..1"),
    ],
)
def test_bad_file_one_line_error(tmp_path: Path, text: str, needle: str) -> None:
    """Tests that a malformed file gives one line naming file, line and problem."""
    path = tmp_path / "bad"
    path.write_text(text)
    with pytest.raises(InstanceFormatError) as info:
        read_jssp(path)
    assert needle in str(info.value)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_resolve_globs_and_bounds(jssp_dir: Path) -> None:
    """Tests that globs resolve in natural order and bounds load for them."""
    paths = resolve(["la0*"], jssp_dir)
    assert [p.name for p in paths] == [f"la0{i}" for i in range(1, 10)]
    bounds = load_bounds(jssp_dir)
    assert bounds["ft06"].ub == 55 and bounds["ft06"].optimal
    assert load_problem("ft06", jssp_dir).name == "ft06"
    with pytest.raises(FileNotFoundError, match="no instance matches 'nope'"):
        resolve(["nope"], jssp_dir)
