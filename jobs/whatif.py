"""The machine-down what-if as a job: repair a solved job's schedule around a breakdown.

``POST /v1/jobs/{id}/machine-down`` stages a job of kind ``what_if`` whose options name
the solved job, the machine and the window; a worker runs :func:`repair` (the core's
:func:`aps.reschedule.repair.machine_down`, greedy then CP-SAT) and stores the repaired
schedule with what moved and why, new KPIs and Gantt rows. Nothing of the heavy part
runs in the API process.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import select

from aps import Problem, Result, SolveStatus, __version__
from aps.kpi import objective_value, term_values
from aps.model import Window
from aps.report import gantt
from aps.report.report import build_report
from aps.reschedule.derive import REST
from aps.reschedule.diff import diff
from aps.reschedule.repair import machine_down
from jobs.db import Database
from jobs.tables import Schedule

KIND = "what_if"


class WhatIfError(ValueError):
    """The what-if cannot run (its source has no schedule, no repair exists)."""


def at(problem: Problem, tick: int) -> str | None:
    return problem.time.to_datetime(tick).isoformat() if problem.time else None


def with_breakdown(problem: Problem, machine: str, start: int, end: int) -> Problem:
    """The problem with the breakdown added to the machine's unavailable windows."""
    data = problem.model_dump()
    for m in data["machines"]:
        if str(m["id"]) == machine:
            window = Window(start=start, end=end, reason="breakdown").model_dump()
            m["unavailable"] = [*m.get("unavailable", []), window]
    # revalidated, so the machine's windows are merged as the model always stores them
    return Problem.model_validate(data)


def report(problem: Problem, result: Result) -> dict[str, Any]:
    """KPIs, orders and machines of a schedule (the page's report, without stock)."""
    built = build_report(problem, result)
    return {
        "name": problem.name,
        "timezone": problem.time.timezone if problem.time else None,
        "tick_seconds": problem.time.tick_seconds if problem.time else None,
        "kpis": built.kpis.model_dump(mode="json"),
        "orders": [o.model_dump(mode="json") for o in built.orders],
        "machines": [m.model_dump(mode="json") for m in built.machines],
    }


def _moves(problem: Problem, moves: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "job": str(m.job),
            "op": str(m.op),
            "machine_before": str(m.old_machine),
            "machine_after": str(m.new_machine),
            "start_before": m.old_start,
            "start_after": m.new_start,
            "end_before": m.old_end,
            "end_after": m.new_end,
            "start_before_at": at(problem, m.old_start),
            "start_after_at": at(problem, m.new_start),
            "end_before_at": at(problem, m.old_end),
            "end_after_at": at(problem, m.new_end),
            "reason": str(m.reason),
            "cause": m.cause,
        }
        for m in sorted(moves, key=lambda m: (m.new_start, str(m.new_machine)))
    ]


def repair(
    problem: Problem,
    result: Result,
    options: dict[str, Any],
    stop: threading.Event | None = None,
) -> tuple[Result, dict[str, Any]]:
    """The repaired schedule of ``result`` with ``options``' machine down over
    ``[start, end)``, and what the page shows of it (moves, KPIs, Gantt rows)."""
    machine, start, end = str(options["machine"]), int(options["start"]), int(options["end"])
    limit = float(options.get("time_limit", 5.0))
    mid = next((m.id for m in problem.machines if str(m.id) == machine), None)
    if mid is None:
        raise WhatIfError(f"unknown machine {machine!r}")
    outcome = machine_down(
        problem, result.schedule, mid, start, until=end, time_limit=limit, workers=1, stop=stop
    )
    if not outcome.publications:
        raise WhatIfError(
            f"no valid repair of this schedule: {outcome.solver_message or 'unknown reason'}"
        )
    origins = {
        (r.job, r.op): (r.job, str(r.op)[: -len(REST)])
        for r in outcome.schedule
        if str(r.op).endswith(REST)
    }
    # against the stored schedule (the core's outcome.diff is against its last
    # publication, the greedy repair, once CP-SAT improved it)
    changes = diff(
        outcome.problem,
        result.schedule,
        outcome.schedule,
        down={mid: [(start, end)]},
        now=outcome.now,
        origins=origins,
    )
    derived = outcome.problem
    repaired = Result(
        name=result.name,
        status=SolveStatus.FEASIBLE,
        objective=objective_value(derived.objective, term_values(derived, outcome.schedule)),
        makespan=max((r.end for r in outcome.schedule), default=None),
        wall_s=outcome.publications[-1].elapsed,
        solver="aps.reschedule",
        solver_version=__version__,
        seed=result.seed,
        schedule=outcome.schedule,
    )
    broken = with_breakdown(problem, machine, start, end)
    breakdown_row = {
        "id": f"{machine}#breakdown",
        "resource": machine,
        "label": "breakdown",
        "start": start,
        "end": end,
        "kind": "downtime",
        "order": None,
        "colour_key": "breakdown",
        "start_at": at(problem, start),
        "end_at": at(problem, end),
    }
    rows = [r.model_dump(mode="json") for r in gantt.gantt_rows(broken, repaired)]
    details = {
        "source_job": options["source_job"],
        "machine": machine,
        "start": start,
        "end": end,
        "start_at": at(problem, start),
        "end_at": at(problem, end),
        "moved": _moves(problem, changes.moved),
        "interrupted": [f"{j}/{o}" for j, o in changes.interrupted],
        "became_late": [str(j) for j in changes.became_late],
        "became_on_time": [str(j) for j in changes.became_on_time],
        "kept_share": round(changes.kept_share, 4),
        "relaxations": [f"{r.kind} {r.subject}: {r.detail}" for r in outcome.relaxations],
        "solver_message": outcome.solver_message,
        "gantt": [*rows, breakdown_row],
        "report": report(broken, repaired),
        # the problem the repaired schedule solves, for a publication to the live plant
        "problem": derived.model_dump(mode="json", exclude_defaults=True),
    }
    return repaired, details


def source_result(db: Database, source_job: str) -> Result:
    """The stored schedule of the job a what-if repairs."""
    with db.read() as session:
        text = session.scalar(select(Schedule.result).where(Schedule.job_id == source_job))
    if text is None:
        raise WhatIfError(f"job {source_job} has no schedule")
    return Result.model_validate_json(text)
