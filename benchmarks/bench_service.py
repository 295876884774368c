#!/usr/bin/env python
"""Service load benchmark (not a test): ``wrk`` against real ``aps serve`` processes.

Everything runs on loopback, is bounded in time and cleans up after itself. ``wrk``
(a C load generator) drives the API, so the client costs little of the two cores;
Python only starts processes, prepares requests and waits for results.

1. PostgreSQL + Redis, the API alone (no worker; outbox on, solving never competes):
   ``POST /v1/jobs`` with the ft06 job as body and a fresh ``Idempotency-Key`` per
   request, ``GET /v1/jobs/{id}``, and signed ``POST /v1/webhooks/erp`` events (each
   with its own ``webhook-id``): requests/s, p50, p99, errors.
2. The embedded default (SQLite, in-process pool): ``POST /v1/jobs`` the same way.
3. End to end: tiny jobs (a 3x3 shop, solved in milliseconds) submitted at once, timed
   until all succeeded, with 1 and with 2 ``aps worker`` processes.
4. Isolation: one tenant sends a compressed upload that unpacks to ~190 MB, a plant
   whose horizon ends in the year 8999 and 15 s what-if repairs, in a loop; meanwhile
   ``wrk`` reads another tenant's job: its p50/p99 is the figure.

Needs ``wrk`` (``make bench-service`` installs it), Redis on 127.0.0.1:6379 (DB 12,
flushed) and PostgreSQL on 127.0.0.1:5432 (user postgres, database ``test``; a
temporary schema is created and dropped). Prints markdown tables (docs/benchmarks.md)
and writes them to ``--out``.

    .venv/bin/python benchmarks/bench_service.py --duration 15 --out results/service.md
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
APS = str(Path(sys.executable).with_name("aps"))
KEYS = {"bench": "bench-key-0123456789abcdef", "other": "other-key-0123456789abcdef"}
REDIS_URL = "redis://127.0.0.1:6379/12"
PG_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SECRET = "whsec_" + base64.b64encode(b"bench-webhook-secret-0123456789").decode()
FT06 = json.loads((ROOT / "tests" / "service" / "data" / "ft06.json").read_text())

#: A 3x3 shop with one release date: solved by CP-SAT in milliseconds, so the end-to-end
#: figures measure the service, not the solver.
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
#: The plant the webhook events are about (tick level: events give tick numbers).
SMALL: dict[str, Any] = {
    "name": "bench-plant",
    "machines": [{"id": "M1"}, {"id": "M2"}],
    "jobs": [
        {
            "id": f"O{j}",
            "operations": [
                {"id": "a", "modes": [{"machine": "M1", "duration": 3}]},
                {"id": "b", "modes": [{"machine": "M2", "duration": 2}]},
            ],
        }
        for j in range(20)
    ],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def supports(*argv: str, word: str) -> bool:
    """Whether the installed ``aps`` knows an option or command (the "before" run of
    this benchmark drives an older checkout that lacks some)."""
    out = subprocess.run([APS, *argv, "--help"], capture_output=True, text=True, check=False)
    return word in out.stdout


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


def env_for(database_url: str, broker_url: str | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APS_")}
    env.update(
        {
            "APS_ENVIRONMENT": "production",
            "APS_DATABASE_URL": database_url,
            "APS_API_KEYS": ",".join(f"{t}:{k}" for t, k in KEYS.items()),
            "APS_RATE_LIMIT_PER_MINUTE": "100000000",
            "APS_RATE_LIMIT_BURST": "10000000",
            "APS_MAX_ACTIVE_JOBS": "100000000",
            "APS_MAX_RUNNING_JOBS": "64",
            "APS_WEBHOOK_SECRETS": SECRET,
            "APS_PLANT_COALESCE_SECONDS": "5",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if broker_url:
        env["APS_BROKER_URL"] = broker_url
    env.update(extra)
    return env


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready within {timeout}s")


def wait_log(log: Path, proc: subprocess.Popen[bytes], text: str, timeout: float = 90) -> float:
    """Seconds until ``text`` appears in the process's log."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited:\n{log.read_text(errors='replace')}")
        if text in log.read_text(errors="replace"):
            return time.monotonic() - started
        time.sleep(0.05)
    raise RuntimeError(f"{log.name}: no {text!r} within {timeout}s")


