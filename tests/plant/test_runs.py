"""Plant runs and their lease: a dead worker's run is recovered by the reaper (retried,
or failed once it keeps dying), and only the lease holder can publish."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

import aps
from aps import Problem
from aps.factory.compile import compile_plant
from aps.factory.model import Plant as FactoryPlant
from aps.live.apply import applied_downtimes, applied_now
from aps.reschedule.derive import META
from jobs import migrate
from jobs.db import Database
from jobs.outbox import PLANT_RUN_TASK
from jobs.plant.options import PlantOptions
from jobs.plant.publish import Version, publish
from jobs.plant.store import get_plant, parsed_problem, problem_summary, replace_plant
from jobs.tables import Outbox, Plant, PlantEvent, utcnow
from tests.plant.conftest import ClientFactory
from tests.plant.support import at, plant_body, post_event, version, wait_quiet, wait_version
from tests.service.support import headers, postgres_schema, wait_until

FT06 = Path(__file__).parents[1] / "service" / "data" / "ft06.json"


def _service_db(client: TestClient) -> Database:
    db: Database = client.app.state.service.db  # type: ignore[attr-defined]
    return db


def _ghost_holds_the_run(client: TestClient, lease_seconds: float, lost: int = 0) -> None:
    """As if a worker claimed the plant's run and died: its lease stays, nothing is
    staged (``run_queued`` keeps the next event from staging a run of its own)."""
    with _service_db(client).write() as session:
        session.execute(
            update(Plant).values(
                run_owner="ghost-host:4242:1",
                run_lease_expires_at=utcnow() + timedelta(seconds=lease_seconds),
                run_queued=True,
                run_lost=lost,
            )
        )


def _machine_down(client: TestClient) -> tuple[str, int]:
    """A signed machine.down for the busiest machine in the middle of its schedule."""
    _, problem, rows = version(client, 1)
    machine = max(
        {str(r.machine) for r in rows}, key=lambda m: sum(str(r.machine) == m for r in rows)
    )
    tick = sorted(r.start for r in rows if str(r.machine) == machine)[2] + 1
    event = {
        "type": "machine.down",
        "timestamp": at(problem, tick),
        "data": {"machine": machine, "from": at(problem, tick), "until": at(problem, tick + 240)},
    }
    r = post_event(client, event)
    assert r.status_code == 202, r.text
    with _service_db(client).write() as session:  # the dead run had taken the message
        session.execute(update(Plant).values(run_queued=False))
    return machine, tick


def _wait_published(client: TestClient, version: int) -> None:
    """Until ``version`` is published and nothing is pending or running."""
    state = wait_until(
        lambda: client.get("/v1/plant", headers=headers()).json(),
        lambda s: s["version"] >= version and s["pending_events"] == 0 and not s["running"],
        interval=0.2,
    )
    assert state["status"] == "published" and state["message"] is None, state


def test_reaper_retries_a_dead_run(client: TestClient) -> None:
    """Tests that a run whose worker died (lease held, nothing staged) is retried by the
    reaper once its lease expires, and its pending event is applied."""
    assert client.put("/v1/plant", json=plant_body(), headers=headers()).status_code == 202
    assert wait_version(client, 1)["status"] == "published"
    wait_quiet(client)
    _ghost_holds_the_run(client, lease_seconds=1.0)
    _machine_down(client)
    assert client.get("/v1/plant", headers=headers()).json()["pending_events"] == 1
    _wait_published(client, 2)
    with _service_db(client).read() as session:
        plant = session.scalar(select(Plant))
        assert plant is not None and plant.run_owner is None and plant.run_lost == 0
        events = list(session.scalars(select(PlantEvent)))
    assert [(e.type, e.status) for e in events] == [("machine.down", "applied")]


def test_reaper_gives_up_on_a_run_that_keeps_dying(client: TestClient) -> None:
    """Tests that the reaper fails the pending events of a plant whose runs died
    ``max_attempts`` times in a row, instead of staging yet another run."""
    assert client.put("/v1/plant", json=plant_body(), headers=headers()).status_code == 202
    assert wait_version(client, 1)["status"] == "published"
    wait_quiet(client)
    _ghost_holds_the_run(client, lease_seconds=2.0, lost=2)  # max_attempts is 3
    _machine_down(client)
    state = wait_until(
        lambda: client.get("/v1/plant", headers=headers()).json(),
        lambda s: s["pending_events"] == 0 and not s["running"],
        interval=0.2,
    )
    assert state["version"] == 1 and "lost 3 times" in (state["message"] or ""), state
    assert state["status"] == "published", "the published schedule stays published"
    with _service_db(client).read() as session:
        plant = session.scalar(select(Plant))
        assert plant is not None and plant.run_owner is None and plant.run_lost == 0
        statuses = [e.status for e in session.scalars(select(PlantEvent))]
    assert statuses == ["failed"]


def test_reaper_restages_a_run_whose_message_was_lost(client_factory: ClientFactory) -> None:
    """Tests that a run staged but never claimed (its broker message lost: the plant
    stays ``run_queued``, which keeps later events from staging runs) is staged again
    ``requeue_after`` seconds after its message went out, and the event is applied."""
    client = client_factory(allow_private_callbacks=True, requeue_after_seconds=2.0)
    assert client.put("/v1/plant", json=plant_body(), headers=headers()).status_code == 202
    assert wait_version(client, 1)["status"] == "published"
    wait_quiet(client)
    with _service_db(client).write() as session:  # staged, sent, lost on the way
        session.execute(update(Plant).values(run_queued=True))
    _, problem, rows = version(client, 1)
    tick = sorted(r.end for r in rows)[len(rows) // 2]
    event = {"type": "order.updated", "timestamp": at(problem, tick),
             "data": {"order": str(rows[-1].job), "weight": 7}}  # fmt: skip
    assert post_event(client, event).status_code == 202
    _wait_published(client, 2)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated store on both supported databases."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'aps.db'}"
        migrate.upgrade(url)
        db = Database(url)
        yield db
        db.dispose()
    else:
        with postgres_schema() as url:
            migrate.upgrade(url)
            db = Database(url)
            yield db
            db.dispose()


def test_only_the_lease_holder_publishes(database: Database) -> None:
    """Tests two competing publishers of the same plant state: the stale one (its lease
    expired and was taken over) is refused even before the holder publishes; the
    holder publishes once; racing threads publish exactly one version."""
    problem = Problem.model_validate(json.loads(FT06.read_text()))
    result = aps.solve(problem, time_limit=2.0, workers=1, seed=0)
    assert result.schedule
    with database.write() as session:
        plant = replace_plant(session, "acme", problem, None, PlantOptions())
        plant_id, state = plant.id, plant.state
        plant.run_owner = "stale-worker"
        plant.run_lease_expires_at = utcnow() - timedelta(seconds=1)
    with database.write() as session:  # a new run takes over the expired lease
        session.execute(
            update(Plant)
            .where(Plant.id == plant_id, Plant.run_lease_expires_at < utcnow())
            .values(run_owner="new-worker", run_lease_expires_at=utcnow() + timedelta(minutes=1))
        )
    version = Version(problem, result, phase="solved", cause="test")
    assert publish(database, plant_id, "stale-worker", state, version) is None
    assert publish(database, plant_id, "new-worker", state, version) == 1
    assert publish(database, plant_id, "stale-worker", state + 1, version) is None

    # racing: both at the same state, one of them the holder; exactly one version more
    won: dict[str, int | None] = {}
    barrier = threading.Barrier(2)

    def race(owner: str) -> None:
        barrier.wait()
        won[owner] = publish(database, plant_id, owner, state + 1, version)

    threads = [threading.Thread(target=race, args=(o,)) for o in ("stale-worker", "new-worker")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert won == {"stale-worker": None, "new-worker": 2}
    with database.read() as session:
        final = get_plant(session, "acme")
        assert final is not None and final.version == 2 and final.state == state + 2


def test_a_breakdown_stages_its_run_without_the_coalescing_delay(
    client_factory: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tests that a ``machine.down`` stages a run due at once, while an order update waits
    ``APS_PLANT_COALESCE_SECONDS`` (30 s here) so that a burst is one reschedule. Nothing
    runs here (no relay, no pool), so the staged messages stay as they were written."""
    monkeypatch.setenv("APS_PLANT_COALESCE_SECONDS", "30")  # read per event
    client = client_factory(background=False)
    assert client.put("/v1/plant", json=plant_body(), headers=headers()).status_code == 202
    problem = compile_plant(FactoryPlant.model_validate(plant_body()["plant"]))  # as stored
    job = problem.jobs[-1]
    machine = job.operations[0].modes[0].machine
    events = {
        "machine.down": {"machine": str(machine), "from": at(problem, 600),
                         "until": at(problem, 900)},
        "order.updated": {"order": str(job.id), "weight": 7},
    }  # fmt: skip
    delays = {}
    for kind, data in events.items():
        with _service_db(client).write() as session:  # as if the last run had been claimed
            session.execute(update(Plant).values(run_queued=False))
        answer = post_event(client, {"type": kind, "timestamp": at(problem, 600), "data": data})
        assert answer.status_code == 202, answer.text
        with _service_db(client).read() as session:
            row = session.scalars(select(Outbox).order_by(Outbox.id.desc())).first()
            assert row is not None and row.task == PLANT_RUN_TASK and row.sent_at is None
            delays[kind] = (row.available_at - row.created_at).total_seconds()
    assert delays == {"machine.down": 0.0, "order.updated": 30.0}


def test_the_problem_summary_agrees_with_the_problem() -> None:
    """Tests the status page's summary of a stored problem (read without building it)
    against the parsed problem: counts, and the live plant's applied downtimes and now."""
    problem = compile_plant(FactoryPlant.model_validate(plant_body()["plant"]))
    applied = {"now": 30, "downtimes": [["M", 3, None]]}
    derived = problem.model_copy(update={"metadata": {**problem.metadata, META: applied}})
    for p in (problem, derived):
        text = p.model_dump_json(exclude_defaults=True)
        summary = problem_summary(text)
        assert (len(summary.machines), len(summary.jobs)) == (len(p.machines), len(p.jobs))
        assert summary.num_operations == p.num_operations
        assert applied_now(summary) == applied_now(p) == (30 if p is derived else None)
        assert applied_downtimes(summary) == applied_downtimes(p)
        assert parsed_problem(text) == p and parsed_problem(text) is parsed_problem(text)
