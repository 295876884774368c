"""Routes of the planner's page: the page and its assets, and two JSON endpoints.

The page itself uses the jobs API (submit, list, status, events, Gantt rows); it only
needs two things that API does not have: the planner's report (KPIs, late orders,
utilisation per machine) and the "machine down" what-if repair of issue 6, which runs
``aps.reschedule`` when that module is installed and answers 501 until then.
"""

from __future__ import annotations

import math
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from api.deps import THROTTLED, ServiceDep, SolvingTenant, TenantDep
from api.gantt import gantt_rows
from api.inputs import invalid
from api.schemas import Message
from api.service import Service
from aps import Problem, Result, __version__
from aps.factory.generate import generate_plant
from aps.kpi import objective_value, term_values
from aps.model import Window
from aps.report.report import Kpis, MachineReport, OrderReport, build_report
from aps.reschedule.derive import REST
from aps.reschedule.diff import diff
from aps.reschedule.repair import machine_down as machine_down_repair
from aps.result import SolveStatus
from jobs import repo
from jobs.settings import Settings

STATIC = Path(__file__).with_name("static")
#: The only files ``/ui/static/`` serves (no path is ever joined from the request).
ASSETS = {"app.js": "text/javascript", "app.css": "text/css"}
#: The repository's example plant; an installed wheel regenerates it instead.
EXAMPLE_PLANT = Path(__file__).resolve().parents[2] / "instances" / "plant.json"
NO_CACHE = {"Cache-Control": "no-cache"}
#: Breakdown times beyond this many ticks are refused (datetimes would overflow).
MAX_TICK = 10**9

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/v1/jobs", tags=["ui"])
router = APIRouter()


# -- the page and its assets ------------------------------------------------------------


@pages.get("/ui", response_class=HTMLResponse)
@pages.get("/ui/", response_class=HTMLResponse)
def page() -> FileResponse:
    """The single-page planner view (static HTML; data comes from the API)."""
    return FileResponse(STATIC / "index.html", media_type="text/html", headers=NO_CACHE)


@pages.get("/ui/static/{name}")
def asset(name: str) -> FileResponse:
    """The page's own script and style sheet, from a fixed list."""
    media = ASSETS.get(name)
    if media is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no UI asset {name!r}")
    return FileResponse(STATIC / name, media_type=media, headers=NO_CACHE)


@lru_cache(maxsize=1)
def plotly_js_path() -> Path | None:
    """plotly.min.js as shipped inside the installed ``plotly`` package, if any."""
    try:
        import plotly
    except ImportError:
        return None
    path = Path(plotly.__file__).with_name("package_data") / "plotly.min.js"
    return path if path.is_file() else None


@pages.get("/ui/vendor/plotly.min.js")
def plotly_js() -> Response:
    """plotly.js from the installed Python package: the page needs no CDN."""
    path = plotly_js_path()
    if path is None:
        return JSONResponse(
            {"detail": "the UI needs plotly (pip install 'aps[factory]') for its charts"},
            status_code=status.HTTP_501_NOT_IMPLEMENTED,
        )
    return FileResponse(
        path, media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"}
    )


class UiConfig(BaseModel):
    """What the page needs to know before the planner types an API key.

    Never a key: the page asks the planner for one (kept in the browser's storage);
    ``aps serve`` prints the development key where it is active.
    """

    version: str
    default_time_limit: float
    max_time_limit: float


def _config(settings: Settings) -> UiConfig:
    return UiConfig(
        version=__version__,
        default_time_limit=min(5.0, settings.max_time_limit),
        max_time_limit=settings.max_time_limit,
    )


@pages.get("/ui/config.json", response_model=UiConfig)
def config(service: ServiceDep) -> UiConfig:
    """Limits for the form (no key, ever)."""
    return _config(service.settings)


@lru_cache(maxsize=1)
def example_plant() -> bytes:
    """The example plant (60 orders, 10 machines) as plant JSON."""
    if EXAMPLE_PLANT.is_file():
        return EXAMPLE_PLANT.read_bytes()

    return generate_plant().model_dump_json(exclude_none=True).encode()


@pages.get("/ui/example/plant.json")
def example() -> Response:
    """The example plant, which the page uploads as a file like any other plant."""
    return Response(example_plant(), media_type="application/json")


# -- JSON endpoints the page needs ------------------------------------------------------

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    401: {"model": Message, "description": "Missing, unknown or revoked API key."},
    404: {"model": Message, "description": "No such job for this tenant."},
    409: {"model": Message, "description": "No schedule (yet)."},
}


class UiReport(BaseModel):
    """KPIs, orders (lateness) and machines (utilisation) of one schedule."""

    name: str
    timezone: str | None = Field(description="IANA zone of the plant; None for tick plants.")
    tick_seconds: int | None
    kpis: Kpis
    orders: list[OrderReport]
    machines: list[MachineReport]


