"""The live plant's event types (``aps.live.events``): strict parsing that names the
field, ticks from datetimes, and the normalized form stored and read back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from aps.live.events import (
    MAX_TICK,
    NORMALIZED,
    TYPE_OF,
    Invalid,
    MachineDownData,
    NormalizedCalendarChanged,
    NormalizedMachineDown,
    NormalizedOperationCompleted,
    NormalizedOperationStarted,
    NormalizedOrderCreated,
    NormalizedOrderUpdated,
    NormalizedReschedule,
    Rejected,
    Requantified,
    load_normalized,
    parse_event,
    to_tick,
)
from aps.model import Job, Mode, Problem
from tests.plant.rules import small


def _raw(kind: str, data: dict[str, Any], stamp: str = "2026-03-02T08:00:00+00:00") -> bytes:
    return json.dumps({"type": kind, "timestamp": stamp, "data": data}).encode()


def _locs(raw: bytes) -> list[list[str | int]]:
    with pytest.raises(Invalid) as caught:
        parse_event(raw)
    return [r.loc for r in caught.value.items]


def test_parse_event_gives_the_typed_data() -> None:
    """Tests that an event parses to its envelope and the data model of its type, with
    ``from`` read by its alias and integer ids taken as names."""
    envelope, data = parse_event(_raw("machine.down", {"machine": 3, "from": 5, "until": 9}))
    assert envelope.type == "machine.down"
    assert envelope.timestamp == datetime(2026, 3, 2, 8, tzinfo=UTC)
    assert data == MachineDownData(machine="3", **{"from": 5}, until=9)


def test_parse_event_names_every_bad_field() -> None:
    """Tests that the envelope and the data are read strictly, each error naming its field:
    unknown type, a timestamp without offset or out of range, booleans and strings for
    numbers, unknown fields."""
    assert ["body", "type"] in _locs(_raw("machine.exploded", {}))
    assert ["body", "timestamp"] in _locs(_raw("machine.up", {"machine": "M1"}, "2026-03-02"))
    assert ["body", "timestamp"] in _locs(_raw("machine.up", {}, "9999-12-31T23:59:59-14:00"))
    assert _locs(_raw("machine.up", {"machine": "M1", "at": True}))[0][:3] == [
        "body",
        "data",
        "at",
    ]
    assert ["body", "data", "weight"] in _locs(
        _raw("order.updated", {"order": "O1", "weight": "5"})
    )
    assert ["body", "data", "quantity"] in _locs(
        _raw("material.received", {"material": "RAW", "quantity": True})
    )
    assert ["body", "data", "colour"] in _locs(_raw("machine.up", {"machine": "M1", "colour": 1}))
    assert ["body", "data", "machine"] in _locs(_raw("machine.down", {"from": 1}))


def test_to_tick() -> None:
    """Tests ticks from tick numbers and datetimes: a naive datetime is the plant's local
    time, a plant without a time base takes ticks only, and absurd distances are refused."""
    problem = small()
    assert to_tick(problem, 7, ["at"]) == 7
    with pytest.raises(Rejected, match="no time base") as caught:
        to_tick(problem, datetime(2026, 3, 2, tzinfo=UTC), ["body", "data", "at"])
    assert caught.value.loc == ["body", "data", "at"]
    with pytest.raises(Rejected, match="ticks from the plan start"):
        to_tick(problem, MAX_TICK + 1, ["at"])
    timed = Problem.model_validate(
        {
            **problem.model_dump(),
            "time": {"origin": "2026-03-02T00:00:00+01:00", "timezone": "Europe/Berlin"},
        }
    )
    assert to_tick(timed, datetime(2026, 3, 2, 1, 30), ["at"]) == 90  # local time
    assert to_tick(timed, datetime(2026, 3, 2, 0, 30, tzinfo=UTC), ["at"]) == 90
    assert to_tick(timed, datetime(2026, 3, 2, 0, 30, 59, tzinfo=UTC), ["at"]) == 90  # floor


def test_normalized_events_round_trip_through_json() -> None:
    """Tests that every normalized type, stored as JSON, reads back equal."""
    job = small().jobs[0]
    examples = [
        NormalizedMachineDown(machine="M1", start=3),
        NormalizedOperationStarted(job="O1", op="a", machine=2, start=4, remaining=3),
        NormalizedOperationCompleted(job=1, op=0, machine="M1", start=4, end=9, quantity=5),
        NormalizedOrderCreated(job=job),
        NormalizedOrderUpdated(
            order="O1",
            due=9,
            operations={
                "a": Requantified(modes=[Mode(machine="M1", duration=8)], consumes=[], produces=[])
            },
        ),
        NormalizedCalendarChanged(machine="M2", windows=[(1, 4, None), (8, 9, "maintenance")]),
        NormalizedReschedule(now=12),
    ]
    assert set(TYPE_OF.values()) == set(NORMALIZED)
    for norm in examples:
        stored = json.loads(json.dumps(norm.model_dump(mode="json")))
        assert load_normalized(TYPE_OF[type(norm)], stored) == norm


def test_rows_stored_before_the_typed_form_still_load() -> None:
    """Tests that normalized events in the shape the untyped code stored them load."""
    job: dict[str, Any] = small().jobs[0].model_dump(mode="json")
    rows: list[tuple[str, dict[str, Any]]] = [
        ("machine.down", {"machine": "M1", "start": 0, "until": None}),
        ("machine.up", {"machine": 2, "at": 7}),
        ("operation.started", {"job": "O1", "op": "a", "machine": "M1", "setup_start": None,
                               "start": 4, "end": None, "remaining": None}),
        ("operation.completed", {"job": "O1", "op": "a", "machine": "M1", "setup_start": 2,
                                 "start": 4, "end": 9, "quantity": None}),
        ("order.created", {"job": job}),
        ("order.updated", {"order": "O1", "release": 3, "weight": 2}),
        ("order.updated", {"order": "O1"}),  # a stale update
        ("order.cancelled", {"order": "O1"}),
        ("material.received", {"material": "RAW", "quantity": 5, "at": 8}),
        ("calendar.changed", {"machine": "M2", "windows": [[1, 4, None]]}),
        ("reschedule", {"now": None}),
    ]  # fmt: skip
    for kind, stored in rows:
        norm = load_normalized(kind, stored)
        assert type(norm) is NORMALIZED[kind]
        again = {k: v for k, v in norm.model_dump(mode="json").items() if k in stored}
        assert again == stored, kind
    created = load_normalized("order.created", {"job": job})
    assert isinstance(created, NormalizedOrderCreated) and created.job == Job.model_validate(job)
