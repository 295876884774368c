"""Report and Gantt shapes, for factory problems and plain job shops."""

from __future__ import annotations

import re
from pathlib import Path

from aps.factory.compile import compile_plant
from aps.model import Job, Machine, Mode, Operation, Problem
from aps.report.gantt import gantt_rows, to_frappe, to_plotly, to_vis_timeline, write_html
from aps.report.report import build_report, report_csv, report_text
from aps.result import Result, ScheduledOperation, SolveStatus
from aps.validate import validate
from tests.factory.plants import iso, plant

NIGHT = {
    "id": "day",
    "timezone": "UTC",
    "shifts": [{"days": "mon-sun", "start": "06:00", "end": "22:00"}],
}


def factory_case() -> tuple[Problem, Result]:
    """Two orders on one machine with a calendar; the second pauses over the night."""
    p = plant(
        calendars=[NIGHT],
        default_calendar="day",
        setup_matrices={"m": {"changeover": {"A": {"B": "PT30M"}}}},
        machines=[{"id": "M1", "name": "Mill", "setup_matrix": "m"}],
        materials=[
            {"id": "BOLT", "initial_stock": 4, "receipts": [{"at": iso(1000), "quantity": 10}]}
        ],
        products=[
            {
                "id": "PA",
                "family": "A",
                "routing": [{"id": "mill", "machines": [{"machine": "M1"}], "duration": "PT10H"}],
            },
            {
                "id": "PB",
                "family": "B",
                "routing": [
                    {
                        "id": "mill",
                        "machines": [{"machine": "M1"}],
                        "duration": "PT10H",
                        "interruptible": True,
                        "consumes": [{"material": "BOLT", "per_unit": 2}],
                    }
                ],
            },
        ],
        orders=[
            {"id": "A1", "product": "PA", "quantity": 1, "due": iso(18 * 60)},
            {"id": "B1", "product": "PB", "quantity": 2, "due": iso(20 * 60)},
        ],
    )
    problem = compile_plant(p)
    # A1 06:00-16:00; changeover 16:00-16:30; B1 runs 16:30-22:00, night, 06:00-10:30 (+1 day)
    schedule = [
        ScheduledOperation(job="A1", op="mill", machine="M1", start=360, end=960),
        ScheduledOperation(
            job="B1", op="mill", machine="M1", setup_start=960, start=990, end=1440 + 630
        ),
    ]
    assert validate(problem, schedule) == []
    result = Result(
        name="case",
        status=SolveStatus.OPTIMAL,
        objective=1.0,
        bound=1.0,
        gap=0.0,
        makespan=1440 + 630,
        wall_s=0.1,
        solver="hand",
        solver_version="0",
        schedule=schedule,
    )
    return problem, result


def test_report_per_operation_order_machine_material() -> None:
    problem, result = factory_case()
    rep = build_report(problem, result)
    a, b = rep.operations
    assert (a.order, a.setup_ticks, a.run_ticks, a.pauses) == ("A1", 0, 600, [])
    assert (b.setup_start, b.start, b.end, b.setup_ticks, b.run_ticks) == (960, 990, 2070, 30, 600)
    assert [(p.start, p.end) for p in b.pauses] == [(1320, 1440 + 360)]
    assert b.start_at == "2026-03-02T16:30:00+00:00"
    assert b.pauses[0].end_at == "2026-03-03T06:00:00+00:00"
    orders = {o.order: o for o in rep.orders}
    assert orders["A1"].lateness == 960 - 1080 and not orders["A1"].late
    assert orders["B1"].lateness == 2070 - 1200 and orders["B1"].late
    assert orders["B1"].lateness_hours == 14.5 and orders["B1"].product == "PB"
    [m] = rep.machines
    assert (m.run_ticks, m.setup_ticks, m.operations) == (1200, 30, 2)
    # working time in [0, 2070): 06-22 on day 1 (960) + 06:00-10:30 on day 2 (270)
    assert m.working_ticks == 960 + 270 and m.utilisation == round(1230 / 1230, 4)
    [bolt] = rep.materials
    assert [(p.time, p.level, p.event) for p in bolt.profile] == [
        (0, 4, "initial"),
        (990, 0, "consume"),
        (1000, 10, "receipt"),
    ]
    assert bolt.minimum == 0 and bolt.final == 10
    k = rep.kpis
    assert (k.makespan, k.late_orders, k.weighted_tardiness, k.setup_time) == (2070, 1, 870, 30)
    assert k.makespan_at == "2026-03-03T10:30:00+00:00"
    assert "late orders 1/2" in report_text(rep)
    assert report_csv(rep, "orders").splitlines()[0].startswith("order,product,quantity")
    assert "BOLT,990" in report_csv(rep, "stock")


