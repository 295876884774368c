"""What a batch of events does to the plant's problem (``aps.live.apply``): edits of
orders, material and calendars, the rescheduler's events and the reschedule's ``now``.
Pure: problems in, problems out."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from aps import solve
from aps.live.apply import (
    applied_downtimes,
    applied_now,
    apply,
    apply_edits,
    core_events,
    requantify,
)
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
    NormalizedReschedule,
    Requantified,
)
from aps.model import Job, MaterialFlow, Mode, Problem, Window
from aps.reschedule.derive import META, derive, with_base_calendar
from aps.reschedule.events import MachineDown, MachineUp, OperationProgress
from tests.plant.rules import STAMP, example, recorded, small


def _job(order: str) -> Job:
    return Job.model_validate(
        {"id": order, "operations": [{"id": "x", "modes": [{"machine": "M2", "duration": 3}]}]}
    )


def test_order_events_edit_the_jobs() -> None:
    """Tests that creations append, cancellations remove and updates change only the
    fields they give, in occurrence order."""
    events = [
        recorded(NormalizedOrderCreated(job=_job("O7"))),
        recorded(NormalizedOrderCancelled(order="O0"), minutes=1),
        recorded(NormalizedOrderUpdated(order="O1", due=25, weight=3), minutes=2),
        recorded(NormalizedOrderUpdated(order="O1", release=2), minutes=3),
    ]
    edited = apply_edits(small(), events)
    jobs = {str(j.id): j for j in edited.jobs}
    assert sorted(jobs) == ["O1", "O7"]
    assert (jobs["O1"].release, jobs["O1"].due, jobs["O1"].weight) == (2, 25, 3)
    assert jobs["O7"] == _job("O7")


def test_an_impossible_update_is_a_validation_error() -> None:
    """Tests that edits are checked as a whole: a deadline before the release raises."""
    events = [recorded(NormalizedOrderUpdated(order="O1", release=10, deadline=5))]
    with pytest.raises(ValidationError, match="deadline"):
        apply_edits(small(), events)


def test_material_received_adds_a_receipt() -> None:
    """Tests that a receipt is appended to the material's receipts."""
    events = [recorded(NormalizedMaterialReceived(material="RAW", quantity=5, at=8))]
    receipts = apply_edits(small(), events).materials[0].receipts
    assert [(r.time, r.quantity) for r in receipts] == [(8, 5)]


def test_calendar_changed_replaces_the_machine_windows() -> None:
    """Tests that a new calendar replaces a plain problem's machine windows."""
    events = [
        recorded(NormalizedCalendarChanged(machine="M2", windows=[(1, 4, None), (8, 9, "x")]))
    ]
    machines = {m.id: m for m in apply_edits(small(), events).machines}
    assert machines["M2"].unavailable == [
        Window(start=1, end=4),
        Window(start=8, end=9, reason="x"),
    ]
    assert machines["M1"].unavailable == []


def test_calendar_change_of_a_derived_problem_is_its_base_calendar() -> None:
    """Tests that in a derived problem (after a repair) a new calendar replaces the base
    calendar the core keeps, and the next derivation rebuilds the windows from it, with
    downtimes and the past still added."""
    problem = small()
    result = solve(problem, time_limit=2.0, workers=1)
    down = MachineDown(machine="M2", start=8, until=12)
    derived = derive(problem, result.schedule, [down], now=3).problem
    assert derived.metadata[META]["calendars"]
    changed = with_base_calendar(derived, "M2", [Window(start=20, end=25, reason="service")])
    again = derive(changed, result.schedule, [], now=3).problem
    windows = {m.id: m.unavailable for m in again.machines}
    assert Window(start=20, end=25, reason="service") in windows["M2"]
    assert Window(start=8, end=12, reason="breakdown") in windows["M2"]
    assert Window(start=20, end=25, reason="service") not in windows["M1"]
    events = [recorded(NormalizedCalendarChanged(machine="M2", windows=[(20, 25, "service")]))]
    assert apply_edits(derived, events).metadata == changed.metadata


def test_requantify_keeps_pins_and_adds_the_change_to_a_remainder() -> None:
    """Tests that a started (pinned) operation keeps its run time and a resumed
    remainder gets the change in run time on its machine, full new times elsewhere."""
    job = Job.model_validate(
        {
            "id": "J",
            "operations": [
                {"id": "a", "modes": [{"machine": "A", "duration": 10}],
                 "fixed": {"machine": "A", "start": 0, "end": 10}},
                {"id": "b", "modes": [{"machine": "B", "duration": 30}],
                 "fixed": {"machine": "B", "start": 10, "end": 28}},
                {"id": "b~rest",
                 "modes": [{"machine": "B", "duration": 12}, {"machine": "C", "duration": 30}]},
                {"id": "c", "modes": [{"machine": "C", "duration": 5}]},
            ],
        }
    )  # fmt: skip
    new = {
        "a": Requantified(modes=[Mode(machine="A", duration=20)], consumes=[], produces=[]),
        "b": Requantified(
            modes=[Mode(machine="B", duration=60), Mode(machine="C", duration=55)],
            consumes=[],
            produces=[MaterialFlow(material="X", quantity=2)],
        ),
        "c": Requantified(modes=[Mode(machine="C", duration=9)], consumes=[], produces=[]),
    }
    ops = {o.id: o for o in requantify(job, new).operations}
    assert ops["a"].modes == [Mode(machine="A", duration=10)]  # pinned: a fact
    assert ops["b~rest"].modes == [
        Mode(machine="B", duration=42),  # 12 left + (60 - 30) more work
        Mode(machine="C", duration=55),  # a restart elsewhere: the new run time
    ]
    assert ops["b~rest"].produces == [MaterialFlow(material="X", quantity=2)]
    assert ops["c"].modes == [Mode(machine="C", duration=9)]