def _load(service: Service, tenant: str, job_id: UUID) -> tuple[str, Problem, Result]:
    """The job's name, problem and stored result, or 404/409 as the jobs API answers."""
    with service.db.read() as session:
        job = repo.get_job(session, tenant, str(job_id))
        if job is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "job not found")
        row = repo.schedule(session, tenant, job.id)
        name, state, message, problem_json = job.name, job.status, job.message, job.problem
        result_json = row.result if row is not None else None
    if result_json is None or not problem_json:
        why = f": {message}" if message else ""
        raise HTTPException(status.HTTP_409_CONFLICT, f"job is {state}; it has no schedule{why}")
    return name, Problem.model_validate_json(problem_json), Result.model_validate_json(result_json)


def ui_report(problem: Problem, result: Result) -> UiReport:
    """The planner's report without the bulky stock profiles."""
    report = build_report(problem, result)
    return UiReport(
        name=problem.name,
        timezone=problem.time.timezone if problem.time else None,
        tick_seconds=problem.time.tick_seconds if problem.time else None,
        kpis=report.kpis,
        orders=report.orders,
        machines=report.machines,
    )


@api.get("/{job_id}/report", response_model=UiReport, responses=NOT_FOUND)
def read_report(job_id: UUID, tenant: TenantDep, service: ServiceDep) -> UiReport:
    """KPIs (makespan, weighted tardiness, late orders, utilisation, gap) of a schedule."""
    _, problem, result = _load(service, tenant, job_id)
    return ui_report(problem, result)


class MachineDown(BaseModel):
    """A breakdown: ``machine`` cannot work over ``[start, end)``.

    Times are ISO 8601 datetimes (without an offset they are read in the plant's time
    zone) or tick numbers.
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"machine": "CNC-1", "start": "2026-03-03T08:00", "end": "2026-03-03T16:00"}
            ]
        },
    )

    machine: str = Field(min_length=1, max_length=200)
    # StrictInt: a JSON ``true`` is not tick 1 (lax ints take booleans)
    start: Annotated[StrictInt | datetime, Field(union_mode="left_to_right")]
    end: Annotated[StrictInt | datetime, Field(union_mode="left_to_right")]
    time_limit: float = Field(default=5.0, gt=0, le=60, description="Seconds for the repair.")


class MovedOperation(BaseModel):
    """One operation whose machine or start changed, with the rescheduler's reason."""

    job: str
    op: str
    machine_before: str
    machine_after: str
    start_before: int
    start_after: int
    end_before: int
    end_after: int
    start_before_at: str | None = None
    start_after_at: str | None = None
    end_before_at: str | None = None
    end_after_at: str | None = None
    reason: str = Field(
        description="on_failed_machine, pushed_by_predecessor, displaced_by_conflict or improved"
    )
    cause: str | None = Field(default=None, description="The machine or operation that forced it.")


class RepairPublic(BaseModel):
    """The repaired schedule (a what-if, not stored), what moved and why, and new KPIs."""

    job_id: str
    machine: str
    start: int
    end: int
    start_at: str | None
    end_at: str | None
    moved: list[MovedOperation]
    interrupted: list[str] = Field(description="job/op cut short by the breakdown")
    became_late: list[str]
    became_on_time: list[str]
    kept_share: float = Field(description="Share of operations that kept machine and start.")
    relaxations: list[str] = Field(description="Requirements the breakdown made impossible.")
    solver_message: str | None
    gantt: list[dict[str, Any]]
    report: UiReport


def _tick(problem: Problem, value: int | datetime, field: str, *, up: bool) -> int:
    """A tick from a tick number or a datetime (naive = the plant's local time)."""
    if isinstance(value, int):
        return value
    if problem.time is None:
        raise invalid(
            ["body", field], "this plant has no time base (a plain job shop): give a tick number"
        )
    moment = value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(problem.time.timezone))
    seconds = (moment - problem.time.origin).total_seconds() / problem.time.tick_seconds
    return math.ceil(seconds) if up else math.floor(seconds)


def _at(problem: Problem, tick: int) -> str | None:
    return problem.time.to_datetime(tick).isoformat() if problem.time else None


def with_breakdown(problem: Problem, machine: str, start: int, end: int) -> Problem:
    """The problem with the breakdown added to the machine's unavailable windows."""
    machines = [
        m.model_copy(
            update={
                "unavailable": [*m.unavailable, Window(start=start, end=end, reason="breakdown")]
            }
        )
        if str(m.id) == machine
        else m
        for m in problem.machines
    ]
    # Revalidate so the machine's windows are merged as the model always stores them.
    data = problem.model_dump()
    data["machines"] = [m.model_dump() for m in machines]
    return Problem.model_validate(data)