# -- wrk ------------------------------------------------------------------------------------

#: wrk's report, as JSON on stderr: counts, status codes, latency percentiles (µs).
LUA_DONE = r"""
function done(summary, latency, requests)
  io.stderr:write(string.format(
    'WRKJSON {"requests": %d, "seconds": %f, "p50_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"connect": %d, "read": %d, "write": %d, "timeout": %d, "non2xx": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50),
    latency:percentile(99), latency.max, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, summary.errors.status))
end
"""


#: Each wrk thread gets a number ``id`` (1, 2, ...) as a global.
THREAD_IDS = (
    "local next_id = 1\n"
    "function setup(thread) thread:set('id', next_id) ; next_id = next_id + 1 end\n"
)


def lua_string(text: str) -> str:
    return "[==[" + text + "]==]"


def wrk_script(kind: str, **spec: Any) -> str:
    """A wrk Lua script: ``submit`` (fresh Idempotency-Key per request), ``get`` or
    ``webhooks`` (pre-signed requests, each sent once)."""
    if kind == "get":
        return f'wrk.method = "GET"\nwrk.headers["X-API-Key"] = "{spec["key"]}"\n'
    if kind == "submit":
        body = json.dumps({"problem": FT06, "options": {"time_limit": 2, "workers": 1}})
        return (
            f'wrk.method = "POST"\nwrk.body = {lua_string(body)}\n'
            f'wrk.headers["X-API-Key"] = "{spec["key"]}"\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
            f'local counter = 0\nlocal prefix = "{uuid.uuid4().hex}"\n'
            + THREAD_IDS
            + "function request()\n  counter = counter + 1\n"
            "  wrk.headers['Idempotency-Key'] = 'bench-' .. prefix .. '-' .. id .. '-' .. counter\n"
            "  return wrk.format()\nend\n"
        )
    assert kind == "webhooks"
    lines = ["local reqs = {}"]
    for body, headers in spec["requests"]:
        h = ", ".join(f'["{k}"] = "{v}"' for k, v in headers.items())
        call = f'wrk.format("POST", "{spec["path"]}", {{{h}}}, {lua_string(body)})'
        lines.append(f"reqs[#reqs + 1] = {call}")
    lines += [
        THREAD_IDS,
        "local i = nil",
        "function request()",
        "  if i == nil then i = id - 1 end",
        "  i = i + 2",
        "  if i > #reqs then i = ((i - 1) % #reqs) + 1 end",
        "  return reqs[i]",
        "end",
    ]
    return "\n".join(lines) + "\n"


def run_wrk(
    url: str, script: str, *, seconds: float, connections: int, threads: int = 2
) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script + LUA_DONE)
        path = f.name
    try:
        argv = [
            "wrk", f"-t{threads}", f"-c{connections}", f"-d{int(seconds)}s", "--timeout", "10s",
            "-s", path, url,
        ]  # fmt: skip
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    finally:
        os.unlink(path)
    line = next((x for x in proc.stderr.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed: {proc.stdout}\n{proc.stderr}")
    raw = json.loads(line.removeprefix("WRKJSON "))
    errors = raw["connect"] + raw["read"] + raw["write"] + raw["timeout"] + raw["non2xx"]
    return {
        "requests": raw["requests"],
        "per_second": round(raw["requests"] / raw["seconds"], 1),
        "p50_ms": round(raw["p50_us"] / 1000, 1),
        "p99_ms": round(raw["p99_us"] / 1000, 1),
        "errors": errors,
        "timeouts": raw["timeout"],
        "non2xx": raw["non2xx"],
    }


# -- databases ------------------------------------------------------------------------------


@contextlib.contextmanager
def pg_schema() -> Iterator[str]:
    import psycopg

    schema = f"aps_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def flush_redis() -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    client.close()


# -- the stack ------------------------------------------------------------------------------


class Stack:
    """An API (and optionally a relay and workers) on one database."""

    def __init__(self, procs: Procs, env: dict[str, str], api_workers: int) -> None:
        self.procs, self.env = procs, env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [APS, "serve", "--port", str(self.port), "--log-level", "warning"]
        argv += ["--timeout-keep-alive", "60"]
        if api_workers > 1 and supports("serve", word="--workers"):
            argv += ["--workers", str(api_workers)]
        self.api = procs.start("api", argv, env)
        wait_ready(self.url, self.api)
        self.extra: list[subprocess.Popen[bytes]] = []

    def start_relay(self) -> None:
        if "APS_BROKER_URL" in self.env and supports(word="relay"):
            self.extra.append(self.procs.start("relay", [APS, "relay"], self.env))

    def start_worker(self, i: int, queues: str | None = None) -> float:
        """Start a worker; seconds until it logged that it is ready."""
        name = f"bench{i}-{uuid.uuid4().hex[:6]}@%h"
        argv = [APS, "worker", "--concurrency", "1", "--hostname", name]
        if queues and supports("worker", word="--queues"):
            argv += ["--queues", queues]
        proc = self.procs.start(f"worker{i}", argv, self.env)
        self.extra.append(proc)
        log = sorted(self.procs.logs.glob(f"worker{i}-*.log"), key=lambda p: p.stat().st_mtime)[-1]
        return wait_log(log, proc, " ready.")

    def client(self, tenant: str = "bench") -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"X-API-Key": KEYS[tenant]}, timeout=120)

    def stop(self) -> None:
        for proc in reversed(self.extra):
            self.procs.stop(proc)
        self.procs.stop(self.api)


