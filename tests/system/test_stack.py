"""System tests: real ``aps serve``/``aps worker`` processes, Redis and PostgreSQL."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from aps import Problem, ScheduledOperation, validate
from jobs.broker import CeleryPublisher
from jobs.db import Database
from jobs.outbox import SOLVE_TASK, Message
from jobs.settings import DEV_API_KEY, Settings
from tests.service.support import TERMINAL, Receiver, headers, problem_json, wait_until
from tests.system.conftest import APS, WEBHOOK_SECRET, Stack, service_env

pytestmark = pytest.mark.system

FT06 = problem_json("ft06")
LA21 = problem_json("la21")


def submit(
    c: httpx.Client,
    problem: dict[str, Any],
    tenant: str = "acme",
    key: str | None = None,
    **options: Any,
) -> dict[str, Any]:
    hdrs = headers(tenant) if key is None else {"X-API-Key": key}
    r = c.post("/v1/jobs", json={"problem": problem, "options": options}, headers=hdrs)
    assert r.status_code == 202, r.text
    data: dict[str, Any] = r.json()
    return data


def get(c: httpx.Client, job_id: str, key: str | None = None) -> dict[str, Any]:
    r = c.get(f"/v1/jobs/{job_id}", headers=headers() if key is None else {"X-API-Key": key})
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def valid_schedule(
    c: httpx.Client, job_id: str, problem: dict[str, Any], key: str | None = None
) -> int:
    r = c.get(
        f"/v1/jobs/{job_id}/schedule", headers=headers() if key is None else {"X-API-Key": key}
    )
    assert r.status_code == 200, r.text
    rows = [
        ScheduledOperation(**{k: o[k] for k in ("job", "op", "machine", "start", "end")})
        for o in r.json()["operations"]
    ]
    assert validate(Problem.model_validate(problem), rows) == []
    return max(row.end for row in rows)


def test_celery_worker_solves_ft06_on_postgres(celery_stack: Stack) -> None:
    """Tests the production path: API enqueues, a separate worker solves ft06 to 55."""
    receiver = Receiver([200])
    with celery_stack.client() as c:
        assert c.get("/readyz").json()["broker"] == "ok"
        job_id = submit(c, FT06, time_limit=2, callback_url=receiver.url)["id"]
        state = wait_until(lambda: get(c, job_id), lambda j: j["status"] in TERMINAL)
        assert state["status"] == "succeeded", state
        assert state["makespan"] == 55 and state["attempts"] == 1
        assert valid_schedule(c, job_id, FT06) == 55
        # Tenant isolation and idempotency across the real stack.
        assert c.get(f"/v1/jobs/{job_id}", headers=headers("beta")).status_code == 404
        body = {"problem": FT06, "options": {"time_limit": 2}}
        key = headers(**{"Idempotency-Key": "erp-42"})
        a = c.post("/v1/jobs", json=body, headers=key)
        b = c.post("/v1/jobs", json=body, headers=key)
        assert a.status_code == b.status_code == 202 and a.json() == b.json()
        wait_until(lambda: get(c, a.json()["id"]), lambda j: j["status"] in TERMINAL)
        assert c.get("/v1/jobs", headers=headers()).json()["count"] == 2
        assert 'aps_jobs{status="succeeded"} 2.0' in c.get("/metrics").text
    # The worker delivered one signed callback (notify queue).
    wait_until(lambda: {"calls": len(receiver.calls)}, lambda s: s["calls"] >= 1)
    receiver.close()
    assert len(receiver.calls) == 1
    # Each message reached exactly one queue: two solves and one callback, no twins.
    lines = celery_stack.procs[1].text().splitlines()
    assert sum("aps.solve[" in x and "received" in x for x in lines) == 2
    assert sum("aps.notify[" in x and "received" in x for x in lines) == 1
    call_headers, call_body, _ = receiver.calls[0]
    event = Webhook(WEBHOOK_SECRET).verify(call_body, call_headers)
    assert event["data"]["id"] == job_id and event["data"]["makespan"] == 55


def test_celery_cancel_mid_solve_keeps_incumbent(celery_stack: Stack) -> None:
    """Tests that cancel stops a worker's solve early and the best schedule is kept."""
    with celery_stack.client() as c:
        limit = (
            60  # the tests' maximum, far beyond a first incumbent: only the cancel ends it early
        )
        job_id = submit(c, LA21, time_limit=limit, workers=1)["id"]
        wait_until(
            lambda: get(c, job_id),
            lambda j: j["status"] == "running" and j["progress"]["objective"],
        )
        assert c.post(f"/v1/jobs/{job_id}/cancel", headers=headers()).status_code == 202
        state = wait_until(lambda: get(c, job_id), lambda j: j["status"] in TERMINAL)
        assert state["status"] == "cancelled" and state["solve_status"] == "FEASIBLE"
        assert state["solve_seconds"] < limit / 2
        assert valid_schedule(c, job_id, LA21) == state["makespan"]


