"""System tests of process faults: SIGTERM mid-solve, a solve that overruns its hard
time limit, and a crash between the database commit and the publish.

Real ``aps serve`` / ``aps worker`` processes on Redis and PostgreSQL, as in
``test_stack.py``; signals go to recorded process ids, crashes to armed crash points.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from jobs.db import Database
from jobs.faults import AFTER_SUBMIT_COMMIT, BEFORE_PUBLISH, CRASH_EXIT
from jobs.outbox import SOLVE_QUEUE, SOLVE_TASK
from jobs.tables import Attempt, JobEvent, Outbox
from tests.service.support import EVENTUALLY, TERMINAL, headers, wait_until
from tests.system.conftest import Proc, Stack, service_env
from tests.system.test_stack import FT06, LA21, get, submit, valid_schedule

pytestmark = pytest.mark.system

RANKS = {"queued": 0, "running": 1, "retrying": 1}


class Watch:
    """Polls one job and keeps every status seen, to check it never went backwards."""

    def __init__(self, c: httpx.Client, job_id: str) -> None:
        self.c, self.job_id, self.seen = c, job_id, list[str]()

    def __call__(self) -> dict[str, Any]:
        state = get(self.c, self.job_id)
        self.seen.append(state["status"])
        return state

    def assert_never_regressed(self) -> None:
        levels = [RANKS.get(s, 2) for s in self.seen]
        assert levels == sorted(levels), f"status went backwards: {self.seen}"


def ledger(pg_url: str, job_id: str) -> dict[str, Any]:
    """What the database holds about one job: events, attempts and its solve messages."""
    db = Database(pg_url)
    try:
        with db.read() as s:
            succeeded = s.scalar(
                select(func.count())
                .select_from(JobEvent)
                .where(JobEvent.job_id == job_id, JobEvent.status == "succeeded")
            )
            attempts = s.scalars(
                select(Attempt.outcome).where(Attempt.job_id == job_id).order_by(Attempt.number)
            ).all()
            solves = s.execute(
                select(Outbox.sent_at, Outbox.publish_attempts).where(
                    Outbox.job_id == job_id, Outbox.task == SOLVE_TASK
                )
            ).all()
    finally:
        db.dispose()
    return {"succeeded_events": succeeded, "attempts": list(attempts), "solves": solves}


def solve_queue_depth(redis_url: str) -> int:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        return int(client.llen(SOLVE_QUEUE))
    finally:
        client.close()


# -- SIGTERM during a solve --------------------------------------------------------------


@pytest.mark.parametrize("target", ["main", "group"])
def test_sigterm_mid_solve_finishes_the_job_once(
    celery_stack: Stack, pg_url: str, target: str
) -> None:
    """Tests SIGTERM to a worker mid-solve: the job ends ``succeeded`` exactly once.

    ``main`` is what Docker, Kubernetes and ``celery multi`` send (warm shutdown: the
    solve finishes before the worker exits); ``group`` also hits the pool child, as
    systemd's default KillMode does, so the job is handed on to the next worker.
    """
    worker = celery_stack.procs[1]
    with celery_stack.client() as c:
        job_id = submit(c, LA21, time_limit=5, workers=1)["id"]
        poll = Watch(c, job_id)
        wait_until(poll, lambda j: j["status"] == "running")
        if target == "main":
            os.kill(worker.pid, signal.SIGTERM)
        else:
            worker.kill(signal.SIGTERM)
        worker.popen.wait(timeout=EVENTUALLY)
        if target == "main":
            # Warm shutdown: the worker waited for the solve and committed it.
            assert worker.popen.returncode == 0, worker.text()
            assert poll()["status"] == "succeeded", worker.text()
        celery_stack.start_worker()
        state = wait_until(poll, lambda j: j["status"] in TERMINAL)
        valid_schedule(c, job_id, LA21)
        time.sleep(2.0)  # room for a stray second delivery to (wrongly) commit
        assert poll()["status"] == "succeeded"
    assert state["status"] == "succeeded", state
    poll.assert_never_regressed()
    book = ledger(pg_url, job_id)
    assert book["succeeded_events"] == 1, book
    assert book["attempts"].count("succeeded") == 1, book
    if target == "main":
        assert state["attempts"] == 1 and book["attempts"] == ["succeeded"], book


# -- hard time limit overrun --------------------------------------------------------------


@pytest.fixture
def tight_limits_stack(redis_url: str, pg_url: str, tmp_path: Path) -> Iterator[Stack]:
    """API + one worker whose Celery limits are the job's time_limit + 1 s (soft), + 3 s
    (hard); the worker hangs every job named ``hang`` (``APS_TEST_FAULT_JOB``)."""
    env = service_env(
        APS_DATABASE_URL=pg_url,
        APS_BROKER_URL=redis_url,
        APS_SOFT_TIME_LIMIT_MARGIN="1",
        APS_HARD_TIME_LIMIT_MARGIN="3",
        APS_TEST_FAULT_JOB="hang",
    )
    stack = Stack(env, tmp_path)
    try:
        stack.start_api()
        yield stack
    finally:
        stack.stop()


@pytest.mark.parametrize("fault", ["hang", "hang_native"])
def test_solve_overrunning_its_time_limit_fails_with_timeout(
    tight_limits_stack: Stack, pg_url: str, fault: str
) -> None:
    """Tests a solve that never returns: ``failed(timeout)`` after one attempt, no retry
    loop, and the same worker then solves the next job.

    ``hang`` is stopped by Celery's soft limit (an exception in the task); ``hang_native``
    ignores it, as native code would, and is killed at the hard limit.
    """
    stack = tight_limits_stack
    worker = stack.start_worker(env={"APS_TEST_FAULT": fault})
    with stack.client() as c:
        job_id = submit(c, {**FT06, "name": "hang"}, time_limit=1)["id"]
        poll = Watch(c, job_id)
        state = wait_until(poll, lambda j: j["status"] in TERMINAL)
        assert (state["status"], state["reason"]) == ("failed", "timeout"), state
        assert "time limit" in state["message"], state
        if fault == "hang_native":
            assert "Hard time limit" in worker.text()
        # No second attempt: not now, and not after the lease and a reaper pass either.
        time.sleep(4.0)
        state = poll()
        assert (state["status"], state["attempts"]) == ("failed", 1), state
        # The same worker process (a fresh pool child after a hard kill) serves on.
        other = submit(c, FT06, time_limit=2)["id"]
        done = wait_until(lambda: get(c, other), lambda j: j["status"] in TERMINAL)
        assert done["status"] == "succeeded" and done["makespan"] == 55, done
        assert worker.popen.poll() is None and len(stack.procs) == 2
    poll.assert_never_regressed()
    book = ledger(pg_url, job_id)
    assert book["attempts"] == ["failed"], book
    assert len(book["solves"]) == 1, "the overrun job was never re-published"


# -- crash between the database commit and the publish ------------------------------------


def start_api_with(stack: Stack, **env: str) -> Proc:
    saved = stack.env
    stack.env = {**saved, **env}
    try:
        return stack.start_api()
    finally:
        stack.env = saved


@pytest.mark.parametrize("point", [AFTER_SUBMIT_COMMIT, BEFORE_PUBLISH])
def test_crash_between_commit_and_publish_still_runs_the_job_once(
    redis_url: str, pg_url: str, tmp_path: Path, point: str
) -> None:
    """Tests the outbox: the API dies after the job's commit and before its publish (in
    the request, or in the relay after claiming the row). The job survives, another
    relay publishes it, it runs once, and the client gets its id back by replaying its
    Idempotency-Key."""
    # The API's relay runs only when a submission wakes it: no worker relay is up yet.
    stack = Stack(service_env(APS_DATABASE_URL=pg_url, APS_BROKER_URL=redis_url), tmp_path)
    body = {"problem": FT06, "options": {"time_limit": 2}}
    key = headers(**{"Idempotency-Key": f"crash-{point}"})
    try:
        api = start_api_with(stack, APS_TEST_FAULT=point, APS_RELAY_INTERVAL_SECONDS="60")
        first: dict[str, Any] | None = None
        with stack.client() as c:
            try:
                r = c.post("/v1/jobs", json=body, headers=key)
                assert r.status_code == 202, r.text
                first = r.json()
            except httpx.TransportError:
                pass  # the process died before answering
        assert api.popen.wait(timeout=20) == CRASH_EXIT, api.text()
        if point == AFTER_SUBMIT_COMMIT:
            assert first is None, "the crash precedes the response"
        assert solve_queue_depth(redis_url) == 0, "nothing reached the broker"

        worker = stack.start_worker()  # its relay publishes what the dead API left
        start_api_with(stack)
        with stack.client() as c:
            r = c.post("/v1/jobs", json=body, headers=key)
            assert r.status_code == 202 and r.headers.get("Idempotent-Replayed") == "true"
            job_id = r.json()["id"]
            assert first is None or first["id"] == job_id
            assert c.get("/v1/jobs", headers=headers()).json()["count"] == 1
            state = wait_until(lambda: get(c, job_id), lambda j: j["status"] in TERMINAL)
            assert state["status"] == "succeeded" and state["attempts"] == 1, state
            assert valid_schedule(c, job_id, FT06) == 55
        time.sleep(1.0)
        book = ledger(pg_url, job_id)
        assert book["succeeded_events"] == 1 and book["attempts"] == ["succeeded"], book
        [(sent_at, publish_attempts)] = book["solves"]
        assert sent_at is not None
        # Claimed by the dead relay and published by the next one; or published once.
        assert publish_attempts == (2 if point == BEFORE_PUBLISH else 1), book
        assert worker.text().count("aps.solve[") >= 1
        received = [x for x in worker.text().splitlines() if "aps.solve[" in x and "received" in x]
        assert len(received) == 1, received
    finally:
        stack.stop()
