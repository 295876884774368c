"""Tests of the v1 jobs API in-process (embedded mode on SQLite)."""

from __future__ import annotations

import csv
import io
import json
import threading
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aps import Problem, ScheduledOperation, validate
from jobs import repo
from tests.service.conftest import ClientFactory
from tests.service.support import KEYS, TERMINAL, headers, problem_json, wait_until

FT06 = problem_json("ft06")


def submit(
    client: TestClient, problem: dict[str, Any] | None = None, tenant: str = "acme", **options: Any
) -> dict[str, Any]:
    body = {"problem": problem or FT06, "options": {"time_limit": 2, **options}}
    r = client.post("/v1/jobs", json=body, headers=headers(tenant))
    assert r.status_code == 202, r.text
    data: dict[str, Any] = r.json()
    return data


def job(client: TestClient, job_id: str, tenant: str = "acme") -> dict[str, Any]:
    r = client.get(f"/v1/jobs/{job_id}", headers=headers(tenant))
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def finished(client: TestClient, job_id: str) -> dict[str, Any]:
    return wait_until(lambda: job(client, job_id), lambda j: j["status"] in TERMINAL)


def test_ft06_embedded_gives_validated_schedule_with_makespan_55(client: TestClient) -> None:
    """Tests that the embedded default solves ft06 to 55 with a schedule that validates."""
    accepted = submit(client)
    assert accepted["status"] == "queued"
    assert accepted["links"]["schedule"] == f"/v1/jobs/{accepted['id']}/schedule"
    state = finished(client, accepted["id"])
    assert state["status"] == "succeeded"
    assert state["solve_status"] == "OPTIMAL"
    assert state["makespan"] == 55
    assert state["attempts"] == 1
    assert state["progress"]["objective"] == 55
    assert state["progress"]["history"], "incumbents are recorded"
    assert state["progress"]["history"][-1]["objective"] == 55

    schedule = client.get(accepted["links"]["schedule"], headers=headers()).json()
    rows = [
        ScheduledOperation(
            **{k: op[k] for k in ("job", "op", "machine", "start", "end", "setup_start")}
        )
        for op in schedule["operations"]
    ]
    assert validate(Problem.model_validate(FT06), rows) == []
    assert max(r.end for r in rows) == 55
    assert schedule["solver"] and schedule["solver_version"]

    text = client.get(
        accepted["links"]["schedule"], params={"format": "csv"}, headers=headers()
    ).text
    table = list(csv.DictReader(io.StringIO(text)))
    assert len(table) == 36
    assert max(int(r["end"]) for r in table) == 55


def test_list_is_paginated_filtered_and_tenant_scoped(idle_client: TestClient) -> None:
    """Tests that listing pages, filters by status and shows only the caller's jobs."""
    ids = [submit(idle_client)["id"] for _ in range(3)]
    other = submit(idle_client, tenant="beta")["id"]
    page = idle_client.get("/v1/jobs", params={"limit": 2}, headers=headers()).json()
    assert page["count"] == 3 and len(page["data"]) == 2
    rest = idle_client.get("/v1/jobs", params={"limit": 2, "offset": 2}, headers=headers()).json()
    seen = {j["id"] for j in page["data"] + rest["data"]}
    assert seen == set(ids) and other not in seen
    assert (
        idle_client.get("/v1/jobs", params={"status": "running"}, headers=headers()).json()["count"]
        == 0
    )
    assert (
        idle_client.get(
            "/v1/jobs", params={"status": ["queued", "running"]}, headers=headers()
        ).json()["count"]
        == 3
    )
    bad = idle_client.get("/v1/jobs", params={"status": "done"}, headers=headers())
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["query", "status", 0]


def _job_routes(client: TestClient) -> list[tuple[str, str]]:
    spec = client.get("/openapi.json").json()
    return [
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if path.startswith("/v1/")
    ]


def test_every_v1_route_needs_a_valid_key(idle_client: TestClient) -> None:
    """Tests that every /v1 route answers 401 without a key, with a wrong or revoked key."""
    job_id = submit(idle_client)["id"]
    routes = _job_routes(idle_client)
    assert len(routes) >= 8
    service = idle_client.app.state.service  # type: ignore[attr-defined]
    with service.db.write() as session:
        repo.ensure_key(session, "acme", "revoked-key-0123456789")
        assert repo.revoke_key(session, "revoked-key-0123456789")
    for method, path in routes:
        url = path.replace("{job_id}", job_id)
        for key in (None, "wrong-key", "revoked-key-0123456789"):
            hdrs = {} if key is None else {"X-API-Key": key}
            r = idle_client.request(method, url, headers=hdrs, json={"problem": FT06})
            assert r.status_code == 401, (method, url, key, r.text)
    for path in ("/healthz", "/readyz", "/metrics"):
        assert idle_client.get(path).status_code == 200


