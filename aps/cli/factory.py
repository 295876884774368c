"""Factory commands for ``aps``: generate, report, gantt and diagnose.

Registered through the ``aps.commands`` entry point (``factory``), so the core CLI does
not import pandas or plotly unless one of these commands runs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from aps.cli.app import app, fail
from aps.factory.generate import generate_plant, plant_summary
from aps.factory.loaded import LOAD_DEFAULT, TIGHTNESS_DEFAULT
from aps.heuristics.witness import witness
from aps.io.bundle.write import write_bundle
from aps.io.load import load_problem
from aps.io.load import load_problem as load_factory
from aps.io.taillard import generate_jssp, jssp_orlib, jssp_problem
from aps.model import Problem
from aps.report.diagnose import Severity, diagnose_path
from aps.report.gantt import gantt_rows, to_frappe, to_plotly, to_vis_timeline, write_html
from aps.report.report import build_report, problem_from_schedule, report_csv, report_text
from aps.result import Result

generate_app = typer.Typer(
    name="generate",
    help="Generate seeded plants and job-shop instances.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


app.add_typer(generate_app, name="generate")


def _write(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text)
    else:
        try:
            out.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise fail(f"{out}: cannot write: {exc.strerror or exc}") from None


@generate_app.command("plant")
def generate_plant_cmd(
    orders: Annotated[int, typer.Option("--orders", min=1, help="Number of orders.")] = 60,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    out: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help="plant .json, a .zip/.xlsx bundle or a folder of "
            "CSVs (no suffix); stdout (JSON) if omitted.",
        ),
    ] = None,
    load: Annotated[
        float | None,
        typer.Option(
            "--load",
            min=0.05,
            max=3.0,
            help="Generate a hard plant: the target utilisation of the bottleneck machine "
            f"group over the plan, e.g. 0.95 (default {LOAD_DEFAULT} when only --tightness "
            "is given). Routings of 7-13 steps, about 10 operations per order.",
        ),
    ] = None,
    tightness: Annotated[
        float | None,
        typer.Option(
            "--tightness",
            min=0.0,
            max=1.0,
            help="Generate a hard plant: due-date tightness T, due = release + own "
            "processing + (1 - T) × the working time left to the plan end after it; 0 "
            f"loose, 1 no slack (default {TIGHTNESS_DEFAULT} when only --load is given).",
        ),
    ] = None,
) -> None:
    """A realistic, feasible plant (machines, shifts, BOM, setups, orders).

    Without --load/--tightness: an easy plant like instances/plant.json (the bottleneck
    about half busy, generous due dates). With either: a hard one at that load and
    tightness (aps.factory.loaded), whose deadlines the greedy witness meets.
    """

    plant = generate_plant(orders, seed, load=load, tightness=tightness)
    if out is None or out.suffix.lower() == ".json":
        _write(plant.to_json() + "\n", out)
    else:
        try:
            write_bundle(plant, out)
        except OSError as exc:
            raise fail(f"{out}: cannot write: {exc.strerror or exc}") from None
    if out is not None:
        counts = ", ".join(f"{v} {k}" for k, v in plant_summary(plant).items())
        typer.echo(f"{plant.name}: {counts} -> {out}", err=True)


@generate_app.command("jssp")
def generate_jssp_cmd(
    jobs: Annotated[int, typer.Option("--jobs", min=1)] = 15,
    machines: Annotated[int, typer.Option("--machines", min=1)] = 15,
    seed: Annotated[int, typer.Option("--seed", min=1, help="Taillard time seed.")] = 1,
    machine_seed: Annotated[
        int | None, typer.Option("--machine-seed", min=1, help="Default: seed + 1.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="orlib or json")] = "",
    out: Annotated[Path | None, typer.Option("-o", "--output")] = None,
) -> None:
    """A Taillard-like job shop in OR-Library format or as problem JSON."""

    kind = fmt or ("json" if out is not None and out.suffix.lower() == ".json" else "orlib")
    if kind not in ("orlib", "json"):
        raise fail(f"--format must be orlib or json, not {fmt!r}")
    try:
        inst = generate_jssp(jobs, machines, seed, machine_seed)
    except ValueError as exc:
        raise fail(str(exc)) from None
    name = f"taillard-like-{jobs}x{machines}-{seed}"
    text = (
        jssp_problem(inst, name).to_json() + "\n"
        if kind == "json"
        else jssp_orlib(
            inst,
            f"# {name} (Taillard generator, time seed {seed}, "
            f"machine seed {machine_seed or seed + 1})",
        )
    )
    _write(text, out)


def _load_result(path: Path, problem_path: str | None) -> tuple[Problem, Result]:
    """A result JSON (``aps solve --format json``) and the problem it belongs to.

    The problem comes from ``--problem``, else from a ``"problem"`` key in the result
    (an embedded problem or a path), else a stand-in rebuilt from the schedule.
    """

    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise fail(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise fail(f"{path}: not JSON: {exc}") from None
    if isinstance(data, dict) and "result" in data and isinstance(data["result"], dict):
        embedded = data.get("problem")
        data = {**data["result"], "problem": embedded}
    if not isinstance(data, dict) or "schedule" not in data:
        raise fail(f"{path}: not a result (expected the JSON of 'aps solve --format json')")
    try:
        result = Result.model_validate({k: v for k, v in data.items() if k != "problem"})
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        raise fail(f"{path}: invalid result at {loc or 'top level'}: {first['msg']}") from None
    source = problem_path if problem_path is not None else data.get("problem")
    if isinstance(source, dict):
        try:
            return Problem.model_validate(source), result
        except ValidationError as exc:
            raise fail(f"{path}: embedded problem is invalid: {exc.errors()[0]['msg']}") from None
    if isinstance(source, str):
        try:
            return _load_problem(source), result
        except ValidationError as exc:
            raise fail(f"{source}: invalid problem: {exc.errors()[0]['msg']}") from None
        except (OSError, ValueError) as exc:
            raise fail(str(exc)) from None
    try:
        return problem_from_schedule(result), result
    except ValueError as exc:
        raise fail(f"{path}: {exc}") from None


def _load_problem(source: str) -> Problem:
    """Plant or problem JSON and bundles through the factory loader, the rest (JSSP files
    and benchmark names) through the core's."""
    path = Path(source)
    if path.is_dir() or path.suffix.lower() in (".json", ".zip", ".xlsx"):
        return load_factory(path)

    return load_problem(source)


