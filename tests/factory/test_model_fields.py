"""Plant fields: fixed-plus-rate run times, contradictory fields refused by name, and
off-shift setups, in plant JSON and in bundles."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from aps.factory.compile import compile_plant
from aps.factory.model import Plant
from aps.heuristics.witness import witness
from aps.io.bundle.read import load_plant
from aps.io.bundle.tables import BundleError
from aps.io.bundle.write import write_bundle
from aps.model import Mode
from aps.validate import validate
from aps.worktime import TickCalendar
from tests.factory.plants import iso, plant, tiny


def op(**fields: Any) -> dict[str, Any]:
    """One routing step on M1 (``machines`` may be replaced)."""
    return {"id": "op1", "machines": [{"machine": "M1"}], **fields}


def routing(*ops: dict[str, Any], **over: Any) -> dict[str, Any]:
    """A plant (as JSON) whose product P has ``ops``; machines M1, M2 in group G."""
    return tiny(
        machine_groups=[{"id": "G"}],
        machines=[{"id": "M1", "group": "G"}, {"id": "M2", "group": "G"}, {"id": "M3"}],
        products=[{"id": "P", "routing": list(ops)}],
        orders=[{"id": "O1", "product": "P", "quantity": 10}],
        **over,
    )


def modes(data: dict[str, Any]) -> list[Mode]:
    return compile_plant(Plant.model_validate(data)).jobs[0].operations[0].modes


# -- fixed plus per-unit time ---------------------------------------------------------------


def test_run_is_fixed_time_plus_quantity_times_rate() -> None:
    """Tests that the run lasts fixed_time + quantity × run_per_unit, on the operation and
    per machine: a machine's rate takes the operation's fixed part unless it has its own;
    a machine's duration replaces the whole run."""
    data = routing(
        op(
            fixed_time="PT45M",
            run_per_unit="PT2M",
            setup="PT5M",
            machines=[
                {"machine": "M1"},
                {"machine": "M2", "run_per_unit": "PT1M"},
                {"machine": "M3", "run_per_unit": "PT3M", "fixed_time": "PT10M"},
            ],
        )
    )
    assert modes(data) == [
        Mode(machine="M1", duration=45 + 20, setup=5),
        Mode(machine="M2", duration=45 + 10, setup=5),
        Mode(machine="M3", duration=10 + 30, setup=5),
    ]
    by_machine = [{"machine": "M1", "run_per_unit": "PT2M"}, {"machine": "M3", "duration": "PT1H"}]
    data = routing(op(fixed_time="PT45M", machines=by_machine))
    assert [m.duration for m in modes(data)] == [65, 60]


def test_fixed_time_and_rate_round_up_once() -> None:
    """Tests that the sum is rounded up to ticks, not each part: 30 s + 3 × 10 s = 1 min."""
    data = routing(op(fixed_time="PT30S", run_per_unit="PT10S"))
    data["orders"][0]["quantity"] = 3
    assert modes(data)[0].duration == 1


def test_fixed_time_pauses_over_breaks_as_the_run_does() -> None:
    """Tests that an interruptible run with a fixed part gets fixed_time + quantity × rate
    working ticks across a break, as the witness places it and the validator checks."""
    data = routing(
        op(fixed_time="PT45M", run_per_unit="PT6M", interruptible=True),
        calendars=[
            {
                "id": "c",
                "shifts": [
                    {"days": "mon-fri", "start": "06:00", "end": "07:00"},
                    {"days": "mon-fri", "start": "08:00", "end": "10:00"},
                ],
            }
        ],
        default_calendar="c",
    )
    problem = compile_plant(Plant.model_validate(data))
    assert problem.jobs[0].operations[0].modes[0].duration == 105
    rows = witness(problem)
    assert rows is not None and validate(problem, rows) == []
    row = rows[0]
    cal = TickCalendar(problem.machines[0].unavailable)
    assert cal.working(row.start, row.end) == 105 and row.end - row.start == 165  # paused 1 h


def test_fixed_time_survives_the_bundle_round_trip(tmp_path: Path) -> None:
    """Tests that fixed_time is written to and read from the routings and routing_machines
    tables."""
    p = Plant.model_validate(
        routing(op(fixed_time="PT45M", run_per_unit="PT2M",
                   machines=[{"machine": "M1", "run_per_unit": "PT1M", "fixed_time": "PT5M"},
                             {"machine": "M2"}]))
    )  # fmt: skip
    write_bundle(p, tmp_path / "b")
    routings = list(csv.DictReader((tmp_path / "b" / "routings.csv").open()))
    per_machine = list(csv.DictReader((tmp_path / "b" / "routing_machines.csv").open()))
    assert routings[0]["fixed_time"] and per_machine[0]["fixed_time"]
    assert not per_machine[1]["fixed_time"]
    assert load_plant(tmp_path / "b") == p
    assert compile_plant(load_plant(tmp_path / "b")) == compile_plant(p)


