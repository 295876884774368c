"""Tests of end-of-job callbacks: Standard Webhooks signatures, retries, 410, SSRF."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from standardwebhooks import Webhook

from tests.service.conftest import ClientFactory
from tests.service.support import TERMINAL, Receiver, headers, problem_json, wait_until

SECRET = "whsec_" + base64.b64encode(os.urandom(24)).decode()
FT06 = problem_json("ft06")


@pytest.fixture
def receiver_factory() -> Iterator[Any]:
    made: list[Receiver] = []

    def make(codes: list[int]) -> Receiver:
        made.append(Receiver(codes))
        return made[-1]

    yield make
    for r in made:
        r.close()


def _run(client: TestClient, url: str) -> str:
    r = client.post(
        "/v1/jobs",
        json={"problem": FT06, "options": {"callback_url": url, "time_limit": 2}},
        headers=headers(),
    )
    assert r.status_code == 202, r.text
    job_id: str = r.json()["id"]
    wait_until(
        lambda: client.get(f"/v1/jobs/{job_id}", headers=headers()).json(),
        lambda j: j["status"] in TERMINAL,
    )
    return job_id


def test_callback_retries_until_2xx_with_valid_signatures(
    client_factory: ClientFactory, receiver_factory: Any
) -> None:
    """Tests 500, 500, 200: three signed attempts with one webhook-id, growing delays."""
    receiver = receiver_factory([500, 500, 200])
    backoff = [0.3, 0.9, 5]
    client = client_factory(
        allow_private_callbacks=True, webhook_secret=SECRET, callback_backoff_seconds=backoff
    )
    job_id = _run(client, receiver.url)
    wait_until(lambda: {"calls": len(receiver.calls)}, lambda s: s["calls"] >= 3, interval=0.05)
    time.sleep(0.5)  # a fourth call after the 200 would be a bug
    assert len(receiver.calls) == 3
    ids = {h["webhook-id"] for h, _, _ in receiver.calls}
    assert ids == {f"{job_id}.succeeded"}
    for hdrs, body, _ in receiver.calls:
        payload = Webhook(SECRET).verify(body, hdrs)
        assert payload["data"]["id"] == job_id and payload["data"]["makespan"] == 55
        assert payload["type"] == "job.succeeded"
    # each retry waits at least its delay of the schedule, less the 20 % jitter (a loaded
    # machine only adds to a wait, so these are lower bounds)
    gaps = [b[2] - a[2] for a, b in zip(receiver.calls, receiver.calls[1:], strict=False)]
    assert gaps[0] >= 0.8 * backoff[0] - 0.01 and gaps[1] >= 0.8 * backoff[1] - 0.01, gaps
    with pytest.raises(Exception, match="signature"):
        Webhook(SECRET).verify(receiver.calls[0][1] + b" ", receiver.calls[0][0])


def test_callback_410_stops_and_exhaustion_gives_up(
    client_factory: ClientFactory, receiver_factory: Any
) -> None:
    """Tests that 410 stops at once and endless 500s stop after the backoff schedule."""
    gone, failing = receiver_factory([410]), receiver_factory([500])
    client = client_factory(allow_private_callbacks=True, callback_backoff_seconds=[0.1])
    gone_job, failing_job = _run(client, gone.url), _run(client, failing.url)
    service = client.app.state.service  # type: ignore[attr-defined]
    from sqlalchemy import select

    from jobs.tables import JobEvent

    def log(job_id: str) -> list[str | None]:
        with service.db.read() as s:
            return list(
                s.scalars(
                    select(JobEvent.status)
                    .where(JobEvent.job_id == job_id, JobEvent.kind == "callback")
                    .order_by(JobEvent.id)
                )
            )

    # both deliveries end on their own (410: stop; 500s: give up after the schedule)
    wait_until(
        lambda: {"gone": log(gone_job), "failing": log(failing_job)},
        lambda s: bool(s["gone"]) and s["failing"][-1:] == ["gave_up"],
    )
    time.sleep(0.5)  # room for a wrong extra attempt
    assert log(gone_job) == ["http_410"]
    assert log(failing_job) == ["http_500", "http_500", "gave_up"]
    assert len(gone.calls) == 1 and len(failing.calls) == 2
    assert "webhook-signature" not in gone.calls[0][0]  # no secret configured


def test_send_time_address_check() -> None:
    """Tests that loopback, link-local and private hosts are refused, public ones pass."""
    from jobs.notify import RefusedAddress, check_public

    for url in (
        "http://127.0.0.1:9/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.1.2.3/hook",
        "http://[::1]/hook",
        "http://localhost/hook",
    ):
        with pytest.raises(RefusedAddress, match="non-public address"):
            check_public(url)
    check_public("https://93.184.216.34/hook")  # an IP literal: no DNS needed
