"""``order.updated`` with a new quantity: per-unit run times and flows are recompiled."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from aps.factory.compile import compile_plant
from aps.factory.model import Plant as PlantDocument
from aps.model import Job
from aps.validate import validate
from tests.plant.support import (
    OPTIONS,
    PLANT,
    at,
    plant_body,
    post_event,
    version,
    wait_quiet,
    wait_version,
)
from tests.service.support import headers

ORDER = "SA-001"


def _compiled(quantity: int) -> Job:
    """The order as the factory compiles it at ``quantity`` (the expected operations)."""
    source = json.loads(PLANT.read_text())
    order = next(o for o in source["orders"] if o["id"] == ORDER)
    document = {**source, "orders": [{**order, "quantity": quantity}]}
    return compile_plant(PlantDocument.model_validate(document)).jobs[0]


def _update(problem: Any, **data: Any) -> dict[str, Any]:
    return {"type": "order.updated", "timestamp": at(problem, 0), "data": {"order": ORDER, **data}}


def test_quantity_change_recomputes_run_times(client: TestClient) -> None:
    """Tests that doubling an order's quantity doubles its per-unit run times and
    material flows in the plant's problem and in the published schedule."""
    assert client.put("/v1/plant", json=plant_body(), headers=headers()).status_code == 202
    assert wait_version(client, 1)["status"] == "published"
    _, problem1, _ = version(client, 1)
    before = next(j for j in problem1.jobs if j.id == ORDER)
    quantity = json.loads(PLANT.read_text())["orders"][0]["quantity"]
    assert [o.modes for o in before.operations] == [o.modes for o in _compiled(quantity).operations]

    for bad, loc in [(0, "quantity"), ("many", "quantity")]:
        r = post_event(client, _update(problem1, quantity=bad))
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "data", loc]

    expected = _compiled(2 * quantity)
    r = post_event(client, _update(problem1, quantity=2 * quantity))
    assert r.status_code == 202, r.text
    wait_version(client, 2)
    state = wait_quiet(client)
    assert state["status"] == "published" and state["message"] is None, state
    _, problem, rows = version(client, state["version"])
    assert validate(problem, rows) == []
    job = next(j for j in problem.jobs if j.id == ORDER)
    assert [(o.id, o.modes, o.consumes, o.produces) for o in job.operations] == [
        (o.id, o.modes, o.consumes, o.produces) for o in expected.operations
    ]
    cut = next(o for o in before.operations if o.id == "cut")
    assert cut.modes[0].duration < job.operations[0].modes[0].duration  # run_per_unit scales
    assert job.operations[0].consumes[0].quantity == 2 * cut.consumes[0].quantity
    durations = {(m.machine, o.id): m.duration for o in job.operations for m in o.modes}
    for row in rows:
        if row.job == ORDER and row.op == "cut":  # not interruptible: exactly its new run time
            assert row.end - row.start == durations[(row.machine, "cut")], row
    assert problem.metadata["orders"][ORDER]["quantity"] == 2 * quantity


def test_quantity_of_a_tick_level_plant_is_a_422(client: TestClient) -> None:
    """Tests that a tick-level plant (no per-unit times) refuses a quantity, naming it,
    and applies nothing of the event."""
    ft06 = json.loads((Path(__file__).parents[1] / "service" / "data" / "ft06.json").read_text())
    put = client.put("/v1/plant", json={"problem": ft06, "options": OPTIONS}, headers=headers())
    assert put.status_code == 202, put.text
    assert wait_version(client, 1)["status"] == "published"
    event = {
        "type": "order.updated",
        "timestamp": "2026-03-02T00:00:00+00:00",
        "data": {"order": "0", "quantity": 5, "weight": 3},
    }
    r = post_event(client, event)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "data", "quantity"]
    assert "tick-level" in r.json()["detail"][0]["msg"]
    assert client.get("/v1/plant/events", headers=headers()).json()["data"] == []
