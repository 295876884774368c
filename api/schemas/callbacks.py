"""Wire models of the tenant's callback URLs (``/v1/callbacks``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from jobs.callbacks import CALLBACK_EVENTS

CallbackEvent = Literal[
    "schedule.published", "job.succeeded", "job.failed", "order.late", "plant.event_failed"
]
ALL_EVENTS: list[CallbackEvent] = list(get_args(CallbackEvent))
assert set(ALL_EVENTS) == set(CALLBACK_EVENTS)


class CallbackCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl = Field(max_length=2000)
    events: list[CallbackEvent] = Field(default_factory=lambda: list(ALL_EVENTS), min_length=1)


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
