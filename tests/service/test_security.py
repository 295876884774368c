"""Security tests: authentication on every route, tenant isolation on every id-taking
route, idempotency under concurrent replay, limits, rate limiting, and SSRF refusal of
callback targets including DNS rebinding.

The route lists are generated from ``app.routes``, so a new route is covered (or makes a
test fail until it is classified) without editing this file.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import ssl
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import delete

from api.ratelimit import RateLimiter, RedisRateLimiter, limiter_for
from jobs import callbacks, notify, repo
from jobs.settings import DEV_API_KEY, Settings
from jobs.tables import ApiKey
from tests.service.conftest import ClientFactory
from tests.service.support import (
    KEYS,
    Receiver,
    headers,
    problem_json,
    require_redis,
    wait_until,
)

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
        outcome = callbacks.deliver(service.db, settings, {"job_id": job_id})
        assert outcome == "delivered", outcome
        assert len(receiver.calls) == 1
        assert receiver.calls[0][0]["host"] == f"rebind.example:{port}"
    finally:
        receiver.close()


def test_pinned_https_keeps_the_name_for_sni_and_the_certificate(
    fake_dns: dict[str, list[str]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Tests that over HTTPS the pinned connection still sends the host name as SNI and
    checks the certificate against it (not against the IP it connects to)."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    command = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=rebind.example"
    command += " -addext subjectAltName=DNS:rebind.example"
    subprocess.run(
        [*command.split(), "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True
    )
    server_names: list[str | None] = []
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)

    def note_sni(sock: Any, name: str | None, ctx: Any) -> None:
        server_names.append(name)

    server_ctx.sni_callback = note_sni
    receiver = Receiver([204])
    receiver.server.socket = server_ctx.wrap_socket(receiver.server.socket, server_side=True)
    try:
        port = receiver.server.server_address[1]
        monkeypatch.setattr(notify, "is_public", lambda address: str(address) == "127.0.0.1")
        monkeypatch.setattr(
            httpx, "create_ssl_context", lambda **_: ssl.create_default_context(cafile=cert)
        )
        fake_dns["rebind.example"] = ["127.0.0.1", "127.0.0.2"]
        url = f"https://rebind.example:{port}/hook"
        answer = notify.post(url, content="{}", headers={}, timeout=5, allow_private=False)
        assert answer.status_code == 204
        assert server_names == ["rebind.example"]
        assert receiver.calls[0][0]["host"] == f"rebind.example:{port}"
        fake_dns["other.example"] = ["127.0.0.1"]  # a name the certificate does not hold
        with pytest.raises(httpx.ConnectError, match="certificate"):
            notify.post(
                f"https://other.example:{port}/hook",
                content="{}",
                headers={},
                timeout=5,
                allow_private=False,
            )
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


def test_revocation_takes_effect_once_the_cached_lookup_expires(idle_client: TestClient) -> None:
    """Tests the key cache with a clock the test moves: a revoked key still passes while
    its lookup is cached (APS_KEY_CACHE_SECONDS, 1 s by default) and is refused as soon
    as that time has passed; an unknown key is refused throughout."""
    service = idle_client.app.state.service  # type: ignore[attr-defined]
    now = [1000.0]
    service.keys.clock = lambda: now[0]
    key = "cached-key-0123456789abcdef"
    with service.db.write() as session:
        repo.ensure_key(session, "acme", key)
    assert _status(idle_client, key) == 200  # looked up and cached
    with service.db.write() as session:
        assert repo.revoke_key(session, key)
    assert service.settings.key_cache_seconds <= 2.0
    assert _status(idle_client, key) == 200  # the cached lookup, within its second
    now[0] += service.settings.key_cache_seconds + 0.001
    assert _status(idle_client, key) == 401
    assert _status(idle_client, "never-a-key-0123456789") == 401


@pytest.mark.timeout(60)
def test_revocation_in_the_database_is_immediate(client_factory: ClientFactory) -> None:
    """Tests that revoking or deleting a key takes effect on the next request (with the
    lookup cache off; with it, within APS_KEY_CACHE_SECONDS: the test above), and ends
    an open event stream of that key, with no restart."""
    idle_client = client_factory(background=False, key_cache_seconds=0)
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
        # the job stays queued: only the revocation ends the stream (a stream that did not
        # end would hang here until the test's timeout)
        list(lines)
    assert _status(idle_client, key) == 401
    assert _status(idle_client, KEYS["acme"]) == 200
    with service.db.write() as session:
        session.execute(delete(ApiKey).where(ApiKey.key_hash == repo.hash_key(KEYS["beta"])))
    assert _status(idle_client, KEYS["beta"]) == 401


# -- every route, from app.routes -----------------------------------------------------

#: The routes that answer without an API key, each with why. Kept small on purpose.
PUBLIC = {
    "/healthz": "liveness probe",
    "/readyz": "readiness probe",
    "/metrics": "Prometheus scrape: counts only, no tenant's data",
    "/openapi.json": "the API description",
    "/docs": "the OpenAPI explorer",
    "/docs/oauth2-redirect": "part of the explorer",
    "/redoc": "the API description, rendered",
    "/ui": "the planner's page; its data comes from the API with the key",
    "/ui/": "the same",
    "/ui/static/{name}": "the page's script and style sheet (a fixed list)",
    "/ui/vendor/plotly.min.js": "the chart library",
    "/ui/config.json": "form limits (and the dev key only in development)",
    "/ui/example/plant.json": "the example plant",
}


def all_routes(client: TestClient) -> list[tuple[str, str]]:
    """(method, path) of every route the app serves, documented or not."""
    found: list[tuple[str, str]] = []
    for route in iter_route_contexts(client.app.routes):  # type: ignore[attr-defined]
        path, methods = route.path, route.methods
        assert path and methods, f"a route of a new kind needs a rule here: {route!r}"
        found += [(m, path) for m in sorted(methods) if m != "HEAD"]
    return found


def fill(path: str, values: dict[str, str] | None = None) -> str:
    """The path with its parameters set (``values``, else a fresh UUID each)."""
    return re.sub(
        r"\{(\w+)(?::\w+)?\}",
        lambda m: (values or {}).get(m.group(1)) or str(uuid.uuid4()),
        path,
    )


def test_every_route_needs_a_key_but_a_short_public_list(idle_client: TestClient) -> None:
    """Tests that every route outside PUBLIC answers 401 (with WWW-Authenticate) without
    a key, with an empty, a wrong or a revoked key, and not so with a valid key."""
    routes = all_routes(idle_client)
    paths = {p for _, p in routes}
    assert set(PUBLIC) <= paths, set(PUBLIC) - paths  # no stale entries
    assert len(PUBLIC) <= 13 and not [p for p in PUBLIC if p.startswith("/v1/")]
    private = [(m, p) for m, p in routes if p not in PUBLIC]
    assert len(private) >= 24
    service = idle_client.app.state.service  # type: ignore[attr-defined]
    with service.db.write() as session:
        repo.ensure_key(session, "acme", "revoked-key-0123456789")
        assert repo.revoke_key(session, "revoked-key-0123456789")
    for method, path in private:
        url = fill(path)
        for key in (None, "", "wrong-key", "revoked-key-0123456789", KEYS["acme"] + " "):
            hdrs = {} if key is None else {"X-API-Key": key}
            r = idle_client.request(method, url, headers=hdrs, json={})
            assert r.status_code == 401, (method, path, key, r.status_code, r.text)
            assert r.headers["WWW-Authenticate"] == "APIKey", (method, path)
        r = idle_client.request(method, url, headers=headers(), json={})
        assert not (r.status_code == 401 and "API key" in r.text), (method, path, r.text)
    for method, path in routes:
        if path in PUBLIC:
            r = idle_client.request(method, fill(path, {"name": "app.js"}))
            assert r.status_code in (200, 501), (method, path, r.status_code)


#: Bodies valid enough to reach the id check (a route that needs one and is missing here
#: fails the test below with a 422 instead of a 404).
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/v1/jobs/{job_id}/machine-down"): {"machine": "0", "start": 0, "end": 5},
}


def test_other_tenants_ids_are_404_on_every_route(client: TestClient) -> None:
    """Tests that for every route with an id in its path, tenant B gets the same 404
    for tenant A's id as for an unknown one, and A's job and callback are unchanged."""
    r = client.post("/v1/jobs", json={"problem": SMALL}, headers=headers())
    job_id = r.json()["id"]
    wait_until(
        lambda: client.get(f"/v1/jobs/{job_id}", headers=headers()).json(),
        lambda j: j["status"] == "succeeded",
    )
    callback = client.post(
        "/v1/callbacks", json={"url": "https://93.184.216.34/hook"}, headers=headers()
    )
    assert callback.status_code == 201, callback.text
    ids = {"job_id": job_id, "callback_id": callback.json()["id"]}
    staged = client.post(
        f"/v1/jobs/{job_id}/machine-down",
        json={"machine": "0", "start": 0, "end": 1, "time_limit": 1},
        headers=headers(),
    )
    assert staged.status_code == 202, staged.text
    what_if = wait_until(
        lambda: client.get(staged.json()["links"]["self"], headers=headers()).json(),
        lambda j: j["status"] == "succeeded",
    )["id"]
    #: routes of what-if jobs take a what-if job's id
    what_if_ids = {**ids, "job_id": what_if}
    job_before = client.get(f"/v1/jobs/{job_id}", headers=headers()).json()
    taking_ids = [(m, p) for m, p in all_routes(client) if "{" in p and p not in PUBLIC]
    assert len(taking_ids) >= 10
    for method, path in taking_ids:
        names = set(re.findall(r"\{(\w+)", path))
        assert names <= set(ids), f"{path}: give tenant A a {names - set(ids)} to test"
        body = BODIES.get((method, path), {})
        path_ids = what_if_ids if path.endswith(("/what-if", "/publish")) else ids
        theirs = client.request(method, fill(path, path_ids), headers=headers("beta"), json=body)
        unknown = client.request(method, fill(path), headers=headers("beta"), json=body)
        assert theirs.status_code == 404, (method, path, theirs.status_code, theirs.text)
        assert (theirs.status_code, theirs.json()) == (unknown.status_code, unknown.json())
        if method == "GET":  # the id is live: its owner gets an answer
            own = client.request(method, fill(path, path_ids), headers=headers())
            assert own.status_code == 200, (method, path, own.status_code, own.text)
    assert client.get(f"/v1/jobs/{job_id}", headers=headers()).json() == job_before
    listed = client.get("/v1/callbacks", headers=headers()).json()
    assert [c["id"] for c in listed] == [ids["callback_id"]]
    assert client.get("/v1/jobs", headers=headers("beta")).json()["count"] == 0
    assert client.get("/v1/plant", headers=headers("beta")).status_code == 404
    assert client.get("/v1/callbacks", headers=headers("beta")).json() == []


# -- limits ---------------------------------------------------------------------------


def test_requests_that_start_a_solve_share_a_rate_limit(client_factory: ClientFactory) -> None:
    """Tests that submissions, plant loads, reschedules and what-if repairs take from one
    bucket per tenant: 429 with Retry-After naming the setting; reads and other tenants
    are not limited."""
    # one token a minute: no refill while the requests run, however slow the machine
    c = client_factory(background=False, rate_limit_per_minute=1, rate_limit_burst=2)
    assert c.put("/v1/plant", json={"problem": SMALL}, headers=headers()).status_code == 202
    assert c.post("/v1/jobs", json={"problem": SMALL}, headers=headers()).status_code == 202
    job = f"/v1/jobs/{uuid.uuid4()}"
    for method, path, body in [
        ("POST", "/v1/jobs", {"problem": SMALL}),
        ("PUT", "/v1/plant", {"problem": SMALL}),
        ("POST", "/v1/plant/reschedule", {}),
        ("POST", f"{job}/machine-down", {"machine": "0", "start": 0, "end": 5}),
    ]:
        r = c.request(method, path, json=body, headers=headers())
        assert r.status_code == 429, (method, path, r.text)
        assert int(r.headers["Retry-After"]) >= 1
        assert "APS_RATE_LIMIT_PER_MINUTE" in r.json()["detail"]
    for _ in range(5):
        assert c.get("/v1/jobs", headers=headers()).status_code == 200
    assert c.post("/v1/jobs", json={"problem": SMALL}, headers=headers("beta")).status_code == 202


def test_rate_limiter_refills_at_its_rate() -> None:
    """Tests the token bucket on a given clock: the burst, then one token per 60/rate s,
    the wait it names, and separate buckets per key."""
    now = [0.0]
    limiter = RateLimiter(per_minute=30, burst=2, clock=lambda: now[0])
    assert limiter.take("a") is None and limiter.take("a") is None
    wait = limiter.take("a")
    assert wait is not None and abs(wait - 2.0) < 1e-9  # 30 a minute: one every 2 s
    assert limiter.take("b") is None  # another tenant has its own bucket
    now[0] = 1.0
    assert limiter.take("a") == pytest.approx(1.0)
    now[0] = 2.0
    assert limiter.take("a") is None
    now[0] = 1000.0  # a long pause refills up to the burst, not beyond
    assert [limiter.take("a") is None for _ in range(3)] == [True, True, False]


def test_rate_limit_in_redis_holds_across_replicas() -> None:
    """Tests that two API processes' limiters on one Redis share a tenant's allowance (the
    burst, then a named wait on either), keep tenants apart, and that without a Redis
    broker the limit stays in process."""
    url = require_redis()
    one, two = (RedisRateLimiter(url, per_minute=60, burst=3) for _ in range(2))
    tenant, other = str(uuid.uuid4()), str(uuid.uuid4())
    assert [one.take(tenant), two.take(tenant), one.take(tenant)] == [None, None, None]
    waits = [two.take(tenant), one.take(tenant)]
    assert all(w is not None and 0 < w <= 3.0 for w in waits)  # window: 3 per 3 s
    assert two.take(other) is None
    assert isinstance(limiter_for(url, 60, 3), RedisRateLimiter)
    assert isinstance(limiter_for(None, 60, 3), RateLimiter)


def test_rate_limit_falls_back_in_process_when_redis_is_gone() -> None:
    """Tests that a limiter whose Redis is unreachable still limits, in process."""
    port = _free_port()
    limiter = RedisRateLimiter(f"redis://127.0.0.1:{port}/0", per_minute=60, burst=2)
    assert [limiter.take("t") is None for _ in range(3)] == [True, True, False]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_bodies_over_the_limit_are_413_on_every_route(client_factory: ClientFactory) -> None:
    """Tests that every route taking a body (from app.routes) answers 413 to one over
    APS_MAX_BODY_BYTES, JSON or upload, and stores nothing."""
    c = client_factory(background=False, max_body_bytes=4096)
    writes = [(m, p) for m, p in all_routes(c) if m in ("POST", "PUT", "PATCH")]
    assert len(writes) >= 8
    big = b'{"problem": "' + b"x" * 10_000 + b'"}'
    for method, path in writes:
        r = c.request(
            method, fill(path), content=big, headers=headers(**{"Content-Type": "application/json"})
        )
        assert r.status_code == 413, (method, path, r.status_code, r.text)
    r = c.post("/v1/jobs", files={"file": ("plant.json", b" " * 10_000)}, headers=headers())
    assert r.status_code == 413
    assert c.get("/v1/jobs", headers=headers()).json()["count"] == 0
    assert c.get("/v1/plant", headers=headers()).status_code == 404


def test_operation_and_time_limits_on_the_plant(client_factory: ClientFactory) -> None:
    """Tests that a plant (JSON or upload) over APS_MAX_OPERATIONS, or options over the
    time and worker maxima, is a 422 naming field and setting; nothing is loaded."""
    c = client_factory(background=False, max_operations=2, max_time_limit=5)
    three = {
        "machines": [{"id": "M"}],
        "jobs": [
            {"id": j, "operations": [{"id": 0, "modes": [{"machine": "M", "duration": 1}]}]}
            for j in range(3)
        ],
    }
    r = c.put("/v1/plant", json={"problem": three}, headers=headers())
    assert r.status_code == 422 and "APS_MAX_OPERATIONS" in r.json()["detail"][0]["msg"]
    r = c.put("/v1/plant", files={"file": ("p.json", json.dumps(three))}, headers=headers())
    assert r.status_code == 422 and "3 operations" in r.json()["detail"][0]["msg"], r.text
    r = c.post("/v1/jobs", files={"file": ("p.json", json.dumps(three))}, headers=headers())
    assert r.status_code == 422 and "APS_MAX_OPERATIONS" in r.json()["detail"][0]["msg"]
    for field, value, setting in (
        ("time_limit", 6, "APS_MAX_TIME_LIMIT"),
        ("reschedule_time_limit", 6, "APS_MAX_TIME_LIMIT"),
        ("workers", 9, "APS_MAX_SOLVER_WORKERS"),
    ):
        r = c.put(
            "/v1/plant", json={"problem": SMALL, "options": {field: value}}, headers=headers()
        )
        assert r.status_code == 422, (field, r.text)
        assert r.json()["detail"][0]["loc"] == ["body", "options", field]
        assert setting in r.json()["detail"][0]["msg"]
    assert c.get("/v1/plant", headers=headers()).status_code == 404
    assert c.get("/v1/jobs", headers=headers()).json()["count"] == 0


# -- idempotency and webhook replay under concurrency ------------------------------------


def _at_once(count: int, call: Callable[[], Any]) -> list[Any]:
    """``count`` threads released together by a barrier; their results."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        results[i] = call()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_concurrent_idempotent_submissions_on_postgresql(
    client_factory: ClientFactory, pg_url: str
) -> None:
    """Tests that 10 requests with one Idempotency-Key released together on PostgreSQL
    create one job, and all get the same 202 body (one of them fresh, the rest replays)."""
    c = client_factory(background=False, database_url=pg_url)
    body = {"problem": SMALL, "options": {"time_limit": 3}}
    hdrs = headers(**{"Idempotency-Key": "order-4711-at-once"})
    answers = _at_once(10, lambda: c.post("/v1/jobs", json=body, headers=hdrs))
    assert {r.status_code for r in answers} == {202}, [r.text for r in answers]
    assert len({json.dumps(r.json(), sort_keys=True) for r in answers}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") != "true" for r in answers) == 1
    assert c.get("/v1/jobs", headers=headers()).json()["count"] == 1


def test_webhook_skew_reserialized_body_and_concurrent_replay(
    client_factory: ClientFactory,
) -> None:
    """Tests the webhook cases tests/plant/test_webhooks.py leaves out: a timestamp 400 s
    in the future and a body re-serialized after signing are 401; the same webhook-id
    sent 10 times at once is stored once and every answer is the same 2xx."""
    from standardwebhooks import Webhook

    from tests.plant.support import SECRET, signed

    c = client_factory(background=False)
    put = c.put(
        "/v1/plant",
        json={"problem": SMALL, "options": {"webhook_secrets": [SECRET]}},
        headers=headers(),
    )
    assert put.status_code == 202, put.text
    down: dict[str, Any] = {
        "type": "machine.down",
        "timestamp": "2026-03-02T08:00:00+00:00",
        "data": {"machine": 0, "from": 1, "until": 4},
    }
    body, hdrs = signed(down)
    ahead = datetime.now(UTC) + timedelta(seconds=400)
    hdrs["webhook-timestamp"] = str(int(ahead.timestamp()))
    hdrs["webhook-signature"] = Webhook(SECRET).sign(hdrs["webhook-id"], ahead, body.decode())
    assert c.post("/v1/webhooks/erp", content=body, headers=hdrs).status_code == 401
    body, hdrs = signed(down)
    reserialized = json.dumps(json.loads(body), indent=1).encode()
    assert c.post("/v1/webhooks/erp", content=reserialized, headers=hdrs).status_code == 401
    assert c.get("/v1/plant", headers=headers()).json()["pending_events"] == 0

    body, hdrs = signed(down, msg_id="msg_at_once")
    answers = _at_once(10, lambda: c.post("/v1/webhooks/erp", content=body, headers=hdrs))
    assert {r.status_code for r in answers} == {202}, [r.text for r in answers]
    assert len({json.dumps(r.json(), sort_keys=True) for r in answers}) == 1
    events = c.get("/v1/plant/events", headers=headers()).json()["data"]
    assert [e["webhook_id"] for e in events] == ["msg_at_once"]
