"""The same machine-down story against real processes: ``aps serve`` + ``aps worker``
(prefork) on Redis and PostgreSQL; the reschedule runs in the worker subprocess."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.plant.support import (
    OLD_SECRET,
    SECRET,
    at,
    plant_body,
    post_event,
    version,
    wait_quiet,
    wait_version,
)
from tests.plant.test_live_plant import _busy, check_repair
from tests.service.support import flush_redis, headers, postgres_schema, require_redis
from tests.system.conftest import Stack, service_env


@pytest.fixture
def plant_stack(tmp_path: Path) -> Iterator[Stack]:
    redis_url = require_redis()
    with postgres_schema() as pg_url:
        env = service_env(
            APS_DATABASE_URL=pg_url,
            APS_BROKER_URL=redis_url,
            APS_WEBHOOK_SECRETS=f"{OLD_SECRET},{SECRET}",
            APS_PLANT_COALESCE_SECONDS="0.3",
        )
        stack = Stack(env, tmp_path)
        try:
            stack.start_api()
            stack.start_worker()
            yield stack
        finally:
            stack.stop()
            flush_redis()


def test_machine_down_with_a_real_worker(plant_stack: Stack) -> None:
    with plant_stack.client() as client:
        put = client.put("/v1/plant", json=plant_body(), headers=headers())
        assert put.status_code == 202, put.text
        state = wait_version(client, 1)
        assert state["status"] == "published", state
        _, problem1, rows1 = version(client, 1)
        machine, tick = _busy(rows1)
        until = tick + 480
        event = {
            "type": "machine.down",
            "timestamp": at(problem1, tick),
            "data": {"machine": machine, "from": at(problem1, tick), "until": at(problem1, until)},
        }
        first = post_event(client, event, msg_id="msg_sys_down")
        assert first.status_code == 202, first.text
        wait_version(client, 2)
        state = wait_quiet(client)
        previous = rows1
        for v in range(2, state["version"] + 1):
            body, problem, rows = version(client, v)
            check_repair(previous, body, problem, rows, machine, (tick, until))
            previous = rows
        again = post_event(client, event, msg_id="msg_sys_down")
        assert again.status_code == 202 and again.json() == first.json()
        after = wait_quiet(client)
        assert after["version"] == state["version"]
        assert after["downtimes"] == [[machine, tick, until]]
    worker_log = "".join(p.text() for p in plant_stack.procs if p.name == "worker")
    assert "aps.plant.run" in worker_log
