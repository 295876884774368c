"""Checking events against the plant (``aps.live.normalize``), one event type at a time:
what each becomes in ticks and ids, what is refused (naming the field) and what is stale.
Pure: a problem and an in-memory history, no database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from aps.factory.compile import compile_plant
from aps.factory.model import Plant as PlantDocument
from aps.live.apply import update_order
from aps.live.events import (
    NormalizedCalendarChanged,
    NormalizedMachineDown,
    NormalizedMachineUp,
    NormalizedMaterialReceived,
    NormalizedOperationCompleted,
    NormalizedOperationStarted,
    NormalizedOrderCancelled,
    NormalizedOrderCreated,
    NormalizedOrderUpdated,
    Rejected,
)
from aps.live.normalize import LivePlant, Log, known_orders
from aps.model import Job
from tests.plant.rules import STAMP, check, example, plant, recorded

DATA = ["body", "data"]


def _refused(live: Any, kind: str, **data: Any) -> Rejected:
    with pytest.raises(Rejected) as caught:
        check(live, kind, **data)
    return caught.value


def _job(order: str, machine: str = "M2") -> dict[str, Any]:
    return {
        "id": order,
        "operations": [{"id": "x", "modes": [{"machine": machine, "duration": 3}]}],
    }


# -- machines -------------------------------------------------------------------------------


def test_machine_down() -> None:
    """Tests that a breakdown becomes ticks on the machine's id; a start before the plan
    is clamped to 0; an unknown machine or an end before the start is refused."""
    assert check(plant(), "machine.down", machine="M1", from_=-4, until=9) == (
        NormalizedMachineDown(machine="M1", start=0, until=9),
        False,
    )
    assert check(plant(), "machine.down", machine="M1", from_=4)[0] == NormalizedMachineDown(
        machine="M1", start=4
    )
    assert _refused(plant(), "machine.down", machine="M9", from_=1).loc == [*DATA, "machine"]
    wrong = _refused(plant(), "machine.down", machine="M1", from_=5, until=5)
    assert wrong.loc == [*DATA, "until"]


def test_machine_down_after_a_later_up_ends_at_it() -> None:
    """Tests that a breakdown arriving after a later repair of its machine ends at that
    repair (the earliest one after it), and that other machines' repairs do not count."""
    history = [
        recorded(NormalizedMachineUp(machine="M2", at=8)),
        recorded(NormalizedMachineUp(machine="M1", at=20), minutes=1),
        recorded(NormalizedMachineUp(machine="M1", at=30), minutes=2),
    ]
    live = plant(None, *history)
    norm, stale = check(live, "machine.down", machine="M1", from_=10)
    assert (norm, stale) == (NormalizedMachineDown(machine="M1", start=10, until=20), False)
    norm, _ = check(live, "machine.down", machine="M1", from_=10, until=15)
    assert norm == NormalizedMachineDown(machine="M1", start=10, until=15)


def test_machine_up_is_stale_after_a_later_down() -> None:
    """Tests that a repair older than a known later breakdown of its machine is stale,
    and that a plant without a time base needs the repair's ``at``."""
    live = plant(None, recorded(NormalizedMachineDown(machine="M1", start=10)))
    assert check(live, "machine.up", machine="M1", at=5) == (
        NormalizedMachineUp(machine="M1", at=5),
        True,
    )
    assert check(live, "machine.up", machine="M1", at=15)[1] is False
    assert check(live, "machine.up", machine="M2", at=5)[1] is False
    assert _refused(live, "machine.up", machine="M1").loc == [*DATA, "at"]


def test_calendar_changed() -> None:
    """Tests that a new calendar becomes tick windows with their reasons, and a window
    that ends before it starts is refused at its index."""
    norm, stale = check(
        plant(),
        "calendar.changed",
        machine="M2",
        unavailable=[{"from": 1, "until": 4}, {"from": 8, "until": 9, "reason": "service"}],
    )
    assert (norm, stale) == (
        NormalizedCalendarChanged(machine="M2", windows=[(1, 4, None), (8, 9, "service")]),
        False,
    )
    bad = _refused(plant(), "calendar.changed", machine="M2", unavailable=[{"from": 4, "until": 4}])
    assert bad.loc == [*DATA, "unavailable", 0, "until"]


