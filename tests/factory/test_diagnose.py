"""Pre-solve diagnostics name the cause: order, operation, machine, material."""

from __future__ import annotations

from pathlib import Path

from aps.factory.compile import compile_plant
from aps.heuristics.witness import witness
from aps.model import Job, Machine, Mode, Operation, Problem, Window
from aps.report.diagnose import Severity, diagnose, diagnose_path, diagnose_plant
from tests.factory.plants import iso, plant

ROOT = Path(__file__).resolve().parents[2]

DAY = {
    "id": "day",
    "timezone": "UTC",
    "shifts": [{"days": "mon-fri", "start": "06:00", "end": "14:00"}],
}


def codes(findings: list) -> list[str]:  # type: ignore[type-arg]
    return [f.code for f in findings if f.severity is Severity.ERROR]


def test_example_plant_is_clean() -> None:
    assert codes(diagnose_path(ROOT / "instances" / "plant.json")) == []
    assert codes(diagnose_path(ROOT / "instances" / "plant")) == []


def test_operation_longer_than_every_working_window() -> None:
    p = plant(
        calendars=[DAY],
        default_calendar="DAY".lower(),
        machines=[{"id": "M1"}, {"id": "M2"}],
        products=[
            {
                "id": "P",
                "routing": [
                    {
                        "id": "cure",
                        "machines": [{"machine": "M1"}, {"machine": "M2"}],
                        "run_per_unit": "PT1M",
                        "setup": "PT30M",
                    }
                ],
            }
        ],
        orders=[{"id": "O1", "product": "P", "quantity": 480}],
    )
    [finding] = diagnose_plant(p)
    assert finding.code == "operation_exceeds_window"
    assert finding.order == "O1" and finding.operation == "cure"
    assert "'M1' needs 8.5 h but its longest working window is 8.0 h" in finding.message
    # the same step may pause over the night: no finding
    ok = p.model_copy(
        update={
            "products": [
                p.products[0].model_copy(
                    update={
                        "routing": [
                            p.products[0].routing[0].model_copy(update={"interruptible": True})
                        ]
                    }
                )
            ]
        }
    )
    assert codes(diagnose_plant(ok)) == []


def test_component_that_never_reaches_the_needed_stock() -> None:
    p = plant(
        materials=[
            {"id": "BOLT", "initial_stock": 10, "receipts": [{"at": iso(600), "quantity": 20}]}
        ],
        products=[
            {
                "id": "P",
                "routing": [
                    {
                        "id": "op1",
                        "machines": [{"machine": "M1"}],
                        "duration": "PT5M",
                        "consumes": [{"material": "BOLT", "per_unit": 4}],
                    }
                ],
            }
        ],
        orders=[
            {"id": "O1", "product": "P", "quantity": 5},
            {"id": "O2", "product": "P", "quantity": 5},
        ],
    )
    [finding] = diagnose_plant(p)
    assert finding.code == "material_shortage" and finding.material == "BOLT"
    assert "40 consumed by O1/op1, O2/op1, but only 30 available" in finding.message
    assert "short by 10" in finding.message


def test_deadline_before_release_plus_minimum_processing() -> None:
    p = plant(
        calendars=[DAY],
        default_calendar="day",
        products=[
            {
                "id": "P",
                "routing": [
                    {"id": "a", "machines": [{"machine": "M1"}], "duration": "PT6H"},
                    {"id": "b", "machines": [{"machine": "M1"}], "duration": "PT4H"},
                ],
            }
        ],
        orders=[
            {
                "id": "O1",
                "product": "P",
                "quantity": 1,
                "release": iso(360),
                "deadline": iso(1440 + 360 + 60),
                "due": iso(700),
            }
        ],
    )
    findings = diagnose_plant(p)
    assert codes(findings) == ["deadline_too_early"]
    # a: Mon 06-12, b cannot fit Mon 12-14 -> Tue 06-10 = tick 1440 + 600
    assert "earliest finish 2026-03-03T10:00+00:00" in findings[0].message
    later = plant(
        calendars=[DAY],
        default_calendar="day",
        products=p.model_dump()["products"],
        orders=[{"id": "O1", "product": "P", "quantity": 1, "due": iso(700)}],
    )
    [warning] = diagnose_plant(later)
    assert warning.code == "due_unreachable" and warning.severity is Severity.WARNING


def test_deadline_before_release_in_the_plant() -> None:
    p = plant(
        orders=[
            {"id": "O1", "product": "P", "quantity": 1, "release": iso(100), "deadline": iso(10)}
        ]
    )
    [finding] = diagnose_plant(p)
    assert finding.code == "compile" and "O1" in finding.message


