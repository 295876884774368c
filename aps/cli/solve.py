"""``aps solve``, ``aps convert``, ``aps validate`` and ``aps schema``."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from aps.cli.app import app, fail
from aps.io.load import load_problem
from aps.model import Objective, Problem, json_schema
from aps.result import Result, ScheduledOperation
from aps.solve import solve
from aps.solvers import SOLVERS
from aps.validate import ScheduleInvalidError, validate

InstancesOpt = Annotated[
    Path | None,
    typer.Option(
        "--instances",
        help="Folder of instance files (default: $APS_JSSP_DIR or ../shared/jssp, then "
        "$APS_FJSP_DIR or ../shared/fjsp).",
    ),
]

err = Console(stderr=True)


def _load(path: str, instances: Path | None, input_format: str = "auto") -> Problem:
    try:
        return load_problem(path, instances, fmt=input_format)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        raise fail(f"{path}: invalid problem at {loc or 'top level'}: {first['msg']}") from None
    except (OSError, ValueError) as exc:
        raise fail(str(exc)) from None


def result_json(result: Result) -> dict[str, Any]:
    """The CLI's JSON shape: summary fields first, then the schedule rows."""
    data = result.model_dump(mode="json", exclude={"schedule", "progress"})
    data["schedule"] = [_row(r) for r in result.schedule]
    data["progress"] = [p.model_dump() for p in result.progress]
    return data


def _row(r: ScheduledOperation) -> dict[str, Any]:
    row: dict[str, Any] = {
        "job": r.job,
        "op": r.op,
        "machine": r.machine,
        "start": r.start,
        "end": r.end,
    }
    if r.setup_start is not None:
        row["setup_start"] = r.setup_start
    return row


def schedule_csv(result: Result) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["job", "op", "machine", "setup_start", "start", "end"])
    for r in sorted(result.schedule, key=lambda r: (r.start, str(r.machine))):
        w.writerow([r.job, r.op, r.machine, r.busy_from, r.start, r.end])
    return buf.getvalue()


@app.command("solve")
def solve_cmd(
    path: Annotated[str, typer.Argument(help="Problem JSON, plant data, or a JSSP file/name.")],
    time_limit: Annotated[float, typer.Option("--time-limit", min=0.01)] = 10.0,
    workers: Annotated[int, typer.Option("--workers", min=1)] = 2,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="Output json, csv or table; an instance file's format, jssp or fjsp (detected "
            "when not given), may be added: 'fjsp,json'.",
        ),
    ] = "table",
    out: Annotated[Path | None, typer.Option("--out", help="Write here instead of stdout.")] = None,
    solver: Annotated[str, typer.Option("--solver", help="cpsat|plain|milp|auto|plan")] = "cpsat",
    objective: Annotated[
        str | None,
        typer.Option(
            "--objective",
            help="Override the problem's objective: 'weighted_tardiness:10;makespan:1'.",
        ),
    ] = None,
    lexicographic: Annotated[
        bool, typer.Option("--lexicographic", help="Optimise the --objective terms in order.")
    ] = False,
    instances: InstancesOpt = None,
) -> None:
    """Solve a problem and print a validated schedule."""
    fmt, input_format = _formats(fmt)
    if solver not in SOLVERS:
        raise fail(f"--solver must be one of {', '.join(SOLVERS)}, not {solver!r}")
    problem = _with_objective(_load(path, instances, input_format), objective, lexicographic)
    show = fmt == "table" and out is None and sys.stderr.isatty()
    with Progress(
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err,
        disable=not show,
        transient=True,
    ) as progress:
        task = progress.add_task(f"solving {problem.name}", total=None)

        def report(inc: Any) -> None:
            progress.update(
                task,
                description=f"solving {problem.name}: "
                f"objective {inc.objective:g}, bound {inc.bound:g}",
            )

        try:
            result = solve(
                problem,
                time_limit=time_limit,
                workers=workers,
                seed=seed,
                on_progress=report,
                solver=solver,
            )
        except ScheduleInvalidError as exc:
            raise fail(f"solver returned an invalid schedule (a bug): {exc}", 3) from None
        except ValueError as exc:
            raise fail(str(exc)) from None
    text = _render(result, fmt, path)
    if out is not None:
        out.write_text(text)
        err.print(f"{result.name}: {result.status} makespan {result.makespan} -> {out}")
    else:
        sys.stdout.write(text)
    if not result.status.has_schedule:
        raise typer.Exit(1)


