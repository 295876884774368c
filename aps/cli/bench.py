"""``aps bench``: our solver against its peers on benchmark instances."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from aps.bench import harness as bench
from aps.cli.app import app, fail
from aps.cli.solve import InstancesOpt
from aps.io.instances import resolve_any

err = Console(stderr=True)


@app.command("bench")
def bench_cmd(
    names: Annotated[list[str] | None, typer.Argument(metavar="NAME_OR_GLOB...")] = None,
    instances: InstancesOpt = None,
    time_limit: Annotated[float, typer.Option("--time-limit", min=0.01)] = 10.0,
    workers: Annotated[int, typer.Option("--workers", min=1)] = 2,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    baseline: Annotated[
        str | None,
        typer.Option("--baseline", help="Comma-separated peers to run side by side, e.g. plain"),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Per-instance CSV.")] = None,
    md: Annotated[Path | None, typer.Option("--markdown", help="Markdown tables.")] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="jssp or fjsp: the collection to look names up in and the file format; "
            "auto (default) tries job shops first, then flexible shops, and detects files.",
        ),
    ] = "auto",
    from_csv: Annotated[
        Path | None,
        typer.Option("--from-csv", help="Re-render the tables of an earlier run's --out CSV."),
    ] = None,
) -> None:
    """Benchmark our solver (and baselines) on JSSP or FJSP instances against best-known bounds."""
    if fmt not in ("auto", "jssp", "fjsp"):
        raise fail(f"--format must be auto, jssp or fjsp, not {fmt!r}")
    if from_csv is not None:
        _rerender(from_csv, md)
        return
    if not names:
        raise fail("name at least one instance (or glob), or give --from-csv")
    methods = ["ours", *_peers(baseline)]
    try:
        paths = resolve_any(names, instances, fmt)
    except FileNotFoundError as exc:
        raise fail(str(exc)) from None
    ran = bench.provenance()  # at the start: the commit the run used
    rows = _solve_all(paths, methods, time_limit, workers, seed, instances, fmt, out)
    header = (
        f"aps bench {' '.join(names)} --time-limit {time_limit:g} --workers {workers} "
        f"--seed {seed}"
        + (f" --format {fmt}" if fmt != "auto" else "")
        + (f" --baseline {baseline}" if baseline else "")
    )
    text = bench.markdown(rows, bench.summarize(rows, methods), methods,
                          f"`{header}`\n\n{ran}\n")  # fmt: skip
    sys.stdout.write(text)
    if out is not None:
        out.write_text(bench.rows_csv(rows))
    if md is not None:
        md.write_text(text)
    _verdict(rows)


def _solve_all(
    paths: list[Path],
    methods: list[str],
    time_limit: float,
    workers: int,
    seed: int,
    instances: Path | None,
    fmt: str,
    out: Path | None,
) -> list[bench.Row]:
    """Every method on every instance, with a progress bar (one line per solve under nohup,
    and the CSV so far on disk, so that an interrupted run still leaves its figures)."""
    total = len(paths) * len(methods)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    ) as progress:
        task = progress.add_task("bench", total=total)
        done: list[bench.Row] = []

        def on_row(row: bench.Row) -> None:
            progress.advance(task)
            progress.update(task, description=f"{row.instance} {row.method}: {row.makespan}")
            done.append(row)
            if not err.is_terminal:
                err.print(f"{len(done)}/{total} {row.instance} {row.method} {row.makespan} "
                          f"gap_ub {row.gap_ub} validated {row.validated}")  # fmt: skip
                if out is not None:
                    out.write_text(bench.rows_csv(done))
            if row.makespan is not None and not row.validated:
                progress.console.print(
                    f"[red]{row.instance} {row.method}: NOT VALIDATED {row.note}[/]"
                )

        return bench.run(paths, methods, time_limit, workers, seed, instances, on_row, fmt)


def _rerender(csv_path: Path, md: Path | None) -> None:
    """The tables of an earlier run, from its CSV (methods in the order they appear)."""
    try:
        rows = bench.rows_from_csv(csv_path.read_text())
    except (OSError, KeyError, ValueError) as exc:
        raise fail(f"{csv_path}: not a bench CSV: {exc}") from None
    methods = list(dict.fromkeys(r.method for r in rows))
    if not methods:
        raise fail(f"{csv_path}: no rows")
    text = bench.markdown(rows, bench.summarize(rows, methods), methods,
                          f"Tables re-rendered from `{csv_path.name}`.\n")  # fmt: skip
    sys.stdout.write(text)
    if md is not None:
        md.write_text(text)


def _verdict(rows: list[bench.Row]) -> None:
    """Exit 1 when a schedule fails validation or ours has none; a peer that found no
    schedule within the limit is an outcome to report, not a failure."""
    for r in rows:
        if r.validated and "below the known lower bound" in r.note:
            # a validated schedule below a published bound: the bound is wrong, not the schedule
            err.print(f"[yellow]{r.instance}/{r.method}: {r.note}[/]")
        elif r.makespan is None and r.method != "ours":
            err.print(f"[yellow]{r.instance}/{r.method}: no schedule within the limit[/]")
    bad = [r for r in rows if (r.makespan is not None or r.method == "ours") and not r.validated]
    if bad:
        raise fail(
            f"{len(bad)} run(s) without a validated schedule: "
            + ", ".join(f"{r.instance}/{r.method}" for r in bad[:5]),
            1,
        )


def _peers(baseline: str | None) -> list[str]:
    """The ``--baseline`` peers, each known and installed."""
    peers = [p.strip() for p in baseline.split(",")] if baseline else []
    for p in peers:
        if p not in bench.METHODS or p == "ours":
            raise fail(f"--baseline: unknown peer {p!r}; available: plain, pyjobshop")
        if p == "pyjobshop":
            try:
                import pyjobshop  # noqa: F401
            except ImportError:
                raise fail(
                    "--baseline pyjobshop needs the bench extra: pip install -e '.[bench]'"
                ) from None
    return peers
