#!/usr/bin/env python
"""Service benchmark (not a test): submission rate and latency, end-to-end jobs per second.

Starts real processes on loopback only and cleans up after itself:

1. ``submit``: ``aps serve`` (API only, enqueueing to Redis, job store on PostgreSQL; no
   workers, so solving does not compete) takes POST /v1/jobs from 50 concurrent
   clients; reports submissions/s and p50/p99 latency. The same against the embedded
   default (SQLite + in-process pool) for comparison.
2. ``e2e``: small jobs (a 3x3 shop with a release date, optimal in milliseconds)
   submitted in a burst, measured until all succeeded, with 1 and then 2 ``aps worker``
   processes.

Needs Redis on 127.0.0.1:6379 (uses DB 12, flushed) and PostgreSQL on 127.0.0.1:5432
(user postgres, database ``test``; a temporary schema is created and dropped).

    .venv/bin/python scripts/bench_service.py            # everything, < 3 minutes
    .venv/bin/python scripts/bench_service.py --submissions 500 --e2e-jobs 30
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
APS = str(Path(sys.executable).with_name("aps"))
KEY = "bench-key-0123456789abcdef"
REDIS_URL = "redis://127.0.0.1:6379/12"
PG_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

#: A 3x3 shop with one release date: solved by CP-SAT in milliseconds, so the end-to-end
#: figures measure the service, not the job-shop portfolio's time-limit-bound tabu phase.
TINY: dict[str, Any] = {
    "name": "tiny-3x3",
    "machines": [{"id": m} for m in range(3)],
    "jobs": [
        {
            "id": j,
            "release": 1 if j == 0 else 0,
            "operations": [
                {"id": k, "modes": [{"machine": (j + k) % 3, "duration": 1 + (j * 3 + k) % 4}]}
                for k in range(3)
            ],
        }
        for j in range(3)
    ],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Procs:
    """Subprocesses started here, stopped by their recorded process-group id."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}-{len(self.started)}.log").open("wb") as out:
            proc = subprocess.Popen(
                argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.started.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)

    def stop_all(self) -> None:
        for proc in reversed(self.started):
            self.stop(proc)


