"""Helpers for the tests of the live plant's rules (``aps.live``): small plants, events,
histories. No database and no HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from aps.factory.compile import compile_plant
from aps.factory.model import Plant as PlantDocument
from aps.live.events import Envelope, EventData, Normalized, parse_event
from aps.live.normalize import LivePlant, Log, Outcome, Recorded, normalize
from aps.model import Problem
from tests.plant.support import PLANT

#: the occurrence time of events unless a test gives another
STAMP = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def small() -> Problem:
    """Three machines, two two-step orders, a material; no time base (ticks only)."""
    return Problem.model_validate(
        {
            "name": "small",
            "machines": [{"id": "M1"}, {"id": "M2"}, {"id": "M3"}],
            "materials": [{"id": "RAW", "initial": 10}],
            "jobs": [
                {
                    "id": f"O{j}",
                    "due": 30,
                    "operations": [
                        {
                            "id": "a",
                            "modes": [
                                {"machine": "M1", "duration": 5},
                                {"machine": "M2", "duration": 6},
                            ],
                        },
                        {
                            "id": "b",
                            "modes": [{"machine": "M3", "duration": 4}],
                            "produces": [{"material": "RAW", "quantity": 2}],
                        },
                    ],
                }
                for j in range(2)
            ],
        }
    )


@cache
def _example() -> tuple[dict[str, Any], str]:
    source = json.loads(PLANT.read_text())
    return source, compile_plant(PlantDocument.model_validate(source)).model_dump_json()


def example() -> LivePlant:
    """The example plant, loaded as plant JSON (a time base, per-unit run times)."""
    source, problem = _example()
    return LivePlant(Problem.model_validate_json(problem), source, Log())


def plant(problem: Problem | None = None, *history: Recorded) -> LivePlant:
    """A tick-level plant (``small`` unless given) with ``history``."""
    return LivePlant(problem or small(), None, Log(history))


def event(kind: str, stamp: datetime = STAMP, **data: Any) -> tuple[Envelope, EventData]:
    """An inbound event parsed as the webhook parses it (strictly); ``from_`` is sent as
    ``from``."""
    fields = {k.removesuffix("_"): v for k, v in data.items()}
    body = {"type": kind, "timestamp": stamp.isoformat(), "data": fields}
    return parse_event(json.dumps(body).encode())


def check(live: LivePlant, kind: str, stamp: datetime = STAMP, **data: Any) -> Outcome:
    """The normalized event and whether it is stale."""
    envelope, parsed = event(kind, stamp, **data)
    return normalize(live, envelope, parsed)


def recorded(
    norm: Normalized,
    minutes: float = 0.0,
    status: str = "pending",
    data: dict[str, Any] | None = None,
) -> Recorded:
    """A stored event that occurred ``minutes`` after :data:`STAMP`."""
    return Recorded(norm, STAMP + timedelta(minutes=minutes), status, data or {})