def test_other_tenants_job_is_404_everywhere(client: TestClient) -> None:
    """Tests that tenant B cannot tell tenant A's job id from an unknown one (BOLA)."""
    job_id = submit(client)["id"]
    finished(client, job_id)
    before = job(client, job_id)
    unknown = str(uuid.uuid4())
    checked = 0
    for method, path in _job_routes(client):
        if "{job_id}" not in path:
            continue
        theirs = client.request(
            method, path.replace("{job_id}", job_id), headers=headers("beta"), json={}
        )
        nobody = client.request(
            method, path.replace("{job_id}", unknown), headers=headers("beta"), json={}
        )
        assert (theirs.status_code, theirs.content) == (nobody.status_code, nobody.content)
        assert theirs.status_code in (404, 422), (method, path, theirs.text)
        if method == "GET" or path.endswith("/cancel"):
            assert theirs.status_code == 404, (method, path, theirs.text)
            checked += 1
    assert checked >= 6
    after = job(client, job_id)
    assert after == before
    assert client.get("/v1/jobs", headers=headers("beta")).json()["count"] == 0


def test_idempotency_key_replays_and_rejects_other_bodies(idle_client: TestClient) -> None:
    """Tests that one key gives one job (also concurrently) and refuses another body."""
    key = {"Idempotency-Key": "order-4711"}
    body = {"problem": FT06, "options": {"time_limit": 5}}
    first = idle_client.post("/v1/jobs", json=body, headers=headers(**key))
    second = idle_client.post("/v1/jobs", json=body, headers=headers(**key))
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    assert second.headers["Idempotent-Replayed"] == "true"

    other = idle_client.post(
        "/v1/jobs", json={**body, "options": {"time_limit": 6}}, headers=headers(**key)
    )
    assert other.status_code == 422
    assert other.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]

    results: list[Any] = []

    def post() -> None:
        results.append(
            idle_client.post("/v1/jobs", json=body, headers=headers(**{"Idempotency-Key": "burst"}))
        )

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {r.status_code for r in results} == {202}
    assert len({r.json()["id"] for r in results}) == 1
    # The same key of another tenant is a different key.
    beta = idle_client.post("/v1/jobs", json=body, headers=headers("beta", **key))
    assert beta.status_code == 202 and beta.json()["id"] != first.json()["id"]
    assert idle_client.get("/v1/jobs", headers=headers()).json()["count"] == 2


@pytest.mark.parametrize(
    ("mutate", "loc", "needle"),
    [
        (
            lambda p: p["jobs"][0]["operations"][0]["modes"][0].update(machine=99),
            ["body", "problem"],
            "unknown machine 99",
        ),
        (
            lambda p: p["jobs"][1]["operations"][0]["modes"][0].update(duration=-1),
            ["body", "problem", "jobs", 1, "operations", 0, "modes", 0, "duration"],
            "greater than or equal to 0",
        ),
        (lambda p: p.pop("machines"), ["body", "problem", "machines"], "Field required"),
    ],
)
def test_bad_problem_is_422_naming_the_field(
    idle_client: TestClient, mutate: Any, loc: list[Any], needle: str
) -> None:
    """Tests that invalid problems get 422 with pydantic's loc and message, nothing stored."""
    problem = json.loads(json.dumps(FT06))
    mutate(problem)
    r = idle_client.post("/v1/jobs", json={"problem": problem}, headers=headers())
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert any(d["loc"][: len(loc)] == loc and needle in d["msg"] for d in detail), detail
    assert idle_client.get("/v1/jobs", headers=headers()).json()["count"] == 0


def test_malformed_bodies_are_4xx_not_500(idle_client: TestClient) -> None:
    """Tests that broken JSON, unknown options and odd content types get clear 4xx."""
    r = idle_client.post(
        "/v1/jobs", content=b"{not json", headers={**headers(), "Content-Type": "application/json"}
    )
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "json_invalid"
    r = idle_client.post(
        "/v1/jobs", json={"problem": FT06, "options": {"speed": 1}}, headers=headers()
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "options", "speed"]
    r = idle_client.post(
        "/v1/jobs", content=b"x", headers={**headers(), "Content-Type": "text/plain"}
    )
    assert r.status_code == 415
    r = idle_client.get("/v1/jobs/not-a-uuid", headers=headers())
    assert r.status_code == 422


