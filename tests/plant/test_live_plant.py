"""End to end in embedded mode (SQLite): load the example plant, publish, break a busy
machine with a signed ``machine.down``, check the repaired schedule, replay the event."""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi.testclient import TestClient

from aps.result import ScheduledOperation
from aps.validate import validate
from tests.plant.support import (
    at,
    plant_body,
    post_event,
    version,
    wait_quiet,
    wait_version,
)
from tests.service.support import headers


def _busy(rows: list[ScheduledOperation]) -> tuple[str, int]:
    """A machine and a tick in the middle of one of its runs, after some work started."""
    by_machine = Counter(str(r.machine) for r in rows)
    machine = by_machine.most_common(1)[0][0]
    mine = sorted((r for r in rows if str(r.machine) == machine), key=lambda r: r.start)
    row = mine[len(mine) // 3]
    return machine, (row.start + row.end) // 2


def check_repair(
    before: list[ScheduledOperation],
    body: dict[str, Any],
    problem: Any,
    rows: list[ScheduledOperation],
    machine: str,
    down: tuple[int, int],
) -> None:
    assert validate(problem, rows) == [], "the published schedule is invalid"
    for r in rows:
        if str(r.machine) == machine:
            assert r.end <= down[0] or r.busy_from >= down[1], f"{r} runs in the downtime"
    old = {(r.job, r.op): r for r in before}
    new = {(r.job, r.op): r for r in rows}
    interrupted = set(body["details"]["interrupted"])
    for job, op in body["details"]["frozen"]:
        if f"{job}/{op}" not in interrupted:
            assert new[(job, op)] == old[(job, op)], f"frozen {job}/{op} moved"
    moved = {(m["job"], m["op"]): m for m in body["diff"]["moved"]}
    for key, m in moved.items():
        assert (m["old_machine"], m["old_start"]) == (old[key].machine, old[key].start)
        assert (m["new_machine"], m["new_start"]) == (new[key].machine, new[key].start)
        assert m["reason"] in (
            "on_failed_machine",
            "pushed_by_predecessor",
            "displaced_by_conflict",
            "improved",
        )
    changed = {
        k
        for k in old.keys() & new.keys()
        if (old[k].machine, old[k].start) != (new[k].machine, new[k].start)
    }
    assert changed == set(moved), "the diff does not list exactly the moved operations"


def test_machine_down_end_to_end(client: TestClient) -> None:
    put = client.put("/v1/plant", json=plant_body(), headers=headers())
    assert put.status_code == 202, put.text
    assert put.json()["status"] == "solving"
    state = wait_version(client, 1)
    assert state["status"] == "published", state
    body1, problem1, rows1 = version(client, 1)
    assert body1["phase"] == "solved" and validate(problem1, rows1) == []
    gantt = client.get("/v1/plant/gantt", headers=headers())
    assert gantt.status_code == 200 and len(gantt.json()) >= len(rows1)

    machine, tick = _busy(rows1)
    until = tick + 480
    event = {
        "type": "machine.down",
        "timestamp": at(problem1, tick),
        "data": {"machine": machine, "from": at(problem1, tick), "until": at(problem1, until)},
    }
    first = post_event(client, event, msg_id="msg_down_1")
    assert first.status_code == 202, first.text
    assert first.json()["status"] == "accepted"

    state = wait_version(client, 2)
    state = wait_quiet(client)
    latest = state["version"]
    assert latest >= 2 and state["downtimes"] == [[machine, tick, until]], state
    previous = rows1
    for v in range(2, latest + 1):
        body, problem, rows = version(client, v)
        assert body["phase"] in ("greedy", "improved")
        check_repair(previous, body, problem, rows, machine, (tick, until))
        previous = rows
    greedy, _, _ = version(client, 2)
    assert greedy["phase"] == "greedy" and greedy["details"]["events"] == ["msg_down_1"]
    assert any(m["reason"] == "on_failed_machine" for m in greedy["diff"]["moved"])
    assert greedy["details"]["frozen"], "work started before the breakdown stays pinned"
    listing = client.get("/v1/plant/schedules", headers=headers()).json()["data"]
    assert [v["version"] for v in listing] == list(range(latest, 0, -1))

    # the same event again: the original answer, no second effect
    again = post_event(client, event, msg_id="msg_down_1")
    assert again.status_code == 202 and again.json() == first.json()
    assert again.headers["webhook-replayed"] == "true"
    state = wait_quiet(client)
    assert state["version"] == latest and state["downtimes"] == [[machine, tick, until]]

    # a new plant-JSON order from the ERP is compiled and scheduled by the next repair
    order = {"id": "SA-900", "product": "FRAME", "quantity": 10, "due": at(problem1, until)}
    bad = post_event(
        client,
        {
            "type": "order.created",
            "timestamp": at(problem1, until),
            "data": {"order": {**order, "product": "NOPE"}},
        },
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == [
        "body",
        "data",
        "order",
        "product",
    ]
    created = post_event(
        client,
        {"type": "order.created", "timestamp": at(problem1, until), "data": {"order": order}},
        msg_id="msg_new_order",
    )
    assert created.status_code == 202, created.text
    state = wait_quiet(client)
    _, problem, rows = version(client, state["version"])
    assert validate(problem, rows) == []
    assert {r.job for r in rows if r.job == "SA-900"} == {"SA-900"}
    assert min(r.start for r in rows if r.job == "SA-900") >= until
    latest = state["version"]
    inbox = client.get("/v1/plant/events", headers=headers()).json()["data"]
    assert [(e["webhook_id"], e["status"]) for e in inbox] == [
        ("msg_new_order", "applied"),
        ("msg_down_1", "applied"),
    ]
    assert inbox[1]["applied_version"] == 2

    # another tenant sees no plant
    assert client.get("/v1/plant", headers=headers("beta")).status_code == 404
    assert client.get("/v1/plant/schedule", headers=headers("beta")).status_code == 404
