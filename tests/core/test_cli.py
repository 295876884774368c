"""Tests of the ``aps`` command line as a user runs it (real subprocesses)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

APS = [sys.executable, "-c", "from aps.cli import main; main()"]


def aps(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*APS, *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def test_solve_ft06_json(jssp_dir: Path) -> None:
    """Tests the README's first command: ft06 gives 55, OPTIMAL, a valid schedule."""
    proc = aps("solve", "ft06", "--instances", str(jssp_dir), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert (data["name"], data["status"], data["makespan"]) == ("ft06", "OPTIMAL", 55)
    assert data["bound"] == 55 and data["gap"] == 0
    assert len(data["schedule"]) == 36
    assert set(data["schedule"][0]) == {"job", "op", "machine", "start", "end"}
    assert all(
        isinstance(r["job"], int) and isinstance(r["machine"], int) for r in data["schedule"]
    )


def test_convert_then_solve_then_validate(tmp_path: Path, jssp_dir: Path) -> None:
    """Tests convert -> solve (csv and json) -> validate, and that validate catches tampering."""
    problem = tmp_path / "la01.json"
    assert aps("convert", str(jssp_dir / "la01"), "-o", str(problem)).returncode == 0
    result = tmp_path / "result.json"
    proc = aps(
        "solve", str(problem), "--format", "json", "--out", str(result), "--time-limit", "20"
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(result.read_text())["makespan"] == 666
    ok = aps("validate", str(problem), str(result))
    assert ok.returncode == 0 and ok.stdout.startswith("valid: 50 operations, makespan 666")
    data = json.loads(result.read_text())
    data["schedule"][1]["start"] = data["schedule"][0]["start"]
    data["schedule"][1]["end"] = data["schedule"][1]["start"] + 1
    result.write_text(json.dumps(data))
    bad = aps("validate", str(problem), str(result))
    assert bad.returncode == 1 and "INVALID" in bad.stdout
    csv_out = aps("solve", str(problem), "--format", "csv", "--time-limit", "20")
    assert csv_out.stdout.splitlines()[0] == "job,op,machine,setup_start,start,end"
    assert len(csv_out.stdout.splitlines()) == 51


def test_bench_side_by_side(jssp_dir: Path, tmp_path: Path) -> None:
    """Tests that bench runs both methods, validates and writes CSV and Markdown."""
    out, md = tmp_path / "r.csv", tmp_path / "r.md"
    proc = aps(
        "bench", "la01", "ft06", "--instances", str(jssp_dir), "--time-limit", "5",
        "--workers", "2", "--baseline", "plain", "--out", str(out), "--markdown", str(md),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = out.read_text().splitlines()
    assert len(lines) == 1 + 4
    assert all(",True," in line for line in lines[1:])  # validated column
    text = md.read_text()
    la = next(line for line in text.splitlines() if line.startswith("| la | 1 |"))
    cells = [c.strip() for c in la.strip("|").split("|")]
    assert cells[2:6] == ["0.00", "0.00", "1/1", "0"] and cells[7:11] == cells[2:6]
    assert cells[-1] == "1.000"
    assert "| all |" in text and "on commit" in text
    again = aps("bench", "--from-csv", str(out))
    assert again.returncode == 0, again.stderr
    assert la in again.stdout.splitlines()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["solve", "nosuchinstance"], "no instance matches 'nosuchinstance'"),
        (["solve", "ft06", "--format", "xml"], "--format must be json, csv or table"),
        (["bench", "ft06", "--baseline", "magic"], "--baseline: unknown peer 'magic'"),
    ],
)
def test_cli_errors_are_one_line(args: list[str], needle: str, jssp_dir: Path) -> None:
    """Tests that bad input gets a one-line message and no stack trace."""
    proc = aps(*args, "--instances", str(jssp_dir))
    assert proc.returncode != 0
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_files_are_reported_without_traceback(tmp_path: Path) -> None:
    """Tests malformed instance and JSON files produce one error line naming the file."""
    bad = tmp_path / "bad.txt"
    bad.write_text("2 2\n0 1 x 2\n1 1 0 1\n")
    proc = aps("solve", str(bad))
    assert proc.returncode == 2 and f"{bad}:2: expected integers, found 'x'" in proc.stderr
    bad_json = tmp_path / "p.json"
    bad_json.write_text('{"machines": [{"id": 1}], "jobs": [{"id": 1, "operations": []}]}')
    proc = aps("solve", str(bad_json))
    assert proc.returncode == 2 and "jobs.0.operations" in proc.stderr
    assert "Traceback" not in proc.stderr
