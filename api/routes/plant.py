"""The live plant API: load it, read its published schedules and their diffs, its event
inbox, and ask for a reschedule."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from api.deps import ERRORS, THROTTLED, ServiceDep, SolvingTenant, TenantDep, clean_body
from api.exports import csv_response, public_rows
from api.gantt import gantt_html, gantt_rows
from api.inputs import (
    UPLOAD_FORM,
    check_plant_limits,
    invalid,
    read_plant_submission,
)
from api.schemas import (
    InboxEvent,
    InboxEvents,
    Message,
    PlantPublic,
    PlantSchedulePublic,
    RescheduleRequest,
    ScheduleVersion,
    ScheduleVersions,
)
from api.service import Service
from aps import Result
from aps.live.apply import applied_downtimes, applied_now
from aps.live.events import Rejected, to_tick
from jobs.plant import store
from jobs.tables import Plant, PlantSchedule

router = APIRouter(prefix="/v1/plant", tags=["plant"])

#: Versions are 32-bit in the database; a larger one is a 422, not a driver error (500).
MAX_VERSION = 2**31 - 1
NO_PLANT = {"model": Message, "description": "No plant loaded for this tenant."}


def _load(service: Service, tenant: str) -> tuple[Plant, int]:
    with service.db.read() as session:
        plant = store.get_plant(session, tenant)
        if plant is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, "no plant loaded for this tenant: PUT /v1/plant"
            )
        return plant, store.pending_count(session, plant)


def _public(plant: Plant, pending: int) -> PlantPublic:
    problem = store.problem_summary(plant.problem)
    options = {k: v for k, v in plant.options.items() if k != "webhook_secrets"}
    if plant.options.get("webhook_secrets"):
        options["webhook_secrets"] = f"{len(plant.options['webhook_secrets'])} configured"
    return PlantPublic(
        id=plant.id,
        name=plant.name,
        status=plant.status,
        message=plant.message,
        version=plant.version,
        machines=len(problem.machines),
        orders=len(problem.jobs),
        num_operations=problem.num_operations,
        pending_events=pending,
        running=plant.run_queued or plant.run_owner is not None,
        now=applied_now(problem),
        downtimes=applied_downtimes(problem),
        options=options,
        updated_at=plant.updated_at,
    )


PUT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "description": "Plant JSON (top-level `orders`), tick-level Problem JSON "
                    '(top-level `jobs`), or either wrapped as `{"plant"|"problem": ..., '
                    '"options": PlantOptions}`.',
                    "anyOf": [
                        {"required": ["orders"]},
                        {"required": ["machines", "jobs"]},
                        {"required": ["plant"]},
                        {"required": ["problem"]},
                    ],
                },
                "example": {
                    "problem": {
                        "name": "two-machines",
                        "machines": [{"id": "M1"}, {"id": "M2"}],
                        "jobs": [
                            {
                                "id": "O1",
                                "operations": [
                                    {"id": "a", "modes": [{"machine": "M1", "duration": 3}]}
                                ],
                            }
                        ],
                    },
                    "options": {"time_limit": 3, "reschedule_time_limit": 3},
                },
            },
            "multipart/form-data": UPLOAD_FORM,
        },
    }
}


@router.put(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=PlantPublic,
    openapi_extra=PUT_BODY,
    responses={
        **ERRORS,
        415: {"model": Message, "description": "Unsupported content type."},
        429: THROTTLED,
    },
)
async def put_plant(request: Request, tenant: SolvingTenant, service: ServiceDep) -> PlantPublic:
    """Load or replace the plant; it is solved and published asynchronously (version+1)."""
    new = await read_plant_submission(request, service)
    check_plant_limits(new, service.settings)

    def save() -> PlantPublic:
        with service.db.write() as session:
            plant = store.replace_plant(session, tenant, new.problem, new.source, new.options)
            return _public(plant, 0)

    body = await run_in_threadpool(save)
    service.wake_relay()
    return body


@router.get("", response_model=PlantPublic, responses={**ERRORS, 404: NO_PLANT})
def read_plant(tenant: TenantDep, service: ServiceDep) -> PlantPublic:
    """The plant: status, published version, pending events, applied downtimes."""
    plant, pending = _load(service, tenant)
    return _public(plant, pending)


def _schedule(service: Service, tenant: str, version: int | None) -> tuple[Plant, PlantSchedule]:
    plant, _ = _load(service, tenant)
    with service.db.read() as session:
        row = store.latest_schedule(session, plant, version)
    if row is None:
        if version is not None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no schedule version {version}")
        why = f": {plant.message}" if plant.message else ""
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"the plant is {plant.status}; nothing published yet{why}"
        )
    return plant, row


NOTHING_PUBLISHED = {"model": Message, "description": "Nothing published yet (solving or failed)."}
PUBLISHED_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    404: NO_PLANT,
    409: NOTHING_PUBLISHED,
}
SCHEDULE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **PUBLISHED_RESPONSES,
    200: {"content": {"text/csv": {"example": "job,op,machine,setup_start,start,end\n"}}},
}


@router.get("/schedule", response_model=PlantSchedulePublic, responses=SCHEDULE_RESPONSES)
def read_schedule(
    tenant: TenantDep,
    service: ServiceDep,
    version: Annotated[int | None, Query(ge=1, le=MAX_VERSION)] = None,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Any:
    """The published schedule (latest, or ``?version=``) with its diff and reasons."""
    plant, row = _schedule(service, tenant, version)
    problem = store.parsed_problem(row.problem)
    result = Result.model_validate_json(row.result)
    clock = problem.time
    ops = public_rows(result.schedule, clock)
    if format == "csv":
        return csv_response(ops, clock is not None, f"plant-v{row.version}.csv")
    return PlantSchedulePublic(
        plant_id=plant.id,
        version=row.version,
        phase=row.phase,
        cause=row.cause,
        published_at=row.created_at,
        solve_status=result.status.value,
        objective=result.objective,
        bound=result.bound,
        gap=result.gap,
        makespan=result.makespan,
        wall_s=result.wall_s,
        solver=result.solver,
        solver_version=result.solver_version,
        seed=result.seed,
        operations=ops,
        diff=row.diff,
        details=row.details,
    )


@router.get("/problem", responses=PUBLISHED_RESPONSES)
def read_problem(
    tenant: TenantDep,
    service: ServiceDep,
    version: Annotated[int | None, Query(ge=1, le=MAX_VERSION)] = None,
) -> Response:
    """The problem a published version solves (the derived problem after a repair:
    downtimes as machine windows, frozen operations pinned), as core Problem JSON."""
    _, row = _schedule(service, tenant, version)
    return Response(row.problem, media_type="application/json")


@router.get("/schedules", response_model=ScheduleVersions, responses={**ERRORS, 404: NO_PLANT})
def read_schedules(
    tenant: TenantDep,
    service: ServiceDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ScheduleVersions:
    """Published versions, newest first, each with what its diff says in brief."""
    plant, _ = _load(service, tenant)
    with service.db.read() as session:
        rows = store.list_schedules(session, plant, limit, offset)
    data = []
    for row in rows:
        result = Result.model_validate_json(row.result)
        diff = row.diff or {}
        data.append(
            ScheduleVersion(
                version=row.version,
                phase=row.phase,
                cause=row.cause,
                published_at=row.created_at,
                objective=result.objective,
                makespan=result.makespan,
                moved=len(diff.get("moved", [])),
                became_late=[str(j) for j in diff.get("became_late", [])],
                kept_share=row.details.get("kept_share"),
            )
        )
    return ScheduleVersions(data=data, limit=limit, offset=offset)


@router.get("/events", response_model=InboxEvents, responses={**ERRORS, 404: NO_PLANT})
def read_events(
    tenant: TenantDep,
    service: ServiceDep,
    status_: Annotated[
        Literal["pending", "applied", "stale", "failed", "superseded"] | None,
        Query(alias="status"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> InboxEvents:
    """The webhook inbox of the current plant: what each event became (and in which
    published version it was applied)."""
    plant, _ = _load(service, tenant)
    with service.db.read() as session:
        rows = store.list_events(session, plant, status_, limit, offset)
        data = [InboxEvent.model_validate(r, from_attributes=True) for r in rows]
    return InboxEvents(data=data, limit=limit, offset=offset)


GanttShape = Literal["neutral", "frappe", "vis", "plotly"]


@router.get(
    "/gantt",
    responses=PUBLISHED_RESPONSES,
)
def read_gantt(
    tenant: TenantDep,
    service: ServiceDep,
    shape: Annotated[GanttShape, Query()] = "neutral",
    version: Annotated[int | None, Query(ge=1, le=MAX_VERSION)] = None,
) -> Any:
    """Gantt rows of the published schedule (same shapes as the jobs' Gantt)."""

    _, row = _schedule(service, tenant, version)
    rows = gantt_rows(
        store.parsed_problem(row.problem), Result.model_validate_json(row.result), shape
    )
    return JSONResponse(rows)


@router.get(
    "/gantt.html",
    response_class=HTMLResponse,
    responses=PUBLISHED_RESPONSES,
)
def read_gantt_html(
    tenant: TenantDep,
    service: ServiceDep,
    version: Annotated[int | None, Query(ge=1, le=MAX_VERSION)] = None,
) -> HTMLResponse:
    """A self-contained Plotly Gantt page of the published schedule."""

    plant, row = _schedule(service, tenant, version)
    html = gantt_html(
        store.parsed_problem(row.problem),
        Result.model_validate_json(row.result),
        title=f"{plant.name} v{row.version} ({row.phase})",
    )
    return HTMLResponse(html)


@router.post(
    "/reschedule",
    status_code=status.HTTP_202_ACCEPTED,
    responses={**ERRORS, 404: NO_PLANT, 429: THROTTLED},
    dependencies=[Depends(clean_body)],
)
def post_reschedule(
    tenant: SolvingTenant, service: ServiceDep, body: RescheduleRequest | None = None
) -> dict[str, Any]:
    """Repair the published schedule now (with every pending event), as ``machine.down``
    does; ``now`` moves everything unstarted to after it."""
    plant, _ = _load(service, tenant)
    now: int | None = None
    if body is not None and body.now is not None:
        try:
            now = to_tick(store.parsed_problem(plant.problem), body.now, ["body", "now"])
        except Rejected as exc:
            raise invalid(exc.loc, exc.msg) from None
    with service.db.write() as session:
        current = store.get_plant(session, tenant)
        if current is None or current.id != plant.id:
            raise HTTPException(status.HTTP_409_CONFLICT, "the plant was replaced; try again")
        answer = store.request_reschedule(session, current, now)
    service.wake_relay()
    return answer
