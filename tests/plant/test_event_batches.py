"""A bad event in a batch fails alone: the batch is applied one event at a time, each
failed event keeps its reason and is announced; a valid machine.down is never lost."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aps.live.events import NormalizedOrderCreated
from aps.model import Job
from jobs.plant import store
from tests.plant.conftest import ClientFactory
from tests.plant.support import at, plant_body, post_event, version, wait_quiet, wait_version
from tests.service.support import Receiver, headers, wait_until


def _load(client: TestClient) -> Any:
    assert client.put("/v1/plant", json=plant_body(), headers=headers()).status_code == 202
    assert wait_version(client, 1)["status"] == "published"
    _, problem, _ = version(client, 1)
    return problem


def test_order_created_is_checked_as_strictly_as_order_updated(client: TestClient) -> None:
    """Tests that an order.created with quantity 1e9 is a 422 naming the quantity (it was
    accepted, and then failed the reschedule of every event batched with it)."""
    problem = _load(client)
    order = {**json.loads(json.dumps(plant_body()["plant"]["orders"][0])), "id": "HUGE"}
    for quantity in (1e9, 1_000_000_000):
        event = {
            "type": "order.created",
            "timestamp": at(problem, 60),
            "data": {"order": {**order, "quantity": quantity}},
        }
        r = post_event(client, event)
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"][:4] == ["body", "data", "order", "quantity"], r.text
    assert client.get("/v1/plant/events", headers=headers()).json()["data"] == []


@pytest.mark.timeout(600)
def test_a_bad_event_fails_alone_and_the_breakdown_is_applied(
    client_factory: ClientFactory,
) -> None:
    """Tests the batch that lost a breakdown: an event that cannot be applied (here, an
    order accepted before today's checks that names a machine the plant no longer has)
    and a valid signed machine.down arrive in one batch. The breakdown is published,
    the bad event alone is failed with its own reason, listed under ?status=failed and
    announced as plant.event_failed."""
    receiver = Receiver([200])
    try:
        client = client_factory(allow_private_callbacks=True)
        sub = {"url": receiver.url, "events": ["plant.event_failed"]}
        assert client.post("/v1/callbacks", json=sub, headers=headers()).status_code == 201
        problem = _load(client)
        machine = str(problem.machines[0].id)
        service = client.app.state.service  # type: ignore[attr-defined]
        bad = Job.model_validate(
            {
                "id": "GHOST",
                "operations": [{"id": "a", "modes": [{"machine": "GONE", "duration": 5}]}],
            }
        )
        with service.db.write() as session:
            plant = store.get_plant(session, "acme")
            assert plant is not None
            store._add_event(
                session, plant, "msg_bad_order", "order.created", None,
                NormalizedOrderCreated(job=bad), 202, {},
            )  # fmt: skip
        down = {
            "type": "machine.down",
            "timestamp": at(problem, 120),
            "data": {"machine": machine, "from": at(problem, 120), "until": at(problem, 600)},
        }
        r = post_event(client, down, msg_id="msg_breakdown")
        assert r.status_code == 202, r.text
        state = wait_quiet(client)
        assert [machine, 120, 600] in state["downtimes"], state
        events = {
            e["webhook_id"]: e
            for e in client.get("/v1/plant/events", headers=headers()).json()["data"]
        }
        assert events["msg_breakdown"]["status"] == "applied", events
        assert events["msg_bad_order"]["status"] == "failed", events
        assert "GONE" in events["msg_bad_order"]["reason"]
        assert events["msg_breakdown"]["reason"] is None
        failed = client.get("/v1/plant/events", params={"status": "failed"}, headers=headers())
        assert [e["webhook_id"] for e in failed.json()["data"]] == ["msg_bad_order"]
        wait_until(lambda: {"calls": len(receiver.calls)}, lambda s: s["calls"] >= 1)
        body = json.loads(receiver.calls[0][1])
        assert body["type"] == "plant.event_failed"
        assert body["data"]["webhook_id"] == "msg_bad_order" and "GONE" in body["data"]["reason"]
    finally:
        receiver.close()
