"""Routes of the planner's page: the page and its assets, the report and the what-if.

The page itself uses the jobs API (submit, list, status, events, Gantt rows); it only
needs two things that API does not have: the planner's report (KPIs, late orders,
utilisation per machine) and the "machine down" what-if, which runs as a job
(:mod:`jobs.whatif`) whose repair the page reads (moves, KPIs) and may publish to the
live plant.
"""

from __future__ import annotations

import math
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from api.deps import THROTTLED, ServiceDep, SolvingTenant, TenantDep, clean_body
from api.inputs import invalid
from api.schemas import Message
from api.service import Service
from aps import Problem, Result, __version__
from aps.factory.generate import generate_plant
from aps.model import Machine, TimeBase
from aps.report.report import Kpis, MachineReport, OrderReport, build_report
from jobs import repo, whatif
from jobs.plant import store
from jobs.plant.publish import Version, publish_external
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
def plotly_js_path() -> Path:
    """plotly.min.js as shipped inside the installed ``plotly`` package (a service dependency)."""
    import plotly  # loaded once, lazily: the package is large and only this route needs it

    return Path(plotly.__file__).with_name("package_data") / "plotly.min.js"


@pages.get("/ui/vendor/plotly.min.js")
def plotly_js() -> Response:
    """plotly.js from the installed Python package: the page needs no CDN."""
    return FileResponse(
        plotly_js_path(),
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=86400"},
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
    """The repaired schedule of a what-if job, what moved and why, and new KPIs."""

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


class WhatIfLinks(BaseModel):
    self: str = Field(description="Poll this job until it ends.")
    what_if: str = Field(description="The repair, once the job succeeded.")
    schedule: str
    publish: str = Field(description="POST: make the repair the live plant's next version.")


class WhatIfAccepted(BaseModel):
    """A what-if staged as a job: poll ``links.self``, then read ``links.what_if``."""

    id: str
    status: str
    source_job: str
    links: WhatIfLinks


class _Head(BaseModel):
    """The parts of a stored problem a what-if request is checked against."""

    model_config = ConfigDict(extra="ignore")

    machines: list[Machine]
    time: TimeBase | None = None


def _tick(head: _Head, value: int | datetime, field: str, *, up: bool) -> int:
    """A tick from a tick number or a datetime (naive = the plant's local time)."""
    if isinstance(value, int):
        return value
    if head.time is None:
        raise invalid(
            ["body", field], "this plant has no time base (a plain job shop): give a tick number"
        )
    moment = value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(head.time.timezone))
    seconds = (moment - head.time.origin).total_seconds() / head.time.tick_seconds
    return math.ceil(seconds) if up else math.floor(seconds)


def _what_if_links(job_id: str) -> WhatIfLinks:
    base = f"/v1/jobs/{job_id}"
    return WhatIfLinks(
        self=base, what_if=f"{base}/what-if", schedule=f"{base}/schedule", publish=f"{base}/publish"
    )


def _stage_what_if(
    service: Service, tenant: str, job_id: UUID, body: MachineDown
) -> WhatIfAccepted:
    """Check the request against the solved job (cheaply) and stage the repair as a job."""
    with service.db.read() as session:
        job = repo.get_job(session, tenant, str(job_id))
        if job is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "job not found")
        has_schedule = repo.has_schedule(session, tenant, job.id)
        name, state, message, problem_json = job.name, job.status, job.message, job.problem
    if not has_schedule or not problem_json:
        why = f": {message}" if message else ""
        raise HTTPException(status.HTTP_409_CONFLICT, f"job is {state}; it has no schedule{why}")
    head = _Head.model_validate_json(problem_json)
    if body.machine not in {str(m.id) for m in head.machines}:
        known = ", ".join(str(m.id) for m in head.machines[:50])
        raise invalid(["body", "machine"], f"unknown machine {body.machine!r}; known: {known}")
    start = _tick(head, body.start, "start", up=False)
    end = _tick(head, body.end, "end", up=True)
    for field, tick in (("start", start), ("end", end)):
        if abs(tick) > MAX_TICK:
            raise invalid(["body", field], f"more than {MAX_TICK} ticks from the plan start")
    if end <= start:
        raise invalid(["body", "end"], "end must be after start")
    if end <= 0:
        raise invalid(["body", "end"], "the breakdown ends before the plan starts")
    options = {
        "kind": whatif.KIND,
        "source_job": str(job_id),
        "machine": body.machine,
        "start": max(start, 0),
        "end": end,
        "time_limit": min(body.time_limit, service.settings.max_time_limit),
    }
    with service.db.write() as session:
        row = repo.create_job(
            session,
            tenant_id=tenant,
            name=f"what-if: {body.machine} down ({name})"[:200],
            problem_json=problem_json,
            options=options,
            num_operations=job.num_operations,
            callback_url=None,
            max_attempts=service.settings.max_attempts,
            kind=whatif.KIND,
        )
        return WhatIfAccepted(
            id=row.id, status=row.status, source_job=str(job_id), links=_what_if_links(row.id)
        )