# -- operations -----------------------------------------------------------------------------


def test_operation_started() -> None:
    """Tests that a start becomes the order's and operation's ids on an eligible machine,
    with its setup and remaining work."""
    norm, stale = check(
        plant(), "operation.started", order="O1", operation="a", machine="M2", at=4,
        setup_start=2, remaining=3,
    )  # fmt: skip
    assert stale is False
    assert norm == NormalizedOperationStarted(
        job="O1", op="a", machine="M2", start=4, setup_start=2, remaining=3
    )


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"order": "O9", "operation": "a", "machine": "M1"}, "order"),
        ({"order": "O1", "operation": "z", "machine": "M1"}, "operation"),
        ({"order": "O1", "operation": "b", "machine": "M1"}, "machine"),
        ({"order": "O1", "operation": "a", "machine": "M9"}, "machine"),
        ({"order": "O1", "operation": "a", "machine": "M1", "setup_start": 5}, "setup_start"),
    ],
)
def test_operation_started_refusals(data: dict[str, Any], field: str) -> None:
    """Tests that an unknown order, operation or machine, an ineligible machine and a
    setup after the start are refused, naming the field."""
    assert _refused(plant(), "operation.started", at=4, **data).loc == [*DATA, field]


def test_operation_started_after_its_completion_is_stale() -> None:
    """Tests that a start arriving after the operation's completion is stale."""
    done = NormalizedOperationCompleted(job="O1", op="a", machine="M1", start=0, end=5)
    live = plant(None, recorded(done, status="applied"))
    started: dict[str, Any] = {"order": "O1", "operation": "a", "machine": "M1", "at": 0}
    assert check(live, "operation.started", **started)[1] is True
    assert check(live, "operation.started", **{**started, "order": "O0"})[1] is False


def test_operation_completed() -> None:
    """Tests that a completion keeps its actual times and output, and an end not after
    the start is refused."""
    done: dict[str, Any] = {"order": "O0", "operation": "b", "machine": "M3", "started_at": 5}
    norm, stale = check(plant(), "operation.completed", completed_at=9, quantity=1, **done)
    assert (norm, stale) == (
        NormalizedOperationCompleted(job="O0", op="b", machine="M3", start=5, end=9, quantity=1),
        False,
    )
    assert _refused(plant(), "operation.completed", completed_at=5, **done).loc == [
        *DATA,
        "completed_at",
    ]


def test_operations_of_orders_created_and_cancelled_in_flight() -> None:
    """Tests that the known orders include pending creations and exclude pending
    cancellations, in occurrence order; applied ones are already in the problem."""
    new = Job.model_validate(_job("O7"))
    live = plant(
        None,
        recorded(NormalizedOrderCreated(job=new)),
        recorded(NormalizedOrderCancelled(order="O0"), minutes=1),
        recorded(NormalizedOrderCancelled(order="O1"), minutes=2, status="applied"),
    )
    assert sorted(known_orders(live)) == ["O1", "O7"]
    started: dict[str, Any] = {"operation": "x", "machine": "M2", "at": 1}
    norm, _ = check(live, "operation.started", order="O7", **started)
    assert isinstance(norm, NormalizedOperationStarted) and norm.job == "O7"
    assert _refused(live, "operation.started", order="O0", **started).loc == [*DATA, "order"]


# -- orders ---------------------------------------------------------------------------------