def test_limits(client_factory: ClientFactory) -> None:
    """Tests body size (413), operations and time limit (422), rate and active jobs (429)."""
    c = client_factory(
        background=False,
        max_body_bytes=4096,
        max_operations=30,
        max_time_limit=20,
        rate_limit_per_minute=60,
        rate_limit_burst=3,
        max_active_jobs=2,
    )
    big = c.post(
        "/v1/jobs",
        content=b"{" + b" " * 10_000 + b"}",
        headers={**headers(), "Content-Type": "application/json"},
    )
    assert big.status_code == 413
    small = {
        "machines": [{"id": 0}],
        "jobs": [{"id": 0, "operations": [{"id": 0, "modes": [{"machine": 0, "duration": 2}]}]}],
    }
    r = c.post("/v1/jobs", json={"problem": FT06}, headers=headers())
    assert r.status_code == 422
    assert "36 operations" in r.json()["detail"][0]["msg"]
    assert "APS_MAX_OPERATIONS" in r.json()["detail"][0]["msg"]
    r = c.post(
        "/v1/jobs", json={"problem": small, "options": {"time_limit": 21}}, headers=headers()
    )
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "options", "time_limit"]
    assert "limit of 20" in r.json()["detail"][0]["msg"]
    # 3 burst tokens were used by the three requests above; the next is throttled.
    r = c.post("/v1/jobs", json={"problem": small}, headers=headers())
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    # Active-job cap, on another tenant with a fresh bucket.
    assert c.post("/v1/jobs", json={"problem": small}, headers=headers("beta")).status_code == 202
    assert c.post("/v1/jobs", json={"problem": small}, headers=headers("beta")).status_code == 202
    r = c.post("/v1/jobs", json={"problem": small}, headers=headers("beta"))
    assert r.status_code == 429 and "APS_MAX_ACTIVE_JOBS" in r.json()["detail"]
    assert "Retry-After" in r.headers


def test_callback_to_private_address_is_refused(idle_client: TestClient) -> None:
    """Tests that a loopback callback URL is refused (SSRF)."""
    r = idle_client.post(
        "/v1/jobs",
        json={"problem": FT06, "options": {"callback_url": "http://127.0.0.1:9/hook"}},
        headers=headers(),
    )
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "options", "callback_url"]


def test_cancel_queued_job_and_cancel_twice(idle_client: TestClient) -> None:
    """Tests that a queued job cancels at once, and a second cancel is a 409."""
    job_id = submit(idle_client)["id"]
    r = idle_client.post(f"/v1/jobs/{job_id}/cancel", headers=headers())
    assert r.status_code == 202 and r.json()["status"] == "cancelled"
    assert job(idle_client, job_id)["status"] == "cancelled"
    again = idle_client.post(f"/v1/jobs/{job_id}/cancel", headers=headers())
    assert again.status_code == 409
    assert idle_client.get(f"/v1/jobs/{job_id}/schedule", headers=headers()).status_code == 409


def test_cancel_mid_solve_keeps_the_incumbent(client: TestClient) -> None:
    """Tests that cancelling a running solve stops it early and keeps its best schedule."""
    la21 = problem_json("la21")
    limit = 60  # the tests' maximum, far beyond a first incumbent: only the cancel ends it early
    job_id = submit(client, la21, time_limit=limit, workers=1)["id"]
    wait_until(
        lambda: job(client, job_id),
        lambda j: j["status"] == "running" and j["progress"]["objective"] is not None,
    )
    r = client.post(f"/v1/jobs/{job_id}/cancel", headers=headers())
    assert r.status_code == 202 and r.json()["cancel_requested"] is True
    state = finished(client, job_id)
    assert state["status"] == "cancelled"
    assert state["solve_status"] == "FEASIBLE"
    assert state["solve_seconds"] < limit / 2
    schedule = client.get(f"/v1/jobs/{job_id}/schedule", headers=headers()).json()
    rows = [
        ScheduledOperation(**{k: op[k] for k in ("job", "op", "machine", "start", "end")})
        for op in schedule["operations"]
    ]
    assert validate(Problem.model_validate(la21), rows) == []
    assert schedule["makespan"] == max(r.end for r in rows)


def test_events_stream_ends_with_the_final_status(client: TestClient) -> None:
    """Tests that the SSE stream carries status and incumbent events and then ends."""
    job_id = submit(client)["id"]
    kinds: list[tuple[str, dict[str, Any]]] = []
    with client.stream("GET", f"/v1/jobs/{job_id}/events", headers=headers()) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        event = ""
        for line in r.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                kinds.append((event, json.loads(line.split(":", 1)[1])))
    statuses = [d["status"] for k, d in kinds if k == "status"]
    assert statuses[0] == "queued" and statuses[-1] == "succeeded"
    assert "running" in statuses
    assert any(k == "incumbent" and d["objective"] == 55 for k, d in kinds)
    # Resuming after the last event gives nothing new but still terminates.
    last = job(client, job_id)
    assert last["status"] == "succeeded"


