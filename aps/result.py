"""What a solve returns: a library-owned status, the schedule and the solver's certificate."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from aps.model import Id


class SolveStatus(StrEnum):
    """Solver-independent outcome; CP-SAT and HiGHS codes are mapped onto these."""

    OPTIMAL = "OPTIMAL"
    FEASIBLE = "FEASIBLE"
    INFEASIBLE = "INFEASIBLE"
    UNKNOWN = "UNKNOWN"
    MODEL_INVALID = "MODEL_INVALID"

    @property
    def has_schedule(self) -> bool:
        return self in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE)


class ScheduledOperation(BaseModel):
    """One operation placed on a machine.

    The machine is busy over ``[setup_start, end)``: changeover and fixed setup over
    ``[setup_start, start)``, the run from ``start`` (pausing over unavailable windows
    when the operation is interruptible).
    """

    model_config = ConfigDict(frozen=True)

    job: Id
    op: Id
    machine: Id
    start: int
    end: int
    setup_start: int | None = None

    @property
    def busy_from(self) -> int:
        return self.start if self.setup_start is None else self.setup_start


class Incumbent(BaseModel):
    """An improving solution seen during the search, as reported to ``on_progress``."""

    objective: float
    bound: float
    elapsed: float


class Requirement(BaseModel):
    """A relaxable requirement of the input, as named in an infeasibility explanation."""

    kind: str
    subject: str
    detail: str


class Result(BaseModel):
    """The outcome of one solve, with enough detail to reproduce and audit it."""

    name: str
    status: SolveStatus
    objective: float | None = None
    bound: float | None = None
    gap: float | None = None
    makespan: int | None = None
    wall_s: float
    solver: str
    solver_version: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    seed: int = 0
    schedule: list[ScheduledOperation] = Field(default_factory=list)
    progress: list[Incumbent] = Field(default_factory=list)
    kpis: dict[str, float] = Field(default_factory=dict)
    message: str | None = None
    #: after a proven INFEASIBLE: a minimal set of requirements that conflict
    explanation: list[Requirement] = Field(default_factory=list)


def relative_gap(objective: float | None, bound: float | None) -> float | None:
    """``(objective - bound) / objective``, 0 when both are 0, None when unknown."""
    if objective is None or bound is None:
        return None
    if objective == 0:
        return 0.0
    return max(0.0, (objective - bound) / abs(objective))