def test_duplicate_delivery_commits_once(celery_stack: Stack, pg_url: str, redis_url: str) -> None:
    """Tests that a message published twice yields one schedule and one succeeded event."""
    from sqlalchemy import func, select

    from jobs.tables import JobEvent, Schedule

    publisher = CeleryPublisher(Settings(database_url=pg_url, broker_url=redis_url))
    with celery_stack.client() as c:
        job_id = submit(c, FT06, time_limit=2)["id"]
        publisher.publish(Message(0, SOLVE_TASK, job_id, {"time_limit": 2}))
        wait_until(lambda: get(c, job_id), lambda j: j["status"] in TERMINAL)
        time.sleep(1.0)  # let the second delivery run (and do nothing)
    publisher.close()
    db = Database(pg_url)
    with db.read() as s:
        assert (
            s.scalar(select(func.count()).select_from(Schedule).where(Schedule.job_id == job_id))
            == 1
        )
        assert (
            s.scalar(
                select(func.count())
                .select_from(JobEvent)
                .where(JobEvent.job_id == job_id, JobEvent.status == "succeeded")
            )
            == 1
        )
    db.dispose()
    worker_log = celery_stack.procs[1].text()
    assert worker_log.count("aps.solve[") >= 2, "both deliveries reached the worker"
    assert f"job {job_id}: gone" in worker_log or f"job {job_id} not run" in worker_log


def test_killed_worker_job_is_recovered_by_the_reaper(celery_stack: Stack, pg_url: str) -> None:
    """Tests SIGKILL of the whole worker mid-solve: a new worker finishes it, attempt 2.

    ``retrying`` can last less than one poll (the reaper re-queues and the new worker takes
    the job at once), so the durable status history is what shows it, not the polls.
    """
    from sqlalchemy import select

    from jobs.tables import JobEvent

    seen: list[str] = []
    with celery_stack.client() as c:
        job_id = submit(c, LA21, time_limit=4, workers=1)["id"]

        def poll() -> dict[str, Any]:
            state = get(c, job_id)
            seen.append(state["status"])
            return state

        wait_until(poll, lambda j: j["status"] == "running")
        celery_stack.procs[1].kill(signal.SIGKILL)
        celery_stack.procs[1].popen.wait(timeout=10)
        celery_stack.start_worker()
        state = wait_until(poll, lambda j: j["status"] in TERMINAL)
    assert state["status"] == "succeeded", state
    assert state["attempts"] == 2
    db = Database(pg_url)
    try:
        with db.read() as s:
            history = list(
                s.scalars(
                    select(JobEvent.status)
                    .where(JobEvent.job_id == job_id, JobEvent.kind == "status")
                    .order_by(JobEvent.id)
                )
            )
    finally:
        db.dispose()
    assert history == ["queued", "running", "retrying", "running", "succeeded"], history
    ranks = {"queued": 0, "running": 1, "retrying": 1}
    levels = [ranks.get(s, 2) for s in seen]
    assert levels == sorted(levels), f"status went backwards: {seen}"
    with celery_stack.client() as c:
        valid_schedule(c, job_id, LA21)


def test_embedded_serve_without_redis(tmp_path: Path) -> None:
    """Tests `aps serve` with no configuration: SQLite, in-process pool, the dev key."""
    env = service_env(APS_DATABASE_URL=f"sqlite:///{tmp_path / 'aps.db'}")
    del env["APS_API_KEYS"]
    stack = Stack(env, tmp_path)
    try:
        api = stack.start_api()
        assert DEV_API_KEY in api.text()
        with stack.client() as c:
            assert c.get("/readyz").json()["broker"] == "embedded"
            job_id = submit(c, FT06, key=DEV_API_KEY, time_limit=2)["id"]
            state = wait_until(
                lambda: get(c, job_id, DEV_API_KEY), lambda j: j["status"] in TERMINAL
            )
            assert state["status"] == "succeeded" and state["makespan"] == 55
            assert valid_schedule(c, job_id, FT06, DEV_API_KEY) == 55
    finally:
        stack.stop()


