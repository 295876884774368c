"""Tests that ``aps serve`` stops on SIGTERM while an upload is being compiled."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.service.support import EVENTUALLY, KEYS, free_port, headers

ROOT = Path(__file__).resolve().parents[2]
APS = str(Path(sys.executable).with_name("aps"))


def _descendants(pid: int) -> list[int]:
    """The process ids below ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent]
        found += children
        frontier += children
    return found


@pytest.mark.timeout(300)
def test_sigterm_stops_serve_while_an_upload_compiles(tmp_path: Path) -> None:
    """Tests that SIGTERM ends `aps serve` within 5 s (a generous bound) while a plant
    whose horizon ends in the year 8999 is being compiled (the horizon cap lifted, so
    the compile runs for minutes), and that the compile process ends with it."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("APS_")}
    env.update(
        APS_DATABASE_URL=f"sqlite:///{tmp_path / 'aps.db'}",
        APS_API_KEYS=f"acme:{KEYS['acme']}",
        APS_MAX_HORIZON_TICKS=str(10**12),
        APS_COMPILE_CPU_SECONDS="600",
        PYTHONUNBUFFERED="1",
    )
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [APS, "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + EVENTUALLY
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "aps serve not ready"
            time.sleep(0.2)
        before = set(_descendants(proc.pid))
        plant = json.loads((ROOT / "instances" / "plant.json").read_text())
        plant["horizon"]["end"] = "8999-12-31T00:00:00+01:00"
        upload = json.dumps(plant).encode()

        def send() -> None:
            with contextlib.suppress(httpx.HTTPError):  # the server stopped: no answer is fine
                httpx.post(
                    f"{url}/v1/jobs",
                    files={"file": ("plant.json", upload)},
                    headers=headers(),
                    timeout=EVENTUALLY,
                )

        thread = threading.Thread(target=send, daemon=True)
        thread.start()
        # the compile runs in a new process below the server (forkserver and its child)
        deadline = time.monotonic() + EVENTUALLY
        while len(set(_descendants(proc.pid)) - before) < 2:
            assert time.monotonic() < deadline, "no compile process started"
            time.sleep(0.1)
        compiling = set(_descendants(proc.pid))
        time.sleep(1.0)  # let the compile get going
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        assert time.monotonic() - signalled < 5.0, (tmp_path / "serve.log").read_text()
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{pid}").exists() for pid in compiling):
            alive = [p for p in compiling if Path(f"/proc/{p}").exists()]
            states = [
                Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0]
                for p in alive
                if Path(f"/proc/{p}/stat").exists()
            ]
            if all(s == "Z" for s in states):
                break
            assert time.monotonic() < deadline, f"compile processes left running: {alive}"
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()