ProblemOpt = Annotated[
    str | None,
    typer.Option(
        "--problem",
        "-p",
        help="The problem or plant the result belongs to "
        "(needed for datetimes, downtime and stock).",
    ),
]


@app.command("report")
def report_cmd(
    result_path: Annotated[Path, typer.Argument(metavar="RESULT")],
    problem: ProblemOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="text, json or csv")] = "text",
    table: Annotated[
        str, typer.Option("--table", help="CSV table: operations, orders, machines or stock")
    ] = "operations",
    out: Annotated[Path | None, typer.Option("-o", "--output")] = None,
) -> None:
    """Report a result: operations, orders, machines, stock profiles and KPIs."""

    if fmt not in ("text", "json", "csv"):
        raise fail(f"--format must be text, json or csv, not {fmt!r}")
    prob, result = _load_result(result_path, problem)
    try:
        rep = build_report(prob, result)
    except (KeyError, ValueError) as exc:
        raise fail(f"the result does not belong to this problem: {exc}") from None
    if fmt == "json":
        text = rep.model_dump_json(indent=2) + "\n"
    elif fmt == "csv":
        try:
            text = report_csv(rep, table)
        except ValueError as exc:
            raise fail(str(exc)) from None
    else:
        text = report_text(rep)
    _write(text, out)


@app.command("gantt")
def gantt_cmd(
    result_path: Annotated[Path, typer.Argument(metavar="RESULT")],
    out: Annotated[Path, typer.Option("-o", "--output", help="gantt.html (or .json)")] = Path(
        "gantt.html"
    ),
    problem: ProblemOpt = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="html (Plotly page), rows, frappe, vis or plotly "
            "(JSON shapes); default from the suffix",
        ),
    ] = "",
) -> None:
    """Draw a result as an interactive Gantt chart (self-contained HTML, no CDN)."""

    kind = fmt or ("html" if out.suffix.lower() in (".html", ".htm") else "rows")
    if kind not in ("html", "rows", "frappe", "vis", "plotly"):
        raise fail(f"--format must be html, rows, frappe, vis or plotly, not {fmt!r}")
    prob, result = _load_result(result_path, problem)
    if not result.schedule:
        raise fail(f"{result_path}: the result has no schedule ({result.status})")
    if kind == "html":
        try:
            write_html(prob, result, out)
        except OSError as exc:
            raise fail(f"{out}: cannot write: {exc.strerror or exc}") from None
        typer.echo(f"{result.name}: {len(result.schedule)} operations -> {out}", err=True)
        return
    rows = gantt_rows(prob, result)
    shaped: Any
    if kind == "frappe":
        shaped = to_frappe(rows)
    elif kind == "vis":
        shaped = to_vis_timeline(rows)
    elif kind == "plotly":
        shaped = to_plotly(rows)
    else:
        shaped = [r.model_dump() for r in rows]
    _write(json.dumps(shaped, indent=2) + "\n", out)


@app.command("diagnose")
def diagnose_cmd(
    path: Annotated[str, typer.Argument(help="Plant JSON, CSV bundle or problem JSON.")],
    fmt: Annotated[str, typer.Option("--format", help="text or json")] = "text",
    prove: Annotated[
        bool,
        typer.Option(
            "--witness/--no-witness",
            help="Without errors, also try to build a greedy feasible schedule.",
        ),
    ] = True,
) -> None:
    """Explain infeasibility before solving: name the orders, steps, machines and materials."""

    if fmt not in ("text", "json"):
        raise fail(f"--format must be text or json, not {fmt!r}")
    if not Path(path).exists():
        raise fail(f"{path}: no such file or folder")
    findings = diagnose_path(path)
    if fmt == "json":
        sys.stdout.write(json.dumps([f.model_dump(mode="json") for f in findings], indent=2) + "\n")
    else:
        for f in findings:
            typer.echo(str(f))
        errors = sum(f.severity is Severity.ERROR for f in findings)
        typer.echo(
            f"{errors} error(s), {len(findings) - errors} warning(s)"
            if findings
            else "no problems found"
        )
        if prove and not errors:
            try:
                problem = _load_problem(path)
            except (OSError, ValueError) as exc:
                raise fail(str(exc)) from None
            schedule = witness(problem)
            if schedule is not None:
                end = max(r.end for r in schedule)
                when = (
                    f" ({problem.time.to_datetime(end).isoformat(timespec='minutes')})"
                    if problem.time
                    else ""
                )
                typer.echo(
                    f"feasible: a greedy schedule meets every hard constraint, makespan {end}{when}"
                )
            else:
                typer.echo("no greedy schedule found (the plan may still be feasible)")
    if any(f.severity is Severity.ERROR for f in findings):
        raise typer.Exit(1)
