"""Tests of bundle/xlsx uploads and the Gantt endpoints."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.service.support import TERMINAL, headers, problem_json, wait_until


def _plant_files(tmp_path: Path, suffix: str) -> Path:
    from aps.factory.generate import generate_plant
    from aps.io.bundle.write import write_bundle

    target = tmp_path / f"plant{suffix}"
    write_bundle(generate_plant(orders=3, seed=1), target)
    return target


def _expected_ops(tmp_path: Path) -> int:
    from aps.factory.compile import compile_plant
    from aps.factory.generate import generate_plant

    return compile_plant(generate_plant(orders=3, seed=1)).num_operations


@pytest.mark.parametrize("suffix", [".zip", ".xlsx", ""])
def test_bundle_upload_creates_a_job(idle_client: TestClient, tmp_path: Path, suffix: str) -> None:
    """Tests that a .zip, an .xlsx or loose .csv tables compile into a queued job."""
    target = _plant_files(tmp_path, suffix)
    if suffix:
        files: list[tuple[str, Any]] = [("file", (target.name, target.read_bytes()))]
    else:
        files = [("file", (p.name, p.read_bytes())) for p in sorted(target.glob("*.csv"))]
    r = idle_client.post(
        "/v1/jobs", files=files, data={"options": '{"time_limit": 3}'}, headers=headers()
    )
    assert r.status_code == 202, r.text
    job = idle_client.get(r.json()["links"]["self"], headers=headers()).json()
    assert job["num_operations"] == _expected_ops(tmp_path)
    assert job["options"]["time_limit"] == 3


def test_bad_bundle_is_422_naming_file_row_and_column(
    idle_client: TestClient, tmp_path: Path
) -> None:
    """Tests that a broken table is reported with the bundle loader's location."""
    target = _plant_files(tmp_path, ".zip")
    with zipfile.ZipFile(target) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    orders = members["orders.csv"].decode().splitlines()
    header = orders[0].split(",")
    cells = orders[1].split(",")
    cells[header.index("due")] = "next tuesday"
    orders[1] = ",".join(cells)
    members["orders.csv"] = "\n".join(orders).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    r = idle_client.post(
        "/v1/jobs", files={"file": ("plant.zip", buffer.getvalue())}, headers=headers()
    )
    assert r.status_code == 422, r.text
    messages = [d["msg"] for d in r.json()["detail"]]
    assert any("orders.csv" in m and "row 2" in m and "due" in m for m in messages), messages
    assert idle_client.get("/v1/jobs", headers=headers()).json()["count"] == 0


def test_upload_with_bad_options_or_type(idle_client: TestClient) -> None:
    """Tests that wrong file types and invalid options in a form are 422 naming them."""
    r = idle_client.post("/v1/jobs", files={"file": ("plant.exe", b"MZ")}, headers=headers())
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "file", "plant.exe"]
    r = idle_client.post(
        "/v1/jobs",
        files={"file": ("p.json", b"{}")},
        data={"options": '{"time_limit": -1}'},
        headers=headers(),
    )
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "options", "time_limit"]
    # more form fields than an upload has (found by Schemathesis): 422 at body, not a 400
    r = idle_client.post(
        "/v1/jobs",
        files={"file": ("p.json", b"{}")},
        data={f"field{k}": "x" for k in range(11)},
        headers=headers(),
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body"]
    assert "Too many fields" in r.json()["detail"][0]["msg"]


def test_gantt_shapes_and_html(client: TestClient) -> None:
    """Tests the neutral, frappe, vis and plotly Gantt shapes and the HTML page."""
    ft06 = problem_json("ft06")
    r = client.post(
        "/v1/jobs", json={"problem": ft06, "options": {"time_limit": 2}}, headers=headers()
    )
    job_id = r.json()["id"]
    wait_until(
        lambda: client.get(f"/v1/jobs/{job_id}", headers=headers()).json(),
        lambda j: j["status"] in TERMINAL,
    )
    neutral = client.get(f"/v1/jobs/{job_id}/gantt", headers=headers()).json()
    runs = [row for row in neutral if row["kind"] == "run"]
    assert len(runs) == 36 and max(row["end"] for row in runs) == 55
    frappe = client.get(
        f"/v1/jobs/{job_id}/gantt", params={"shape": "frappe"}, headers=headers()
    ).json()
    assert len(frappe) >= 36 and {"id", "start", "end"} <= set(frappe[0])
    vis = client.get(f"/v1/jobs/{job_id}/gantt", params={"shape": "vis"}, headers=headers()).json()
    assert len(vis["items"]) >= 36 and len(vis["groups"]) == 6
    plotly = client.get(
        f"/v1/jobs/{job_id}/gantt", params={"shape": "plotly"}, headers=headers()
    ).json()
    assert plotly["data"] and plotly["layout"]["xaxis"]["type"] == "linear"
    bad = client.get(f"/v1/jobs/{job_id}/gantt", params={"shape": "svg"}, headers=headers())
    assert bad.status_code == 422
    html = client.get(f"/v1/jobs/{job_id}/gantt.html", headers=headers())
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "plotly" in html.text.lower() and job_id in html.text
    assert '<script src="http' not in html.text  # plotly.js is embedded, no CDN


def test_gantt_of_a_queued_job_is_409(idle_client: TestClient) -> None:
    """Tests that asking for a Gantt before a schedule exists says why (409)."""
    r = idle_client.post("/v1/jobs", json={"problem": problem_json("ft06")}, headers=headers())
    job_id = r.json()["id"]
    g = idle_client.get(f"/v1/jobs/{job_id}/gantt", headers=headers())
    assert g.status_code == 409 and "queued" in g.json()["detail"]