@api.post(
    "/{job_id}/machine-down",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=WhatIfAccepted,
    responses={
        **NOT_FOUND,
        422: {"description": "Unknown machine or bad times; `loc` names the field."},
        429: THROTTLED,
    },
    dependencies=[Depends(clean_body)],
)
def machine_down(
    job_id: UUID, body: MachineDown, tenant: SolvingTenant, service: ServiceDep
) -> JSONResponse:
    """What if a machine goes down: the repair runs as a job (202); poll it, then read
    ``/v1/jobs/{id}/what-if`` (moves, KPIs, Gantt) or publish it to the live plant."""
    accepted = _stage_what_if(service, tenant, job_id, body)
    service.wake_relay()
    return JSONResponse(
        accepted.model_dump(mode="json"),
        status_code=status.HTTP_202_ACCEPTED,
        headers={"Location": accepted.links.self},
    )


def _what_if(service: Service, tenant: str, job_id: UUID) -> tuple[Any, dict[str, Any]]:
    """A what-if job and its stored repair; 404 for other jobs, 409 until it succeeded."""
    with service.db.read() as session:
        job = repo.get_job(session, tenant, str(job_id))
        if job is None or job.kind != whatif.KIND:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such what-if job")
        row = repo.schedule(session, tenant, job.id)
    if row is None or row.details is None:
        why = f": {job.message}" if job.message else ""
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"the what-if is {job.status}; no repair yet{why}"
        )
    return row, dict(row.details)


@api.get("/{job_id}/what-if", response_model=RepairPublic, responses=NOT_FOUND)
def read_what_if(job_id: UUID, tenant: TenantDep, service: ServiceDep) -> RepairPublic:
    """The repaired schedule of a what-if job, what moved and why, and the new KPIs."""
    _, details = _what_if(service, tenant, job_id)
    return RepairPublic.model_validate({**details, "job_id": details["source_job"]})


class Published(BaseModel):
    plant_id: str
    version: int
    links: dict[str, str]


@api.post(
    "/{job_id}/publish",
    response_model=Published,
    responses={
        **NOT_FOUND,
        409: {"model": Message, "description": "Not done, or a run holds the plant."},
    },
)
def publish_what_if(job_id: UUID, tenant: TenantDep, service: ServiceDep) -> Published:
    """Make a what-if's repaired schedule the live plant's next version (a plant is
    created if the tenant has none); ``schedule.published`` is announced."""
    row, details = _what_if(service, tenant, job_id)
    problem = Problem.model_validate(details["problem"])
    result = Result.model_validate_json(row.result)
    version = Version(
        problem,
        result,
        phase="what-if",
        cause=f"what-if: {details['machine']} down",
        details={"what_if": str(job_id), "moved": len(details.get("moved", []))},
    )
    with service.db.write() as session:
        number = publish_external(session, tenant, version)
        plant = store.get_plant(session, tenant)
        plant_id = plant.id if plant is not None else ""
    if number is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT, "a plant run is in progress; publish again when it ends"
        )
    return Published(
        plant_id=plant_id,
        version=number,
        links={"schedule": f"/v1/plant/schedule?version={number}"},
    )


router.include_router(pages)
router.include_router(api)
