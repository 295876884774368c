"""Run one job: claim, solve with heartbeats, commit under the lease.

This is the task body for both paths: the Celery task (``worker.tasks``) and the
embedded in-process pool (``jobs.embedded``) call :func:`run_job` with a job id.
Running it twice for the same job is safe: only one claim wins, and only the lease
holder commits.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

import aps
from aps import Incumbent, Objective, Problem, SolveStatus
from aps.report.diagnose import Severity, diagnose
from aps.solvers.warmup import warm_up as warm_up_kernels
from jobs import leases, outbox, states, whatif
from jobs.db import Database
from jobs.settings import Settings
from jobs.states import Claim, Refusal
from jobs.tables import Job

log = logging.getLogger(__name__)


def warm_up() -> None:
    """Import and exercise the solver once, so the first job (and the API threads next to
    an embedded pool) do not stall on loading OR-Tools or compiling kernels under the GIL."""
    warm_up_kernels()
    tiny = Problem.model_validate(
        {
            "machines": [{"id": 0}],
            "jobs": [
                {"id": 0, "operations": [{"id": 0, "modes": [{"machine": 0, "duration": 1}]}]}
            ],
        }
    )
    aps.solve(tiny, time_limit=1.0, workers=1)


def problem_for(claim: Claim) -> Problem:
    """The stored problem with the job's objective option applied."""
    problem = Problem.model_validate_json(claim.problem)
    objective = claim.options.get("objective")
    if objective is not None:
        problem = problem.model_copy(update={"objective": Objective.model_validate(objective)})
    return problem


def run_job(
    db: Database,
    settings: Settings,
    job_id: str,
    owner: str,
    abort: threading.Event | None = None,
    after_claim: Callable[[Claim], None] | None = None,
) -> str:
    """Solve ``job_id`` if this caller wins the claim; return what happened (for logs).

    Setting ``abort`` (process shutdown) stops the solve and hands the job back to the
    queue at once instead of leaving it to the reaper.
    """
    with db.write() as session:
        claim = states.claim(
            session,
            job_id,
            owner,
            lease_seconds=settings.lease_seconds,
            max_running=settings.max_running_jobs,
        )
    if isinstance(claim, Refusal):
        if claim is Refusal.BUSY:
            _defer(db, job_id)
        log.info("job %s not run by %s: %s", job_id, owner, claim.value)
        return claim.value
    return _solve(db, settings, claim, abort or threading.Event(), after_claim)


def _defer(db: Database, job_id: str) -> None:
    """The tenant is at its running cap: publish again shortly, the job stays queued."""
    with db.write() as session:
        options: dict[str, Any] = session.scalar(select(Job.options).where(Job.id == job_id)) or {}
        outbox.enqueue_solve(session, job_id, options, delay=1.0)


class _Pump(leases.Heartbeat):
    """Heartbeats the lease, flushes incumbents and turns a cancel request into ``stop``.

    Setting ``abort`` (process shutdown) stops the solve as well.
    """

    def __init__(
        self,
        db: Database,
        settings: Settings,
        claim: Claim,
        stop: threading.Event,
        abort: threading.Event,
    ) -> None:
        label = f"job {claim.job_id} of {claim.owner}"
        super().__init__(label, self._beat, settings.heartbeat_seconds, stop, poll=0.2)
        self.db, self.settings, self.claim, self.abort = db, settings, claim, abort
        self.incumbents: queue.SimpleQueue[Incumbent] = queue.SimpleQueue()

    def flush(self) -> None:
        batch: list[Incumbent] = []
        while True:
            try:
                batch.append(self.incumbents.get_nowait())
            except queue.Empty:
                break
        if batch:
            with self.db.write() as session:
                if not states.record_progress(session, self.claim, batch):
                    self.lose()

    def chores(self) -> None:
        if self.abort.is_set():
            self.stop.set()
            self.end()
            return
        self.flush()

    def _beat(self) -> bool:
        with self.db.write() as session:
            beat = states.heartbeat(session, self.claim, lease_seconds=self.settings.lease_seconds)
        if beat.held and beat.cancel_requested:
            self.stop.set()
        return beat.held


def explain_infeasible(problem: Problem) -> str | None:
    """The core's pre-solve diagnosis, in the planner's terms, for an INFEASIBLE job."""
    try:
        findings = [f for f in diagnose(problem) if f.severity is Severity.ERROR]
    except Exception:  # an explanation is a courtesy; never fail the job over it
        log.exception("diagnosis failed")
        return None
    if not findings:
        return None
    return "; ".join(f.message for f in findings[:20])


def overrun_message(limit: float, how: str) -> str:
    """The planner-facing reason of a ``failed(timeout)`` job (soft or hard limit)."""
    return (
        f"the solve did not return within its time limit plus margin ({limit:g} s) and was "
        f"{how}; it is not retried, since it would overrun again"
    )


def _solve(
    db: Database,
    settings: Settings,
    claim: Claim,
    abort: threading.Event,
    after_claim: Callable[[Claim], None] | None,
) -> str:
    options = claim.options
    time_limit = float(options.get("time_limit", settings.default_time_limit))
    stop = threading.Event()
    pump = _Pump(db, settings, claim, stop, abort)
    pump.start()
    try:
        if after_claim is not None:
            after_claim(claim)  # system-test faults: they run while the lease is heartbeaten
        problem = problem_for(claim)
        details: dict[str, Any] | None = None
        if options.get("kind") == whatif.KIND:  # a machine-down repair of a solved job
            source = whatif.source_result(db, str(options["source_job"]))
            result, details = whatif.repair(problem, source, options, stop)
        else:
            result = aps.solve(
                problem,
                time_limit=time_limit,
                workers=int(options.get("workers", 1)),
                seed=int(options.get("seed", 0)),
                solver=str(options.get("solver", "cpsat")),
                on_progress=pump.incumbents.put,
                stop=stop,
            )
    except whatif.WhatIfError as exc:
        pump.halt()
        with db.write() as session:
            states.fail(session, claim, "no_repair", str(exc))
        return "failed"
    except Exception as exc:
        pump.halt()
        log.exception("job %s failed", claim.job_id)
        # Celery's soft limit arrives as an exception; jobs/ does not import Celery.
        if type(exc).__name__ == "SoftTimeLimitExceeded":
            reason = "timeout"
            message = overrun_message(time_limit + settings.soft_time_limit_margin, "stopped")
        else:
            reason, message = "error", f"{type(exc).__name__}: {exc}"
        with db.write() as session:
            states.fail(session, claim, reason, message)
        return "failed"
    pump.halt()
    if abort.is_set():
        with db.write() as session:
            states.release(session, claim)
        log.warning("job %s: shutting down, handed back to the queue", claim.job_id)
        return "released"
    if pump.lost.is_set():
        log.warning(
            "job %s: lease lost, result of attempt %d discarded (no-op)",
            claim.job_id,
            claim.attempt,
        )
        return "lost"
    pump.flush()
    if result.status is SolveStatus.INFEASIBLE and not result.message:
        result = result.model_copy(update={"message": explain_infeasible(problem)})
    with db.write() as session:
        new = states.complete(session, claim, result, details)
    if new is None:
        log.warning(
            "job %s: lease lost before commit, attempt %d is a no-op", claim.job_id, claim.attempt
        )
        return "lost"
    log.info(
        "job %s: %s (%s, objective %s)",
        claim.job_id,
        new.value,
        result.status.value,
        result.objective,
    )
    return new.value