def _breakdown_row(problem: Problem, machine: str, start: int, end: int) -> dict[str, Any]:
    """The breakdown as its own Gantt row (merged windows lose their reasons)."""
    return {
        "id": f"{machine}#breakdown",
        "resource": machine,
        "label": "breakdown",
        "start": start,
        "end": end,
        "kind": "downtime",
        "order": None,
        "colour_key": "breakdown",
        "start_at": _at(problem, start),
        "end_at": _at(problem, end),
    }


def _public_moves(problem: Problem, moves: list[Any]) -> list[MovedOperation]:
    """The core's ``aps.diff.MovedOperation`` items with local times, by new start."""
    return [
        MovedOperation(
            job=str(m.job),
            op=str(m.op),
            machine_before=str(m.old_machine),
            machine_after=str(m.new_machine),
            start_before=m.old_start,
            start_after=m.new_start,
            end_before=m.old_end,
            end_after=m.new_end,
            start_before_at=_at(problem, m.old_start),
            start_after_at=_at(problem, m.new_start),
            end_before_at=_at(problem, m.old_end),
            end_after_at=_at(problem, m.new_end),
            reason=str(m.reason),
            cause=m.cause,
        )
        for m in sorted(moves, key=lambda m: (m.new_start, str(m.new_machine)))
    ]


def repair(
    problem: Problem, result: Result, machine: str, start: int, end: int, time_limit: float
) -> tuple[Result, Any, Any]:
    """Run :func:`aps.reschedule.repair.machine_down`: (repaired result, diff vs stored, outcome).

    The diff is taken against the stored schedule (the core's ``outcome.diff`` is
    against the previous publication, the greedy repair, once CP-SAT improved it).
    """
    mid = next(m.id for m in problem.machines if str(m.id) == machine)
    outcome = machine_down_repair(
        problem, result.schedule, mid, start, until=end, time_limit=time_limit, workers=1
    )
    if not outcome.publications:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"no valid repair of this schedule: {outcome.solver_message or 'unknown reason'}",
        )
    rest = REST
    origins = {
        (r.job, r.op): (r.job, str(r.op)[: -len(rest)])
        for r in outcome.schedule
        if str(r.op).endswith(rest)
    }
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
    return repaired, changes, outcome


@api.post(
    "/{job_id}/machine-down",
    response_model=RepairPublic,
    responses={
        **NOT_FOUND,
        422: {"description": "Unknown machine or bad times; `loc` names the field."},
        429: THROTTLED,
    },
)
def machine_down(
    job_id: UUID, body: MachineDown, tenant: SolvingTenant, service: ServiceDep
) -> RepairPublic:
    """What if a machine goes down: the repaired schedule and what moved (not stored)."""
    _, problem, result = _load(service, tenant, job_id)
    if body.machine not in {str(m.id) for m in problem.machines}:
        known = ", ".join(str(m.id) for m in problem.machines)
        raise invalid(["body", "machine"], f"unknown machine {body.machine!r}; known: {known}")
    start = _tick(problem, body.start, "start", up=False)
    end = _tick(problem, body.end, "end", up=True)
    for field, tick in (("start", start), ("end", end)):
        if abs(tick) > MAX_TICK:
            raise invalid(["body", field], f"more than {MAX_TICK} ticks from the plan start")
    if end <= start:
        raise invalid(["body", "end"], "end must be after start")
    if end <= 0:
        raise invalid(["body", "end"], "the breakdown ends before the plan starts")
    limit = min(body.time_limit, service.settings.max_time_limit)
    start = max(start, 0)
    repaired, changes, outcome = repair(problem, result, body.machine, start, end, limit)
    broken = with_breakdown(problem, body.machine, start, end)
    return RepairPublic(
        job_id=str(job_id),
        machine=body.machine,
        start=start,
        end=end,
        start_at=_at(problem, start),
        end_at=_at(problem, end),
        moved=_public_moves(problem, changes.moved),
        interrupted=[f"{j}/{o}" for j, o in changes.interrupted],
        became_late=[str(j) for j in changes.became_late],
        became_on_time=[str(j) for j in changes.became_on_time],
        kept_share=round(changes.kept_share, 4),
        relaxations=[f"{r.kind} {r.subject}: {r.detail}" for r in outcome.relaxations],
        solver_message=outcome.solver_message,
        gantt=[
            *gantt_rows(broken, repaired, "neutral"),
            _breakdown_row(problem, body.machine, start, end),
        ],
        report=ui_report(broken, repaired),
    )


router.include_router(pages)
router.include_router(api)
