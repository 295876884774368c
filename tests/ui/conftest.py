"""Fixtures for the planner page: a real server on loopback and Debian's Chromium.

The server is ``uvicorn api.main:create_app`` in a subprocess (embedded mode: SQLite in
a temp dir, in-process workers, no Redis) on a random free port; its PID is recorded and
only that process is stopped at teardown. The browser is /usr/bin/chromium driven by the
Python ``playwright`` package (never ``playwright install``: downloads are blocked).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = Path(os.environ.get("APS_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: The exact skip (or, with CI=true, failure) message when the browser is missing.
MISSING_CHROMIUM = (
    f"Chromium not found at {CHROMIUM}: run `bash scripts/install_browser.sh` "
    "(apt-get install -y chromium) or `make test`, which installs it"
)
API_KEY = "ui-test-key-0123456789abcdef"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def require(ok: bool, message: str) -> None:
    """Skip with ``message``, or fail in CI, so CI never passes by skipping."""
    if ok:
        return
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@dataclass
class Server:
    url: str
    key: str
    pid: int

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"X-API-Key": self.key}, timeout=30)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    """The API and the page, embedded mode, on 127.0.0.1 and a random free port."""
    tmp = Path(tempfile.mkdtemp(prefix="aps-ui-"))
    port = _free_port()
    env = {
        **os.environ,
        "APS_DATABASE_URL": f"sqlite:///{tmp / 'aps.db'}",
        "APS_API_KEYS": f"ui:{API_KEY}",
        "APS_ENVIRONMENT": "development",
        "APS_EMBEDDED_WORKERS": "1",
        "APS_MAX_TIME_LIMIT": "30",
    }
    env.pop("APS_BROKER_URL", None)
    log = (tmp / "server.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "api.main:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with {proc.returncode}:\n"
                    + (tmp / "server.log").read_text()[-3000:]
                )
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server not ready after 60 s")
            time.sleep(0.2)
        yield Server(url=url, key=API_KEY, pid=proc.pid)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, with a fresh profile (skips or fails when missing)."""
    require(CHROMIUM.exists(), MISSING_CHROMIUM)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require(False, "the Python playwright package is missing: pip install -e '.[dev]'")
        raise
    profile = Path(tempfile.mkdtemp(prefix="aps-chromium-"))
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1600, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Any]:
    """A fresh tab on /ui with the test API key typed in; console errors are collected."""
    tab = browser.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    tab.goto(f"{server.url}/ui")
    tab.wait_for_selector("body[data-ready=true]", timeout=60_000)
    tab.fill("#api-key", server.key)
    tab.dispatch_event("#api-key", "change")
    tab.errors = errors
    yield tab
    tab.close()