def env_for(database_url: str, broker_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APS_")}
    env.update(
        {
            "APS_DATABASE_URL": database_url,
            "APS_API_KEYS": f"bench:{KEY}",
            "APS_RATE_LIMIT_PER_MINUTE": "10000000",
            "APS_RATE_LIMIT_BURST": "100000",
            "APS_MAX_ACTIVE_JOBS": "1000000",
            "APS_MAX_RUNNING_JOBS": "64",
            "APS_RELAY_INTERVAL_SECONDS": "0.05",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if broker_url:
        env["APS_BROKER_URL"] = broker_url
    return env


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready within {timeout}s")


async def submit_load(url: str, total: int, clients: int, budget: float) -> dict[str, Any]:
    """``clients`` concurrent connections posting until ``total`` submissions (or budget)."""
    body = {"problem": TINY, "options": {"time_limit": 2, "workers": 1}}
    latencies: list[float] = []
    errors: dict[str, int] = {}
    remaining = total
    deadline = time.monotonic() + budget
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=url, headers={"X-API-Key": KEY}, timeout=30, limits=limits
    ) as client:

        async def one_client() -> None:
            nonlocal remaining
            while remaining > 0 and time.monotonic() < deadline:
                remaining -= 1
                t0 = time.perf_counter()
                try:
                    r = await client.post("/v1/jobs", json=body)
                    outcome = str(r.status_code)
                except httpx.TransportError as exc:
                    outcome = type(exc).__name__
                latencies.append(time.perf_counter() - t0)
                if outcome != "202":
                    errors[outcome] = errors.get(outcome, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "submissions": len(latencies),
        "errors": errors,
        "seconds": round(elapsed, 2),
        "per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(1000 * statistics.median(latencies), 1),
        "p99_ms": round(1000 * latencies[max(0, int(0.99 * len(latencies)) - 1)], 1),
    }


def drain(url: str, expected: int, timeout: float) -> float:
    """Seconds until ``expected`` jobs succeeded (polling the list endpoint)."""
    started = time.monotonic()
    with httpx.Client(base_url=url, headers={"X-API-Key": KEY}, timeout=10) as c:
        while time.monotonic() - started < timeout:
            done = c.get("/v1/jobs", params={"status": "succeeded", "limit": 1}).json()["count"]
            if done >= expected:
                return time.monotonic() - started
            time.sleep(0.2)
    raise RuntimeError(f"only part of {expected} jobs finished within {timeout}s")


def e2e(url: str, jobs: int) -> dict[str, Any]:
    """Burst-submit ``jobs`` tiny jobs and time them to all succeeded."""
    body = {"problem": TINY, "options": {"time_limit": 2, "workers": 1}}
    started = time.monotonic()
    with httpx.Client(base_url=url, headers={"X-API-Key": KEY}, timeout=10) as c:
        for _ in range(jobs):
            r = c.post("/v1/jobs", json=body)
            r.raise_for_status()
    seconds = (time.monotonic() - started) + drain(url, jobs, timeout=90)
    return {"jobs": jobs, "seconds": round(seconds, 2), "jobs_per_second": round(jobs / seconds, 2)}


def with_schema(run: Any) -> Any:
    import psycopg

    schema = f"aps_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        return run(f"{PG_URL}?options=-csearch_path%3D{schema}")
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def flush_redis() -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--submissions", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--e2e-jobs", type=int, default=40)
    parser.add_argument(
        "--budget", type=float, default=30.0, help="seconds per submission run at most"
    )
    args = parser.parse_args()
    results: dict[str, Any] = {"clients": args.clients}
    logs = Path(tempfile.mkdtemp(prefix="aps-bench-"))
    procs = Procs(logs)
    t_start = time.monotonic()
    try:
        flush_redis()

        def submit_broker(db_url: str) -> dict[str, Any]:
            port = free_port()
            api = procs.start(
                "api",
                [
                    APS,
                    "serve",
                    "--port",
                    str(port),
                    "--log-level",
                    "warning",
                    "--timeout-keep-alive",
                    "60",
                ],
                env_for(db_url, REDIS_URL),
            )
            url = f"http://127.0.0.1:{port}"
            wait_ready(url, api)
            out = asyncio.run(submit_load(url, args.submissions, args.clients, args.budget))
            procs.stop(api)
            return out

        results["submit_api_postgres_redis"] = with_schema(submit_broker)
        flush_redis()

        with tempfile.TemporaryDirectory() as tmp:
            port = free_port()
            api = procs.start(
                "api-embedded",
                [
                    APS,
                    "serve",
                    "--port",
                    str(port),
                    "--log-level",
                    "warning",
                    "--timeout-keep-alive",
                    "60",
                ],
                env_for(f"sqlite:///{tmp}/bench.db", None),
            )
            url = f"http://127.0.0.1:{port}"
            wait_ready(url, api)
            results["submit_embedded_sqlite"] = asyncio.run(
                submit_load(url, args.submissions // 2, args.clients, args.budget)
            )
            procs.stop(api)

        for workers in (1, 2):

            def run_e2e(db_url: str, workers: int = workers) -> dict[str, Any]:
                env = env_for(db_url, REDIS_URL)
                port = free_port()
                api = procs.start(
                    "api-e2e",
                    [
                        APS,
                        "serve",
                        "--port",
                        str(port),
                        "--log-level",
                        "warning",
                        "--timeout-keep-alive",
                        "60",
                    ],
                    env,
                )
                url = f"http://127.0.0.1:{port}"
                wait_ready(url, api)
                started = []
                for i in range(workers):
                    w = procs.start(
                        f"worker{i}",
                        [
                            APS,
                            "worker",
                            "--concurrency",
                            "1",
                            "--hostname",
                            f"bench{i}@%h",
                            "--loglevel",
                            "WARNING",
                        ],
                        env,
                    )
                    started.append(w)
                for i, w in enumerate(started):
                    log = sorted(logs.glob(f"worker{i}-*.log"))[-1]
                    wait_worker_log(log, w)
                out = e2e(url, args.e2e_jobs)
                for w in started:
                    procs.stop(w)
                procs.stop(api)
                return out

            results[f"e2e_{workers}_worker"] = with_schema(run_e2e)
            flush_redis()
    finally:
        procs.stop_all()
        with contextlib.suppress(Exception):
            flush_redis()
    results["total_seconds"] = round(time.monotonic() - t_start, 1)
    results["cpu_count"] = os.cpu_count()
    sys.stdout.write(json.dumps(results, indent=2) + "\n")


def wait_worker_log(log: Path, proc: subprocess.Popen[bytes]) -> None:
    """Workers log at WARNING here, so readiness is the banner's queue line."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited:\n{log.read_text(errors='replace')}")
        text = log.read_text(errors="replace")
        if "[queues]" in text or " ready." in text:
            time.sleep(1.0)  # the banner precedes the consumer's start by a moment
            return
        time.sleep(0.2)
    raise RuntimeError("worker not ready")


if __name__ == "__main__":
    main()
