"""Security tests (issue 8, part 4): authentication on every route, tenant isolation on
every id-taking route, idempotency under concurrent replay, limits, rate limiting, and
SSRF refusal of callback targets including DNS rebinding.

The route lists are generated from ``app.routes``, so a new route is covered (or makes a
test fail until it is classified) without editing this file.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete

from jobs import notify, repo
from jobs.settings import DEV_API_KEY, Settings
from jobs.tables import ApiKey
from tests.service.conftest import ClientFactory
from tests.service.support import KEYS, Receiver, headers, problem_json

FT06 = problem_json("ft06")
SMALL = {
    "machines": [{"id": 0}],
    "jobs": [{"id": 0, "operations": [{"id": 0, "modes": [{"machine": 0, "duration": 2}]}]}],
}

# -- SSRF -------------------------------------------------------------------------------

Resolver = Callable[..., list[Any]]


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list[str]]]:
    """Names under ``.example`` answer from a script: one entry per lookup (the last
    repeats), each a comma-separated list of addresses; other names go to the real
    resolver. No network is used."""
    script: dict[str, list[str]] = {}
    real: Resolver = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if not name.endswith(".example"):
            return real(host, port, *args, **kwargs)
        answers = script.get(name)
        if not answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        infos: list[Any] = []
        for address in answer.split(","):
            if ":" in address:
                infos.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0)))
            else:
                infos.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)))
        return infos

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield script


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",  # loopback
        "http://127.1.2.3:8080/hook",
        "http://localhost/hook",  # a name for loopback (/etc/hosts)
        "http://10.1.2.3/hook",  # private
        "http://172.16.0.1/hook",
        "http://192.168.1.1/hook",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
        "http://[::1]/hook",  # IPv6 loopback
        "http://[fe80::1]/hook",  # IPv6 link-local
        "http://[fd00::1]/hook",  # IPv6 unique local
        "http://[::ffff:127.0.0.1]/hook",  # IPv4-mapped loopback
        "http://[::ffff:169.254.169.254]/hook",
        "http://2130706433/hook",  # 127.0.0.1 as a decimal number
        "http://0x7f000001/hook",  # ... as hex
        "http://0177.0.0.1/hook",  # ... with an octal first part
        "http://0/hook",  # 0.0.0.0
        "http://internal.example/hook",  # a name that resolves to a private address
        "http://mixed.example/hook",  # a public and a private answer
        "http://internal6.example/hook",  # a name with an IPv6 loopback answer
        "http://nowhere.example/hook",  # a name that does not resolve
    ],
)
def test_callback_targets_refused(
    idle_client: TestClient, fake_dns: dict[str, list[str]], url: str
) -> None:
    """Tests that every non-public callback target is a 422 at the URL field, on both the
    job option and the plant callback registration, and refused again at send time."""
    fake_dns.update(
        {
            "internal.example": ["10.0.0.7"],
            "mixed.example": ["93.184.216.34,10.0.0.7"],
            "internal6.example": ["::1"],
        }
    )
    r = idle_client.post(
        "/v1/jobs",
        json={"problem": SMALL, "options": {"callback_url": url}},
        headers=headers(),
    )
    assert r.status_code == 422, (url, r.text)
    assert r.json()["detail"][0]["loc"] == ["body", "options", "callback_url"], r.text
    assert "refused" in r.json()["detail"][0]["msg"]
    r = idle_client.post("/v1/callbacks", json={"url": url}, headers=headers())
    assert r.status_code == 422, (url, r.text)
    assert r.json()["detail"][0]["loc"] == ["body", "url"], r.text
    with pytest.raises(notify.RefusedAddress):
        notify.resolve(url)
    assert idle_client.get("/v1/jobs", headers=headers()).json()["count"] == 0
    assert idle_client.get("/v1/callbacks", headers=headers()).json() == []


def test_public_callback_target_accepted(fake_dns: dict[str, list[str]]) -> None:
    """Tests that a name resolving only to public addresses passes (the check can pass)."""
    fake_dns["erp.example"] = ["93.184.216.34"]
    assert str(notify.resolve("https://erp.example/hook")) == "93.184.216.34"
    assert str(notify.resolve("https://93.184.216.34/hook")) == "93.184.216.34"


def test_dns_rebinding_connects_to_the_checked_address(
    idle_client: TestClient, fake_dns: dict[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tests that a callback connects to the address that was checked: the name is
    resolved once, and a second (rebound) answer is never used. Host header kept."""
    receiver = Receiver([200])
    try:
        port = receiver.server.server_address[1]
        # 127.0.0.1 stands in for a public server here; the rebound answer 127.0.0.2
        # for an internal one (nothing listens there, so using it fails the delivery).
        monkeypatch.setattr(notify, "is_public", lambda address: str(address) == "127.0.0.1")
        fake_dns["rebind.example"] = ["127.0.0.1", "127.0.0.2"]
        service = idle_client.app.state.service  # type: ignore[attr-defined]
        url = f"http://rebind.example:{port}/hook"
        with service.db.write() as session:
            job = repo.create_job(
                session,
                tenant_id="acme",
                name="rebind",
                problem_json="{}",
                options={},
                num_operations=1,
                callback_url=url,
                max_attempts=1,
            )
            job_id = job.id
        settings = Settings(**{**service.settings.model_dump(), "callback_timeout_seconds": 3})
        outcome = notify.deliver(service.db, settings, {"job_id": job_id})
        assert outcome == "delivered", outcome
        assert len(receiver.calls) == 1
        assert receiver.calls[0][0]["host"] == f"rebind.example:{port}"
    finally:
        receiver.close()


