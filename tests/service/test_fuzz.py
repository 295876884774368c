"""Tests that arbitrary input never produces a 5xx (a small in-process fuzzer)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.service.support import headers, problem_json

FT06 = problem_json("ft06")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
problem_keys = st.sampled_from(["machines", "jobs", "objective", "horizon", "time", "name"])


def _mutated_problem(draw: Any) -> dict[str, Any]:
    problem: dict[str, Any] = json.loads(json.dumps(FT06))
    key = draw(problem_keys)
    problem[key] = draw(json_values)
    return problem


@st.composite
def bodies(draw: Any) -> Any:
    kind = draw(st.integers(0, 2))
    if kind == 0:
        return draw(json_values)
    if kind == 1:
        return {"problem": _mutated_problem(draw)}
    return {
        "problem": FT06,
        "options": draw(
            st.dictionaries(
                st.sampled_from(
                    ["time_limit", "workers", "objective", "solver", "seed", "callback_url", "x"]
                ),
                json_values,
                max_size=3,
            )
        ),
    }


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(body=bodies())
def test_submissions_never_5xx(idle_client: TestClient, body: Any) -> None:
    """Tests that random bodies get 202 or a documented 4xx, never a server error."""
    r = idle_client.post(
        "/v1/jobs",
        content=json.dumps(body, allow_nan=True),
        headers={**headers(), "Content-Type": "application/json"},
    )
    assert r.status_code in (202, 413, 422), (r.status_code, r.text[:500])
    if r.status_code == 422:
        assert all("loc" in d and "msg" in d for d in r.json()["detail"])


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(
    path=st.sampled_from(
        [
            "/v1/jobs",
            "/v1/jobs/{id}",
            "/v1/jobs/{id}/schedule",
            "/v1/jobs/{id}/gantt",
            "/v1/jobs/{id}/events",
        ]
    ),
    job_id=st.uuids().map(str) | st.text(max_size=40),
    params=st.dictionaries(
        st.sampled_from(["status", "limit", "offset", "format", "shape"]),
        st.text(max_size=12),
        max_size=3,
    ),
)
def test_reads_never_5xx(
    idle_client: TestClient, path: str, job_id: str, params: dict[str, str]
) -> None:
    """Tests that odd ids and query strings get 4xx, never a server error."""
    url = path.replace("{id}", quote(job_id, safe=""))
    r = idle_client.get(url, params=params, headers=headers())
    assert r.status_code < 500, (url, params, r.status_code, r.text[:300])


#: Values JSON has no place for (NaN, Infinity) or PostgreSQL cannot store (U+0000).
odd_values = st.sampled_from(
    [float("nan"), float("inf"), float("-inf"), "a\x00b", "\x00", {"k\x00": 1}]
)
JOB = "2a541e1a-7657-4c36-aace-5c470cc40e2c"


@st.composite
def odd_bodies(draw: Any) -> tuple[str, str, Any]:
    """A route that takes a JSON body, and a body with one odd value put somewhere."""
    method, path, base = draw(
        st.sampled_from(
            [
                ("POST", "/v1/jobs", {"problem": FT06, "options": {"time_limit": 1}}),
                ("PUT", "/v1/plant", {"problem": FT06}),
                ("POST", f"/v1/jobs/{JOB}/machine-down", {"machine": "0", "start": 0, "end": 5}),
                ("POST", "/v1/callbacks", {"url": "https://93.184.216.34/hook"}),
                ("POST", "/v1/plant/reschedule", {"now": 5}),
            ]
        )
    )
    body = json.loads(json.dumps(base))
    target = body
    while True:  # walk down to a random place and put the odd value there
        keys = list(target) if isinstance(target, dict) else list(range(len(target)))
        if not keys:
            break
        key = draw(st.sampled_from(keys))
        if isinstance(target[key], dict | list) and target[key] and draw(st.booleans()):
            target = target[key]
            continue
        target[key] = draw(odd_values)
        break
    return method, path, body


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(case=odd_bodies())
def test_non_finite_numbers_and_nul_are_4xx(odd_client: TestClient, case: Any) -> None:
    """Tests that NaN, Infinity and U+0000 anywhere in a body are a 4xx (never a 5xx),
    on SQLite and PostgreSQL."""
    method, path, body = case
    r = odd_client.request(
        method,
        path,
        content=json.dumps(body, allow_nan=True),
        headers={**headers(), "Content-Type": "application/json"},
    )
    assert 400 <= r.status_code < 500, (method, path, body, r.status_code, r.text[:300])