def test_openapi_documents_every_endpoint_with_examples(idle_client: TestClient) -> None:
    """Tests that the OpenAPI spec lists the job endpoints and the submit examples."""
    spec = idle_client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/v1/jobs",
        "/v1/jobs/{job_id}",
        "/v1/jobs/{job_id}/schedule",
        "/v1/jobs/{job_id}/gantt",
        "/v1/jobs/{job_id}/gantt.html",
        "/v1/jobs/{job_id}/cancel",
        "/v1/jobs/{job_id}/events",
        "/healthz",
        "/readyz",
        "/metrics",
    ):
        assert path in paths, path
    body = paths["/v1/jobs"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "multipart/form-data"}
    job_create = spec["components"]["schemas"]["JobCreate"]
    assert job_create["examples"][0]["problem"]["jobs"]
    assert "Problem" in spec["components"]["schemas"]
    assert spec["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"
    assert paths["/v1/jobs"]["post"]["operationId"] == "jobs-create_job"


def test_health_ready_and_metrics(client: TestClient) -> None:
    """Tests the probes and that metrics count jobs by status and solve time."""
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ok", "database": "ok", "broker": "embedded"}
    job_id = submit(client)["id"]
    finished(client, job_id)
    text = client.get("/metrics").text
    assert 'aps_jobs{status="succeeded"} 1.0' in text
    assert "aps_job_solve_seconds_count 1.0" in text
    assert 'aps_queue_depth{source="database"} 0.0' in text
    assert "http_requests_total" in text


def test_keys_are_stored_only_as_hashes(idle_client: TestClient) -> None:
    """Tests that no API key appears in the api_keys table, only its SHA-256."""
    from sqlalchemy import select

    from jobs.tables import ApiKey

    service = idle_client.app.state.service  # type: ignore[attr-defined]
    with service.db.read() as session:
        stored = session.scalars(select(ApiKey.key_hash)).all()
    assert sorted(stored) == sorted(repo.hash_key(k) for k in KEYS.values())
    assert not set(stored) & set(KEYS.values())


def test_infeasible_job_is_explained(client: TestClient) -> None:
    """Tests that an impossible deadline ends `infeasible` with a diagnosis naming it."""
    problem = {
        "name": "late",
        "machines": [{"id": "M1"}],
        "jobs": [
            {
                "id": "J1",
                "deadline": 3,
                "operations": [{"id": "cut", "modes": [{"machine": "M1", "duration": 5}]}],
            }
        ],
    }
    job_id = submit(client, problem, time_limit=5)["id"]
    state = finished(client, job_id)
    assert state["status"] == "infeasible" and state["solve_status"] == "INFEASIBLE"
    assert state["reason"] == "infeasible"
    assert "J1" in state["message"] and "deadline" in state["message"]
    r = client.get(f"/v1/jobs/{job_id}/schedule", headers=headers())
    assert r.status_code == 409 and "infeasible" in r.json()["detail"]


def test_solver_errors_fail_the_job_with_a_reason(client: TestClient) -> None:
    """Tests that a problem the chosen backend rejects ends `failed`, not a 500."""
    problem = {
        "name": "setup",
        "machines": [{"id": 0}],
        "jobs": [
            {
                "id": 0,
                "operations": [{"id": 0, "modes": [{"machine": 0, "duration": 2, "setup": 1}]}],
            }
        ],
    }
    job_id = submit(client, problem, time_limit=5, solver="plain")["id"]
    state = finished(client, job_id)
    assert state["status"] == "failed" and state["reason"] == "error"
    assert state["message"]


def test_embedded_restart_hands_running_job_back(client_factory: ClientFactory) -> None:
    """Tests that stopping `aps serve` mid-solve re-queues the job and a restart runs it."""
    first = client_factory()
    job_id = submit(first, problem_json("la21"), time_limit=4, workers=1)["id"]
    wait_until(lambda: job(first, job_id), lambda j: j["status"] == "running")
    first.__exit__(None, None, None)  # lifespan shutdown: abort and hand back
    second = client_factory()
    state = job(second, job_id)
    assert state["status"] in ("retrying", "running")
    done = finished(second, job_id)
    assert done["status"] == "succeeded" and done["attempts"] == 2