def test_order_created_at_tick_level() -> None:
    """Tests that a tick-level job is taken as it is; a duplicate id, an unknown machine
    and an invalid job are refused at their fields; exactly one of job/order is given."""
    norm, stale = check(plant(), "order.created", job=_job("O7"))
    assert (norm, stale) == (NormalizedOrderCreated(job=Job.model_validate(_job("O7"))), False)
    assert _refused(plant(), "order.created", job=_job("O1")).loc == [*DATA, "job", "id"]
    assert _refused(plant(), "order.created", job=_job("O7", "M9")).loc == [
        *DATA, "job", "operations", 0, "modes", 0, "machine",
    ]  # fmt: skip
    assert _refused(plant(), "order.created", job={"id": "O7", "operations": []}).loc[:3] == [
        *DATA,
        "job",
    ]
    assert _refused(plant(), "order.created").loc == DATA
    assert _refused(plant(), "order.created", order={"id": "X"}, job=_job("O7")).loc == DATA
    tick_level = _refused(plant(), "order.created", order={"id": "X"})
    assert tick_level.loc == [*DATA, "order"] and "tick-level" in tick_level.msg


def test_order_created_from_plant_json() -> None:
    """Tests that a plant-JSON order is compiled with the plant's products and routes, and
    that a reference to an unknown product names the order's field."""
    live = example()
    order = {"id": "SA-900", "product": "FRAME", "quantity": 10, "due": "2026-03-06T12:00:00+01:00"}
    norm, _ = check(live, "order.created", order=order)
    assert isinstance(norm, NormalizedOrderCreated) and norm.job.id == "SA-900"
    assert [o.id for o in norm.job.operations] == ["cut", "weld"]
    bad = _refused(live, "order.created", order={**order, "product": "NOPE"})
    assert bad.loc[:3] == [*DATA, "order"]


def test_order_updated() -> None:
    """Tests that an update keeps the fields given (a release before the plan is clamped
    to 0); an unknown order and an update of nothing are refused."""
    norm, stale = check(plant(), "order.updated", order="O1", release=-3, due=25, weight=3)
    assert (norm, stale) == (
        NormalizedOrderUpdated(order="O1", release=0, due=25, weight=3),
        False,
    )
    assert _refused(plant(), "order.updated", order="O9", due=3).loc == [*DATA, "order"]
    nothing = _refused(plant(), "order.updated", order="O1")
    assert nothing.loc == DATA and "nothing to update" in nothing.msg


def test_order_updated_staleness() -> None:
    """Tests that an update older than a known update of the same order is stale (a newer
    one, or another order's, is not), and so is one older than the order's cancellation."""
    live = plant(None, recorded(NormalizedOrderUpdated(order="O1", due=20), minutes=10))
    assert check(live, "order.updated", order="O1", due=9)[1] is True
    assert (
        check(live, "order.updated", STAMP + timedelta(minutes=11), order="O1", due=9)[1] is False
    )
    assert check(live, "order.updated", order="O0", due=9)[1] is False
    cancelled = plant(None, recorded(NormalizedOrderCancelled(order="O1"), minutes=10))
    assert check(cancelled, "order.updated", order="O1", due=9) == (
        NormalizedOrderUpdated(order="O1"),
        True,
    )


def test_order_quantity_is_recompiled() -> None:
    """Tests that a new quantity comes with the order's operations recompiled from its
    plant-JSON definition at that quantity."""
    live = example()
    norm, stale = check(live, "order.updated", order="SA-001", quantity=160)
    assert isinstance(norm, NormalizedOrderUpdated) and stale is False
    source = live.source
    assert source is not None
    order = next(o for o in source["orders"] if o["id"] == "SA-001")
    expected = compile_plant(
        PlantDocument.model_validate({**source, "orders": [{**order, "quantity": 160}]})
    ).jobs[0]
    assert norm.quantity == 160 and norm.operations is not None
    assert {k: (v.modes, v.consumes, v.produces) for k, v in norm.operations.items()} == {
        str(o.id): (o.modes, o.consumes, o.produces) for o in expected.operations
    }


