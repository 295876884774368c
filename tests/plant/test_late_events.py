"""A late ``machine.down``: it occurred before the ``now`` of a published repair."""

from __future__ import annotations

from itertools import pairwise

from fastapi.testclient import TestClient

from aps.result import ScheduledOperation
from tests.plant.support import at, plant_body, post_event, version, wait_quiet, wait_version
from tests.plant.test_live_plant import _busy, check_repair
from tests.service.support import headers


def _earlier_work(rows: list[ScheduledOperation], other: str, t2: int) -> tuple[str, int]:
    """Another machine and a tick before ``t2`` inside a run followed by more work before
    ``t2`` (so the repair at ``t2`` pinned work the late breakdown prevented)."""
    best: tuple[int, str, int] | None = None
    for machine in sorted({str(r.machine) for r in rows} - {other}):
        mine = sorted((r for r in rows if str(r.machine) == machine), key=lambda r: r.start)
        for a, b in pairwise(mine):
            if b.start < t2 and a.end - a.start >= 2:
                count = sum(1 for r in mine if (a.start + a.end) // 2 <= r.start < t2)
                if best is None or count > best[0]:
                    best = (count, machine, (a.start + a.end) // 2)
                break
    assert best is not None, "no machine with two runs before the first breakdown"
    return best[1], best[2]


def test_late_machine_down_gets_a_valid_repair(client: TestClient) -> None:
    """Tests that a machine.down older than the last repair's now yields a published
    schedule that validates, keeps both machines idle in their downtimes and leaves
    frozen operations where they were."""
    assert client.put("/v1/plant", json=plant_body(), headers=headers()).status_code == 202
    assert wait_version(client, 1)["status"] == "published"
    _, problem1, rows1 = version(client, 1)
    machine2, t2 = _busy(rows1)
    until2 = t2 + 480
    down2 = {"machine": machine2, "from": at(problem1, t2), "until": at(problem1, until2)}
    event = {"type": "machine.down", "timestamp": at(problem1, t2), "data": down2}
    assert post_event(client, event).status_code == 202
    wait_version(client, 2)
    first = wait_quiet(client)["version"]
    _, _, rows_first = version(client, first)

    machine1, t1 = _earlier_work(rows_first, machine2, t2)
    until1 = t2 + 60
    down1 = {"machine": machine1, "from": at(problem1, t1), "until": at(problem1, until1)}
    late = post_event(
        client, {"type": "machine.down", "timestamp": at(problem1, t1), "data": down1}
    )
    assert late.status_code == 202, late.text
    state = wait_quiet(client)
    assert state["status"] == "published" and state["message"] is None, state
    assert sorted(state["downtimes"]) == sorted([[machine2, t2, until2], [machine1, t1, until1]]), (
        state
    )
    assert state["version"] > first, "the late event published nothing"
    previous = rows_first
    for v in range(first + 1, state["version"] + 1):
        body, problem, rows = version(client, v)
        assert body["details"]["now"] == t2, "a late event does not move now back"
        check_repair(previous, body, problem, rows, machine2, (t2, until2))
        check_repair(previous, body, problem, rows, machine1, (t1, until1))
        previous = rows