def test_unknown_references_from_a_file(tmp_path: Path) -> None:
    text = (ROOT / "instances" / "plant.json").read_text()
    bad = tmp_path / "p.json"
    bad.write_text(text.replace('"machine": "SAW"', '"machine": "SAWS"', 1))
    findings = diagnose_path(bad)
    assert codes(findings) == ["invalid_input"]
    assert "unknown machine or group 'SAWS'" in findings[0].message


def test_tick_problems_and_single_machine_overload() -> None:
    problem = Problem(
        machines=[Machine(id=0, unavailable=[Window(start=10, end=90)])],
        jobs=[
            Job(id=j, operations=[Operation(id=0, modes=[Mode(machine=0, duration=15)])])
            for j in range(3)
        ],
        horizon=100,
    )
    assert "operation_exceeds_window" in codes(diagnose(problem))  # 15 > 10-tick windows
    # windows [0, 20) and [85, 100): each job fits, but 45 ticks of work > 35 free
    roomier = problem.model_copy(
        update={"machines": [Machine(id=0, unavailable=[Window(start=20, end=85)])]}
    )
    [finding] = diagnose(roomier)
    assert finding.code == "machine_overloaded" and finding.machine == 0


def test_witness_proves_the_example_feasible() -> None:
    from aps.io.load import load_problem
    from aps.validate import validate

    problem = load_problem(ROOT / "instances" / "plant.json")
    schedule = witness(problem)
    assert schedule is not None and validate(problem, schedule) == []


def test_witness_waits_for_stock_and_keeps_max_lags() -> None:
    p = plant(
        machines=[{"id": "M1"}, {"id": "M2"}],
        materials=[{"id": "BOLT", "receipts": [{"at": iso(300), "quantity": 10}]}, {"id": "SUB"}],
        products=[
            {
                "id": "F",
                "routing": [
                    {
                        "id": "glue",
                        "machines": [{"machine": "M2"}],
                        "duration": "PT10M",
                        "predecessors": [],
                        "max_lag": "PT20M",
                    },
                    {
                        "id": "prep",
                        "machines": [{"machine": "M1"}],
                        "duration": "PT2H",
                        "predecessors": [],
                    },
                    {
                        "id": "assemble",
                        "machines": [{"machine": "M1"}],
                        "duration": "PT30M",
                        "predecessors": ["glue", "prep"],
                        "consumes": [{"material": "BOLT", "per_unit": 5}, {"material": "SUB"}],
                    },
                ],
            },
            {
                "id": "S",
                "routing": [
                    {
                        "id": "make",
                        "machines": [{"machine": "M2"}],
                        "duration": "PT1H",
                        "produces": [{"material": "SUB"}],
                    }
                ],
            },
        ],
        orders=[
            {"id": "F1", "product": "F", "quantity": 2},
            {"id": "S1", "product": "S", "quantity": 2},
        ],
    )
    problem = compile_plant(p)
    schedule = witness(problem)
    assert schedule is not None
    rows = {(r.job, r.op): r for r in schedule}
    assert rows[("F1", "assemble")].start == 300  # waits for the bolts
    assert rows[("F1", "assemble")].start - rows[("F1", "glue")].end <= 20
    shortage = problem.model_copy(
        update={
            "materials": [
                problem.materials[0].model_copy(update={"receipts": []}),
                problem.materials[1],
            ]
        }
    )
    assert witness(shortage) is None


def test_group_overload() -> None:
    """Each step fits, but the two machines they may use have too little time together."""
    problem = Problem(
        machines=[Machine(id="A"), Machine(id="B"), Machine(id="C")],
        jobs=[
            Job(
                id=j,
                operations=[
                    Operation(
                        id=0, modes=[Mode(machine="A", duration=40), Mode(machine="B", duration=50)]
                    )
                ],
            )
            for j in range(6)
        ],
        horizon=100,
    )
    [finding] = diagnose(problem)
    assert finding.code == "machine_overloaded" and "['A', 'B']" in finding.message
    assert "240 ticks of work" in finding.message


def test_component_arrives_after_the_latest_start() -> None:
    p = plant(
        materials=[
            {"id": "MOTOR", "initial_stock": 2, "receipts": [{"at": iso(600), "quantity": 20}]}
        ],
        products=[
            {
                "id": "P",
                "routing": [
                    {
                        "id": "assemble",
                        "machines": [{"machine": "M1"}],
                        "duration": "PT1H",
                        "consumes": [{"material": "MOTOR", "per_unit": 1}],
                    },
                    {"id": "test", "machines": [{"machine": "M1"}], "duration": "PT30M"},
                ],
            }
        ],
        orders=[{"id": "O1", "product": "P", "quantity": 5, "deadline": iso(300)}],
    )
    [finding] = diagnose_plant(p)
    assert finding.code == "material_late" and finding.operation == "assemble"
    assert "must start by 2026-03-02T03:30+00:00 (tick 210)" in finding.message
    assert "only 2 of the 5" in finding.message and "next receipt is at" in finding.message
