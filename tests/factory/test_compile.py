"""Compiling a plant into ticks: rates, alternatives, lags, BOM, stock, dates."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from aps.factory.compile import CompileError, compile_plant
from aps.factory.model import Plant
from aps.model import Lag, MaterialFlow, Mode, Receipt
from tests.factory.plants import iso, plant, tiny


def routing(*ops: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"id": "P", "family": "fam", "routing": list(ops)}]


def test_run_rate_times_quantity_plus_setup_rounded_up() -> None:
    p = plant(
        products=routing(
            {
                "id": "op1",
                "machines": [{"machine": "M1"}],
                "setup": "PT7M30S",
                "run_per_unit": "PT1M30S",
            }
        ),
        orders=[{"id": "O1", "product": "P", "quantity": 7}],
    )
    problem = compile_plant(p)
    op = problem.jobs[0].operations[0]
    assert op.modes == [Mode(machine="M1", duration=11, setup=8)]  # 10.5 -> 11, 7.5 -> 8
    assert problem.jobs[0].id == "O1" and op.id == "op1"
    assert problem.jobs[0].family == "fam"
    assert problem.time is not None and problem.time.tick_seconds == 60
    assert problem.horizon == 7 * 1440


def test_fixed_duration_ignores_quantity_and_resolution_is_configurable() -> None:
    p = plant(
        horizon={"start": iso(0), "end": iso(1440), "tick_seconds": 300},
        products=routing({"id": "op1", "machines": [{"machine": "M1"}], "duration": "PT1H"}),
        orders=[{"id": "O1", "product": "P", "quantity": 500}],
    )
    problem = compile_plant(p)
    assert problem.jobs[0].operations[0].modes[0].duration == 12
    assert problem.horizon == 288


def test_alternative_machines_with_machine_specific_rates_and_groups() -> None:
    p = plant(
        machine_groups=[{"id": "MILL"}],
        machines=[{"id": "M1", "group": "MILL"}, {"id": "M2", "group": "MILL"}, {"id": "M3"}],
        products=routing(
            {
                "id": "op1",
                "run_per_unit": "PT2M",
                "setup": "PT10M",
                "machines": [
                    {"machine": "M3", "run_per_unit": "PT1M", "setup": "PT0S"},
                    {"machine": "MILL"},
                ],
            }
        ),
        orders=[{"id": "O1", "product": "P", "quantity": 30}],
    )
    modes = compile_plant(p).jobs[0].operations[0].modes
    assert modes == [
        Mode(machine="M3", duration=30, setup=0),
        Mode(machine="M1", duration=60, setup=10),
        Mode(machine="M2", duration=60, setup=10),
    ]


def test_lags_chain_and_dag() -> None:
    p = plant(
        products=routing(
            {
                "id": "a",
                "machines": [{"machine": "M1"}],
                "duration": "PT10M",
                "min_lag": "PT30M",
                "max_lag": "PT2H0M59S",
            },
            {"id": "b", "machines": [{"machine": "M1"}], "duration": "PT10M", "predecessors": []},
            {
                "id": "c",
                "machines": [{"machine": "M1"}],
                "duration": "PT10M",
                "predecessors": ["a", "b"],
            },
            {"id": "d", "machines": [{"machine": "M1"}], "duration": "PT10M"},
        )
    )
    ops = compile_plant(p).jobs[0].operations
    assert ops[0].predecessors is None
    assert ops[1].predecessors == []
    assert ops[2].predecessors == [Lag(op="a", min_lag=30, max_lag=120), Lag(op="b")]
    assert ops[3].predecessors is None  # a plain chain after c


def test_bom_flows_scale_with_quantity_and_round_up() -> None:
    p = plant(
        materials=[
            {"id": "BOLT", "initial_stock": 100},
            {"id": "GLUE", "initial_stock": 5},
            {"id": "SUB"},
        ],
        products=routing(
            {
                "id": "op1",
                "machines": [{"machine": "M1"}],
                "duration": "PT5M",
                "consumes": [
                    {"material": "BOLT", "per_unit": 4},
                    {"material": "GLUE", "per_unit": 0.15},
                ],
                "produces": [{"material": "SUB"}],
            }
        ),
        orders=[{"id": "O1", "product": "P", "quantity": 10}],
    )
    op = compile_plant(p).jobs[0].operations[0]
    assert op.consumes == [
        MaterialFlow(material="BOLT", quantity=40),
        MaterialFlow(material="GLUE", quantity=2),
    ]
    assert op.produces == [MaterialFlow(material="SUB", quantity=10)]


def test_initial_stock_and_receipts_become_ticks() -> None:
    p = plant(
        materials=[
            {
                "id": "BOLT",
                "initial_stock": 10,
                "receipts": [
                    {"at": iso(-60), "quantity": 5},  # before the plan: counts as initial stock
                    {"at": iso(90.5), "quantity": 7},  # rounds up to the next tick
                    {"at": "2026-03-03T01:00:00+01:00", "quantity": 3},
                ],
            }
        ]
    )  # offsets honoured
    mat = compile_plant(p).materials[0]
    assert mat.initial == 15
    assert mat.receipts == [Receipt(time=91, quantity=7), Receipt(time=1440, quantity=3)]


def test_order_dates_round_and_status_filters() -> None:
    p = plant(
        products=routing(
            {"id": "a", "machines": [{"machine": "M1"}], "duration": "PT5M"},
            {"id": "b", "machines": [{"machine": "M1"}], "duration": "PT5M"},
        ),
        orders=[
            {
                "id": "O1",
                "product": "P",
                "quantity": 1,
                "release": iso(10.2),
                "due": iso(100.9),
                "deadline": iso(200.5),
                "weight": 3,
            },
            {"id": "O2", "product": "P", "quantity": 1, "status": "done"},
            {
                "id": "O3",
                "product": "P",
                "quantity": 1,
                "status": "in progress",
                "completed_operations": ["a"],
                "release": iso(-500),
            },
        ],
    )
    problem = compile_plant(p)
    assert [j.id for j in problem.jobs] == ["O1", "O3"]
    o1, o3 = problem.jobs
    assert (o1.release, o1.due, o1.deadline, o1.weight) == (11, 100, 200, 3)
    assert o3.release == 0 and [op.id for op in o3.operations] == ["b"]
    assert o3.operations[0].predecessors == []
    assert problem.metadata["orders"]["O1"] == {"product": "P", "quantity": 1, "status": "released"}


def test_calendar_and_maintenance_reach_the_machine() -> None:
    p = plant(
        calendars=[
            {
                "id": "day",
                "timezone": "UTC",
                "shifts": [{"days": "mon-fri", "start": "08:00", "end": "16:00"}],
            }
        ],
        default_calendar="day",
        machines=[
            {
                "id": "M1",
                "maintenance": [{"start": iso(600), "end": iso(660), "reason": "service"}],
            },
            {"id": "M2", "calendar": None},
        ],
    )
    m1 = compile_plant(p).machines[0]
    assert [(w.start, w.end) for w in m1.unavailable[:2]] == [(0, 480), (600, 660)]
    assert m1.unavailable[1].reason == "maintenance: service"


def test_machine_without_calendar_is_always_available() -> None:
    assert compile_plant(plant()).machines[0].unavailable == []


def test_deadline_before_release_is_a_compile_error() -> None:
    p = plant(
        orders=[
            {"id": "O1", "product": "P", "quantity": 1, "release": iso(100), "deadline": iso(50)}
        ]
    )
    with pytest.raises(CompileError, match=r"O1.*deadline"):
        compile_plant(p)


@pytest.mark.parametrize(
    ("over", "where"),
    [
        ({"orders": [{"id": "O1", "product": "NOPE", "quantity": 1}]}, "orders[0].product"),
        (
            {"products": routing({"id": "a", "machines": [{"machine": "M9"}], "duration": "PT1M"})},
            "products[0].routing[0].machines[0].machine",
        ),
        (
            {
                "products": routing(
                    {
                        "id": "a",
                        "machines": [{"machine": "M1"}],
                        "duration": "PT1M",
                        "predecessors": ["zz"],
                    }
                )
            },
            "products[0].routing[0].predecessors[0]",
        ),
        (
            {
                "products": routing(
                    {
                        "id": "a",
                        "machines": [{"machine": "M1"}],
                        "duration": "PT1M",
                        "consumes": [{"material": "X"}],
                    }
                )
            },
            "consumes[0].material",
        ),
        ({"machines": [{"id": "M1", "calendar": "none"}]}, "machines[0].calendar"),
        (
            {
                "products": routing(
                    {
                        "id": "a",
                        "machines": [{"machine": "M1"}],
                        "duration": "PT1M",
                        "predecessors": ["b"],
                    },
                    {"id": "b", "machines": [{"machine": "M1"}], "duration": "PT1M"},
                )
            },
            "cycle",
        ),
    ],
)
def test_unknown_references_are_named(over: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError, match=where.replace("[", r"\[").replace("]", r"\]")):
        Plant.model_validate(tiny(**over))


def test_datetimes_need_offsets() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        Plant.model_validate(
            tiny(orders=[{"id": "O1", "product": "P", "quantity": 1, "due": "2026-03-03T10:00:00"}])
        )


def test_plant_json_round_trip() -> None:
    p = plant(materials=[{"id": "B", "receipts": [{"at": iso(5), "quantity": 1}]}])
    assert Plant.from_json(p.to_json()) == p
