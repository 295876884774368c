"""The jobs API: submit, list, read, schedule, Gantt, cancel and progress events."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Header, HTTPException, Query, Request, Security, status
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.exc import IntegrityError
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from api.deps import ERRORS, ServiceDep, SolvingTenant, TenantDep, api_key_header
from api.exports import csv_response, public_rows
from api.gantt import gantt_html, gantt_rows
from api.inputs import (
    UPLOAD_FORM,
    Submission,
    check_callback,
    check_limits,
    invalid,
    read_submission,
)
from api.schemas import (
    CancelPublic,
    IncumbentPublic,
    JobAccepted,
    JobLinks,
    JobPublic,
    JobsPublic,
    JobSummary,
    Message,
    Progress,
    SchedulePublic,
)
from api.service import Service
from aps import Problem, Result
from jobs import faults, repo
from jobs.states import JobStatus
from jobs.tables import Job, JobEvent

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

NOT_FOUND = {"model": Message, "description": "No such job for this tenant."}


def links(job_id: str) -> JobLinks:
    base = f"/v1/jobs/{job_id}"
    return JobLinks(
        self=base,
        schedule=f"{base}/schedule",
        gantt=f"{base}/gantt",
        gantt_html=f"{base}/gantt.html",
        events=f"{base}/events",
        cancel=f"{base}/cancel",
    )


def _request_hash(job: Submission) -> str:
    """The problem as stored and the options: what a replay must match."""
    options = json.dumps(job.options.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(f"{job.problem_json}\n{options}".encode()).hexdigest()


SUBMIT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/JobCreate"}},
            "multipart/form-data": UPLOAD_FORM,
        },
    }
}


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobAccepted,
    openapi_extra=SUBMIT_BODY,
    responses={
        **ERRORS,
        409: {"model": Message, "description": "Idempotency-Key reused while in flight."},
        413: {"description": "Request body over APS_MAX_BODY_BYTES."},
        415: {"model": Message, "description": "Unsupported content type."},
        429: {"model": Message, "description": "Rate or active-job limit; see Retry-After."},
    },
)
async def create_job(
    request: Request,
    tenant: SolvingTenant,
    service: ServiceDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=255,
            description="Same key and body replay the first response; same key with "
            "another body gives 422.",
        ),
    ] = None,
) -> Response:
    """Submit a scheduling job; it is solved asynchronously."""
    job = await read_submission(request, service)
    check_limits(job, service.settings)
    if job.options.callback_url is not None:
        await run_in_threadpool(check_callback, str(job.options.callback_url), service.settings)
    code, body, replayed = await run_in_threadpool(_submit, service, tenant, job, idempotency_key)
    faults.crash_point(faults.AFTER_SUBMIT_COMMIT)
    service.wake_relay()
    headers = {"Location": body["links"]["self"]}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(body, status_code=code, headers=headers)


def _submit(
    service: Service, tenant: str, job: Submission, key: str | None
) -> tuple[int, dict[str, Any], bool]:
    request_hash = _request_hash(job)
    settings = service.settings
    for _ in range(3):
        try:
            with service.db.write() as session:
                if key is not None:
                    previous = repo.find_idempotent(
                        session, tenant, key, settings.idempotency_ttl_seconds
                    )
                    if previous is not None:
                        if previous.request_hash != request_hash:
                            raise invalid(
                                ["header", "Idempotency-Key"],
                                "this Idempotency-Key was used with a different request body; "
                                "use a new key for a new job",
                                "idempotency_mismatch",
                            )
                        return previous.status_code, dict(previous.response), True
                active = service.active.get(tenant, lambda: repo.count_active(session, tenant))
                if active >= settings.max_active_jobs:
                    raise HTTPException(
                        status.HTTP_429_TOO_MANY_REQUESTS,
                        f"{active} jobs are queued or running; the limit is "
                        f"{settings.max_active_jobs} per tenant (APS_MAX_ACTIVE_JOBS)",
                        headers={"Retry-After": "5"},
                    )
                options = job.options.model_dump(mode="json", exclude_none=True)
                row = repo.create_job(
                    session,
                    tenant_id=tenant,
                    name=job.name,
                    problem_json=job.problem_json,
                    options=options,
                    num_operations=job.num_operations,
                    callback_url=options.get("callback_url"),
                    max_attempts=settings.max_attempts,
                )
                body = JobAccepted(
                    id=row.id,
                    status=JobStatus.QUEUED,
                    created_at=row.created_at,
                    links=links(row.id),
                ).model_dump(mode="json")
                if key is not None:
                    repo.save_idempotent(
                        session,
                        tenant_id=tenant,
                        key=key,
                        request_hash=request_hash,
                        job_id=row.id,
                        status_code=202,
                        response=body,
                        ttl_seconds=settings.idempotency_ttl_seconds,
                    )
                service.active.added(tenant)
                return 202, body, False
        except IntegrityError:
            if key is None:
                raise
            continue  # a concurrent request with the same key won; replay its answer
    raise HTTPException(
        status.HTTP_409_CONFLICT, "a request with this Idempotency-Key is still being processed"
    )


@router.get("", response_model=JobsPublic, responses=ERRORS)
def read_jobs(
    tenant: TenantDep,
    service: ServiceDep,
    status_: Annotated[list[JobStatus] | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> JobsPublic:
    """List this tenant's jobs, newest first, optionally filtered by status."""
    with service.db.read() as session:
        rows, count = repo.list_jobs(session, tenant, statuses=status_, limit=limit, offset=offset)
        data = [_summary(r) for r in rows]
    return JobsPublic(data=data, count=count, limit=limit, offset=offset)


