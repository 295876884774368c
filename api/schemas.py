"""Wire models: what clients send and what they get back (explicit ``*Public`` models)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from aps import Objective, Problem
from aps.model import Id
from aps.solve import SolverName
from jobs.states import JobStatus

EXAMPLE_PROBLEM: dict[str, Any] = {
    "name": "two-by-two",
    "machines": [{"id": "M1"}, {"id": "M2"}],
    "jobs": [
        {
            "id": "J1",
            "operations": [
                {"id": "cut", "modes": [{"machine": "M1", "duration": 3}]},
                {"id": "weld", "modes": [{"machine": "M2", "duration": 2}]},
            ],
        },
        {
            "id": "J2",
            "operations": [
                {"id": "cut", "modes": [{"machine": "M2", "duration": 4}]},
                {"id": "weld", "modes": [{"machine": "M1", "duration": 1}]},
            ],
        },
    ],
}


class JobOptions(BaseModel):
    """How to solve: limits are checked against the server's configured maxima."""

    model_config = ConfigDict(extra="forbid")

    time_limit: float = Field(
        default=10.0,
        gt=0,
        description="Wall-clock seconds for the solver (server maximum APS_MAX_TIME_LIMIT).",
        examples=[10.0],
    )
    workers: int = Field(default=1, ge=1, le=64, description="CP-SAT search workers.")
    objective: Objective | None = Field(
        default=None, description="Overrides the problem's objective when given."
    )
    solver: SolverName = Field(
        default="cpsat",
        description="cpsat (default), milp (small problems), plain (job shop benchmarks) or auto.",
    )
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    callback_url: AnyHttpUrl | None = Field(
        default=None,
        max_length=2000,
        description="Called when the job ends (stored now; signed delivery comes with the "
        "webhooks feature). Private and loopback addresses are refused.",
    )


class JobCreate(BaseModel):
    """A problem in the core's JSON model plus solve options."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"problem": EXAMPLE_PROBLEM, "options": {"time_limit": 5, "seed": 0}}]
        },
    )

    problem: Problem
    options: JobOptions = Field(default_factory=JobOptions)


class JobLinks(BaseModel):
    self: str
    schedule: str
    gantt: str
    gantt_html: str
    events: str
    cancel: str


class JobAccepted(BaseModel):
    """The answer to a submission: the job id and where to look next."""

    id: str
    status: JobStatus
    created_at: datetime
    links: JobLinks


class IncumbentPublic(BaseModel):
    objective: float | None
    bound: float | None
    gap: float | None
    elapsed: float | None
    attempt: int | None = None
    at: datetime | None = None


class Progress(BaseModel):
    """The latest incumbent and every improving solution reported so far."""

    objective: float | None
    bound: float | None
    gap: float | None
    elapsed: float | None
    history: list[IncumbentPublic]


class JobSummary(BaseModel):
    id: str
    name: str
    status: JobStatus
    solve_status: str | None
    reason: str | None
    created_at: datetime
    finished_at: datetime | None
    objective: float | None
    makespan: int | None


class JobPublic(JobSummary):
    """A job's state: status, progress, outcome and links."""

    message: str | None
    num_operations: int
    options: dict[str, Any]
    attempts: int
    cancel_requested: bool
    started_at: datetime | None
    updated_at: datetime
    bound: float | None
    gap: float | None
    solve_seconds: float | None
    progress: Progress
    links: JobLinks


class JobsPublic(BaseModel):
    data: list[JobSummary]
    count: int
    limit: int
    offset: int


class ScheduledOperationPublic(BaseModel):
    job: Id
    op: Id
    machine: Id
    start: int
    end: int
    setup_start: int | None = None
    start_at: datetime | None = None
    end_at: datetime | None = None


class SchedulePublic(BaseModel):
    """The stored schedule with the solver's certificate (bound, gap, versions)."""

    job_id: str
    status: JobStatus
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


class CancelPublic(BaseModel):
    id: str
    status: JobStatus
    cancel_requested: bool


class Problem422(BaseModel):
    """FastAPI's validation error shape: each item names the field (loc) and the problem."""

    detail: list[dict[str, Any]]


class Message(BaseModel):
    detail: str
