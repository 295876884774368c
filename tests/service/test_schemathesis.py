"""Schemathesis against the app's own OpenAPI schema, in-process (ASGI, no network).

Every operation of the schema gets derandomized positive and negative cases, sent with a
valid API key; the default checks must pass: no 5xx, status codes, content types and
bodies as documented, invalid input rejected, and ``ignored_auth`` (a 2xx answer is
re-sent without the key and with a wrong one, and must then be refused).

Ids in paths are random (404) or, for half of the cases, those of a solved job and a
registered callback, so the 200/409 answers are checked too. The plant is loaded and
published before the run. The app runs without its worker pool (nothing generated is
solved); the job and the plant are solved by a first instance on the same database.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance
from schemathesis.openapi.checks import IgnoredAuth

from api.deps import current_tenant
from api.main import create_app
from tests.plant.support import plant_state, wait_version
from tests.service.conftest import ClientFactory, make_settings
from tests.service.support import TERMINAL, headers, postgres_schema, problem_json, wait_until

SMALL = {
    "name": "small",
    "machines": [{"id": "M1"}, {"id": "M2"}],
    "jobs": [
        {
            "id": f"O{j}",
            "operations": [
                {"id": "a", "modes": [{"machine": "M1", "duration": 3}]},
                {"id": "b", "modes": [{"machine": "M2", "duration": 2}]},
            ],
        }
        for j in range(3)
    ],
}

#: The operations, read at collection time from an app that never connects (no lifespan).
_SPEC = create_app(
    make_settings(f"sqlite:///{tempfile.gettempdir()}/aps-never-opened.db"), background=False
).openapi()
OPERATIONS = [(method.upper(), path) for path, item in _SPEC["paths"].items() for method in item]


#: Bodies with rules no JSON Schema states (ids that must refer to each other, an end
#: after a start, a callback host that resolves to a public address): a schema-valid
#: body may get a 422 naming the field, so the positive-data check does not apply.
SEMANTIC = {
    ("POST", "/v1/jobs"),
    ("PUT", "/v1/plant"),
    ("POST", "/v1/plant/reschedule"),
    ("POST", "/v1/callbacks"),
    ("POST", "/v1/webhooks/erp"),
    ("POST", "/v1/jobs/{job_id}/machine-down"),
}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """A database with a solved ft06 job, a published plant and a callback, on SQLite
    and on PostgreSQL (which refuses U+0000 in text: fuzzed strings must not reach it)."""
    if request.param == "sqlite":
        yield _seed(f"sqlite:///{tmp_path_factory.mktemp('schemathesis') / 'aps.db'}")
    else:
        with postgres_schema() as url:
            yield _seed(url)


def _seed(url: str) -> dict[str, Any]:
    with TestClient(create_app(make_settings(url, allow_private_callbacks=True))) as client:
        r = client.post(
            "/v1/jobs",
            json={"problem": problem_json("ft06"), "options": {"time_limit": 5}},
            headers=headers(),
        )
        job_id = r.json()["id"]
        wait_until(
            lambda: client.get(f"/v1/jobs/{job_id}", headers=headers()).json(),
            lambda j: j["status"] in TERMINAL,
        )
        put = client.put(
            "/v1/plant",
            json={"problem": SMALL, "options": {"time_limit": 1, "reschedule_time_limit": 1}},
            headers=headers(),
        )
        assert put.status_code == 202, put.text
        assert wait_version(client, 1)["status"] == "published", plant_state(client)
        callback = client.post(
            "/v1/callbacks", json={"url": "http://127.0.0.1:9/hook"}, headers=headers()
        ).json()
    return {"url": url, "job_id": job_id, "callback_id": callback["id"]}


@pytest.fixture
def app_client(seeded: dict[str, Any], client_factory: ClientFactory) -> TestClient:
    # A real resolver answers the URLs it generates: an offline sandbox refuses them
    # (422), a networked one may accept public ones; never a 5xx either way.
    return client_factory(background=False, database_url=seeded["url"])


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_conforms_to_its_schema(
    app_client: TestClient, seeded: dict[str, Any], method: str, path: str
) -> None:
    """Tests one operation with positive and negative cases and the default checks."""
    known = {
        name: seeded[name]
        for name in ("job_id", "callback_id")
        if "{" + name + "}" in path and method != "DELETE"
    }
    fuzz(app_client, method, path, known)


def fuzz(client: TestClient, method: str, path: str, known: dict[str, str]) -> None:
    """Derandomized cases of one operation, half with the ``known`` path ids."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    # The key is ours to send (so a 2xx can be re-sent without it: ignored_auth); query
    # parameters the schema does not name are ignored by design, as most APIs do.
    schema.config.generation.update(with_security_parameters=False, allow_extra_parameters=False)
    operation = schema[path][method]
    excluded = [positive_data_acceptance] if (method, path) in SEMANTIC else []
    strategies = [operation.as_strategy(mode) for mode in GenerationMode]
    if known:
        strategies += [
            operation.as_strategy(mode, path_parameters=known) for mode in GenerationMode
        ]

    @given(case=st.one_of(strategies))
    @settings(
        max_examples=20,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers(), excluded_checks=excluded)

    run()


