"""Tests of the deployment files (no Docker engine runs here: they are read and parsed)
and of the queue routing they rely on."""

from __future__ import annotations

from pathlib import Path

import yaml

from jobs.broker import celery_config
from jobs.outbox import PLANT_NOTIFY_TASK, PLANT_RUN_TASK, QUEUES, ROUTES, SOLVE_TASK
from jobs.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_every_task_has_a_queue_of_its_own_kind() -> None:
    """Tests that solves, plant runs and callbacks go to separate queues, each routed."""
    assert QUEUES == ("solve", "plant", "notify")
    assert ROUTES[SOLVE_TASK] == "solve" and ROUTES[PLANT_RUN_TASK] == "plant"
    assert ROUTES[PLANT_NOTIFY_TASK] == "notify"
    config = celery_config(Settings(broker_url="redis://127.0.0.1:6379/0"))
    assert {q.name for q in config["task_queues"]} == set(QUEUES)
    assert set(config["task_routes"]) == set(ROUTES)


def test_compose_has_every_service_and_builds_its_image() -> None:
    """Tests docker/compose.yml: the API, a solve worker, a plant+notify worker, the
    relay, a one-shot migration, Redis and PostgreSQL; every service on the aps image
    can build it; nothing starts before the migration succeeded."""
    compose = yaml.safe_load((ROOT / "docker" / "compose.yml").read_text())
    services = compose["services"]
    assert set(services) >= {
        "api", "worker-solve", "worker-plant", "relay", "migrate", "redis", "postgres",
    }  # fmt: skip
    ours = [name for name, s in services.items() if s.get("image", "").startswith("aps")]
    assert set(ours) == {"api", "worker-solve", "worker-plant", "relay", "migrate"}
    for name in ours:
        assert "build" in services[name], name
        if name != "migrate":
            depends = services[name]["depends_on"]
            assert depends["migrate"]["condition"] == "service_completed_successfully", name
    assert "solve" in " ".join(services["worker-solve"]["command"])
    assert "plant,notify" in " ".join(services["worker-plant"]["command"])
    assert services["relay"]["command"][:2] == ["aps", "relay"]


def test_image_installs_every_extra_a_job_can_ask_for() -> None:
    """Tests docker/Dockerfile: the MILP extra (solver=milp|plan) and alembic.ini."""
    text = (ROOT / "docker" / "Dockerfile").read_text()
    assert ".[service,factory,milp]" in text
    assert "alembic.ini" in text
