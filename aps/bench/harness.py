"""Benchmark harness: our solver and baselines side by side on the job-shop library.

Every method runs each instance at the same time limit, workers and seed, one solve at a
time; every schedule is checked by the independent validator. Gaps are to the
best-known bounds (``bounds.csv``); groups are instance families, Taillard's size
classes, and for flexible shops the families of ``bounds.csv`` (Hurink's split into its
edata, rdata and vdata sets).
"""

from __future__ import annotations

import csv
import io
import os
import platform
import re
import statistics
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from aps.bench.peers import solve_pyjobshop
from aps.io.formats import read_instance
from aps.io.instances import Bounds, all_bounds, load_bounds
from aps.model import Problem
from aps.result import Result, SolveStatus
from aps.solve import solve
from aps.solvers.warmup import warm_up
from aps.validate import validate

METHODS = {"ours": "cpsat", "plain": "plain", "pyjobshop": "pyjobshop"}


@dataclass
class Row:
    """One (instance, method) outcome."""

    instance: str
    group: str
    size: str
    method: str
    status: str
    makespan: int | None
    bound: float | None
    lb: int | None
    ub: int | None
    gap_ub: float | None
    gap_lb: float | None
    optimal: bool
    wall_s: float
    validated: bool
    note: str = ""


def group_of(name: str, jobs: int, machines: int, family: str = "") -> str:
    """Family of an instance; Taillard's are split by size class (``ta 20x15``), Hurink's
    flexible sets by their data set (``hurink e``)."""
    if family == "hurink":
        return f"hurink {name.split('-', 1)[0]}"
    if family:
        return family
    family = re.sub(r"\d+$", "", name)
    if family == "ta":
        return f"ta {jobs}x{machines}"
    return family


def solve_method(
    method: str, problem: Problem, time_limit: float, workers: int, seed: int
) -> Result:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    if method == "pyjobshop":
        return solve_pyjobshop(problem, time_limit, workers, seed)
    return solve(
        problem,
        time_limit=time_limit,
        workers=workers,
        seed=seed,
        solver=METHODS[method],
        check=False,
    )


def run(
    paths: Sequence[Path],
    methods: Sequence[str],
    time_limit: float,
    workers: int,
    seed: int = 0,
    instances: str | Path | None = None,
    on_row: Callable[[Row], None] | None = None,
    fmt: str = "auto",
) -> list[Row]:
    """Run every method on every instance; returns one row per pair."""
    bounds = all_bounds(instances) if fmt == "auto" else load_bounds(instances, fmt)
    if "ours" in methods:
        warm_up()  # JIT compilation is a one-time cost per machine, not part of a solve
    rows: list[Row] = []
    for path in paths:
        problem = read_instance(path, fmt)
        for method in methods:
            row = run_one(problem, method, bounds.get(problem.name), time_limit, workers, seed)
            rows.append(row)
            if on_row is not None:
                on_row(row)
    return rows


def run_one(
    problem: Problem,
    method: str,
    bound: Bounds | None,
    time_limit: float,
    workers: int,
    seed: int,
) -> Row:
    n_jobs, n_machines = len(problem.jobs), len(problem.machines)
    result = solve_method(method, problem, time_limit, workers, seed)
    violations = validate(problem, result.schedule) if result.status.has_schedule else []
    ms = result.makespan if result.status.has_schedule else None
    note = "; ".join(str(v) for v in violations[:3])
    lb = bound.lb if bound else None
    ub = bound.ub if bound else None
    if ms is not None and lb is not None and ms < lb:
        note = (note + "; " if note else "") + f"makespan {ms} below the known lower bound {lb}"
    return Row(
        instance=problem.name,
        group=group_of(problem.name, n_jobs, n_machines, bound.family if bound else ""),
        size=f"{n_jobs}x{n_machines}",
        method=method,
        status=result.status.value,
        makespan=ms,
        bound=result.bound,
        lb=lb,
        ub=ub,
        gap_ub=_pct(ms, ub),
        gap_lb=_pct(ms, lb),
        optimal=result.status == SolveStatus.OPTIMAL,
        wall_s=result.wall_s,
        validated=ms is not None and not violations,
        note=note,
    )


