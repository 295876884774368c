#!/usr/bin/env python
"""Load and chaos run (not a test): what the service loses, or runs twice, under faults.

Real processes on loopback, cleaned up afterwards (pieces from ``bench_service.py``):

1. ``load``: ``aps serve`` (API + relay, PostgreSQL, Redis; no workers) takes 2,000
   POST /v1/jobs from 50 concurrent clients. Reported: errors, p50/p99 submit latency,
   and that every accepted job is a row and a message in Redis (none lost on the way).
2. ``chaos``: 500 small jobs through 2 ``aps worker`` processes while one of them is
   SIGKILLed with its pool child after every 5 s of service and started again at once
   (``--in-turn``: the two take turns, so both crash-loop).
   Reported from the database: jobs lost (accepted but not terminal, or not succeeded),
   jobs run twice to completion (more than one ``succeeded`` event or committed
   attempt), every stored schedule re-checked by the independent validator
   (``aps.validate``), submit and end-to-end p50/p99, kills and recoveries.

Needs Redis on 127.0.0.1:6379 (uses DB 11, flushed) and PostgreSQL on 127.0.0.1:5432
(user postgres, database ``test``; a temporary schema is created and dropped).

    .venv/bin/python benchmarks/chaos.py                     # both parts, a few minutes
    .venv/bin/python benchmarks/chaos.py --submissions 500 --jobs 100 --out results/chaos.md
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_service import (
    APS,
    Procs,
    env_for,
    free_port,
    submit_load,
    wait_ready,
    wait_worker_log,
    with_schema,
)

Popen = subprocess.Popen[bytes]
REDIS_URL = "redis://127.0.0.1:6379/11"  # not bench_service's DB 12: both may run
#: Recovery settings as a deployment with short leases would use (defaults: 30 s, 5 s).
FAST_RECOVERY = {
    "APS_LEASE_SECONDS": "3",
    "APS_HEARTBEAT_SECONDS": "0.5",
    "APS_REAPER_INTERVAL_SECONDS": "0.5",
}


def flush_redis() -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    client.close()


def redis_depth() -> int:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        return int(client.llen("solve"))
    finally:
        client.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(q * len(ordered)) - 1)] if ordered else float("nan")


def start_api(procs: Procs, name: str, env: dict[str, str]) -> str:
    port = free_port()
    api = procs.start(
        name,
        [APS, "serve", "--port", str(port), "--log-level", "warning", "--timeout-keep-alive", "60"],
        env,
    )
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, api)
    return url


def load(db_url: str, procs: Procs, submissions: int, clients: int) -> dict[str, Any]:
    """Part 1: submissions only; then every accepted job must be a row and a message."""
    from sqlalchemy import func, select

    from jobs.db import Database
    from jobs.tables import Job, Outbox

    url = start_api(procs, "api-load", env_for(db_url, REDIS_URL))
    out: dict[str, Any] = asyncio.run(submit_load(url, submissions, clients, budget=900))
    db = Database(db_url)
    try:
        deadline = time.monotonic() + 120
        while True:  # the relay publishes what the API committed
            with db.read() as s:
                rows = s.scalar(select(func.count()).select_from(Job)) or 0
                unsent = (
                    s.scalar(
                        select(func.count()).select_from(Outbox).where(Outbox.sent_at.is_(None))
                    )
                    or 0
                )
            if unsent == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        db.dispose()
    accepted = out["submissions"] - sum(out["errors"].values())
    out.update(accepted=accepted, rows=rows, unpublished=unsent, messages=redis_depth())
    procs.stop_all()  # before the schema goes
    out["lost"] = accepted - min(rows, out["messages"])
    return out


@dataclass
class Worker:
    popen: Popen
    log: Path

    def ready(self) -> bool:
        return " ready." in self.log.read_text(errors="replace")


def start_worker(procs: Procs, env: dict[str, str], slot: int) -> Worker:
    name = f"chaos-worker{slot}"
    log = procs.logs / f"{name}-{len(procs.started)}.log"  # the name Procs.start gives it
    argv = [APS, "worker", "--concurrency", "1", "--hostname", f"chaos{slot}@%h"]
    return Worker(procs.start(name, [*argv, "--loglevel", "INFO"], env), log)


class Killer(threading.Thread):
    """SIGKILLs a worker's process group once it has served ``period`` s, and restarts it
    at once: worker 0 each time, or the workers in turn.

    The period counts from the worker's readiness, not its start: on a loaded machine a
    worker takes longer than 5 s to start, and killing it before it consumes anything
    would test nothing.
    """

    def __init__(
        self, procs: Procs, env: dict[str, str], workers: list[Worker], period: float, in_turn: bool
    ) -> None:
        super().__init__(name="chaos-killer", daemon=True)
        self.procs, self.env, self.workers, self.period = procs, env, workers, period
        self.in_turn = in_turn
        self.kills: list[float] = []  # monotonic times
        self.halt = threading.Event()

    def run(self) -> None:
        turn = 0
        while not self.halt.is_set():
            victim = self.workers[turn]
            while not victim.ready() and not self.halt.wait(0.1):
                pass
            if self.halt.wait(self.period):
                return
            with contextlib.suppress(ProcessLookupError):
                os.killpg(victim.popen.pid, signal.SIGKILL)  # recorded pid: main + pool child
            victim.popen.wait()
            self.kills.append(time.monotonic())
            self.workers[turn] = start_worker(self.procs, self.env, turn)
            if self.in_turn:
                turn = (turn + 1) % len(self.workers)


def chaos(
    db_url: str,
    procs: Procs,
    jobs: int,
    clients: int,
    period: float,
    in_turn: bool,
    timeout: float,
) -> dict[str, Any]:
    """Part 2: ``jobs`` small jobs, 2 workers, one SIGKILLed and restarted every ``period``."""
    env = {**env_for(db_url, REDIS_URL), **FAST_RECOVERY}
    url = start_api(procs, "api-chaos", env)
    workers = [start_worker(procs, env, slot) for slot in (0, 1)]
    for worker in workers:
        wait_worker_log(worker.log, worker.popen)
    killer = Killer(procs, env, workers, period, in_turn)
    killer.start()
    started = time.monotonic()
    out: dict[str, Any] = asyncio.run(submit_load(url, jobs, clients, budget=600))
    try:
        final = wait_terminal(db_url, out["submissions"], started + timeout)
    finally:
        killer.halt.set()
        killer.join()
        procs.stop_all()  # before the schema goes
    out.update(final)
    out["lost"] += out["submissions"] - sum(out["errors"].values()) - final["jobs"]
    out["kills"] = len(killer.kills)
    gaps = [b - a for a, b in zip(killer.kills, killer.kills[1:], strict=False)]
    out["kill_gap_s"] = round(statistics.mean(gaps), 1) if gaps else None
    out["wall_s"] = round(time.monotonic() - started, 1)
    out["discarded_solves"] = discarded_solves(procs.logs)
    out["reaped"] = reaped(procs.logs)
    return out


def wait_terminal(db_url: str, expected: int, deadline: float) -> dict[str, Any]:
    """Poll until every job is terminal (or the deadline); then audit the database."""
    from sqlalchemy import func, select

    from jobs.db import Database
    from jobs.states import ACTIVE
    from jobs.tables import Job

    db = Database(db_url)
    try:
        while time.monotonic() < deadline:
            with db.read() as s:
                active = s.scalar(
                    select(func.count())
                    .select_from(Job)
                    .where(Job.status.in_([a.value for a in ACTIVE]))
                )
                total = s.scalar(select(func.count()).select_from(Job)) or 0
            if total >= expected and not active:
                break
            time.sleep(0.5)
        return audit(db)
    finally:
        db.dispose()


def audit(db: Any) -> dict[str, Any]:
    """Jobs lost, jobs committed twice, every schedule validated: from the database."""
    from sqlalchemy import select

    from aps import Problem, Result, validate
    from jobs.tables import Attempt, Job, JobEvent, Schedule

    with db.read() as s:
        jobs = s.execute(
            select(Job.id, Job.status, Job.reason, Job.attempts, Job.created_at, Job.finished_at)
        ).all()
        succeeded_events = Counter(
            s.scalars(select(JobEvent.job_id).where(JobEvent.status == "succeeded")).all()
        )
        committed = Counter(
            s.scalars(select(Attempt.job_id).where(Attempt.outcome == "succeeded")).all()
        )
        schedules = s.execute(
            select(Schedule.job_id, Job.problem, Schedule.result).join(
                Job, Job.id == Schedule.job_id
            )
        ).all()
    statuses = Counter(f"{j.status}({j.reason})" if j.reason else j.status for j in jobs)
    invalid = 0
    for _job_id, problem, result in schedules:
        rows = Result.model_validate_json(result).schedule
        invalid += bool(validate(Problem.model_validate_json(problem), rows))
    e2e = [
        (j.finished_at - j.created_at).total_seconds() for j in jobs if j.finished_at is not None
    ]
    return {
        "jobs": len(jobs),
        "statuses": dict(statuses),
        "lost": sum(j.status != "succeeded" for j in jobs),
        "twice": sum(1 for j in jobs if succeeded_events[j.id] > 1 or committed[j.id] > 1),
        "schedules": len(schedules),
        "invalid": invalid,
        "retried": sum(j.attempts > 1 for j in jobs),
        "e2e_p50_s": round(statistics.median(e2e), 2) if e2e else None,
        "e2e_p99_s": round(percentile(e2e, 0.99), 2) if e2e else None,
    }


def discarded_solves(logs: Path) -> int:
    """Solves that ran to the end but lost their lease first: no-ops by design."""
    return len(
        re.findall(r"result of attempt \d+ discarded|attempt \d+ is a no-op", _all_logs(logs))
    )


def reaped(logs: Path) -> int:
    """Job ids the reapers (API and workers) acted on, counted once each per action."""
    found = re.findall(r"reaper recovered jobs \[([^\]]*)\]", _all_logs(logs))
    return sum(len(ids.split(",")) for ids in found)


def _all_logs(logs: Path) -> str:
    return "".join(log.read_text(errors="replace") for log in sorted(logs.glob("*chaos*.log")))


def table(results: dict[str, Any], command: str, kills: str) -> str:
    lo, ch = results["load"], results["chaos"]
    rows = [
        ("submissions (50 clients)", lo["submissions"], ch["submissions"]),
        ("submit errors", lo["errors"] or 0, ch["errors"] or 0),
        ("submissions per second", lo["per_second"], ch["per_second"]),
        (
            "submit latency p50 / p99 (ms)",
            f"{lo['p50_ms']} / {lo['p99_ms']}",
            f"{ch['p50_ms']} / {ch['p99_ms']}",
        ),
        ("accepted jobs lost", lo["lost"], ch["lost"]),
        ("jobs run twice to completion", "-", ch["twice"]),
        ("schedules validated / invalid", "-", f"{ch['schedules']} / {ch['invalid']}"),
        (
            "final statuses",
            f"{lo['rows']} rows, {lo['messages']} messages",
            ", ".join(f"{k} {v}" for k, v in sorted(ch["statuses"].items())),
        ),
        (f"worker SIGKILLs ({kills})", "-", f"{ch['kills']}, one per {ch['kill_gap_s']} s"),
        ("jobs re-published by the reaper (lease or message lost)", "-", ch["reaped"]),
        ("jobs retried after a kill", "-", ch["retried"]),
        ("finished solves discarded (lease lost)", "-", ch["discarded_solves"]),
        ("end-to-end p50 / p99 (s)", "-", f"{ch['e2e_p50_s']} / {ch['e2e_p99_s']}"),
        ("wall time (s)", lo["seconds"], ch["wall_s"]),
    ]
    lines = [
        f"Load and chaos run, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end.",
        f"Command: `{command}`",
        "",
        "| measure | load: API + PostgreSQL + Redis | chaos: 2 workers, SIGKILLs |",
        "| --- | --- | --- |",
        *(f"| {a} | {b} | {c} |" for a, b, c in rows),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--submissions", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--kill-every", type=float, default=5.0)
    parser.add_argument("--in-turn", action="store_true", help="kill both workers in turn")
    parser.add_argument("--timeout", type=float, default=900.0, help="chaos part, seconds")
    parser.add_argument("--out", type=Path, default=Path("results/chaos.md"))
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="aps-chaos-"))
    procs = Procs(logs)
    results: dict[str, Any] = {}
    try:
        flush_redis()
        results["load"] = with_schema(lambda url: load(url, procs, args.submissions, args.clients))
        procs.stop_all()
        flush_redis()
        results["chaos"] = with_schema(
            lambda url: chaos(
                url, procs, args.jobs, args.clients, args.kill_every, args.in_turn, args.timeout
            )
        )
    finally:
        procs.stop_all()
        with contextlib.suppress(Exception):
            flush_redis()
    command = "nice -n 10 .venv/bin/python benchmarks/chaos.py " + " ".join(sys.argv[1:])
    policy = "both in turn" if args.in_turn else "worker 0"
    text = table(results, command.strip(), f"{policy}, after {args.kill_every:g} s of service")
    sys.stdout.write(text + f"\nlogs: {logs}\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    ok = results["load"]["lost"] == 0 and not any(
        results["chaos"][k] for k in ("lost", "twice", "invalid")
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