def test_gantt_rows_one_bar_per_operation_plus_setup_pause_downtime() -> None:
    problem, result = factory_case()
    rows = gantt_rows(problem, result)
    runs = [r for r in rows if r.kind == "run"]
    assert len(runs) == len(result.schedule)
    assert {r.id for r in runs} == {"A1/mill", "B1/mill"}
    assert [(r.start, r.end) for r in rows if r.kind == "setup"] == [(960, 990)]
    assert [(r.start, r.end) for r in rows if r.kind == "pause"] == [(1320, 1800)]
    downtime = [(r.start, r.end) for r in rows if r.kind == "downtime"]
    assert downtime == [(0, 360), (1320, 1800)]
    assert {r.colour_key for r in runs} == {"A", "B"}
    assert all(r.start_at and r.end_at for r in rows)


def test_adapters() -> None:
    problem, result = factory_case()
    rows = gantt_rows(problem, result)
    frappe = to_frappe(rows)
    assert len(frappe) == 3 and frappe[0]["start"] == "2026-03-02 06:00:00"
    assert set(frappe[0]) >= {"id", "name", "start", "end", "progress"}
    vis = to_vis_timeline(rows)
    assert vis["groups"] == [{"id": "M1", "content": "M1"}]
    assert {i["type"] for i in vis["items"]} == {"range", "background"}
    fig = to_plotly(rows)
    assert fig["layout"]["xaxis"]["type"] == "date"
    assert sum(len(t["y"]) for t in fig["data"]) == len(rows)


def jssp_case() -> tuple[Problem, Result]:
    problem = Problem(
        machines=[Machine(id=0), Machine(id=1)],
        jobs=[
            Job(
                id=0,
                operations=[
                    Operation(id=0, modes=[Mode(machine=0, duration=3)]),
                    Operation(id=1, modes=[Mode(machine=1, duration=2)]),
                ],
            ),
            Job(id=1, operations=[Operation(id=0, modes=[Mode(machine=1, duration=4)])]),
        ],
    )
    schedule = [
        ScheduledOperation(job=0, op=0, machine=0, start=0, end=3),
        ScheduledOperation(job=0, op=1, machine=1, start=4, end=6),
        ScheduledOperation(job=1, op=0, machine=1, start=0, end=4),
    ]
    result = Result(
        name="j",
        status=SolveStatus.OPTIMAL,
        makespan=6,
        wall_s=0.0,
        solver="hand",
        solver_version="0",
        schedule=schedule,
    )
    return problem, result


def test_plain_job_shop_shows_ticks(tmp_path: Path) -> None:
    problem, result = jssp_case()
    rep = build_report(problem, result)
    assert rep.kpis.makespan == 6 and rep.kpis.makespan_at is None
    assert rep.operations[0].start_at is None
    assert [m.utilisation for m in rep.machines] == [0.5, 1.0]
    rows = gantt_rows(problem, result)
    assert [r.kind for r in rows].count("run") == 3 and all(r.start_at is None for r in rows)
    assert to_plotly(rows)["layout"]["xaxis"]["type"] == "linear"
    assert to_frappe(rows)[0]["start"].startswith("2000-01-01")
    out = write_html(problem, result, tmp_path / "g.html")
    html = out.read_text()
    assert not re.search(r"<script[^>]*\bsrc=", html)  # nothing fetched: works offline
    assert "Plotly.newPlot" in html and len(html) > 1_000_000  # plotly.js is embedded


def test_empty_schedule_report() -> None:
    problem, result = jssp_case()
    empty = result.model_copy(update={"schedule": [], "status": SolveStatus.INFEASIBLE})
    rep = build_report(problem, empty)
    assert rep.operations == [] and rep.kpis.status == "INFEASIBLE"
    assert gantt_rows(problem, empty) == []
