"""Wire models of the jobs API: a submission, a job's state, its schedule, a cancel."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from api.schemas.common import ScheduledOperationPublic
from aps import Objective, Problem
from aps.solvers import SolverName
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


_ID = "3f1c9a52-7d1e-4c39-9a55-0d7b1c2e8f10"
_LINKS: JsonDict = {
    "self": f"/v1/jobs/{_ID}",
    "schedule": f"/v1/jobs/{_ID}/schedule",
    "gantt": f"/v1/jobs/{_ID}/gantt",
    "gantt_html": f"/v1/jobs/{_ID}/gantt.html",
    "events": f"/v1/jobs/{_ID}/events",
    "cancel": f"/v1/jobs/{_ID}/cancel",
}


class JobLinks(BaseModel):
    self: str
    schedule: str
    gantt: str
    gantt_html: str
    events: str
    cancel: str


class JobAccepted(BaseModel):
    """The answer to a submission: the job id and where to look next."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": _ID,
                    "status": "queued",
                    "created_at": "2026-03-02T08:00:00Z",
                    "links": _LINKS,
                }
            ]
        }
    )

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
    kind: str = Field(
        default="solve", description="solve, or what_if (a machine-down repair of a job)"
    )
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

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": _ID,
                    "name": "ft06",
                    "status": "running",
                    "solve_status": None,
                    "reason": None,
                    "message": None,
                    "created_at": "2026-03-02T08:00:00Z",
                    "started_at": "2026-03-02T08:00:01Z",
                    "updated_at": "2026-03-02T08:00:03Z",
                    "finished_at": None,
                    "objective": 57.0,
                    "bound": 55.0,
                    "gap": 0.035,
                    "makespan": None,
                    "solve_seconds": None,
                    "num_operations": 36,
                    "options": {"time_limit": 10.0, "workers": 1, "solver": "cpsat", "seed": 0},
                    "attempts": 1,
                    "cancel_requested": False,
                    "progress": {
                        "objective": 57.0,
                        "bound": 55.0,
                        "gap": 0.035,
                        "elapsed": 0.4,
                        "history": [
                            {
                                "objective": 59.0,
                                "bound": 47.0,
                                "gap": 0.2,
                                "elapsed": 0.1,
                                "attempt": 1,
                                "at": "2026-03-02T08:00:02Z",
                            },
                            {
                                "objective": 57.0,
                                "bound": 55.0,
                                "gap": 0.035,
                                "elapsed": 0.4,
                                "attempt": 1,
                                "at": "2026-03-02T08:00:03Z",
                            },
                        ],
                    },
                    "links": _LINKS,
                }
            ]
        }
    )

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


class SchedulePublic(BaseModel):
    """The stored schedule with the solver's certificate (bound, gap, versions)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "job_id": _ID,
                    "status": "succeeded",
                    "solve_status": "OPTIMAL",
                    "objective": 55.0,
                    "bound": 55.0,
                    "gap": 0.0,
                    "makespan": 55,
                    "wall_s": 0.29,
                    "solver": "cpsat",
                    "solver_version": "9.15",
                    "seed": 0,
                    "operations": [
                        {
                            "job": 0,
                            "op": 0,
                            "machine": 2,
                            "start": 0,
                            "end": 1,
                            "setup_start": None,
                            "start_at": None,
                            "end_at": None,
                        }
                    ],
                }
            ]
        }
    )

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
