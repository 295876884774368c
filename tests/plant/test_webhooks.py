"""The inbound webhook: signatures, rotation, idempotency, 422s naming the field, and
the other event types on a small tick-level plant (no time base: ticks everywhere)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aps.validate import validate
from tests.plant.support import (
    OLD_SECRET,
    SECRET,
    plant_state,
    post_event,
    signed,
    version,
    wait_quiet,
    wait_version,
)
from tests.service.support import headers

STAMP = "2026-03-02T08:00:00+00:00"


def small_problem() -> dict[str, Any]:
    """Three machines, four two-step orders, a material for receipts."""
    jobs = []
    for j in range(4):
        jobs.append(
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
                    {"id": "b", "modes": [{"machine": "M3", "duration": 4}]},
                ],
            }
        )
    return {
        "name": "small",
        "machines": [{"id": "M1"}, {"id": "M2"}, {"id": "M3"}],
        "materials": [{"id": "RAW", "initial": 10}],
        "jobs": jobs,
    }


def load(client: TestClient, **options: Any) -> None:
    opts = {"time_limit": 1.0, "reschedule_time_limit": 1.0, **options}
    put = client.put(
        "/v1/plant", json={"problem": small_problem(), "options": opts}, headers=headers()
    )
    assert put.status_code == 202, put.text
    assert wait_version(client, 1)["status"] == "published"


def event(kind: str, **data: Any) -> dict[str, Any]:
    return {"type": kind, "timestamp": data.pop("timestamp", STAMP), "data": data}


def test_signatures_rotation_and_rejections(client: TestClient) -> None:
    load(client)
    down = event("machine.down", machine="M3", **{"from": 2, "until": 10})
    # no signature header at all, a wrong secret, a signature too old: 401
    body, hdrs = signed(down)
    del hdrs["webhook-signature"]
    assert client.post("/v1/webhooks/erp", content=body, headers=hdrs).status_code == 401
    wrong = "whsec_" + "A" * 40
    assert post_event(client, down, secret=wrong).status_code == 401
    body, hdrs = signed(down)
    old = datetime.now(UTC) - timedelta(seconds=400)
    from standardwebhooks import Webhook

    hdrs["webhook-timestamp"] = str(int(old.timestamp()))
    hdrs["webhook-signature"] = Webhook(SECRET).sign(hdrs["webhook-id"], old, body.decode())
    assert client.post("/v1/webhooks/erp", content=body, headers=hdrs).status_code == 401
    # a tampered body
    body, hdrs = signed(down)
    tampered = body.replace(b'"M3"', b'"M1"')
    assert client.post("/v1/webhooks/erp", content=tampered, headers=hdrs).status_code == 401
    # malformed and inconsistent events name the field; nothing is stored
    cases = [
        (event("machine.down", **{"from": 2}), ["body", "data", "machine"]),
        (event("machine.down", machine="M9", **{"from": 2}), ["body", "data", "machine"]),
        (event("machine.down", machine="M1", **{"from": 5, "until": 3}), ["body", "data", "until"]),
        (event("machine.exploded", machine="M1"), ["body", "type"]),
        ({"type": "machine.up", "data": {"machine": "M1"}}, ["body", "timestamp"]),
        (
            event("operation.started", order="O9", operation="a", machine="M1", at=1),
            ["body", "data", "order"],
        ),
        (
            event("operation.started", order="O1", operation="z", machine="M1", at=1),
            ["body", "data", "operation"],
        ),
        (
            event("operation.started", order="O1", operation="b", machine="M1", at=1),
            ["body", "data", "machine"],
        ),
        (event("machine.up", machine="M1"), ["body", "data", "at"]),
        (event("order.cancelled", order="nope"), ["body", "data", "order"]),
        (event("material.received", material="X", quantity=1, at=3), ["body", "data", "material"]),
        (
            {
                "type": "machine.up",
                "timestamp": "9999-12-31T23:59:59-14:00",
                "data": {"machine": "M1", "at": 4},
            },
            ["body", "timestamp"],
        ),
        # JSON types as documented: `true` is not tick 1 nor a quantity, "5" not a weight
        (event("machine.up", machine="M1", at=True), ["body", "data", "at"]),
        (event("material.received", material="RAW", quantity=True), ["body", "data", "quantity"]),
        (event("order.updated", order="O1", weight="5"), ["body", "data", "weight"]),
    ]
    for payload, loc in cases:
        answer = post_event(client, payload)
        assert answer.status_code == 422, (payload, answer.text)
        locs = [d["loc"][: len(loc)] for d in answer.json()["detail"]]  # union members deeper
        assert loc in locs, (payload, answer.json())
    assert plant_state(client)["pending_events"] == 0
    assert plant_state(client)["version"] == 1
    # the old secret of a rotation still verifies; replay returns the first answer
    first = post_event(client, down, secret=OLD_SECRET, msg_id="msg_rot")
    assert first.status_code == 202, first.text
    again = post_event(client, down, secret=SECRET, msg_id="msg_rot")
    assert (again.status_code, again.json()) == (202, first.json())
    state = wait_quiet(client)
    assert state["downtimes"] == [["M3", 2, 10]], state
    _, problem, rows = version(client, state["version"])
    assert validate(problem, rows) == []
    assert all(r.end <= 2 or r.busy_from >= 10 for r in rows if r.machine == "M3")


def test_event_types_coalesce_into_one_reschedule(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a window wide enough for the whole burst even on a loaded machine
    monkeypatch.setenv("APS_PLANT_COALESCE_SECONDS", "3")
    load(client)
    base, _, rows = version(client, 1)
    first = min(rows, key=lambda r: (r.start, str(r.job)))
    new_job = {
        "id": "O9",
        "due": 40,
        "operations": [{"id": "a", "modes": [{"machine": "M2", "duration": 3}]}],
    }
    burst = [
        event(
            "operation.completed",
            order=str(first.job),
            operation=str(first.op),
            machine=str(first.machine),
            started_at=first.start,
            completed_at=first.end + 1,
        ),
        event("order.created", job=new_job),
        event("order.cancelled", order="O3"),
        event("order.updated", order="O2", due=25, weight=3),
        event("material.received", material="RAW", quantity=5, at=8),
        event("calendar.changed", machine="M2", unavailable=[{"from": 50, "until": 60}]),
        event("machine.down", machine="M1", **{"from": 7}),
        event("machine.up", machine="M1", at=12, timestamp="2026-03-02T08:05:00+00:00"),
    ]
    for i, payload in enumerate(burst):
        answer = post_event(client, payload, msg_id=f"msg_burst_{i}")
        assert answer.status_code == 202, (payload, answer.text)
    # an older update of O2 after the newer one is stale: accepted, not applied
    stale = post_event(
        client,
        event("order.updated", order="O2", due=99, timestamp="2026-03-01T08:00:00+00:00"),
    )
    assert stale.status_code == 200 and stale.json()["status"] == "stale"
    state = wait_quiet(client)
    listing = client.get("/v1/plant/schedules", headers=headers()).json()["data"]
    repairs = [v for v in listing if v["phase"] == "greedy"]
    assert len(repairs) == 1, listing  # the burst was one reschedule
    _, problem, rows = version(client, state["version"])
    assert validate(problem, rows) == []
    jobs = {str(j.id): j for j in problem.jobs}
    assert "O9" in jobs and "O3" not in jobs
    assert (jobs["O2"].due, jobs["O2"].weight) == (25, 3)
    assert [(r.time, r.quantity) for r in problem.materials[0].receipts] == [(8, 5)]
    assert state["downtimes"] == [["M1", 7, 12]], state
    done = {(r.job, r.op): r for r in rows}[(first.job, first.op)]
    assert (done.start, done.end) == (first.start, first.end + 1)
    assert all(r.end <= 7 or r.busy_from >= 12 for r in rows if r.machine == "M1")
    assert all(r.end <= 50 or r.busy_from >= 60 for r in rows if r.machine == "M2")
    assert "O3" not in {str(r.job) for r in rows} and "O9" in {str(r.job) for r in rows}
    assert base["version"] == 1


def test_reschedule_endpoint_and_tenant_secrets(client: TestClient) -> None:
    own = "whsec_" + "c2VjcmV0LXRlbmFudC1vd24tMDEyMzQ1Njc4OQ=="
    load(client, webhook_secrets=[own])
    plant = plant_state(client)
    assert plant["options"]["webhook_secrets"] == "1 configured"
    down = event("machine.down", machine="M1", **{"from": 3})
    assert post_event(client, down).status_code == 401  # the env secrets no longer apply
    assert post_event(client, down, secret=own).status_code == 202
    wait_quiet(client)
    answer = client.post("/v1/plant/reschedule", json={"now": 20}, headers=headers())
    assert answer.status_code == 202, answer.text
    state = wait_quiet(client)
    body, problem, rows = version(client, state["version"])
    assert validate(problem, rows) == []
    assert body["details"]["now"] == 20
    frozen = {(j, o) for j, o in body["details"]["frozen"]}
    assert all(r.start >= 20 or (r.job, r.op) in frozen for r in rows)
    bad = client.post("/v1/plant/reschedule", json={"now": "soon"}, headers=headers())
    assert bad.status_code == 422
    assert client.post("/v1/plant/reschedule", headers=headers("beta")).status_code == 404


def test_put_rejections_keep_the_plant(client: TestClient) -> None:
    load(client)
    bad = small_problem()
    bad["jobs"][0]["operations"][0]["modes"][0]["machine"] = "M9"
    answer = client.put("/v1/plant", json={"problem": bad}, headers=headers())
    assert answer.status_code == 422
    answer = client.put(
        "/v1/plant",
        json={"problem": small_problem(), "options": {"time_limit": 999}},
        headers=headers(),
    )
    assert answer.status_code == 422
    assert ["body", "options", "time_limit"] in [d["loc"] for d in answer.json()["detail"]]
    answer = client.put("/v1/plant", content=b"{nope", headers=headers())
    assert answer.status_code == 422
    state = plant_state(client)
    assert (state["version"], state["status"], state["orders"]) == (1, "published", 4)
    assert json.loads(client.get("/v1/plant/problem", headers=headers()).content)["name"] == "small"


def test_out_of_order_delivery(client: TestClient) -> None:
    load(client)
    _, _, rows = version(client, 1)
    first = min(rows, key=lambda r: (r.start, str(r.job)))
    later = "2026-03-02T09:00:00+00:00"
    # machine.up at 200 arrives and is applied before the machine.down at 100 it ends
    # (after the plan: a retroactive breakdown under running work is the core's case)
    assert (
        post_event(client, event("machine.up", machine="M2", at=200, timestamp=later)).status_code
        == 202
    )
    wait_quiet(client)
    down = post_event(client, event("machine.down", machine="M2", **{"from": 100}))
    assert down.status_code == 202
    state = wait_quiet(client)
    assert state["downtimes"] == [["M2", 100, 200]], state  # bounded by the up that came first
    # an up older than a known later down is stale; so is a start after the completion
    stale_up = post_event(client, event("machine.up", machine="M2", at=50))
    assert (stale_up.status_code, stale_up.json()["status"]) == (200, "stale")
    op = {"order": str(first.job), "operation": str(first.op), "machine": str(first.machine)}
    done = event("operation.completed", started_at=first.start, completed_at=first.end, **op)
    assert post_event(client, done, msg_id="msg_done").status_code == 202
    started = post_event(client, event("operation.started", at=first.start, **op))
    assert (started.status_code, started.json()["status"]) == (200, "stale")
    state = wait_quiet(client)
    assert state["downtimes"] == [["M2", 100, 200]], state
    inbox = client.get("/v1/plant/events", params={"status": "stale"}, headers=headers())
    assert len(inbox.json()["data"]) == 2
    _, problem, rows = version(client, state["version"])
    assert validate(problem, rows) == []


def test_upload_replaces_the_plant_and_keeps_history(client: TestClient) -> None:
    load(client)
    upload = client.put(
        "/v1/plant",
        files={"file": ("small.json", json.dumps(small_problem()).encode(), "application/json")},
        data={"options": json.dumps({"time_limit": 1})},
        headers=headers(),
    )
    assert upload.status_code == 202, upload.text
    state = wait_version(client, 2)
    assert state["status"] == "published" and state["version"] == 2
    csv = client.get("/v1/plant/schedule", params={"format": "csv"}, headers=headers())
    assert csv.status_code == 200 and csv.text.startswith("job,op,machine,setup_start,start,end")
    assert len(csv.text.strip().splitlines()) == 1 + 8
    html = client.get("/v1/plant/gantt.html", headers=headers())
    assert html.status_code == 200 and "plotly" in html.text.lower()
    versions = client.get("/v1/plant/schedules", headers=headers()).json()["data"]
    assert [(v["version"], v["phase"]) for v in versions] == [(2, "solved"), (1, "solved")]
    assert (
        client.get("/v1/plant/schedule", params={"version": 7}, headers=headers()).status_code
        == 404
    )