def test_submission_survives_a_broker_outage(pg_url: str, tmp_path: Path) -> None:
    """Tests the outbox: with Redis down POST still answers 202; the job runs once later."""
    import shutil
    import subprocess

    from sqlalchemy import select

    from jobs.tables import Outbox
    from tests.service.support import free_port, unavailable

    server = shutil.which("redis-server")
    if server is None:  # skipped locally, a failure in CI (CI=true)
        unavailable("redis-server binary not found: install it with `apt-get install redis`")
        return
    port = free_port()
    env = service_env(APS_DATABASE_URL=pg_url, APS_BROKER_URL=f"redis://127.0.0.1:{port}/0")
    stack = Stack(env, tmp_path)
    redis_proc: subprocess.Popen[bytes] | None = None
    try:
        stack.api = stack._start("api", [APS, "serve", "--port", str(stack.port)])
        with stack.client() as c:
            ready = wait_until(lambda: _probe(c), lambda r: r.get("database") == "ok")
            assert ready["broker"].startswith("error")
            job_id = submit(c, FT06, time_limit=2)["id"]
            db = Database(pg_url)

            def outbox_error() -> dict[str, Any]:
                with db.read() as s:
                    return {
                        "error": s.scalar(
                            select(Outbox.last_error).where(
                                Outbox.job_id == job_id, Outbox.task == SOLVE_TASK
                            )
                        )
                    }

            failed = wait_until(outbox_error, lambda o: o["error"] is not None)
            assert "Error" in failed["error"]  # the relay tried, failed and kept the row
            db.dispose()
            assert get(c, job_id)["status"] == "queued"
            redis_proc = subprocess.Popen(
                [
                    server,
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--maxmemory-policy",
                    "noeviction",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            stack.start_worker()
            state = wait_until(lambda: get(c, job_id), lambda j: j["status"] in TERMINAL)
            assert state["status"] == "succeeded" and state["attempts"] == 1
        db = Database(pg_url)
        with db.read() as s:
            rows = s.scalars(select(Outbox).where(Outbox.job_id == job_id)).all()
        db.dispose()
        solve_rows = sorted((r for r in rows if r.task == SOLVE_TASK), key=lambda r: r.id)
        # on a loaded machine the reaper may stage one more message for a job still queued
        # after APS_REQUEUE_AFTER_SECONDS; that is harmless (attempts == 1 above) and allowed
        assert 1 <= len(solve_rows) <= 2 and all(r.sent_at is not None for r in solve_rows)
        assert solve_rows[0].publish_attempts >= 2, "the first publish failed and was retried"
    finally:
        stack.stop()
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(timeout=10)


def _probe(c: httpx.Client) -> dict[str, Any]:
    try:
        data: dict[str, Any] = c.get("/readyz").json()
        return data
    except httpx.HTTPError:
        return {}


def test_child_that_always_dies_ends_failed_worker_lost(
    celery_stack: Stack, redis_url: str
) -> None:
    """Tests a pool child killed on every attempt: failed(worker_lost), no message loop."""
    import redis

    celery_stack.procs[1].stop()  # replace the healthy worker with a faulty one
    faulty = celery_stack.start_worker(env={"APS_TEST_FAULT": "kill_child"})
    with celery_stack.client() as c:
        job_id = submit(c, FT06, time_limit=2)["id"]
        state = wait_until(lambda: get(c, job_id), lambda j: j["status"] in TERMINAL)
        assert (state["status"], state["reason"]) == ("failed", "worker_lost")
        assert state["attempts"] == 2  # APS_MAX_ATTEMPTS in service_env
        faulty.stop()
        assert "SIGKILL" in faulty.text() or "WorkerLostError" in faulty.text()
        celery_stack.start_worker()
        other = submit(c, FT06, time_limit=2)["id"]
        done = wait_until(lambda: get(c, other), lambda j: j["status"] in TERMINAL)
        assert done["status"] == "succeeded"
        assert get(c, job_id)["status"] == "failed"  # terminal states absorb
    client = redis.Redis.from_url(redis_url)
    assert client.llen("solve") == 0, "no message is left looping"
    client.close()


def test_jobs_survive_redis_losing_its_data(celery_stack: Stack, redis_url: str) -> None:
    """Tests Redis losing every message: queued jobs are re-published and run once."""
    import redis

    celery_stack.procs[1].stop()  # no worker: the messages wait in Redis
    with celery_stack.client() as c:
        ids = [submit(c, FT06, time_limit=2)["id"] for _ in range(3)]
        client = redis.Redis.from_url(redis_url)
        wait_until(lambda: {"depth": client.llen("solve")}, lambda d: d["depth"] == 3)
        client.flushdb()  # what a restart without persistence does
        client.close()
        started = time.monotonic()
        celery_stack.start_worker()
        for job_id in ids:

            def fetch(j: str = job_id) -> dict[str, Any]:
                return get(c, j)

            state = wait_until(fetch, lambda j: j["status"] in TERMINAL)
            assert state["status"] == "succeeded" and state["attempts"] == 1
        # Recovered within a few leases (3 s here), not by the 10-minute backstop.
        assert time.monotonic() - started < 300