def test_the_fuzzer_fails_a_route_that_ignores_the_key(
    seeded: dict[str, Any], client_factory: ClientFactory
) -> None:
    """Tests that the checks can fail: with authentication switched off, ignored_auth
    reports the 2xx a request without the key gets."""
    client = client_factory(background=False, database_url=seeded["url"])
    client.app.dependency_overrides[current_tenant] = lambda: "acme"  # type: ignore[attr-defined]
    with pytest.raises(BaseExceptionGroup) as caught:
        fuzz(client, "GET", "/v1/plant/schedules", {})
    assert caught.group_contains(IgnoredAuth), caught.value


def test_every_operation_is_fuzzed() -> None:
    """Tests that the list above comes from the schema: the plant and webhook routes too."""
    paths = {p for _, p in OPERATIONS}
    assert {"/v1/jobs", "/v1/plant", "/v1/callbacks", "/v1/webhooks/erp"} <= paths
    assert len(OPERATIONS) >= 20


# -- what the fuzzer found, one test each -------------------------------------------------


def test_huge_integers_in_query_and_header_are_422(idle_client: TestClient) -> None:
    """Tests that a version or Last-Event-ID beyond the database's integers is a 422
    naming the parameter (it was an OverflowError from the driver: a 500)."""
    for path in ("/v1/plant/schedule", "/v1/plant/gantt", "/v1/plant/problem"):
        r = idle_client.get(path, params={"version": 2**31}, headers=headers())
        assert r.status_code == 422, (path, r.text)
        assert r.json()["detail"][0]["loc"] == ["query", "version"]
    r = idle_client.get(
        "/v1/jobs/2a541e1a-7657-4c36-aace-5c470cc40e2c/events",
        headers=headers(**{"Last-Event-ID": str(2**63)}),
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["header", "Last-Event-ID"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/callbacks"),
        ("POST", "/v1/plant/reschedule"),
        ("POST", "/v1/jobs/2a541e1a-7657-4c36-aace-5c470cc40e2c/machine-down"),
    ],
)
def test_body_that_is_not_utf8_is_422(idle_client: TestClient, method: str, path: str) -> None:
    """Tests that bytes that are not UTF-8 get a 422 at `body`, not FastAPI's
    undocumented 400 "There was an error parsing the body"."""
    r = idle_client.request(
        method,
        path,
        content=b"\x80\x81 not UTF-8",
        headers=headers(**{"Content-Type": "application/json"}),
    )
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body"]
    assert r.json()["detail"][0]["type"] == "json_invalid"


def test_reschedule_now_is_not_a_boolean(client_factory: ClientFactory) -> None:
    """Tests that `{"now": true}` is a 422 at body.now (it was taken as tick 1)."""
    client = client_factory(background=False)
    r = client.post("/v1/plant/reschedule", json={"now": True}, headers=headers())
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"][:2] == ["body", "now"]