def test_order_quantity_of_a_created_order_uses_its_event() -> None:
    """Tests that an order created by an event is recompiled from the plant-JSON order
    that event carried."""
    live = example()
    order = {"id": "SA-900", "product": "FRAME", "quantity": 10, "due": "2026-03-06T12:00:00+01:00"}
    created, _ = check(live, "order.created", order=order)
    live = type(live)(live.problem, live.source, Log([recorded(created, data={"order": order})]))
    norm, _ = check(live, "order.updated", order="SA-900", quantity=20)
    assert isinstance(norm, NormalizedOrderUpdated) and norm.operations is not None
    assert set(norm.operations) == {"cut", "weld"}


def test_order_quantity_recompiles_fixed_plus_rate_run_times() -> None:
    """Tests that a new quantity re-quantifies a fixed-plus-rate run: the fixed part stays,
    the per-unit part scales, on the operation's rate and a machine's own."""
    source = {
        "horizon": {"start": "2026-03-02T00:00:00+00:00", "end": "2026-03-09T00:00:00+00:00"},
        "machines": [{"id": "M1"}, {"id": "M2"}],
        "products": [
            {
                "id": "P",
                "routing": [
                    {
                        "id": "test",
                        "fixed_time": "PT45M",
                        "run_per_unit": "PT2M",
                        "machines": [
                            {"machine": "M1"},
                            {"machine": "M2", "run_per_unit": "PT1M", "fixed_time": "PT15M"},
                        ],
                    }
                ],
            }
        ],
        "orders": [{"id": "O1", "product": "P", "quantity": 10}],
    }
    problem = compile_plant(PlantDocument.model_validate(source))
    assert [m.duration for m in problem.jobs[0].operations[0].modes] == [65, 25]
    live = LivePlant(problem, source, Log())
    norm, _ = check(live, "order.updated", order="O1", quantity=30)
    assert isinstance(norm, NormalizedOrderUpdated) and norm.operations is not None
    assert [m.duration for m in norm.operations["test"].modes] == [45 + 60, 15 + 30]
    job = update_order(problem, norm).jobs[0]
    assert [m.duration for m in job.operations[0].modes] == [105, 45]


def test_order_quantity_of_a_tick_level_plant_is_refused() -> None:
    """Tests that a tick-level plant (no per-unit times) refuses a quantity."""
    refused = _refused(plant(), "order.updated", order="O1", quantity=5, weight=3)
    assert refused.loc == [*DATA, "quantity"] and "tick-level" in refused.msg


def test_order_cancelled() -> None:
    """Tests that a known order may be cancelled and an unknown one is refused."""
    assert check(plant(), "order.cancelled", order="O1") == (
        NormalizedOrderCancelled(order="O1"),
        False,
    )
    assert _refused(plant(), "order.cancelled", order="nope").loc == [*DATA, "order"]


# -- material and time ----------------------------------------------------------------------


def test_material_received() -> None:
    """Tests that a receipt names the material's id and its tick; an unknown material is
    refused."""
    assert check(plant(), "material.received", material="RAW", quantity=5, at=8) == (
        NormalizedMaterialReceived(material="RAW", quantity=5, at=8),
        False,
    )
    refused = _refused(plant(), "material.received", material="X", quantity=1, at=3)
    assert refused.loc == [*DATA, "material"]


def test_missing_times_are_the_occurrence_on_a_timed_plant() -> None:
    """Tests that on a plant with a time base, datetimes become ticks and a missing time
    is the event's occurrence."""
    live = example()
    machine = str(live.problem.machines[0].id)
    stamp = STAMP + timedelta(hours=2)  # 10:00 UTC is 11:00 in Berlin: tick 660
    norm, _ = check(live, "machine.down", stamp, machine=machine)
    assert norm == NormalizedMachineDown(machine=machine, start=660)
    norm, _ = check(live, "machine.up", stamp, machine=machine, at="2026-03-02T12:00:00")
    assert norm == NormalizedMachineUp(machine=machine, at=720)  # naive: local time