# -- contradictory fields are refused -------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"duration": "PT1H", "run_per_unit": "PT1M"}, ("duration", "run_per_unit")),
        ({"duration": "PT1H", "fixed_time": "PT5M"}, ("duration", "fixed_time")),
    ],
)
def test_contradictions_are_refused_at_each_level(
    fields: dict[str, str], named: tuple[str, str]
) -> None:
    """Tests that the operation and a machine entry both refuse a duration beside a rate
    or a fixed part, naming both fields and where they are."""
    with pytest.raises(ValidationError) as on_op:
        plant(**routing(op(**fields)))
    with pytest.raises(ValidationError) as on_machine:
        plant(**routing(op(run_per_unit="PT1M", machines=[{"machine": "M2", **fields}])))
    for info, where in ((on_op, "operation 'op1'"), (on_machine, "machine 'M2'")):
        message = str(info.value)
        assert all(f in message for f in named) and where in message, message


def test_machine_fixed_time_that_would_be_ignored_is_refused() -> None:
    """Tests that a machine's fixed_time without a rate to add to is refused, naming the
    entry: beside the operation's duration, and with no rate anywhere."""
    with pytest.raises(ValidationError) as info:
        plant(**routing(op(duration="PT1H", machines=[{"machine": "M1", "fixed_time": "PT5M"}])))
    message = str(info.value)
    assert "machines[0] (machine 'M1')" in message
    assert "fixed_time" in message and "duration" in message
    with pytest.raises(ValidationError) as info:
        plant(**routing(op(machines=[{"machine": "M1", "fixed_time": "PT5M"}])))
    assert "fixed_time without run_per_unit" in str(info.value)
    with pytest.raises(ValidationError, match="fixed_time alone is no run time"):
        plant(**routing(op(fixed_time="PT5M")))


def test_machine_entries_that_would_be_ignored_are_refused() -> None:
    """Tests that an entry every machine of which an earlier entry already sets,
    differently, is refused naming both; a machine before its group, or an identical
    repeat, is accepted."""
    faster = {"machine": "M1", "run_per_unit": "PT2M"}
    shadowed = op(run_per_unit="PT1M", machines=[{"machine": "G"}, faster])
    with pytest.raises(ValidationError) as info:
        plant(**routing(shadowed))
    message = str(info.value)
    assert "machines[1] ('M1') would be ignored" in message and "machines[0] ('G')" in message
    override = op(run_per_unit="PT1M", machines=[faster, {"machine": "G"}])
    assert [m.duration for m in modes(routing(override))] == [20, 10]
    repeat = op(run_per_unit="PT1M", machines=[{"machine": "M1"}, {"machine": "M1"}])
    assert len(modes(routing(repeat))) == 1


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    """A bundle with two routing steps, machine-specific rates on the second."""
    p = Plant.model_validate(
        routing(
            op(run_per_unit="PT1M"),
            op(id="op2", run_per_unit="PT2M",
               machines=[{"machine": "M1"}, {"machine": "M2", "run_per_unit": "PT3M"}]),
        )
    )  # fmt: skip
    write_bundle(p, tmp_path / "b")
    return tmp_path / "b"


def set_cells(path: Path, row: int, **cells: str) -> None:
    """Set cells of a CSV's spreadsheet ``row`` (the header is row 1), adding columns."""
    rows = list(csv.DictReader(path.open()))
    fields = list(rows[0]) + [c for c in cells if c not in rows[0]]
    rows[row - 2].update(cells)
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def errors_of(path: Path) -> list[str]:
    with pytest.raises(BundleError) as info:
        load_plant(path)
    return info.value.errors


def test_bundle_contradictions_name_the_cell(bundle: Path) -> None:
    """Tests that contradictory cells are refused naming the file, row and column: in
    routings, in routing_machines, and across the two."""
    set_cells(bundle / "routings.csv", 2, duration="PT1H")
    set_cells(bundle / "routing_machines.csv", 4, duration="PT1H")
    errors = errors_of(bundle)
    assert errors[0].startswith("routings.csv, row 2, column 'duration': operation 'op1'")
    assert errors[1].startswith("routing_machines.csv, row 4, column 'duration': machine 'M2'")
    assert all("run_per_unit" in e for e in errors[:2])


