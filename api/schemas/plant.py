"""Wire models of the live plant API: its state, published versions, inbox, reschedules.

The plant's options on ``PUT /v1/plant`` are :class:`jobs.plant.options.PlantOptions`,
the model the plant is stored with.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from api.schemas.common import ScheduledOperationPublic


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


class InboxEvent(BaseModel):
    webhook_id: str
    type: str
    occurred_at: datetime
    received_at: datetime
    status: str = Field(description="pending, applied, stale, failed or superseded")
    applied_version: int | None
    reason: str | None = Field(default=None, description="Why the event failed (failed only).")


class InboxEvents(BaseModel):
    data: list[InboxEvent]
    limit: int
    offset: int
