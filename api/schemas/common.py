"""Wire models shared by every route: errors, and a scheduled operation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from aps.model import Id


class ScheduledOperationPublic(BaseModel):
    job: Id
    op: Id
    machine: Id
    start: int
    end: int
    setup_start: int | None = None
    start_at: datetime | None = None
    end_at: datetime | None = None


class Problem422(BaseModel):
    """FastAPI's validation error shape: each item names the field (loc) and the problem."""

    detail: list[dict[str, Any]]


class Message(BaseModel):
    detail: str
