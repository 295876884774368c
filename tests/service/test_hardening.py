"""Tests of inputs that used to be 500s, on SQLite and PostgreSQL: NaN and Infinity in
bodies, U+0000 in ids and names; and the safe defaults (the development key, placeholder
keys, secrets in logs, callback targets after address translation, Retry-After)."""

from __future__ import annotations

import ipaddress
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from jobs import notify
from jobs.settings import DEV_API_KEY, MaskSecrets, Settings, mask, mask_url
from tests.plant.support import SECRET, post_event
from tests.service.conftest import ClientFactory
from tests.service.support import headers

ROOT = Path(__file__).resolve().parents[2]
JOB = "2a541e1a-7657-4c36-aace-5c470cc40e2c"
SMALL: dict[str, Any] = {
    "machines": [{"id": "M1"}],
    "jobs": [
        {"id": "J1", "operations": [{"id": "a", "modes": [{"machine": "M1", "duration": 2}]}]}
    ],
}


@pytest.fixture
def store_client(client_factory: ClientFactory, db_url: str) -> TestClient:
    """The API without its pool, on SQLite and on PostgreSQL."""
    return client_factory(background=False, database_url=db_url)


@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        (f"/v1/jobs/{JOB}/machine-down", '{"machine":"M1","start":0,"end":5,"time_limit":NaN}',
         ["body", "time_limit"]),
        (f"/v1/jobs/{JOB}/machine-down", '{"machine":"M1","start":Infinity,"end":5}',
         ["body", "start"]),
        ("/v1/callbacks", '{"url":"https://93.184.216.34/x","events":[NaN]}',
         ["body", "events", 0]),
        ("/v1/plant/reschedule", '{"now":-Infinity}', ["body", "now"]),
        ("/v1/jobs", '{"problem":' + json.dumps(SMALL) + ',"options":{"time_limit":NaN}}',
         ["body", "options", "time_limit"]),
    ],
)  # fmt: skip
def test_non_finite_numbers_are_422_naming_the_field(
    store_client: TestClient, path: str, body: str, loc: list[Any]
) -> None:
    """Tests that NaN and Infinity (which Python's JSON reader takes) are a 422 at the
    field, where they were a 500 (the 422 itself could not be encoded)."""
    r = store_client.post(
        path, content=body, headers=headers(**{"Content-Type": "application/json"})
    )
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"][: len(loc)] == loc, r.text
    assert "finite" in r.json()["detail"][0]["msg"]


def _nul_problem() -> dict[str, Any]:
    problem = json.loads(json.dumps(SMALL))
    problem["name"] = "bad\u0000name"
    problem["jobs"][0]["id"] = "J\u00001"
    return problem


def test_nul_in_ids_and_names_is_422(store_client: TestClient) -> None:
    """Tests that U+0000 in a job's problem, a plant and an uploaded file is a 422
    naming the field; PostgreSQL cannot store it (it was a driver error: a 500)."""
    r = store_client.post("/v1/jobs", json={"problem": _nul_problem()}, headers=headers())
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "problem", "jobs", 0, "id"]
    assert "U+0000" in r.json()["detail"][0]["msg"]
    r = store_client.put("/v1/plant", json={"problem": _nul_problem()}, headers=headers())
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "problem", "jobs", 0, "id"]
    upload = json.dumps(_nul_problem()).encode()
    r = store_client.post("/v1/jobs", files={"file": ("p.json", upload)}, headers=headers())
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"][:2] == ["body", "file"]
    assert store_client.get("/v1/jobs", headers=headers()).json()["count"] == 0


