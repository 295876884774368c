"""The planner page in a real browser: submit, watch, Gantt, KPIs, machine down."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from api.schemas import EXAMPLE_PROBLEM
from tests.ui.conftest import ARTIFACTS, Server

#: Counts the rendered bars of the Gantt's ``run`` trace (one SVG point per bar).
RUN_BARS_JS = """() => {
  const gd = document.getElementById('gantt');
  const i = gd.data.findIndex((t) => t.meta === 'run');
  const traces = gd.querySelectorAll('.barlayer .trace');
  return {index: i, traces: traces.length, points: traces[i].querySelectorAll('.point path').length,
          data: gd.data[i].x.length};
}"""

#: The centre of the widest bar of the ``run`` trace, in page coordinates.
WIDEST_RUN_JS = """() => {
  const gd = document.getElementById('gantt');
  const i = gd.data.findIndex((t) => t.meta === 'run');
  const paths = [...gd.querySelectorAll('.barlayer .trace')[i].querySelectorAll('.point path')];
  const boxes = paths.map((p) => p.getBoundingClientRect());
  const b = boxes.reduce((a, c) => (c.width > a.width ? c : a));
  return {x: b.x + b.width / 2, y: b.y + b.height / 2};
}"""


def wait(page: Any, selector: str, seconds: float) -> None:
    """Wait for ``selector``; on timeout, fail with the page's errors and error box."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_selector(selector, timeout=seconds * 1000)
    except PlaywrightTimeout:
        shown = page.locator("#error").inner_text()
        raise AssertionError(
            f"{selector} not there after {seconds:g} s; page errors {page.errors}; "
            f"error box {shown!r}"
        ) from None


def test_page_loads_offline(page: Any, server: Server) -> None:
    """Every request the page makes stays on the server: no CDN, works offline."""
    hosts: list[str] = []
    page.on("request", lambda r: hosts.append(urlparse(r.url).netloc))
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    assert page.evaluate("typeof Plotly") == "object"
    assert page.title() == "APS planner"
    assert page.locator("#submit-example").is_visible()
    assert hosts and set(hosts) == {urlparse(server.url).netloc}
    assert page.errors == []