def _summary(job: Job) -> JobSummary:
    return JobSummary(
        id=job.id,
        kind=job.kind,
        name=job.name,
        status=JobStatus(job.status),
        solve_status=job.solve_status,
        reason=job.reason,
        created_at=job.created_at,
        finished_at=job.finished_at,
        objective=job.objective,
        makespan=job.makespan,
    )


def _load(service: Service, tenant: str, job_id: UUID) -> Job:
    with service.db.read() as session:
        job = repo.get_job(session, tenant, str(job_id))
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "job not found")
    return job


def _incumbent(e: JobEvent) -> IncumbentPublic:
    return IncumbentPublic(
        objective=e.objective,
        bound=e.bound,
        gap=e.gap,
        elapsed=e.elapsed,
        attempt=e.attempt,
        at=e.created_at,
    )


@router.get("/{job_id}", response_model=JobPublic, responses={**ERRORS, 404: NOT_FOUND})
def read_job(job_id: UUID, tenant: TenantDep, service: ServiceDep) -> JobPublic:
    """A job's status, progress (incumbent, bound, gap, history) and outcome."""
    with service.db.read() as session:
        job = repo.get_job(session, tenant, str(job_id))
        if job is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "job not found")
        history = repo.events(session, tenant, job.id, kind="incumbent")
    summary = _summary(job).model_dump()
    return JobPublic(
        **summary,
        message=job.message,
        num_operations=job.num_operations,
        options=dict(job.options),
        attempts=job.attempts,
        cancel_requested=job.cancel_requested,
        started_at=job.started_at,
        updated_at=job.updated_at,
        bound=job.bound,
        gap=job.gap,
        solve_seconds=job.solve_seconds,
        progress=Progress(
            objective=job.objective,
            bound=job.bound,
            gap=job.gap,
            elapsed=job.elapsed,
            history=[_incumbent(e) for e in history],
        ),
        links=links(job.id),
    )


def _result(service: Service, tenant: str, job_id: UUID) -> tuple[Job, Result]:
    job = _load(service, tenant, job_id)
    with service.db.read() as session:
        row = repo.schedule(session, tenant, job.id)
    if row is None:
        state = JobStatus(job.status)
        why = f": {job.message}" if job.message else ""
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"job is {state.value}; it has no schedule{why}"
        )
    return job, Result.model_validate_json(row.result)


NO_SCHEDULE = {"model": Message, "description": "No schedule (yet): queued, running or failed."}
GANTT_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    404: NOT_FOUND,
    409: NO_SCHEDULE,
}
SCHEDULE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    404: NOT_FOUND,
    409: NO_SCHEDULE,
    200: {"content": {"text/csv": {"example": "job,op,machine,setup_start,start,end\n"}}},
}


