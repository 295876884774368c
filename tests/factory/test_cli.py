"""The factory commands: aps generate, report, gantt, diagnose (and one-line errors)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import aps
from aps.cli import app
from aps.cli.solve import result_json
from aps.io.load import load_problem

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> tuple[int, str, str]:
    res = runner.invoke(app, list(args))
    return res.exit_code, res.stdout, res.stderr


def test_generate_plant_json_and_bundle(tmp_path: Path) -> None:
    code, _, err = run(
        "generate", "plant", "--orders", "12", "--seed", "4", "-o", str(tmp_path / "p.json")
    )
    assert code == 0 and "12 orders" in err
    code, _, _ = run(
        "generate", "plant", "--orders", "12", "--seed", "4", "-o", str(tmp_path / "bundle")
    )
    assert code == 0 and (tmp_path / "bundle" / "orders.csv").is_file()
    assert load_problem(tmp_path / "p.json") == load_problem(tmp_path / "bundle")


def test_generate_jssp_formats(tmp_path: Path) -> None:
    code, out, _ = run("generate", "jssp", "--jobs", "3", "--machines", "2", "--seed", "5")
    assert code == 0 and out.splitlines()[1] == "3 2" and len(out.splitlines()) == 5
    code, _, _ = run(
        "generate",
        "jssp",
        "--jobs",
        "3",
        "--machines",
        "2",
        "--seed",
        "5",
        "-o",
        str(tmp_path / "j.json"),
    )
    problem = aps.Problem.from_json((tmp_path / "j.json").read_text())
    assert code == 0 and len(problem.jobs) == 3


@pytest.fixture(scope="module")
def solved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("solved")
    plant = folder / "plant.json"
    assert run("generate", "plant", "--orders", "6", "--seed", "2", "-o", str(plant))[0] == 0
    result = aps.solve(load_problem(plant), time_limit=3, workers=2)
    assert result.status.has_schedule
    out = folder / "result.json"
    out.write_text(json.dumps(result_json(result)))
    return plant, out


def test_report_text_json_csv(solved: tuple[Path, Path]) -> None:
    plant, result = solved
    code, out, _ = run("report", str(result), "--problem", str(plant))
    assert code == 0 and "late orders" in out and "materials:" in out
    code, out, _ = run("report", str(result), "--problem", str(plant), "--format", "json")
    data = json.loads(out)
    assert code == 0 and set(data) >= {"kpis", "operations", "orders", "machines", "materials"}
    assert data["operations"][0]["start_at"].startswith("2026-03")
    code, out, _ = run(
        "report", str(result), "-p", str(plant), "--format", "csv", "--table", "stock"
    )
    assert code == 0 and out.startswith("material,time,at,change,level,event,ref")


def test_gantt_html_and_shapes(solved: tuple[Path, Path], tmp_path: Path) -> None:
    plant, result = solved
    html = tmp_path / "gantt.html"
    code, _, err = run("gantt", str(result), "--problem", str(plant), "-o", str(html))
    assert code == 0 and html.stat().st_size > 1_000_000 and "->" in err
    for fmt in ("rows", "frappe", "vis", "plotly"):
        target = tmp_path / f"{fmt}.json"
        code, _, _ = run("gantt", str(result), "-p", str(plant), "--format", fmt, "-o", str(target))
        assert code == 0 and json.loads(target.read_text())
    # without the problem: a tick-only chart from the schedule alone
    code, _, _ = run("gantt", str(result), "-o", str(tmp_path / "bare.html"))
    assert code == 0


def test_diagnose(tmp_path: Path) -> None:
    code, out, _ = run("diagnose", str(ROOT / "instances" / "plant"))
    assert code == 0 and "no problems found" in out and "feasible: a greedy schedule" in out
    bad = tmp_path / "bad.json"
    data = json.loads((ROOT / "instances" / "plant.json").read_text())
    motor = next(m for m in data["materials"] if m["id"] == "MOTOR")
    motor["initial_stock"], motor["receipts"] = 1, motor["receipts"][:1]
    bad.write_text(json.dumps(data))
    code, out, _ = run("diagnose", str(bad))
    assert code == 1 and "material_shortage" in out and "'MOTOR'" in out
    jssp = tmp_path / "j.txt"
    assert run("generate", "jssp", "--jobs", "4", "--machines", "3", "-o", str(jssp))[0] == 0
    code, out, _ = run("diagnose", str(jssp))
    assert code == 0 and "feasible" in out


@pytest.mark.parametrize(
    "args",
    [
        ("gantt", "missing.json"),
        ("report", "{tmp}/notjson.json"),
        ("generate", "jssp", "--format", "xml"),
        ("report", "{tmp}/notjson.json", "--format", "yaml"),
    ],
)
def test_errors_are_one_line(tmp_path: Path, args: tuple[str, ...]) -> None:
    (tmp_path / "notjson.json").write_text("{")
    code, _, err = run(*(a.format(tmp=tmp_path) for a in args))
    assert code == 2
    assert err.startswith("aps: error: ") and err.count("\n") == 1, err


def test_solve_with_the_plan_solver(tmp_path: Path) -> None:
    """`aps solve --solver plan` on a plant: the result says which solver answered, and
    `aps validate` accepts its schedule."""
    plant = tmp_path / "plant.json"
    assert run("generate", "plant", "--orders", "8", "--seed", "3", "-o", str(plant))[0] == 0
    out = tmp_path / "r.json"
    code, _, err = run(
        "solve", str(plant), "--solver", "plan", "--time-limit", "8", "--workers", "1",
        "--format", "json", "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    result = json.loads(out.read_text())
    assert result["solver"] == "plan" and result["schedule"]
    code, text, err = run("validate", str(plant), str(out))
    assert code == 0 and "valid" in text + err, text + err