def test_example_to_gantt_and_machine_down(page: Any, server: Server) -> None:
    """Submit the example, see it succeed, one bar per operation, then a breakdown's diff."""
    page.fill("#time-limit", "3")
    page.click("#submit-example")
    # the new job is selected and followed through its events until it succeeds
    wait(page, "#job-status.succeeded", 120)
    wait(page, "#gantt .barlayer .trace", 60)
    job_id = page.locator("#jobs-table tr.selected").get_attribute("data-id")
    assert job_id

    with server.client() as http:
        schedule = http.get(f"/v1/jobs/{job_id}/schedule").json()
        job = http.get(f"/v1/jobs/{job_id}").json()
    ops = len(schedule["operations"])
    assert ops == 263
    bars = page.evaluate(RUN_BARS_JS)
    assert bars["points"] == bars["data"] == ops, bars
    assert page.get_attribute("#gantt", "data-run-bars") == str(ops)

    # progress chart: one point per reported incumbent
    incumbents = len(job["progress"]["history"])
    assert incumbents >= 1
    assert page.evaluate("document.getElementById('progress').data[0].x.length") >= 1
    # ...and the page followed the job through its server-sent events (status + incumbents)
    assert int(page.get_attribute("#progress", "data-events") or 0) >= 2 + incumbents

    # KPI tiles and the time axis in the plant's zone
    kpis = page.locator("#kpis .kpi")
    assert kpis.count() == 6
    labels = page.locator("#kpis .kpi .label").all_inner_texts()
    assert [t.lower() for t in labels[:5]] == [
        "makespan",
        "weighted tardiness",
        "late orders",
        "utilisation",
        "gap to bound",
    ]
    assert page.inner_text("#tz") == "times in Europe/Berlin"
    assert "Europe/Berlin" in page.evaluate(
        "document.getElementById('gantt').layout.xaxis.title.text"
    )
    # hover text names order, operation, machine, times and lateness
    hover = page.evaluate(
        "(() => { const gd = document.getElementById('gantt');"
        " const t = gd.data.find((d) => d.meta === 'run'); return t.customdata[0]; })()"
    )
    assert "order " in hover and "operation " in hover and "machine " in hover
    assert "Europe/Berlin" in hover and ("lateness" in hover or "LATE" in hover)

    # a real mouse hover over the widest run bar shows that text
    box = page.evaluate(WIDEST_RUN_JS)
    page.mouse.move(box["x"], box["y"])
    label = page.locator("#gantt .hoverlayer .hovertext")
    label.wait_for(timeout=60_000)
    text = label.text_content() or ""
    assert "order " in text and "machine " in text and "→" in text, text

    # the same bars by order
    ARTIFACTS.mkdir(exist_ok=True)
    page.click("#by-order")
    page.wait_for_function("document.getElementById('gantt').dataset.lanes === 'order'")
    assert page.evaluate(RUN_BARS_JS)["points"] == ops
    page.locator("#gantt-panel").screenshot(path=str(ARTIFACTS / "gantt-by-order.png"))

    page.click("#by-machine")
    page.wait_for_function("document.getElementById('gantt').dataset.lanes === 'machine'")
    page.locator("#gantt-panel").screenshot(path=str(ARTIFACTS / "gantt.png"))

    # live plant: the busiest machine down for a shift; the repaired what-if and its diff
    page.fill("#down-limit", "3")
    page.click("#down-submit")
    wait(page, "#diff:not([hidden])", 120)
    rows = page.locator("#diff-table tbody tr.moved")
    assert rows.count() >= 1
    assert not page.locator("#repair-banner").is_hidden()
    moved = int(page.get_attribute("#gantt", "data-moved") or 0)
    assert moved == rows.count()
    highlighted = page.evaluate(
        "document.getElementById('gantt').data.find((d) => d.meta === 'moved').x.length"
    )
    assert highlighted == moved
    assert page.evaluate(RUN_BARS_JS)["points"] >= ops
    page.locator("#gantt-panel").screenshot(path=str(ARTIFACTS / "gantt-repaired.png"))
    page.locator("#live-panel").screenshot(path=str(ARTIFACTS / "diff.png"))
    page.set_viewport_size({"width": 1600, "height": 2200})
    page.wait_for_timeout(300)  # let the responsive charts settle
    page.screenshot(path=str(ARTIFACTS / "ui.png"))

    page.click("#repair-back")
    assert page.locator("#repair-banner").is_hidden()
    assert page.errors == []


def test_upload_and_late_orders_highlighted(page: Any, server: Server, tmp_path: Path) -> None:
    """An uploaded problem with an impossible due date: outlined bars, listed as late."""
    problem = copy.deepcopy(EXAMPLE_PROBLEM)
    problem["name"] = "late-two-by-two"
    problem["jobs"][0]["due"] = 2  # J1 needs 5 ticks: late whatever the schedule
    upload = tmp_path / "late.json"
    upload.write_text(json.dumps(problem))
    page.fill("#time-limit", "1")
    page.set_input_files("#upload-file", str(upload))
    page.click("#submit-upload")
    wait(page, "#job-status.succeeded", 120)
    assert page.inner_text("#job-name") == "late-two-by-two"
    assert page.locator("#jobs-table tr.selected .job-name").inner_text() == "late-two-by-two"
    wait(page, "#late-table tbody tr[data-order='J1']", 60)
    assert page.locator("#late-count").inner_text() == "1 of 2"
    outlined = page.evaluate(
        "document.getElementById('gantt').data.find((d) => d.meta === 'late').y"
    )
    assert outlined == ["M1", "M2"]  # both operations of J1, on their machines
    assert page.locator("#kpis .kpi.bad").count() == 2  # weighted tardiness, late orders
    assert page.locator("#tz").inner_text() == "times in ticks"
    page.click("#by-order")
    dues = page.evaluate("document.getElementById('gantt').data.find((d) => d.meta === 'due')")
    assert dues["y"] == ["J1"] and dues["marker"]["color"] == ["#d62728"]
    assert page.errors == []
