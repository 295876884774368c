"""The page's routes without a browser: assets, offline plotly.js, report, machine down."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api.main import create_app
from api.schemas import EXAMPLE_PROBLEM
from api.ui.router import STATIC, plotly_js_path
from jobs.settings import DEV_API_KEY, Settings
from tests.service.support import TERMINAL, wait_until

KEY = "ui-route-key-0123456789abcdef"
HEADERS = {"X-API-Key": KEY}


def settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp_path / 'aps.db'}",
        "broker_url": None,
        "api_keys": f"ui:{KEY}",
        "relay_interval_seconds": 0.05,
        "rate_limit_per_minute": 6000,
        "rate_limit_burst": 1000,
        **overrides,
    }
    return Settings(**values)


@pytest.fixture
def idle(tmp_path: Path) -> Iterator[TestClient]:
    """The API without workers: jobs stay queued."""
    with TestClient(create_app(settings(tmp_path), background=False)) as client:
        yield client


@pytest.fixture(scope="module")
def solved(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, str]]:
    """An embedded app and a solved two-by-two job (a second of solving)."""
    tmp = tmp_path_factory.mktemp("ui-routes")
    with TestClient(create_app(settings(tmp))) as client:
        body = {"problem": EXAMPLE_PROBLEM, "options": {"time_limit": 1}}
        job = client.post("/v1/jobs", json=body, headers=HEADERS).json()
        deadline = time.monotonic() + 120
        while client.get(f"/v1/jobs/{job['id']}", headers=HEADERS).json()["status"] != "succeeded":
            assert time.monotonic() < deadline, "the two-by-two job did not succeed in 120 s"
            time.sleep(0.1)
        yield client, job["id"]


def test_page_and_assets(idle: TestClient) -> None:
    page = idle.get("/ui")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script src="/ui/vendor/plotly.min.js"></script>' in page.text
    for name, media in (("app.js", "text/javascript"), ("app.css", "text/css")):
        r = idle.get(f"/ui/static/{name}")
        assert r.status_code == 200 and r.headers["content-type"].startswith(media)
    assert idle.get("/ui/static/router.py").status_code == 404
    assert idle.get("/ui/static/..%2Frouter.py").status_code == 404
    assert idle.get("/ui/static/index.html").status_code == 404


def test_no_cdn_in_the_page() -> None:
    """Nothing the page loads comes from another host."""
    for path in STATIC.iterdir():
        text = path.read_text()
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, path


def test_plotly_js_from_the_installed_package(idle: TestClient) -> None:
    path = plotly_js_path()
    assert path.is_file() and path.parts[-2:] == ("package_data", "plotly.min.js")
    r = idle.get("/ui/vendor/plotly.min.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert len(r.content) == path.stat().st_size


def test_config_never_returns_a_key(tmp_path: Path) -> None:
    """Tests that /ui/config.json holds no key, not even the active development key."""
    dev = settings(tmp_path, api_keys="")
    with TestClient(create_app(dev, background=False)) as client:
        assert client.get("/v1/jobs", headers={"X-API-Key": DEV_API_KEY}).status_code == 200
        r = client.get("/ui/config.json")
    assert set(r.json()) == {"version", "default_time_limit", "max_time_limit"}
    assert DEV_API_KEY not in r.text and r.json()["default_time_limit"] == 5.0


def test_example_plant(idle: TestClient) -> None:
    plant = idle.get("/ui/example/plant.json").json()
    assert plant["name"] == "example-plant" and len(plant["orders"]) == 60
    assert len(plant["machines"]) == 10


def test_routes_are_unique(tmp_path: Path) -> None:
    """The page's endpoints shadow none of the jobs API's."""
    app = create_app(settings(tmp_path), background=False)
    routes = [
        (method, r.path)
        for r in app.routes
        if isinstance(r, APIRoute)
        for method in r.methods or ()
    ]
    assert [k for k, n in Counter(routes).items() if n > 1] == []


def test_report_errors(idle: TestClient) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    assert idle.get(f"/v1/jobs/{missing}/report").status_code == 401
    assert idle.get(f"/v1/jobs/{missing}/report", headers=HEADERS).status_code == 404
    assert idle.get("/v1/jobs/not-a-uuid/report", headers=HEADERS).status_code == 422
    job = idle.post(
        "/v1/jobs", json={"problem": EXAMPLE_PROBLEM}, headers=HEADERS
    ).json()  # stays queued: no workers
    r = idle.get(f"/v1/jobs/{job['id']}/report", headers=HEADERS)
    assert r.status_code == 409 and "queued" in r.json()["detail"]
    down = {"machine": "M1", "start": 0, "end": 2}
    r = idle.post(f"/v1/jobs/{job['id']}/machine-down", json=down, headers=HEADERS)
    assert r.status_code == 409


def test_report(solved: tuple[TestClient, str]) -> None:
    client, job_id = solved
    report = client.get(f"/v1/jobs/{job_id}/report", headers=HEADERS).json()
    schedule = client.get(f"/v1/jobs/{job_id}/schedule", headers=HEADERS).json()
    assert report["timezone"] is None and report["kpis"]["makespan"] == schedule["makespan"]
    assert [m["machine"] for m in report["machines"]] == ["M1", "M2"]
    assert {o["order"] for o in report["orders"]} == {"J1", "J2"}
    assert set(report["kpis"]) >= {"makespan", "weighted_tardiness", "late_orders", "gap"}


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"machine": "M9", "start": 0, "end": 2}, ["body", "machine"]),
        ({"machine": "M1", "start": 4, "end": 4}, ["body", "end"]),
        ({"machine": "M1", "start": -9, "end": -1}, ["body", "end"]),
        ({"machine": "M1", "start": "2026-03-02T08:00", "end": 5}, ["body", "start"]),
        ({"machine": "M1", "start": "soon", "end": 5}, ["body", "start"]),
        ({"machine": "M1", "start": 0}, ["body", "end"]),
        ({"machine": "M1", "start": 0, "end": 10**18}, ["body", "end"]),
        ({"machine": "M1", "start": 0, "end": 2, "time_limit": 0}, ["body", "time_limit"]),
        ({"machine": "M1", "start": 0, "end": 2, "until": 3}, ["body", "until"]),
    ],
)
def test_machine_down_bad_input_names_the_field(
    solved: tuple[TestClient, str], body: dict[str, Any], loc: list[str]
) -> None:
    client, job_id = solved
    r = client.post(f"/v1/jobs/{job_id}/machine-down", json=body, headers=HEADERS)
    assert r.status_code == 422, r.text
    assert any(e["loc"][: len(loc)] == loc for e in r.json()["detail"]), r.json()


def test_machine_down_repairs_and_lists_the_moves(solved: tuple[TestClient, str]) -> None:
    """Tests that the what-if runs as a job (202, polled to succeeded), then lists the
    moves, the breakdown and the KPIs; the solved job's schedule is unchanged, and the
    repair can be published as the live plant's next version."""
    client, job_id = solved
    before = client.get(f"/v1/jobs/{job_id}/schedule", headers=HEADERS).json()["operations"]
    m1 = sorted((o for o in before if o["machine"] == "M1"), key=lambda o: o["start"])[0]
    body = {"machine": "M1", "start": m1["start"], "end": m1["start"] + 2, "time_limit": 1}
    r = client.post(f"/v1/jobs/{job_id}/machine-down", json=body, headers=HEADERS)
    assert r.status_code == 202, r.text
    staged = r.json()
    assert staged["source_job"] == job_id and r.headers["Location"] == staged["links"]["self"]
    done = wait_until(
        lambda: client.get(staged["links"]["self"], headers=HEADERS).json(),
        lambda j: j["status"] in TERMINAL,
    )
    assert done["status"] == "succeeded" and done["kind"] == "what_if", done
    out = client.get(staged["links"]["what_if"], headers=HEADERS).json()
    assert out["job_id"] == job_id
    moved = {(m["job"], m["op"]) for m in out["moved"]}
    assert (m1["job"], m1["op"]) in moved
    first = next(m for m in out["moved"] if (m["job"], m["op"]) == (m1["job"], m1["op"]))
    assert first["reason"] == "on_failed_machine" and first["start_after"] >= body["end"]
    breakdown = [g for g in out["gantt"] if g["colour_key"] == "breakdown"]
    assert breakdown == [
        {
            "id": "M1#breakdown",
            "resource": "M1",
            "label": "breakdown",
            "start": body["start"],
            "end": body["end"],
            "kind": "downtime",
            "order": None,
            "colour_key": "breakdown",
            "start_at": None,
            "end_at": None,
        }
    ]
    assert sum(g["kind"] == "run" for g in out["gantt"]) == len(before)
    runs = [g for g in out["gantt"] if g["kind"] == "run"]
    assert out["report"]["kpis"]["makespan"] == max(g["end"] for g in runs)
    # a what-if: the stored schedule is unchanged
    after = client.get(f"/v1/jobs/{job_id}/schedule", headers=HEADERS).json()["operations"]
    assert after == before
    # ... until it is published: then it is the live plant's next version
    published = client.post(staged["links"]["publish"], headers=HEADERS)
    assert published.status_code == 200, published.text
    plant = client.get("/v1/plant/schedule", headers=HEADERS).json()
    assert plant["version"] == published.json()["version"] == 1 and plant["phase"] == "what-if"
    assert len(plant["operations"]) == len(before)
    # the what-if's own routes answer 404 for a job that is no what-if
    assert client.get(f"/v1/jobs/{job_id}/what-if", headers=HEADERS).status_code == 404


def test_breakdown_times_in_the_plant_zone() -> None:
    """Naive datetimes are the plant's wall clock (DST included); aware ones are absolute."""
    from datetime import UTC, datetime

    from api.ui.router import _tick
    from aps.io.load import load_problem

    plant = load_problem(Path(__file__).resolve().parents[2] / "instances" / "plant.json")
    assert plant.time is not None and plant.time.tick_seconds == 60
    assert _tick(plant, datetime(2026, 3, 2, 6, 0), "start", up=False) == 360
    assert _tick(plant, datetime(2026, 3, 2, 5, 0, tzinfo=UTC), "start", up=False) == 360
    # 30 March is summer time (+02:00): 28 days and 6 hours, less the lost hour
    assert _tick(plant, datetime(2026, 3, 30, 6, 0), "start", up=False) == 28 * 1440 + 300
    assert _tick(plant, datetime(2026, 3, 2, 6, 0, 30), "end", up=True) == 361
    assert _tick(plant, 42, "start", up=False) == 42
