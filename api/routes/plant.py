"""The live plant API (issue 6): load it, read its published schedules and their diffs,
ask for a reschedule, and register the tenant's callback URLs."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StrictInt, ValidationError
from starlette.concurrency import run_in_threadpool

from api.deps import THROTTLED, ServiceDep, SolvingTenant, TenantDep
from api.exports import csv_response, public_rows
from api.gantt import gantt_html, gantt_rows
from api.inputs import UPLOAD_FORM, invalid, problem_from_files, read_submission
from api.schemas import Message, Problem422, ScheduledOperationPublic
from api.service import Service
from aps import Problem, Result
from aps.live.apply import applied_downtimes, applied_now
from aps.live.events import Rejected, to_tick
from jobs import callbacks as deliveries
from jobs.callbacks import CALLBACK_EVENTS
from jobs.notify import RefusedAddress, check_public
from jobs.plant import store
from jobs.plant.options import PlantOptions
from jobs.tables import Plant, PlantSchedule

router = APIRouter(prefix="/v1/plant", tags=["plant"])
callbacks = APIRouter(prefix="/v1/callbacks", tags=["callbacks"])

#: Versions are 32-bit in the database; a larger one is a 422, not a driver error (500).
MAX_VERSION = 2**31 - 1
NO_PLANT = {"model": Message, "description": "No plant loaded for this tenant."}
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Message, "description": "Missing, unknown or revoked API key."},
    422: {"model": Problem422, "description": "Invalid input; `loc` names the field."},
}


class PlantLinks(BaseModel):
    self: str = "/v1/plant"
    schedule: str = "/v1/plant/schedule"
    schedules: str = "/v1/plant/schedules"
    gantt: str = "/v1/plant/gantt"
    reschedule: str = "/v1/plant/reschedule"


class PlantPublic(BaseModel):
    """The plant's state: what is loaded, the published version and pending events."""

    id: str
    name: str
    status: str = Field(description="solving, published or failed")
    message: str | None
    version: int = Field(description="The published schedule version (0: none yet).")
    machines: int
    orders: int
    num_operations: int
    pending_events: int
    running: bool = Field(description="A solve or reschedule is staged or running.")
    now: int | None = Field(description="The latest fact applied (tick).")
    downtimes: list[list[Any]] = Field(description="[machine, from, until|null] applied")
    options: dict[str, Any]
    updated_at: datetime
    links: PlantLinks = Field(default_factory=PlantLinks)


class PlantSchedulePublic(BaseModel):
    """A published plant schedule: the job schedule's shape plus version and diff."""

    plant_id: str
    version: int
    phase: str = Field(description="solved, greedy (fast repair) or improved (CP-SAT)")
    cause: str
    published_at: datetime
    solve_status: str
    objective: float | None
    bound: float | None
    gap: float | None
    makespan: int | None
    wall_s: float
    solver: str
    solver_version: str
    seed: int
    operations: list[ScheduledOperationPublic]
    diff: dict[str, Any] | None = Field(
        description="Against the previous version: moved operations with reasons, "
        "orders that became late or on time, KPIs before and after."
    )
    details: dict[str, Any]


class ScheduleVersion(BaseModel):
    version: int
    phase: str
    cause: str
    published_at: datetime
    objective: float | None
    makespan: int | None
    moved: int
    became_late: list[str]
    kept_share: float | None


class ScheduleVersions(BaseModel):
    data: list[ScheduleVersion]
    limit: int
    offset: int


class RescheduleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # StrictInt: a JSON ``true`` is not tick 1 (lax ints take booleans)
    now: Annotated[StrictInt | datetime | None, Field(union_mode="left_to_right")] = Field(
        default=None, description="Nothing unstarted is placed before it (tick or datetime)."
    )


def _load(service: Service, tenant: str) -> tuple[Plant, int]:
    with service.db.read() as session:
        plant = store.get_plant(session, tenant)
        if plant is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, "no plant loaded for this tenant: PUT /v1/plant"
            )
        return plant, store.pending_count(session, plant)


def _public(plant: Plant, pending: int) -> PlantPublic:
    problem = Problem.model_validate_json(plant.problem)
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