def _pct(value: int | None, ref: int | None) -> float | None:
    if value is None or ref is None or ref == 0:
        return None
    return round(100.0 * (value - ref) / ref, 3)


@dataclass
class GroupSummary:
    """One method on one group of instances.

    ``mean_gap_best`` is the mean gap to the best makespan known for each instance: the
    best-known upper bound or, when a method of this run did better, that makespan. It is
    never negative, so ratios of it mean something (a gap to a beaten bound does not), and
    it is taken over the instances where every method has a schedule; ``no_schedule``
    counts the others. ``ratio_to`` is our ``mean_gap_best`` over each peer's.
    """

    group: str
    method: str
    count: int
    solved: int
    optimal: int
    mean_gap_ub: float | None
    mean_gap_lb: float | None
    mean_gap_best: float | None
    no_schedule: int
    mean_wall_s: float
    ratio_to: dict[str, float | None]


def best_known(rows: Iterable[Row]) -> dict[str, int]:
    """Per instance, the best makespan known: its upper bound or a better one found here."""
    out: dict[str, int] = {}
    for r in rows:
        for value in (r.ub, r.makespan if r.validated else None):
            if value is not None and value < out.get(r.instance, value + 1):
                out[r.instance] = value
    return out


def summarize(rows: Iterable[Row], methods: Sequence[str]) -> list[GroupSummary]:
    """Per group and method: means, optimal counts, and ratios of our mean gap to each peer's."""
    rows = list(rows)
    ref = best_known(rows)
    common = {
        inst for inst in ref
        if all(any(r.instance == inst and r.method == m and r.validated for r in rows)
               for m in methods)
    }  # fmt: skip
    groups = list(dict.fromkeys(r.group for r in rows))
    if len(groups) > 1:
        groups.append("all")
    out: list[GroupSummary] = []
    for g in groups:
        per = {m: [r for r in rows if r.method == m and g in ("all", r.group)] for m in methods}
        best = {m: _mean([_pct(r.makespan, ref[r.instance]) for r in rs if r.instance in common])
                for m, rs in per.items()}  # fmt: skip
        for method, rs in per.items():
            ub = [r.gap_ub for r in rs]
            out.append(
                GroupSummary(
                    group=g,
                    method=method,
                    count=len(rs),
                    solved=sum(r.makespan is not None for r in rs),
                    optimal=sum(r.optimal for r in rs),
                    mean_gap_ub=_mean(ub) if None not in ub else None,
                    mean_gap_lb=_mean([r.gap_lb for r in rs if r.gap_lb is not None]),
                    mean_gap_best=best[method],
                    no_schedule=sum(not r.validated for r in rs),
                    mean_wall_s=round(statistics.fmean([r.wall_s for r in rs]), 3) if rs else 0.0,
                    ratio_to={p: _ratio(best[method], best[p]) for p in methods[1:]}
                    if method == methods[0]
                    else {},
                )
            )
    return out


def _mean(values: Sequence[float | None]) -> float | None:
    got = [v for v in values if v is not None]
    return round(statistics.fmean(got), 3) if got else None


def _ratio(ours: float | None, peer: float | None) -> float | None:
    if ours is None or peer is None:
        return None
    if peer == 0:
        return 1.0 if ours == 0 else None
    return round(ours / peer, 3)