def signed_events(count: int) -> list[tuple[str, dict[str, str]]]:
    from standardwebhooks import Webhook

    hook = Webhook(SECRET)
    now = datetime.now(UTC)
    out = []
    for i in range(count):
        body = json.dumps(
            {
                "type": "machine.down",
                "timestamp": now.isoformat(),
                "data": {"machine": "M1", "from": 10 + i % 1000, "until": 20 + i % 1000},
            },
            separators=(",", ":"),
        )
        msg_id = f"msg_{uuid.uuid4().hex}"
        headers = {
            "Content-Type": "application/json",
            "X-API-Key": KEYS["bench"],
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": hook.sign(msg_id, now, body),
        }
        out.append((body, headers))
    return out


def api_rates(stack: Stack, args: argparse.Namespace, *, webhooks: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    c = args.connections
    out["submit"] = run_wrk(
        f"{stack.url}/v1/jobs",
        wrk_script("submit", key=KEYS["bench"]),
        seconds=args.duration,
        connections=c,
    )
    with stack.client() as client:
        job = client.post("/v1/jobs", json={"problem": FT06}).json()["id"]
    out["read"] = run_wrk(
        f"{stack.url}/v1/jobs/{job}",
        wrk_script("get", key=KEYS["bench"]),
        seconds=args.duration,
        connections=c,
    )
    if webhooks:
        with stack.client() as client:
            r = client.put(
                "/v1/plant",
                json={"problem": SMALL, "options": {"time_limit": 1, "reschedule_time_limit": 1}},
            )
            r.raise_for_status()
        events = signed_events(int(args.duration * 2500))
        out["webhook"] = run_wrk(
            f"{stack.url}/v1/webhooks/erp",
            wrk_script("webhooks", requests=events, path="/v1/webhooks/erp"),
            seconds=args.duration,
            connections=c,
        )
    return out


def e2e(stack: Stack, jobs: int) -> dict[str, Any]:
    """Submit ``jobs`` tiny jobs at once (20 connections) and time them to succeeded."""
    body = {"problem": TINY, "options": {"time_limit": 2, "workers": 1}}
    started = time.monotonic()
    ids: list[str] = []
    lock = threading.Lock()

    def submit(n: int) -> None:
        with stack.client() as client:
            for _ in range(n):
                r = client.post("/v1/jobs", json=body)
                r.raise_for_status()
                with lock:
                    ids.append(r.json()["id"])

    threads = [threading.Thread(target=submit, args=(jobs // 20,)) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with stack.client() as client:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            done = client.get("/v1/jobs", params={"status": "succeeded", "limit": 1}).json()
            if done["count"] >= len(ids):
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("jobs did not finish within 300 s")
    seconds = time.monotonic() - started
    rate = round(len(ids) / seconds, 1)
    return {"jobs": len(ids), "seconds": round(seconds, 2), "per_second": rate}


# -- isolation ------------------------------------------------------------------------------


def bomb_zip() -> bytes:
    """A bundle whose orders table unpacks to ~190 MB (a few hundred KB compressed)."""
    row = b"SA-001,FRAME,80,2026-03-02T00:00:00+01:00,2026-03-05T22:00:00+01:00\n"
    table = b"id,product,quantity,release,due\n" + row * (190_000_000 // len(row))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("orders.csv", table)
    return buf.getvalue()


def far_horizon_plant() -> bytes:
    plant = json.loads((ROOT / "instances" / "plant.json").read_text())
    plant["horizon"]["end"] = "8999-12-31T00:00:00+01:00"
    return json.dumps(plant).encode()


def attacker(stack: Stack, seconds: float, what_if_job: str, machine: str) -> dict[str, Any]:
    """Heavy requests in a loop for ``seconds``: what each got back."""
    bomb, far = bomb_zip(), far_horizon_plant()
    outcomes: dict[str, dict[str, int]] = {"upload": {}, "horizon": {}, "what_if": {}}
    deadline = time.monotonic() + seconds

    def note(kind: str, code: str) -> None:
        outcomes[kind][code] = outcomes[kind].get(code, 0) + 1

    with stack.client() as client:
        while time.monotonic() < deadline:
            for kind in outcomes:
                if time.monotonic() >= deadline:
                    break
                try:
                    if kind == "upload":
                        r = client.post("/v1/jobs", files={"file": ("plant.zip", bomb)})
                    elif kind == "horizon":
                        r = client.post("/v1/jobs", files={"file": ("plant.json", far)})
                    else:
                        r = client.post(
                            f"/v1/jobs/{what_if_job}/machine-down",
                            json={"machine": machine, "start": 0, "end": 600, "time_limit": 15},
                        )
                    note(kind, str(r.status_code))
                except httpx.HTTPError as exc:
                    note(kind, type(exc).__name__)
    return outcomes


def isolation(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    with stack.client() as client:
        plant = (ROOT / "instances" / "plant.json").read_bytes()
        r = client.post(
            "/v1/jobs",
            files={"file": ("plant.json", plant)},
            data={"options": json.dumps({"time_limit": 5})},
        )
        r.raise_for_status()
        big = r.json()["id"]
        deadline = time.monotonic() + 300
        while client.get(f"/v1/jobs/{big}").json()["status"] != "succeeded":
            if time.monotonic() > deadline:
                raise RuntimeError("the what-if's base job did not succeed")
            time.sleep(0.5)
        machine = client.get(f"/v1/jobs/{big}/schedule").json()["operations"][0]["machine"]
    with stack.client("other") as other:
        own = other.post("/v1/jobs", json={"problem": TINY}).json()["id"]
    attack: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: attack.update(attacker(stack, args.isolation, big, str(machine)))
    )
    thread.start()
    time.sleep(1.0)
    reads = run_wrk(
        f"{stack.url}/v1/jobs/{own}",
        wrk_script("get", key=KEYS["other"]),
        seconds=max(5.0, args.isolation - 2),
        connections=10,
    )
    thread.join()
    return {"other_tenant_reads": reads, "attack": attack}


# -- main -----------------------------------------------------------------------------------


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"Service load benchmark ({results['cpu_count']} cores, wrk -t2 "
        f"-c{results['connections']}, {results['duration']:g} s per run, loopback; "
        f"API processes: {results['api_workers']})",
        "",
        "| Store | Request | Requests/s | p50 ms | p99 ms | Errors |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    names = {
        "submit": "`POST /v1/jobs` (ft06, Idempotency-Key)",
        "read": "`GET /v1/jobs/{id}`",
        "webhook": "signed `POST /v1/webhooks/erp`",
    }
    for store, key in (("PostgreSQL + Redis", "postgres_redis"), ("SQLite (embedded)", "embedded")):
        for name, row in results.get(key, {}).items():
            lines.append(
                f"| {store} | {names[name]} | {row['per_second']:,.0f} | {row['p50_ms']} | "
                f"{row['p99_ms']} | {row['errors']} |"
            )
    lines += ["", "| End to end (tiny jobs) | Jobs | Seconds | Jobs/s | Worker ready (s) |"]
    lines += ["| --- | ---: | ---: | ---: | ---: |"]
    for n in (1, 2):
        row = results.get(f"e2e_{n}")
        if row:
            lines.append(
                f"| {n} worker{'s' if n > 1 else ''} | {row['jobs']} | {row['seconds']} | "
                f"{row['per_second']} | {row.get('ready_s', '–')} |"
            )
    iso = results.get("isolation")
    if iso:
        r = iso["other_tenant_reads"]
        lines += [
            "",
            f"Isolation ({results['isolation_seconds']:g} s): another tenant's "
            "`GET /v1/jobs/{id}` (wrk -c10) while uploads that unpack to 190 MB, a plant "
            "ending in 8999 and 15 s what-ifs are sent in a loop",
            "",
            "| Reads/s | p50 ms | p99 ms | Errors | Heavy requests sent (status: count) |",
            "| ---: | ---: | ---: | ---: | --- |",
            f"| {r['per_second']:,.0f} | {r['p50_ms']} | {r['p99_ms']} | {r['errors']} | "
            + "; ".join(
                f"{k}: " + ", ".join(f"{c}×{n}" for c, n in sorted(v.items()))
                for k, v in iso["attack"].items()
            )
            + " |",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--e2e-jobs", type=int, default=200)
    parser.add_argument("--isolation", type=float, default=30.0, help="seconds")
    parser.add_argument(
        "--api-workers", type=int, default=int(os.environ.get("APS_API_WORKERS", "2"))
    )
    parser.add_argument(
        "--only", default="pg,embedded,e2e,isolation", help="comma-separated parts to run"
    )
    parser.add_argument("--out", type=Path, default=None, help="also write the markdown here")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench_service: wrk is missing (make bench-service installs it)")
    parts = set(args.only.split(","))
    results: dict[str, Any] = {
        "connections": args.connections,
        "duration": args.duration,
        "isolation_seconds": args.isolation,
        "api_workers": args.api_workers,
        "cpu_count": os.cpu_count(),
    }
    logs = Path(tempfile.mkdtemp(prefix="aps-bench-"))
    procs = Procs(logs)
    step: Callable[[str], None] = lambda s: sys.stderr.write(f"bench: {s}\n")  # noqa: E731
    try:
        flush_redis()
        if "pg" in parts:
            step("PostgreSQL + Redis, API only")
            with pg_schema() as url:
                stack = Stack(procs, env_for(url, REDIS_URL), args.api_workers)
                results["postgres_redis"] = api_rates(stack, args, webhooks=True)
                stack.stop()
            flush_redis()
        if "embedded" in parts:
            step("embedded SQLite")
            with tempfile.TemporaryDirectory() as tmp:
                stack = Stack(procs, env_for(f"sqlite:///{tmp}/bench.db", None), 1)
                rates = api_rates(stack, args, webhooks=False)
                results["embedded"] = {"submit": rates["submit"], "read": rates["read"]}
                stack.stop()
        if "e2e" in parts:
            for n in (1, 2):
                step(f"end to end, {n} worker(s)")
                with pg_schema() as url:
                    stack = Stack(procs, env_for(url, REDIS_URL), args.api_workers)
                    stack.start_relay()
                    ready = [stack.start_worker(i, "solve,plant,notify") for i in range(n)]
                    row = e2e(stack, args.e2e_jobs)
                    row["ready_s"] = round(max(ready), 1)
                    results[f"e2e_{n}"] = row
                    stack.stop()
                flush_redis()
        if "isolation" in parts:
            step("isolation")
            with pg_schema() as url:
                stack = Stack(procs, env_for(url, REDIS_URL), args.api_workers)
                stack.start_relay()
                stack.start_worker(0, "solve,plant,notify")
                results["isolation"] = isolation(stack, args)
                stack.stop()
            flush_redis()
    finally:
        procs.stop_all()
        with contextlib.suppress(Exception):
            flush_redis()
    table = markdown(results)
    sys.stdout.write(json.dumps(results, indent=1) + "\n\n" + table)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table)


if __name__ == "__main__":
    main()
