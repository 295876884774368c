"""Real processes: ``aps serve`` and ``aps worker`` subprocesses on Redis and PostgreSQL.

Every subprocess is started in its own session; its PID is recorded and teardown signals
exactly that process group, never anything found by name.
"""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.support import (
    API_KEYS,
    flush_redis,
    free_port,
    postgres_schema,
    require_redis,
)

APS = str(Path(sys.executable).with_name("aps"))
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"system-test-secret-0123456789").decode()


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the recorded process group (pool children included)."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, sig)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)
        try:
            self.popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill(signal.SIGKILL)
            self.popen.wait(timeout=5)


def service_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APS_")}
    env.update(
        {
            "APS_API_KEYS": API_KEYS,
            "APS_LEASE_SECONDS": "3",
            "APS_MAX_ATTEMPTS": "2",
            "APS_HEARTBEAT_SECONDS": "0.5",
            "APS_REAPER_INTERVAL_SECONDS": "0.5",
            "APS_RELAY_INTERVAL_SECONDS": "0.1",
            "APS_MAX_TIME_LIMIT": "60",
            "APS_RATE_LIMIT_PER_MINUTE": "6000",
            "APS_RATE_LIMIT_BURST": "1000",
            "PYTHONUNBUFFERED": "1",
            "APS_ALLOW_PRIVATE_CALLBACKS": "true",  # the test receiver listens on loopback
            "APS_WEBHOOK_SECRET": WEBHOOK_SECRET,
            # The fault tests crash the relay of one process and count on another's: the
            # relay runs in the API and in every worker here (production runs
            # `aps relay` as its own process; benchmarks/bench_service.py drives that).
            "APS_RELAY_IN_API": "true",
            "APS_RELAY_IN_WORKER": "true",
        }
    )
    env.update(values)
    return env


@dataclass
class Stack:
    """An API process and worker processes sharing one database and broker."""

    env: dict[str, str]
    logs: Path
    port: int = field(default_factory=free_port)
    procs: list[Proc] = field(default_factory=list)
    api: Proc | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _start(self, name: str, argv: list[str]) -> Proc:
        log = self.logs / f"{name}-{len(self.procs)}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                argv, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def start_api(self) -> Proc:
        self.api = self._start(
            "api",
            [
                APS,
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.api.popen.poll() is not None:
                pytest.fail(f"aps serve exited:\n{self.api.text()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self.api
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        pytest.fail(f"aps serve not ready within 60 s:\n{self.api.text()}")

    def start_worker(self, *extra: str, env: dict[str, str] | None = None) -> Proc:
        saved = self.env
        self.env = {**self.env, **(env or {})}
        try:
            return self._wait_worker(self._start_worker_proc(*extra))
        finally:
            self.env = saved

    def _start_worker_proc(self, *extra: str) -> Proc:
        return self._start(
            "worker",
            [
                APS,
                "worker",
                "--pool",
                "prefork",
                "--concurrency",
                "1",
                "--loglevel",
                "INFO",
                *extra,
            ],
        )

    def _wait_worker(self, worker: Proc) -> Proc:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if worker.popen.poll() is not None:
                pytest.fail(f"aps worker exited:\n{worker.text()}")
            if " ready." in worker.text():
                return worker
            time.sleep(0.2)
        pytest.fail(f"aps worker not ready within 60 s:\n{worker.text()}")

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10, **kwargs)


@pytest.fixture
def redis_url() -> Iterator[str]:
    url = require_redis()
    yield url
    flush_redis()


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_schema() as url:
        yield url


@pytest.fixture
def celery_stack(redis_url: str, pg_url: str, tmp_path: Path) -> Iterator[Stack]:
    """``aps serve`` (API only) + one ``aps worker`` on Redis and a PostgreSQL schema."""
    stack = Stack(service_env(APS_DATABASE_URL=pg_url, APS_BROKER_URL=redis_url), tmp_path)
    try:
        stack.start_api()
        stack.start_worker()
        yield stack
    finally:
        stack.stop()