def test_quantity_update_recompiles_the_order_and_its_record() -> None:
    """Tests that a quantity update replaces the order's operations and the quantity in
    the factory's order record."""
    live = example()
    update = NormalizedOrderUpdated(
        order="SA-001",
        quantity=7,
        operations={
            "cut": Requantified(modes=[Mode(machine="SAW-1", duration=9)], consumes=[], produces=[])
        },
    )
    edited = apply_edits(live.problem, [recorded(update)])
    job = next(j for j in edited.jobs if j.id == "SA-001")
    assert job.operations[0].modes == [Mode(machine="SAW-1", duration=9)]
    assert edited.metadata["orders"]["SA-001"]["quantity"] == 7
    assert live.problem.metadata["orders"]["SA-001"]["quantity"] == 80, "the input is unchanged"


def test_core_events_are_coalesced() -> None:
    """Tests that machine events and progress become the rescheduler's events: a down and
    a later up of the machine are one bounded downtime, a completion's quantity is the
    actual output, and progress of an order cancelled in the batch is dropped."""
    problem = small()
    events = [
        recorded(NormalizedMachineDown(machine="M1", start=7)),
        recorded(NormalizedMachineUp(machine="M1", at=12), minutes=1),
        recorded(NormalizedOperationStarted(job="O0", op="a", machine="M2", start=1, remaining=2)),
        recorded(
            NormalizedOperationCompleted(job="O1", op="b", machine="M3", start=2, end=6, quantity=1)
        ),
        recorded(NormalizedOperationStarted(job="O9", op="a", machine="M2", start=1)),
    ]
    assert core_events(problem, events) == [
        OperationProgress(job="O0", op="a", machine="M2", start=1, remaining=2),
        OperationProgress(
            job="O1", op="b", machine="M3", start=2, end=6,
            produced=[MaterialFlow(material="RAW", quantity=1)],
        ),
        MachineDown(machine="M1", start=7, until=12),
    ]  # fmt: skip
    assert core_events(problem, events[1:2]) == [MachineUp(machine="M1", at=12)]


def test_now_is_the_latest_known_fact() -> None:
    """Tests that ``now`` is the latest of the last repair's now, the events' ticks, their
    occurrence times (on a timed plant) and a requested now."""
    plain = small()
    down = recorded(NormalizedMachineDown(machine="M1", start=7))
    assert apply(plain, [down]).now == 7
    assert apply(plain, [down, recorded(NormalizedReschedule(now=20))]).now == 20
    assert apply(plain, [recorded(NormalizedReschedule())]).now == 0
    repaired = plain.model_copy(update={"metadata": {META: {"now": 30, "downtimes": []}}})
    assert apply(repaired, [down]).now == 30
    assert applied_now(repaired) == 30 and applied_now(plain) is None
    timed = example().problem
    late = recorded(NormalizedMaterialReceived(material="BOLT", quantity=1, at=5))
    late = type(late)(late.norm, STAMP + timedelta(hours=2))  # 11:00 in Berlin: tick 660
    assert apply(timed, [late]).now == 660


def test_applied_downtimes() -> None:
    """Tests that the downtimes a repair applied are read from the derived problem."""
    problem = small()
    result = solve(problem, time_limit=2.0, workers=1)
    derived = derive(problem, result.schedule, [MachineDown(machine="M2", start=3)]).problem
    assert applied_downtimes(derived) == [["M2", 3, None]]
    assert applied_downtimes(problem) == []
    assert isinstance(derived, Problem)


def test_machine_and_progress_events_leave_the_problem_as_it_is() -> None:
    """Tests that a batch without order, material or calendar events returns the very
    problem it was given (no copy, no re-validation: a 6,000-operation plant took 0.4 s
    to re-check on every breakdown), and that an edit still returns a new, checked one."""
    problem = small()
    core = [
        recorded(NormalizedMachineDown(machine="M1", start=7)),
        recorded(NormalizedOperationStarted(job="O0", op="a", machine="M2", start=1)),
    ]
    assert apply_edits(problem, core) is problem
    assert apply(problem, core).problem is problem
    edited = apply_edits(problem, [*core, recorded(NormalizedOrderCancelled(order="O1"))])
    assert edited is not problem and "O1" not in {str(j.id) for j in edited.jobs}