@router.get("/{job_id}/schedule", response_model=SchedulePublic, responses=SCHEDULE_RESPONSES)
def read_schedule(
    job_id: UUID,
    tenant: TenantDep,
    service: ServiceDep,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Any:
    """The schedule (JSON, or CSV with ``?format=csv``) with the solver's certificate."""
    job, result = _result(service, tenant, job_id)
    problem = Problem.model_validate_json(job.problem) if job.problem else None
    clock = problem.time if problem is not None else None
    ops = public_rows(result.schedule, clock)
    if format == "csv":
        return csv_response(ops, clock is not None, f"schedule-{job.id}.csv")
    return SchedulePublic(
        job_id=job.id,
        status=JobStatus(job.status),
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
    )


@router.post(
    "/{job_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=CancelPublic,
    responses={
        **ERRORS,
        404: NOT_FOUND,
        409: {"model": Message, "description": "The job has already ended."},
    },
)
def cancel_job(job_id: UUID, tenant: TenantDep, service: ServiceDep) -> CancelPublic:
    """Cancel a job; a running solve stops and keeps the best schedule found so far."""
    with service.db.write() as session:
        outcome = repo.cancel(session, tenant, str(job_id))
    if outcome is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "job not found")
    if not outcome.changed:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"job already {outcome.status.value}; nothing to cancel"
        )
    return CancelPublic(
        id=str(job_id), status=outcome.status, cancel_requested=outcome.cancel_requested
    )


def _event_payload(e: JobEvent) -> ServerSentEvent:
    data: dict[str, Any] = {"kind": e.kind, "at": e.created_at.isoformat(), "attempt": e.attempt}
    if e.kind != "incumbent":
        data["status"] = e.status
    else:
        data.update(objective=e.objective, bound=e.bound, gap=e.gap, elapsed=e.elapsed)
    return ServerSentEvent(data=json.dumps(data), event=e.kind, id=str(e.id))


@router.get(
    "/{job_id}/events",
    responses={
        **ERRORS,
        404: NOT_FOUND,
        200: {
            "content": {
                "text/event-stream": {
                    "example": "id: 3\nevent: incumbent\n"
                    'data: {"kind": "incumbent", "objective": 55}\n'
                }
            },
            "description": "Server-sent events: `status` and `incumbent`; the "
            "stream ends after a final status. Resumes from Last-Event-ID.",
        },
    },
    response_class=EventSourceResponse,
)
async def job_events(
    job_id: UUID,
    tenant: TenantDep,
    service: ServiceDep,
    key: Annotated[str | None, Security(api_key_header)],
    last_event_id: Annotated[int | None, Header(alias="Last-Event-ID", ge=0, le=2**63 - 1)] = None,
) -> EventSourceResponse:
    """Progress as server-sent events (status changes and incumbents); the stream ends
    when the API key is revoked."""
    await run_in_threadpool(_load, service, tenant, job_id)

    async def stream() -> AsyncIterator[ServerSentEvent]:
        after = last_event_id or 0
        while True:
            batch = await run_in_threadpool(
                _events_after, service, tenant, str(key), str(job_id), after
            )
            if batch is None:
                return
            for event in batch:
                after = event.id
                yield _event_payload(event)
                if event.kind == "status" and JobStatus(str(event.status)).terminal:
                    return
            if not batch:
                await asyncio.sleep(0.25)

    return EventSourceResponse(stream(), ping=15)


def _events_after(
    service: Service, tenant: str, key: str, job_id: str, after: int
) -> list[JobEvent] | None:
    """The next events; None when the stream should end: the key no longer belongs to
    the tenant (revoked), or the job had ended and nothing is left after ``after`` (a
    resume past the final event would otherwise wait forever)."""
    with service.db.read() as session:
        if repo.tenant_for_key(session, key) != tenant:
            return None
        job = repo.get_job(session, tenant, job_id)  # read first: its events precede it
        batch = repo.events(session, tenant, job_id, after=after, limit=200)
        if not batch and (job is None or JobStatus(job.status).terminal):
            return None
        return batch


# -- Gantt ------------------------------------------------------------------------------

GanttShape = Literal["neutral", "frappe", "vis", "plotly"]


@router.get(
    "/{job_id}/gantt",
    responses=GANTT_RESPONSES,
)
def read_gantt(
    job_id: UUID,
    tenant: TenantDep,
    service: ServiceDep,
    shape: Annotated[GanttShape, Query()] = "neutral",
) -> Any:
    """Gantt rows: neutral, or shaped for frappe-gantt, vis-timeline or Plotly."""

    job, result = _result(service, tenant, job_id)
    return JSONResponse(gantt_rows(Problem.model_validate_json(job.problem), result, shape))


@router.get(
    "/{job_id}/gantt.html",
    response_class=HTMLResponse,
    responses=GANTT_RESPONSES,
)
def read_gantt_html(job_id: UUID, tenant: TenantDep, service: ServiceDep) -> HTMLResponse:
    """A self-contained Plotly Gantt page of the schedule."""

    job, result = _result(service, tenant, job_id)
    html = gantt_html(
        Problem.model_validate_json(job.problem), result, title=f"{job.name} ({job.id})"
    )
    return HTMLResponse(html)