def rows_from_csv(text: str) -> list[Row]:
    """Rows as :func:`rows_csv` wrote them (to re-render a report without solving again)."""
    out = []
    for d in csv.DictReader(io.StringIO(text)):
        out.append(
            Row(
                instance=d["instance"],
                group=d["group"],
                size=d["size"],
                method=d["method"],
                status=d["status"],
                makespan=_int(d["makespan"]),
                bound=_float(d["bound"]),
                lb=_int(d["lb"]),
                ub=_int(d["ub"]),
                gap_ub=_float(d["gap_ub"]),
                gap_lb=_float(d["gap_lb"]),
                optimal=d["optimal"] == "True",
                wall_s=float(d["wall_s"]),
                validated=d["validated"] == "True",
                note=d["note"],
            )
        )
    return out


def _int(text: str) -> int | None:
    return int(text) if text else None


def _float(text: str) -> float | None:
    return float(text) if text else None


def rows_csv(rows: Iterable[Row]) -> str:
    buf = io.StringIO()
    fields = list(Row.__dataclass_fields__)
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    for r in rows:
        writer.writerow(asdict(r))
    return buf.getvalue()


def provenance() -> str:
    """When, where and on which commit a benchmark ran: a line for its Markdown report."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
            cwd=Path(__file__).resolve().parent, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    cpu = platform.processor() or platform.machine()
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    python = platform.python_version()
    return f"Run {when} on commit {commit}; {os.cpu_count()} cores, {cpu}; Python {python}."


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _fmt(value: float | int | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown(
    rows: Sequence[Row], summary: Sequence[GroupSummary], methods: Sequence[str], header: str = ""
) -> str:
    """The per-instance and per-group tables as Markdown."""
    out = [header] if header else []
    cols = ("makespan", "bound", "gap UB %", "gap LB %", "opt", "wall s", "valid")
    out.append(
        "| instance | size | LB | UB | "
        + " | ".join(f"{m} {c}" for m in methods for c in cols)
        + " |"
    )
    out.append("|" + "---|" * (4 + len(cols) * len(methods)))
    by_inst: dict[str, dict[str, Row]] = {}
    for r in rows:
        by_inst.setdefault(r.instance, {})[r.method] = r
    for inst, per in by_inst.items():
        first = next(iter(per.values()))
        cells: list[str] = []
        for m in methods:
            got = per.get(m)
            if got is None:
                cells += ["-"] * len(cols)
                continue
            cells += [
                _fmt(got.makespan),
                _fmt(got.bound, 0),
                _fmt(got.gap_ub),
                _fmt(got.gap_lb),
                "yes" if got.optimal else "no",
                _fmt(got.wall_s, 1),
                "yes" if got.validated else "NO",
            ]
        out.append(
            f"| {inst} | {first.size} | {_fmt(first.lb)} | {_fmt(first.ub)} | "
            + " | ".join(cells)
            + " |"
        )
    out.append("")
    peers = methods[1:]
    gcols = ("mean gap UB %", "mean gap to best %", "optimal", "no schedule", "mean wall s")
    out.append(
        "| group | n | "
        + " | ".join(f"{m} {c}" for m in methods for c in gcols)
        + "".join(f" | ratio {methods[0]}/{p}" for p in peers)
        + " |"
    )
    out.append("|" + "---|" * (2 + len(gcols) * len(methods) + len(peers)))
    groups = list(dict.fromkeys(s.group for s in summary))
    for g in groups:
        ss = {s.method: s for s in summary if s.group == g}
        lead = ss[methods[0]]
        gcells: list[str] = []
        for m in methods:
            x = ss[m]
            gcells += [
                _fmt(x.mean_gap_ub),
                _fmt(x.mean_gap_best),
                f"{x.optimal}/{x.count}",
                str(x.no_schedule),
                _fmt(x.mean_wall_s, 1),
            ]
        ratios = [_fmt(lead.ratio_to.get(p), 3) for p in peers]
        out.append(f"| {g} | {lead.count} | " + " | ".join(gcells + ratios) + " |")
    out.append("")
    out.append(
        "Gaps are to the best-known upper bound (negative where it was beaten) and to the "
        "best makespan known (that bound or a better one found in this run, over the "
        "instances where every method has a schedule); ratios are of the latter."
    )
    return "\n".join(out) + "\n"
