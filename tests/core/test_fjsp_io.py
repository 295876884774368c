"""Tests for the flexible job-shop reader, format detection and the FJSP collection."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from aps.bench import harness as bench
from aps.io.fjsp import looks_like_fjsp, read_fjsp
from aps.io.formats import read_instance
from aps.io.instances import load_bounds, resolve, resolve_any
from aps.io.jssp import InstanceFormatError
from aps.io.load import load_problem

TINY = "2 3 1.5\n2 2 0 5 2 7 1 1 4\n1 3 0 3 1 2 2 6\n"


def test_read_tiny(tmp_path: Path) -> None:
    """Tests jobs, operations and one mode per eligible machine, named by the file's stem."""
    path = tmp_path / "tiny.txt"
    path.write_text(TINY)
    p = read_fjsp(path)
    assert p.name == "tiny" and [m.id for m in p.machines] == [0, 1, 2]
    modes = [[[(m.machine, m.duration) for m in op.modes] for op in j.operations] for j in p.jobs]
    assert modes == [[[(0, 5), (2, 7)], [(1, 4)]], [[(0, 3), (1, 2), (2, 6)]]]
    assert p.is_flexible_job_shop() and not p.is_job_shop()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x 3\n1 1 0 1\n", "1: expected 'jobs machines"),
        ("2 3\n1 1 0 1\n", "2: header announces 2 jobs, file has 1"),
        ("1 3\n1 1 3 5\n", "2: job 0 operation 0: machine 3 is outside 0..2"),
        ("1 3\n2 1 0 5 2 1 4\n", "2: job 0 operation 1: announces 2 machines, the line ends"),
        ("1 3\n1 1 0 5 9\n", "2: job 0: 1 numbers left after its 1 operations"),
        ("1 3\n1 2 0 5 0 4\n", "2: job 0 operation 0: machine 0 is listed twice"),
        ("1 3\n1 1 0 -5\n", "2: job 0 operation 0: negative duration -5"),
        ("1 3\n1 0\n", "2: job 0 operation 0: expected the number of eligible machines"),
        ("1 3\n1 1 a 5\n", "2: expected integers, found 'a'"),
    ],
)
def test_bad_files_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    """Tests each malformed file gives one error naming the file and the line."""
    path = tmp_path / "bad.fjs"
    path.write_text(text)
    with pytest.raises(InstanceFormatError) as exc:
        read_fjsp(path)
    assert str(exc.value) == f"{path}:{message}" or str(exc.value).startswith(f"{path}:{message}")


def test_format_is_detected_and_can_be_forced(tmp_path: Path) -> None:
    """Tests that auto-detection tells FJSP from OR-Library files, and --format overrides."""
    fjsp, orlib = tmp_path / "f.txt", tmp_path / "o"
    fjsp.write_text(TINY)
    orlib.write_text("2 2\n0 3 1 2\n1 4 0 1\n")
    assert looks_like_fjsp(fjsp) and not looks_like_fjsp(orlib)
    assert load_problem(fjsp).is_flexible_job_shop() and not load_problem(fjsp).is_job_shop()
    assert load_problem(orlib).is_job_shop()
    # a line that fits both grammars reads as OR-Library unless forced
    both = tmp_path / "both"
    both.write_text("1 2\n1 1 0 3\n")
    assert read_instance(both, "fjsp").num_operations == 1
    assert read_instance(both).num_operations == read_instance(both, "jssp").num_operations == 2
    with pytest.raises(ValueError, match="unknown instance format 'xml'"):
        read_instance(both, "xml")


def test_whole_collection_reads_and_matches_its_bounds(fjsp_dir: Path) -> None:
    """Tests every file of the collection reads, with the jobs and machines bounds.csv gives
    (where bounds.csv counts fewer machines, the file really uses more: a data error there)."""
    bounds = load_bounds(fjsp_dir, "fjsp")
    paths = resolve(["*"], fjsp_dir, "fjsp")
    assert len(paths) == len(bounds) >= 300
    for path in paths:
        p = read_instance(path)
        b = bounds[p.name]
        assert len(p.jobs) == b.jobs, p.name
        used = {m.machine for j in p.jobs for op in j.operations for m in op.modes}
        assert len(p.machines) == b.machines or max(used) >= b.machines, p.name
        assert p.is_flexible_job_shop()


def test_names_are_found_in_either_collection(
    fjsp_dir: Path, jssp_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tests that a bare name is looked up in the job shops, then the flexible shops."""
    monkeypatch.setenv("APS_JSSP_DIR", str(jssp_dir))
    monkeypatch.setenv("APS_FJSP_DIR", str(fjsp_dir))
    assert [p.stem for p in resolve_any(["ft06", "mt10c1", "k?"])] == [
        "ft06", "mt10c1", "k1", "k2", "k3", "k4",
    ]  # fmt: skip
    assert load_problem("mt10c1").name == "mt10c1"
    with pytest.raises(FileNotFoundError, match="no instance matches 'ft06'"):
        resolve_any(["ft06"], fmt="fjsp")


def test_bench_runs_every_peer_on_a_flexible_shop(fjsp_dir: Path) -> None:
    """Tests ours, plain and PyJobShop on Kacem's 4x5: validated, optimal 11, family group."""
    rows = bench.run(resolve(["k1"], fjsp_dir, "fjsp"), ["ours", "plain", "pyjobshop"], 5, 2, 0,
                     fjsp_dir, fmt="fjsp")  # fmt: skip
    assert [(r.method, r.makespan, r.validated, r.group) for r in rows] == [
        ("ours", 11, True, "kacem"), ("plain", 11, True, "kacem"),
        ("pyjobshop", 11, True, "kacem"),
    ]  # fmt: skip
    assert bench.group_of("e-la01", 10, 5, "hurink") == "hurink e"


def test_cli_solves_a_flexible_file(tmp_path: Path) -> None:
    """Tests `aps solve FILE --format fjsp,json` and a one-line error for a bad format."""
    path = tmp_path / "tiny.txt"
    path.write_text(TINY)
    cli = [sys.executable, "-c", "from aps.cli import main; main()", "solve", str(path)]
    proc = subprocess.run([*cli, "--format", "fjsp,json", "--time-limit", "2"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert '"makespan": 9' in proc.stdout and '"status": "OPTIMAL"' in proc.stdout
    proc = subprocess.run([*cli, "--format", "fjsp,xml"], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert proc.returncode == 2 and "--format must be json, csv or table" in proc.stderr
    assert "Traceback" not in proc.stderr
