"""Helpers for the live-plant tests: signed ERP events, the example plant, polling."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from standardwebhooks import Webhook

from aps import Problem
from aps.result import ScheduledOperation
from tests.service.support import EVENTUALLY, headers, wait_until

PLANT = Path(__file__).resolve().parents[2] / "instances" / "plant.json"
SECRET = "whsec_" + base64.b64encode(b"plant-test-secret-0123456789abcd").decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"plant-test-old-secret-987654321").decode()
OPTIONS = {"time_limit": 2.0, "reschedule_time_limit": 2.0, "workers": 1}

Client = TestClient | httpx.Client


def plant_body() -> dict[str, Any]:
    return {"plant": json.loads(PLANT.read_text()), "options": OPTIONS}


def signed(
    event: dict[str, Any], secret: str = SECRET, msg_id: str | None = None
) -> tuple[bytes, dict[str, str]]:
    """The raw body and the Standard Webhooks headers of one event."""
    body = json.dumps(event).encode()
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id, now, body.decode())
    return body, {
        **headers(),
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }


def post_event(
    client: Client, event: dict[str, Any], secret: str = SECRET, msg_id: str | None = None
) -> httpx.Response:
    body, hdrs = signed(event, secret, msg_id)
    return client.post("/v1/webhooks/erp", content=body, headers=hdrs)


def at(problem: Problem, tick: int) -> str:
    assert problem.time is not None
    moment = problem.time.origin + timedelta(seconds=tick * problem.time.tick_seconds)
    return moment.isoformat()


def plant_state(client: Client) -> dict[str, Any]:
    data: dict[str, Any] = client.get("/v1/plant", headers=headers()).json()
    return data


def wait_version(client: Client, version: int, timeout: float = EVENTUALLY) -> dict[str, Any]:
    return wait_until(
        lambda: plant_state(client),
        lambda s: s.get("version", 0) >= version or s.get("status") == "failed",
        timeout,
        interval=0.2,
    )


def wait_quiet(client: Client, timeout: float = EVENTUALLY) -> dict[str, Any]:
    """Until no event is pending, no run is staged or running, and the version is steady."""
    last: list[int] = []

    def fetch() -> dict[str, Any]:
        state = plant_state(client)
        last.append(state["version"])
        return state

    return wait_until(
        fetch,
        lambda s: (
            s["pending_events"] == 0
            and not s["running"]
            and len(last) > 2
            and len(set(last[-3:])) == 1
        ),
        timeout,
        interval=0.2,
    )


def version(client: Client, v: int) -> tuple[dict[str, Any], Problem, list[ScheduledOperation]]:
    """A published version: its JSON body, the problem it solves and its rows."""
    params = {"version": v}
    body: dict[str, Any] = client.get("/v1/plant/schedule", params=params, headers=headers()).json()
    problem = Problem.model_validate_json(
        client.get("/v1/plant/problem", params=params, headers=headers()).content
    )
    rows = [
        ScheduledOperation.model_validate(
            {k: o[k] for k in ("job", "op", "machine", "start", "end", "setup_start")}
        )
        for o in body["operations"]
    ]
    return body, problem, rows