def _with_objective(problem: Problem, objective: str | None, lexicographic: bool) -> Problem:
    """``problem`` with the ``--objective`` override, if any."""
    if objective is not None:
        try:
            return problem.model_copy(
                update={"objective": Objective.parse(objective, lexicographic)}
            )
        except ValueError as exc:
            raise fail(f"--objective: {exc}") from None
    if lexicographic:
        raise fail("--lexicographic needs --objective with the terms in order")
    return problem


def _render(result: Result, fmt: str, path: str) -> str:
    """The result as ``json`` (naming the problem's ``path``), ``csv`` or a ``table``."""
    if fmt == "json":
        data = result_json(result)
        # lets `aps gantt RESULT` and `aps report RESULT` find the problem again
        data["problem"] = str(Path(path).resolve()) if Path(path).exists() else path
        return json.dumps(data, indent=2) + "\n"
    if fmt == "csv":
        return schedule_csv(result)
    return _table(result)


def _table(result: Result) -> str:
    console = Console(file=io.StringIO(), width=120, force_terminal=False)
    console.print(
        f"[bold]{result.name}[/]: {result.status}  makespan {result.makespan}  "
        f"objective {result.objective}  bound {result.bound}  gap {_pct(result.gap)}  "
        f"{result.wall_s:.2f} s  ({result.solver}, {result.solver_version})"
    )
    if result.message:
        console.print(result.message)
    table = Table("job", "op", "machine", "setup_start", "start", "end")
    for r in sorted(result.schedule, key=lambda r: (str(r.machine), r.start)):
        table.add_row(
            str(r.job), str(r.op), str(r.machine), str(r.busy_from), str(r.start), str(r.end)
        )
    console.print(table)
    assert isinstance(console.file, io.StringIO)
    return console.file.getvalue()


def _formats(value: str) -> tuple[str, str]:
    """``--format``'s output format and instance format (``table``, ``auto`` by default)."""
    output, instance = "table", "auto"
    for part in (p.strip() for p in value.split(",")):
        if part in ("json", "csv", "table"):
            output = part
        elif part in ("jssp", "fjsp"):
            instance = part
        else:
            raise fail(f"--format must be json, csv or table (and jssp or fjsp), not {part!r}")
    return output, instance


def _pct(gap: float | None) -> str:
    return "-" if gap is None else f"{100 * gap:.2f}%"


@app.command("convert")
def convert_cmd(
    path: Annotated[str, typer.Argument(help="Any supported input.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Problem JSON to write.")],
    instances: InstancesOpt = None,
) -> None:
    """Convert any supported input to the project's problem JSON."""
    problem = _load(path, instances)
    output.write_text(problem.to_json() + "\n")
    err.print(
        f"{problem.name}: {len(problem.jobs)} jobs, {problem.num_operations} operations -> {output}"
    )


@app.command("validate")
def validate_cmd(
    problem_path: Annotated[str, typer.Argument(metavar="PROBLEM")],
    schedule_path: Annotated[
        Path,
        typer.Argument(
            metavar="SCHEDULE", help="Result JSON from 'aps solve --format json' or a list of rows."
        ),
    ],
    instances: InstancesOpt = None,
) -> None:
    """Check a schedule against every hard constraint of a problem."""
    problem = _load(problem_path, instances)
    try:
        data = json.loads(schedule_path.read_text())
        rows = data["schedule"] if isinstance(data, dict) else data
        schedule = [ScheduledOperation.model_validate(r) for r in rows]
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValidationError) as exc:
        raise fail(f"{schedule_path}: not a schedule: {exc}".splitlines()[0]) from None
    violations = validate(problem, schedule)
    if violations:
        for v in violations:
            typer.echo(str(v))
        typer.echo(f"INVALID: {len(violations)} violation(s)")
        raise typer.Exit(1)
    typer.echo(f"valid: {len(schedule)} operations, makespan {max(r.end for r in schedule)}")


@app.command("schema")
def schema_cmd() -> None:
    """Print the JSON Schema of the problem format."""
    sys.stdout.write(json_schema())