def test_nul_in_a_webhook_order_is_422(
    client_factory: ClientFactory, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tests that an order.created whose id holds U+0000 is a 422 naming the field and
    is not stored (on PostgreSQL it was a 500)."""
    monkeypatch.setenv("APS_WEBHOOK_SECRETS", SECRET)
    c = client_factory(background=False, database_url=db_url)
    assert c.put("/v1/plant", json={"problem": SMALL}, headers=headers()).status_code == 202
    job = {
        "id": "J\u00002",
        "operations": [{"id": "a", "modes": [{"machine": "M1", "duration": 1}]}],
    }
    event = {
        "type": "order.created",
        "timestamp": "2026-03-02T08:00:00+00:00",
        "data": {"job": job},
    }
    r = post_event(c, event)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "data", "job", "id"]
    assert c.get("/v1/plant/events", headers=headers()).json()["data"] == []


def test_callback_ids_in_paths_are_uuids(store_client: TestClient) -> None:
    """Tests that a callback id that is no UUID (U+0000 included) is a 422 at the path."""
    for method, path in (("POST", "/v1/callbacks/a%00b/secret"), ("DELETE", "/v1/callbacks/x")):
        r = store_client.request(method, path, headers=headers())
        assert r.status_code == 422 and r.json()["detail"][0]["loc"][0] == "path", r.text


# -- the development key ----------------------------------------------------------------


def test_dev_key_is_refused_on_postgresql(client_factory: ClientFactory, pg_url: str) -> None:
    """Tests that with PostgreSQL (no APS_API_KEYS, APS_ENVIRONMENT unset) the development
    key is neither installed nor accepted, even if a development start had installed it."""
    assert Settings(database_url=pg_url).bootstrap_keys() == []
    dev = client_factory(background=False, api_keys="")  # SQLite: the dev key works
    assert dev.get("/v1/jobs", headers={"X-API-Key": DEV_API_KEY}).status_code == 200
    pg = client_factory(background=False, database_url=pg_url, api_keys="")
    assert pg.get("/v1/jobs", headers={"X-API-Key": DEV_API_KEY}).status_code == 401
    with_redis = Settings(database_url="sqlite:///x.db", broker_url="redis://127.0.0.1:6379/0")
    assert with_redis.bootstrap_keys() == [] and not with_redis.dev_key_allowed


def test_serve_refuses_the_dev_key_off_loopback(tmp_path: Path) -> None:
    """Tests that `aps serve --host 0.0.0.0` with only the development key exits 2
    naming APS_API_KEYS (nothing binds)."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("APS_")}
    env["APS_DATABASE_URL"] = f"sqlite:///{tmp_path / 'aps.db'}"
    aps = str(Path(sys.executable).with_name("aps"))
    proc = subprocess.run(
        [aps, "serve", "--host", "0.0.0.0", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "APS_API_KEYS" in proc.stderr and "loopback" in proc.stderr


def test_placeholder_keys_from_the_examples_are_refused_in_production() -> None:
    """Tests that the values of docker/.env.example (keys and the database password)
    are refused in production, and a random key is not."""
    example = dict(
        line.split("=", 1)
        for line in (ROOT / "docker" / ".env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    with pytest.raises(ValidationError, match="placeholder"):
        Settings(environment="production", api_keys=example["APS_API_KEYS"])
    url = f"postgresql+psycopg://aps:{example['POSTGRES_PASSWORD']}@db:5432/aps"
    with pytest.raises(ValidationError, match="placeholder"):
        Settings(
            environment="production", api_keys="acme:Zq8-rT3vLm0pXw91aBcDeFgH", database_url=url
        )
    Settings(environment="production", api_keys="acme:Zq8-rT3vLm0pXw91aBcDeFgH")


def test_secrets_are_masked_in_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Tests that URL passwords and whsec_ secrets never reach a log line as they are."""
    url = "postgresql+psycopg://aps:s3cret-pw@db:5432/aps"
    assert "s3cret" not in mask_url(url) and "db:5432" in mask_url(url)
    assert "s3cret" not in mask(f"connecting to {url} and redis://:pw2@r:6379/0")
    assert "AAAA" not in mask(f"secret {SECRET}AAAA")
    logger = logging.getLogger("aps.test.mask")
    caplog.handler.addFilter(MaskSecrets())
    with caplog.at_level(logging.INFO, logger="aps.test.mask"):
        logger.info("database %s", url)
    assert "s3cret" not in caplog.text and "***" in caplog.text


# -- callback targets -------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b:1::a9fe:a9fe",  # local-use NAT64 of 169.254.169.254
        "2002:a00:1::1",  # 6to4 of 10.0.0.1
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo, client 10.0.0.1
    ],
)
def test_translated_ipv6_addresses_are_judged_by_their_ipv4(address: str) -> None:
    """Tests that NAT64, 6to4 and Teredo addresses leading to private IPv4 addresses are
    not public (a NAT64 gateway would connect to the private host)."""
    assert not notify.is_public(ipaddress.ip_address(address))
    with pytest.raises(notify.RefusedAddress):
        notify.resolve(f"http://[{address}]/hook")


def test_translated_public_addresses_pass() -> None:
    """Tests that the checks can pass: NAT64 and 6to4 of a public IPv4 address."""
    assert notify.is_public(ipaddress.ip_address("64:ff9b::5db8:d822"))  # 93.184.216.34
    assert notify.is_public(ipaddress.ip_address("2002:5db8:d822::1"))


def test_credentials_in_callback_urls_are_refused(store_client: TestClient) -> None:
    """Tests that user:pass@ in a callback URL is a 422 at the field, on the job option
    and the registration, even where private targets are allowed."""
    url = "https://user:pass@93.184.216.34/hook"
    r = store_client.post(
        "/v1/jobs", json={"problem": SMALL, "options": {"callback_url": url}}, headers=headers()
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == [
        "body",
        "options",
        "callback_url",
    ]
    assert "credentials" in r.json()["detail"][0]["msg"]
    r = store_client.post("/v1/callbacks", json={"url": url}, headers=headers())
    assert r.status_code == 422 and "credentials" in r.json()["detail"][0]["msg"]
    with pytest.raises(notify.RefusedAddress, match="credentials"):
        notify.resolve(url, allow_private=True)


def test_retry_after_is_capped() -> None:
    """Tests that a receiver's Retry-After is honoured up to the cap, not for years."""
    settings = Settings(callback_max_retry_after_seconds=600)
    assert notify.retry_delay(settings, 1, "120") == 120
    assert notify.retry_delay(settings, 1, str(10**9)) == 600


# -- caps: refused before any heavy work ------------------------------------------------


def _zip(name: str, size: int) -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, b"0" * size)
    return buf.getvalue()


def _far_plant() -> bytes:
    plant = json.loads((ROOT / "instances" / "plant.json").read_text())
    plant["horizon"]["end"] = "8999-12-31T00:00:00+01:00"
    return json.dumps(plant).encode()


def test_caps_refuse_before_heavy_work(client_factory: ClientFactory) -> None:
    """Tests that an archive unpacking past APS_MAX_UNPACKED_BYTES is a 413 decided from
    its directory (no compiler process is started), that a plant whose horizon ends in
    the year 8999 and a problem whose horizon is over APS_MAX_HORIZON_TICKS are 422s
    naming the setting, and that nothing is stored."""
    c = client_factory(background=False, max_unpacked_bytes=1024 * 1024)
    service = c.app.state.service  # type: ignore[attr-defined]
    started: list[Any] = []
    real_run = service.compiler.run
    service.compiler.run = lambda *a: started.append(a) or real_run(*a)
    bomb = _zip("orders.csv", 5 * 1024 * 1024)
    assert len(bomb) < 64 * 1024
    r = c.post("/v1/jobs", files={"file": ("plant.zip", bomb)}, headers=headers())
    assert r.status_code == 413, r.text
    assert "APS_MAX_UNPACKED_BYTES" in r.json()["detail"]
    r = c.put("/v1/plant", files={"file": ("plant.xlsx", bomb)}, headers=headers())
    assert r.status_code == 413 and "APS_MAX_UNPACKED_BYTES" in r.json()["detail"]
    assert started == []  # refused from the archive's directory: nothing was compiled

    r = c.post("/v1/jobs", files={"file": ("plant.json", _far_plant())}, headers=headers())
    assert r.status_code == 422, r.text
    assert "APS_MAX_HORIZON_TICKS" in r.json()["detail"][0]["msg"]
    r = c.put("/v1/plant", json={"plant": json.loads(_far_plant())}, headers=headers())
    assert r.status_code == 422 and "APS_MAX_HORIZON_TICKS" in r.json()["detail"][0]["msg"]
    long = {**SMALL, "horizon": 10**9}
    r = c.post("/v1/jobs", json={"problem": long}, headers=headers())
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "problem", "horizon"]
    assert c.get("/v1/jobs", headers=headers()).json()["count"] == 0
    assert c.get("/v1/plant", headers=headers()).status_code == 404


def test_operation_cap_admits_a_real_plant() -> None:
    """Tests that the default operation cap admits a plant of 50,000 operations (the old
    5,000 refused a 450-order plant)."""
    assert Settings().max_operations >= 50_000


def test_openapi_documents_the_statuses_routes_return() -> None:
    """Tests that the OpenAPI states what the routes answer: a replayed webhook is a 202
    with Webhook-Replayed (or a 200 for a stale event), the what-if is a 202, uploads
    may be refused with 413."""
    from tests.service.test_schemathesis import _SPEC

    hook = _SPEC["paths"]["/v1/webhooks/erp"]["post"]["responses"]
    assert "202" in hook and "Webhook-Replayed" in hook["202"].get("headers", {})
    down = _SPEC["paths"]["/v1/jobs/{job_id}/machine-down"]["post"]["responses"]
    assert "202" in down and "200" not in down
    assert "413" in _SPEC["paths"]["/v1/jobs"]["post"]["responses"]