@pytest.mark.parametrize(
    ("options", "loc"),
    [
        ({"workers": True}, ["body", "options", "workers"]),
        ({"seed": "7"}, ["body", "options", "seed"]),
        ({"time_limit": "5"}, ["body", "options", "time_limit"]),
        ({"duration": True}, ["body", "problem", "jobs", 0, "operations", 0, "modes", 0]),
    ],
)
def test_submissions_are_read_as_json_types(
    idle_client: TestClient, options: dict[str, Any], loc: list[Any]
) -> None:
    """Tests that a JSON boolean or string where the schema says number is a 422 naming
    the field, as the schema promises (lax parsing took `true` as 1 and "7" as 7)."""
    problem = json.loads(json.dumps(SMALL))
    if "duration" in options:
        problem["jobs"][0]["operations"][0]["modes"][0].update(options)
        options = {}
    r = idle_client.post(
        "/v1/jobs", json={"problem": problem, "options": options}, headers=headers()
    )
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"][: len(loc)] == loc, r.text
    upload = idle_client.post(
        "/v1/jobs",
        files={"file": ("p.json", json.dumps(SMALL))},
        data={"options": json.dumps(options or {"workers": True})},
        headers=headers(),
    )
    assert upload.status_code == 422 and upload.json()["detail"][0]["loc"][:2] == [
        "body",
        "options",
    ]
    assert idle_client.get("/v1/jobs", headers=headers()).json()["count"] == 0


def test_plant_and_repair_bodies_are_read_as_json_types(client_factory: ClientFactory) -> None:
    """Tests the same on PUT /v1/plant (problem and options) and the what-if repair."""
    client = client_factory(background=False)
    problem = json.loads(json.dumps(SMALL))
    problem["jobs"][0]["operations"][0]["modes"][0]["duration"] = True
    for body, loc in (
        ({"problem": problem}, ["body", "problem", "jobs", 0, "operations", 0, "modes", 0]),
        (problem, ["body", "jobs", 0, "operations", 0, "modes", 0]),
        ({"problem": SMALL, "options": {"workers": True}}, ["body", "options", "workers"]),
        ({"problem": SMALL, "options": {"seed": "7"}}, ["body", "options", "seed"]),
    ):
        r = client.put("/v1/plant", json=body, headers=headers())
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"][: len(loc)] == loc, r.text
    assert client.get("/v1/plant", headers=headers()).status_code == 404
    r = client.post(
        "/v1/jobs/2a541e1a-7657-4c36-aace-5c470cc40e2c/machine-down",
        json={"machine": "M1", "start": True, "end": 5},
        headers=headers(),
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][:2] == ["body", "start"]


def test_openapi_says_what_the_app_does() -> None:
    """Tests the schema fixes: no `null` for optional query/header parameters, JSON
    errors on the HTML routes, Prometheus text for /metrics, no CSV on Gantt routes,
    at least one file in uploads, and a plant body that must name what it holds."""
    for path, item in _SPEC["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                assert {"type": "null"} not in parameter["schema"].get("anyOf", []), (
                    method,
                    path,
                    parameter["name"],
                )
            for code, response in operation["responses"].items():
                if code[0] in "45":
                    assert "text/html" not in response.get("content", {}), (method, path, code)
    assert set(_SPEC["paths"]["/metrics"]["get"]["responses"]["200"]["content"]) == {"text/plain"}
    for path in ("/v1/jobs/{job_id}/gantt", "/v1/plant/gantt", "/v1/plant/problem"):
        assert "text/csv" not in _SPEC["paths"][path]["get"]["responses"]["200"]["content"], path
    for path, method in (("/v1/jobs", "post"), ("/v1/plant", "put")):
        content = _SPEC["paths"][path][method]["requestBody"]["content"]
        assert content["multipart/form-data"]["schema"]["properties"]["file"]["minItems"] == 1
    plant = _SPEC["paths"]["/v1/plant"]["put"]["requestBody"]["content"]["application/json"]
    assert {"required": ["orders"]} in plant["schema"]["anyOf"]


@pytest.mark.timeout(60)
def test_event_stream_resumed_after_the_end_terminates(seeded: dict[str, Any]) -> None:
    """Tests that resuming the event stream of a finished job past its last event ends
    (it used to wait forever for events that could not come)."""
    with TestClient(create_app(make_settings(seeded["url"]), background=False)) as client:
        url = f"/v1/jobs/{seeded['job_id']}/events"
        for last in ("1000000", "0"):  # a stream that did not end would hang until the timeout
            r = client.get(url, headers=headers(**{"Last-Event-ID": last}))
            assert r.status_code == 200, last
            assert ("data:" in r.text) == (last == "0"), (last, r.text)
