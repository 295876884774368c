"""Helpers shared by the service and system tests: real Redis/PostgreSQL or a clear skip.

Outside CI an unreachable service skips the test with the command that starts it; with
``CI=true`` the same message fails the test, so CI never passes by skipping.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).with_name("data")
REDIS_HOST, REDIS_PORT = "127.0.0.1", int(os.environ.get("APS_TEST_REDIS_PORT", "6379"))
PG_HOST, PG_PORT = "127.0.0.1", int(os.environ.get("APS_TEST_PG_PORT", "5432"))
PG_URL = f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/test"
#: Redis DB reserved for these tests (flushed before and after); override if taken.
REDIS_DB = int(os.environ.get("APS_TEST_REDIS_DB", "13"))

KEYS = {"acme": "acme-key-0123456789abcdef", "beta": "beta-key-0123456789abcdef"}
API_KEYS = ",".join(f"{t}:{k}" for t, k in KEYS.items())
TERMINAL = {"succeeded", "infeasible", "failed", "cancelled"}
#: How long to wait for something that happens within seconds on an idle machine. A wait
#: ends as soon as its condition holds, so the margin costs nothing; it is there for a
#: loaded machine, where a short timeout would fail a correct service.
EVENTUALLY = 120.0


def unavailable(message: str) -> None:
    """Skip, or fail in CI (``CI=true``), with a message naming what is missing."""
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def require_redis() -> str:
    """A URL of the test Redis DB, flushed; skips/fails when Redis is not reachable."""
    import redis

    client = redis.Redis(
        host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB, socket_timeout=2, socket_connect_timeout=2
    )
    try:
        client.ping()
        client.flushdb()
    except redis.RedisError as exc:
        unavailable(
            f"Redis not reachable at {REDIS_HOST}:{REDIS_PORT} ({exc}): start it with "
            f"`redis-server --bind 127.0.0.1 --port {REDIS_PORT} --maxmemory-policy "
            "noeviction --daemonize yes` (Debian: `apt-get install redis-server`)"
        )
    finally:
        client.close()
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"


def flush_redis() -> None:
    import redis

    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB, socket_timeout=2)
    try:
        client.flushdb()
    except redis.RedisError:
        pass
    finally:
        client.close()


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh schema in database ``test`` (dropped afterwards); yields its URL."""
    import psycopg

    schema = f"aps_test_{uuid.uuid4().hex[:12]}"
    dsn = f"host={PG_HOST} port={PG_PORT} user=postgres dbname=test connect_timeout=3"
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    except psycopg.Error as exc:
        unavailable(
            f"PostgreSQL not reachable at {PG_HOST}:{PG_PORT} (user postgres, database "
            "test): start it with `pg_ctlcluster 15 main start` and create the database with "
            "`createdb -h 127.0.0.1 -U postgres test` (trust auth on loopback); error: "
            + " ".join(str(exc).split())
        )
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def problem_json(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / f"{name}.json").read_text())
    return data


def headers(tenant: str = "acme", **extra: str) -> dict[str, str]:
    return {"X-API-Key": KEYS[tenant], **extra}


def wait_until(
    fetch: Callable[[], dict[str, Any]],
    done: Callable[[dict[str, Any]], bool],
    timeout: float = EVENTUALLY,
    interval: float = 0.1,
) -> dict[str, Any]:
    """Poll ``fetch`` until ``done``; fail with the last state on timeout."""
    deadline = time.monotonic() + timeout
    state = fetch()
    while not done(state):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s; last state: {state}")
        time.sleep(interval)
        state = fetch()
    return state


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Receiver:
    """A loopback HTTP endpoint answering a scripted list of status codes."""

    def __init__(self, codes: list[int]) -> None:
        self.codes = codes
        self.calls: list[tuple[dict[str, str], bytes, float]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.calls.append(
                    ({k.lower(): v for k, v in self.headers.items()}, body, time.monotonic())
                )
                code = receiver.codes[min(len(receiver.calls), len(receiver.codes)) - 1]
                self.send_response(code)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