async def _read_plant(
    request: Request, service: Service
) -> tuple[Problem, dict[str, Any] | None, PlantOptions]:
    """Plant JSON, tick-level Problem JSON, ``{"plant"|"problem": ..., "options": ...}``
    or the multipart upload ``POST /v1/jobs`` accepts."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        job = await read_submission(request)
        opts = job.options
        try:
            options = PlantOptions(time_limit=opts.time_limit, workers=opts.workers, seed=opts.seed)
        except ValidationError as exc:
            raise RequestValidationError(_errors(exc, ["body", "options"])) from None
        return job.problem, None, options
    if content_type and content_type != "application/json" and not content_type.endswith("+json"):
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"unsupported content type {content_type!r}: send application/json or "
            "multipart/form-data",
        )
    try:
        data = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise invalid(["body"], f"invalid JSON: {exc}", "json_invalid") from None
    if not isinstance(data, dict):
        raise invalid(["body"], "expected a JSON object: plant JSON or Problem JSON")
    prefix: list[str | int] = ["body"]
    options = PlantOptions()
    document: Any = data
    wrapped = [k for k in ("plant", "problem") if k in data]
    if wrapped and ("options" in data or len(data) == 1):
        extra = set(data) - {wrapped[0], "options"}
        if extra or len(wrapped) > 1:
            raise invalid(["body", sorted(extra or {"problem"})[0]], "unexpected field")
        try:
            options = PlantOptions.model_validate_json(
                json.dumps(data.get("options") or {}), strict=True
            )
        except ValidationError as exc:
            raise RequestValidationError(_errors(exc, ["body", "options"])) from None
        document = data[wrapped[0]]
        prefix = ["body", wrapped[0]]
    if isinstance(document, dict) and "orders" in document and "jobs" not in document:
        raw = json.dumps(document).encode()
        problem = await run_in_threadpool(problem_from_files, [("plant.json", raw)])
        return problem, document, options
    try:
        # JSON types as the schema states them (strict): `true` is not a duration of 1
        return Problem.model_validate_json(json.dumps(document), strict=True), None, options
    except ValidationError as exc:
        raise RequestValidationError(_errors(exc, prefix)) from None


def _errors(exc: ValidationError, prefix: list[str | int]) -> list[dict[str, Any]]:
    return [
        {"loc": [*prefix, *e["loc"]], "msg": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


def _check_limits(problem: Problem, options: PlantOptions, service: Service) -> None:
    s = service.settings
    if problem.num_operations > s.max_operations:
        raise invalid(
            ["body"],
            f"the plant has {problem.num_operations} operations; the limit is "
            f"{s.max_operations} (APS_MAX_OPERATIONS)",
            "limit_exceeded",
        )
    for field in ("time_limit", "reschedule_time_limit"):
        if getattr(options, field) > s.max_time_limit:
            raise invalid(
                ["body", "options", field],
                f"exceeds the limit of {s.max_time_limit:g} s (APS_MAX_TIME_LIMIT)",
                "limit_exceeded",
            )
    if options.workers > s.max_solver_workers:
        raise invalid(
            ["body", "options", "workers"],
            f"exceeds the limit of {s.max_solver_workers} (APS_MAX_SOLVER_WORKERS)",
            "limit_exceeded",
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
    problem, source, options = await _read_plant(request, service)
    _check_limits(problem, options, service)

    def save() -> PlantPublic:
        with service.db.write() as session:
            plant = store.replace_plant(session, tenant, problem, source, options)
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
    problem = Problem.model_validate_json(row.problem)
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


class InboxEvent(BaseModel):
    webhook_id: str
    type: str
    occurred_at: datetime
    received_at: datetime
    status: str = Field(description="pending, applied, stale, failed or superseded")
    applied_version: int | None


class InboxEvents(BaseModel):
    data: list[InboxEvent]
    limit: int
    offset: int


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
    responses={**PUBLISHED_RESPONSES, 501: {"model": Message, "description": "No Gantt support."}},
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
        Problem.model_validate_json(row.problem), Result.model_validate_json(row.result), shape
    )
    return JSONResponse(rows)


@router.get(
    "/gantt.html",
    response_class=HTMLResponse,
    responses={**PUBLISHED_RESPONSES, 501: {"model": Message, "description": "No Gantt support."}},
)
def read_gantt_html(
    tenant: TenantDep,
    service: ServiceDep,
    version: Annotated[int | None, Query(ge=1, le=MAX_VERSION)] = None,
) -> HTMLResponse:
    """A self-contained Plotly Gantt page of the published schedule."""

    plant, row = _schedule(service, tenant, version)
    html = gantt_html(
        Problem.model_validate_json(row.problem),
        Result.model_validate_json(row.result),
        title=f"{plant.name} v{row.version} ({row.phase})",
    )
    return HTMLResponse(html)


@router.post(
    "/reschedule",
    status_code=status.HTTP_202_ACCEPTED,
    responses={**ERRORS, 404: NO_PLANT, 429: THROTTLED},
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
            now = to_tick(Problem.model_validate_json(plant.problem), body.now, ["body", "now"])
        except Rejected as exc:
            raise invalid(exc.loc, exc.msg) from None
    with service.db.write() as session:
        current = store.get_plant(session, tenant)
        if current is None or current.id != plant.id:
            raise HTTPException(status.HTTP_409_CONFLICT, "the plant was replaced; try again")
        answer = store.request_reschedule(session, current, now)
    service.wake_relay()
    return answer


# -- callbacks ----------------------------------------------------------------------------


CallbackEvent = Literal["schedule.published", "job.succeeded", "job.failed", "order.late"]
_ALL_EVENTS: list[CallbackEvent] = [
    "schedule.published",
    "job.succeeded",
    "job.failed",
    "order.late",
]
assert set(_ALL_EVENTS) == set(CALLBACK_EVENTS)


class CallbackCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl = Field(max_length=2000)
    events: list[CallbackEvent] = Field(default_factory=lambda: list(_ALL_EVENTS), min_length=1)


class CallbackPublic(BaseModel):
    id: str
    url: str
    events: list[str]
    created_at: datetime
    disabled_at: datetime | None
    disabled_reason: str | None


class CallbackCreated(CallbackPublic):
    secret: str = Field(
        description="whsec_ secret signing this URL's deliveries (Standard Webhooks "
        "headers). Returned only here and by the rotation: store it."
    )


class CallbackSecret(BaseModel):
    id: str
    secret: str = Field(description="The new whsec_ secret; the old one signs nothing more.")


@callbacks.post(
    "", status_code=status.HTTP_201_CREATED, response_model=CallbackCreated, responses=ERRORS
)
def create_callback(
    body: CallbackCreate, tenant: TenantDep, service: ServiceDep
) -> CallbackCreated:
    """Register a URL for signed ``schedule.published``, ``job.*`` and ``order.late`` POSTs.

    Each URL gets its own signing secret, returned once in this answer."""
    url = str(body.url)
    if not service.settings.allow_private_callbacks:
        try:
            check_public(url)
        except RefusedAddress as exc:
            raise invalid(["body", "url"], f"{exc}; refused (SSRF protection)") from None
    with service.db.write() as session:
        sub = deliveries.add_subscription(session, tenant, url, sorted(set(body.events)))
        return CallbackCreated.model_validate(sub, from_attributes=True)


@callbacks.post(
    "/{callback_id}/secret",
    response_model=CallbackSecret,
    responses={**ERRORS, 404: {"model": Message, "description": "No such callback."}},
)
def rotate_callback_secret(
    callback_id: str, tenant: TenantDep, service: ServiceDep
) -> CallbackSecret:
    """A new signing secret for the URL (a lost or leaked one is replaced, not shown)."""
    with service.db.write() as session:
        secret = deliveries.rotate_secret(session, tenant, callback_id)
    if secret is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such callback")
    return CallbackSecret(id=callback_id, secret=secret)


@callbacks.get("", response_model=list[CallbackPublic], responses=ERRORS)
def read_callbacks(tenant: TenantDep, service: ServiceDep) -> list[CallbackPublic]:
    """The tenant's callback URLs (a 410 from a receiver disables its URL)."""
    with service.db.read() as session:
        return [
            CallbackPublic.model_validate(s, from_attributes=True)
            for s in deliveries.subscriptions(session, tenant)
        ]


@callbacks.delete(
    "/{callback_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**ERRORS, 404: {"model": Message, "description": "No such callback."}},
)
def delete_callback(callback_id: str, tenant: TenantDep, service: ServiceDep) -> Response:
    with service.db.write() as session:
        for sub in deliveries.subscriptions(session, tenant):
            if sub.id == callback_id:
                session.delete(sub)
                return Response(status_code=status.HTTP_204_NO_CONTENT)
    raise HTTPException(status.HTTP_404_NOT_FOUND, "no such callback")