# -- revocation -------------------------------------------------------------------------


def _status(client: TestClient, key: str) -> int:
    code: int = client.get("/v1/jobs", headers={"X-API-Key": key}).status_code
    return code


def test_key_removed_from_configuration_is_refused_after_restart(
    client_factory: ClientFactory,
) -> None:
    """Tests that a key taken out of APS_API_KEYS (and the dev key once real keys are
    set) is refused after the restart, while keys made by `aps apikey create` stay."""
    dev = client_factory(background=False, api_keys="")
    assert _status(dev, DEV_API_KEY) == 200
    service = dev.app.state.service  # type: ignore[attr-defined]
    with service.db.write() as session:
        repo.ensure_key(session, "gamma", "gamma-key-created-by-the-cli", label=None)
    dev.__exit__(None, None, None)

    both = client_factory(background=False)  # acme and beta configured
    assert _status(both, DEV_API_KEY) == 401
    assert _status(both, KEYS["beta"]) == 200
    both.__exit__(None, None, None)

    acme_only = client_factory(background=False, api_keys=f"acme:{KEYS['acme']}")
    assert _status(acme_only, KEYS["acme"]) == 200
    assert _status(acme_only, KEYS["beta"]) == 401
    assert _status(acme_only, DEV_API_KEY) == 401
    assert _status(acme_only, "gamma-key-created-by-the-cli") == 200


@pytest.mark.timeout(60)
def test_revocation_in_the_database_is_immediate(idle_client: TestClient) -> None:
    """Tests that revoking or deleting a key takes effect on the next request, and ends
    an open event stream of that key, with no restart."""
    service = idle_client.app.state.service  # type: ignore[attr-defined]
    key = "short-lived-key-0123456789"
    with service.db.write() as session:
        repo.ensure_key(session, "acme", key)
    job_id = idle_client.post(
        "/v1/jobs", json={"problem": SMALL}, headers={"X-API-Key": key}
    ).json()["id"]
    with idle_client.stream(
        "GET", f"/v1/jobs/{job_id}/events", headers={"X-API-Key": key}
    ) as stream:
        assert stream.status_code == 200
        lines = stream.iter_lines()
        assert next(line for line in lines if line.startswith("data:"))
        with service.db.write() as session:
            assert repo.revoke_key(session, key)
        started = time.monotonic()
        rest = list(lines)  # the job stays queued: only the revocation ends the stream
        assert time.monotonic() - started < 5, rest
    assert _status(idle_client, key) == 401
    assert _status(idle_client, KEYS["acme"]) == 200
    with service.db.write() as session:
        session.execute(delete(ApiKey).where(ApiKey.key_hash == repo.hash_key(KEYS["beta"])))
    assert _status(idle_client, KEYS["beta"]) == 401