def test_bundle_fixed_time_beside_a_step_duration_names_the_machine_row(bundle: Path) -> None:
    """Tests that a machine row's fixed_time contradicting its step's duration is reported
    at the machine row's fixed_time cell."""
    set_cells(bundle / "routings.csv", 3, run_per_unit="", duration="PT1H")
    set_cells(bundle / "routing_machines.csv", 3, fixed_time="PT5M")
    (error,) = errors_of(bundle)
    assert error.startswith("routing_machines.csv, row 3, column 'fixed_time': ")
    assert "contradicts the operation's duration" in error


def test_bundle_machines_cell_contradicting_machine_rows_is_refused(bundle: Path) -> None:
    """Tests that a routings ``machines`` cell that the step's routing_machines rows would
    silently replace is refused at that cell; the same machines are accepted."""
    set_cells(bundle / "routings.csv", 3, machines="M1;M2")
    load_plant(bundle)
    set_cells(bundle / "routings.csv", 3, machines="M3")
    (error,) = errors_of(bundle)
    assert error.startswith("routings.csv, row 3, column 'machines': machines 'M3' contradicts")
    assert "routing_machines.csv, row 3" in error


def test_bundle_shadowed_machine_row_names_it(bundle: Path) -> None:
    """Tests that a routing_machines row that an earlier group row covers is refused at
    its machine cell."""
    set_cells(bundle / "routing_machines.csv", 3, machine="G")
    (error,) = errors_of(bundle)
    assert error.startswith("routing_machines.csv, row 4, column 'machine': machines[1] ('M2')")


# -- off-shift setups -----------------------------------------------------------------------


def shifts(off_shift: bool = True) -> dict[str, Any]:
    """M1 in group G and M2 on a 06:00-14:00 calendar; a 1 h setup and a 7.5 h run on M1.

    ``off_shift`` is the group's ``off_shift_setup``.
    """
    return tiny(
        horizon={"start": iso(0), "end": iso(4 * 1440), "tick_seconds": 60},
        calendars=[{"id": "c", "shifts": [{"days": "mon-fri", "start": "06:00", "end": "14:00"}]}],
        default_calendar="c",
        machine_groups=[{"id": "G", "off_shift_setup": off_shift}],
        machines=[{"id": "M1", "group": "G"}, {"id": "M2"}],
        products=[{"id": "P", "routing": [op(setup="PT1H", duration="PT7H30M")]}],
        orders=[{"id": "O1", "product": "P", "quantity": 1}, {"id": "O2", "product": "P",
                                                               "quantity": 1}],
    )  # fmt: skip


def test_off_shift_setup_is_inherited_from_the_group() -> None:
    """Tests that machines take their group's off_shift_setup unless they set their own,
    and that the compiled machines carry it."""
    problem = compile_plant(Plant.model_validate(shifts()))
    assert [m.off_shift_setup for m in problem.machines] == [True, False]
    data = shifts()
    data["machines"][0]["off_shift_setup"] = False
    data["machines"][1]["off_shift_setup"] = True
    problem = compile_plant(Plant.model_validate(data))
    assert [m.off_shift_setup for m in problem.machines] == [False, True]


def test_off_shift_setups_let_a_full_shift_run(tmp_path: Path) -> None:
    """Tests that a 7.5 h run with a 1 h setup fits an 8 h shift only when the setup may
    run off shift: the witness sets up before 06:00 on M1, and the plant with the flag
    round-trips through a bundle."""
    p = Plant.model_validate(shifts())
    problem = compile_plant(p)
    rows = witness(problem)
    assert rows is not None and validate(problem, rows) == []
    cal = TickCalendar(problem.machines[0].unavailable)
    off = [r for r in rows if r.machine == "M1" and cal.blocked(r.busy_from, r.start) > 0]
    assert off and all(cal.working(r.start, r.end) == r.end - r.start for r in rows)
    write_bundle(p, tmp_path / "b")
    groups = list(csv.DictReader((tmp_path / "b" / "machine_groups.csv").open()))
    assert groups[0]["off_shift_setup"] == "true"
    assert load_plant(tmp_path / "b") == p
    lone = compile_plant(Plant.model_validate(shifts(off_shift=False)))
    assert witness(lone) is None  # 8.5 h of setup and run fit no 8 h shift
