"""Rescheduling on hand-built plants: freezing, restart and resume, alternatives, events."""

from __future__ import annotations

from aps.model import Problem
from aps.reschedule.derive import derive
from aps.reschedule.events import MachineDown, MachineUp, OperationProgress
from aps.reschedule.repair import Publication, machine_down, reschedule
from aps.validate import validate

from .helpers import PUBLISHED, by_key, op, row, three_machines


def test_greedy_reasons_end_to_end() -> None:
    """Tests that the greedy repair moves exactly the affected operations, with reasons."""
    res = machine_down(three_machines(), PUBLISHED, "A", 5, until=15, improve=False)
    assert not validate(res.problem, res.schedule)
    got = by_key(res.schedule)
    assert (got[("J1", "o1")].start, got[("J1", "o2")].start, got[("J2", "o1")].start) == (
        15, 25, 35,
    )  # fmt: skip
    assert got[("J3", "o1")] == PUBLISHED[3]  # on C, untouched: keeps its slot
    reasons = {(m.job, m.op): m.reason for m in res.diff.moved}
    assert reasons == {
        ("J1", "o1"): "on_failed_machine",
        ("J1", "o2"): "pushed_by_predecessor",
        ("J2", "o1"): "displaced_by_conflict",
    }
    assert res.interrupted == {"J1/o1": "restart"}
    assert res.kept_share == 0.25


def test_frozen_operations_keep_their_times() -> None:
    """Tests that operations started before the event are pinned at their actual times."""
    res = machine_down(three_machines(), PUBLISHED, "B", 25, until=40, improve=False)
    got = by_key(res.schedule)
    # J1/o1 and J1/o2 ran before 25; J3/o1 on C started at 10: all frozen as published
    for key in [("J1", "o1"), ("J1", "o2"), ("J3", "o1")]:
        assert got[key] == by_key(PUBLISHED)[key]
        assert key in res.frozen
    # J2/o1 ran on B over [20, 30) and was cut at 25: it restarts after the repair
    assert got[("J2", "o1")].start == 40
    assert not validate(res.problem, res.schedule)


def test_nothing_moves_when_the_downtime_touches_nothing() -> None:
    """Tests that a downtime after the schedule's end leaves every start unchanged."""
    res = machine_down(three_machines(), PUBLISHED, "A", 500, until=600, now=0, improve=False)
    assert res.schedule == PUBLISHED or by_key(res.schedule) == by_key(PUBLISHED)
    assert res.kept_share == 1.0 and not res.diff.moved


def test_moves_to_an_alternative_when_that_ends_earlier() -> None:
    """Tests that an operation on the failed machine moves to an idle alternative."""
    p = three_machines()
    pub = [*PUBLISHED[:3], row("J3", "o1", "A", 20, 30)]
    res = machine_down(p, pub, "A", 15, until=200, improve=False)
    moved = by_key(res.schedule)[("J3", "o1")]
    assert (moved.machine, moved.start) == ("C", 20)
    assert {(m.job, m.op): m.reason for m in res.diff.moved} == {("J3", "o1"): "on_failed_machine"}


def test_stays_when_the_alternative_is_later() -> None:
    """Tests that a short repair keeps the operation on its machine when that ends first."""
    p = three_machines(jobs=[{"id": "J3", "operations": [op("o1", ("C", 50), ("A", 10))]}])
    pub = [row("J3", "o1", "A", 20, 30)]
    res = machine_down(p, pub, "A", 15, until=25, improve=False)
    assert by_key(res.schedule)[("J3", "o1")] == row("J3", "o1", "A", 25, 35)


def _resumable() -> Problem:
    return three_machines(
        jobs=[
            {"id": "J1", "operations": [op("o1", ("A", 10), interruptible=True),
                                        op("o2", ("B", 10))]},
        ]
    )  # fmt: skip


def test_interruptible_operation_resumes_with_the_remaining_work() -> None:
    """Tests that an interrupted interruptible operation is split into done part and rest."""
    pub = [row("J1", "o1", "A", 0, 10), row("J1", "o2", "B", 10, 20)]
    res = machine_down(_resumable(), pub, "A", 4, until=30, improve=False)
    got = by_key(res.schedule)
    assert got[("J1", "o1")] == row("J1", "o1", "A", 0, 4)  # the part that ran, pinned
    rest = got[("J1", "o1~rest")]
    assert (rest.machine, rest.start, rest.end) == ("A", 30, 36)  # 6 ticks left
    assert got[("J1", "o2")].start == 36  # the successor follows the remainder
    assert res.interrupted == {"J1/o1": "resume"}
    assert not validate(res.problem, res.schedule)
    reasons = {(m.job, m.op): m.reason for m in res.diff.moved}
    assert reasons == {
        ("J1", "o1~rest"): "on_failed_machine",
        ("J1", "o2"): "pushed_by_predecessor",
    }
    assert res.diff.interrupted == [("J1", "o1")]


def test_resume_can_be_switched_off() -> None:
    """Tests that resume=() makes an interruptible operation restart in full."""
    pub = [row("J1", "o1", "A", 0, 10), row("J1", "o2", "B", 10, 20)]
    res = machine_down(_resumable(), pub, "A", 4, until=30, improve=False, resume=())
    got = by_key(res.schedule)
    assert got[("J1", "o1")] == row("J1", "o1", "A", 30, 40)
    assert res.interrupted == {"J1/o1": "restart"}


def test_progress_overrides_published_times() -> None:
    """Tests that reported actual times are pinned and push the successors."""
    progress = [OperationProgress(job="J1", op="o1", machine="A", start=2, end=16)]
    res = reschedule(three_machines(), PUBLISHED, progress, improve=False)
    got = by_key(res.schedule)
    assert got[("J1", "o1")] == row("J1", "o1", "A", 2, 16)
    assert got[("J1", "o2")].start == 16
    assert got[("J2", "o1")].start == 26
    assert not validate(res.problem, res.schedule)


def test_late_report_does_not_freeze_what_could_not_run() -> None:
    """Tests that operations planned on the failed machine between failure and report move."""
    pub = [row("J1", "o1", "A", 0, 10), row("J1", "o2", "B", 10, 20), row("J3", "o1", "A", 12, 22)]
    res = machine_down(three_machines(), pub, "A", 11, until=40, now=15, improve=False)
    got = by_key(res.schedule)
    assert ("J3", "o1") not in res.frozen and got[("J3", "o1")].start >= 15
    assert got[("J1", "o2")] == pub[1]  # on B, started at 10 < 15: frozen
    assert not validate(res.problem, res.schedule)


def test_machine_up_ends_an_open_downtime() -> None:
    """Tests that machine.up bounds an open-ended downtime in the derived calendar."""
    first = machine_down(three_machines(), PUBLISHED, "A", 5, improve=False)
    a = next(m for m in first.problem.machines if m.id == "A")
    assert a.unavailable[-1].end > 70  # open-ended: past any schedule without A
    assert first.stranded == [("J1", "o1")]  # A is its only machine: flagged, not hidden
    assert by_key(first.schedule)[("J3", "o1")].machine == "C"
    second = derive(first.problem, first.schedule, [MachineUp(machine="A", at=20)], now=20)
    a = next(m for m in second.problem.machines if m.id == "A")
    assert [(w.start, w.end) for w in a.unavailable] == [(0, 20)]  # past + downtime [5, 20)


def test_replaying_an_event_is_idempotent() -> None:
    """Tests that the same input gives the same repair and replaying the event moves nothing."""
    args = (three_machines(), PUBLISHED, "A", 5)
    one = machine_down(*args, until=15, improve=False)
    two = machine_down(*args, until=15, improve=False)
    assert one.schedule == two.schedule and one.problem == two.problem
    again = reschedule(one.problem, one.schedule, [MachineDown(machine="A", start=5, until=15)],
                       now=5, improve=False)  # fmt: skip
    assert by_key(again.schedule) == by_key(one.schedule)
    assert not again.diff.moved


def test_improvement_after_machine_up_is_published_second() -> None:
    """Tests that CP-SAT improves the greedy repair after an early repair, reason improved."""
    first = machine_down(three_machines(), PUBLISHED, "A", 5, until=100, improve=False)
    assert by_key(first.schedule)[("J1", "o1")].start == 100
    seen: list[Publication] = []
    res = reschedule(first.problem, first.schedule, [MachineUp(machine="A", at=20)], now=20,
                     time_limit=5, workers=1, on_publish=seen.append)  # fmt: skip
    assert [p.phase for p in seen] == ["greedy", "improved"]
    assert seen[0].schedule == first.schedule or not seen[0].diff.moved
    assert seen[1].objective < seen[0].objective
    assert by_key(res.schedule)[("J1", "o1")].start == 20
    reasons = {(m.job, m.op): m.reason for m in seen[1].diff.moved}
    assert reasons[("J1", "o1")] == "improved"
    assert not validate(res.problem, res.schedule)


def test_neighbourhood_improvement_is_replayed_valid() -> None:
    """Tests that CP-SAT on a neighbourhood (max_free below the free count) improves validly."""
    seen: list[Publication] = []
    res = machine_down(three_machines(), PUBLISHED, "A", 5, until=15, time_limit=5, workers=1,
                       max_free=3, on_publish=seen.append)  # fmt: skip
    assert res.neighbourhood == 3 and res.rounds >= 1  # J3 left the model: C's time a window
    assert [p.phase for p in seen] == ["greedy", "improved"]
    got = by_key(res.schedule)
    # the optimum of 10 x makespan + stability: J2 first on B (5 ticks early), then J1/o2
    assert (got[("J2", "o1")].start, got[("J1", "o2")].start) == (15, 25)
    assert seen[1].objective == 10 * 35 + (15 + 15 + 5)
    assert got[("J3", "o1")] == PUBLISHED[3]
    assert not validate(res.problem, res.schedule)
    # only J2 moved, into B's idle time before J1/o2: its old slot was still free
    assert {(m.job, m.op): m.reason for m in seen[1].diff.moved} == {("J2", "o1"): "improved"}
    # the result's own diff is against the schedule published before the event
    assert {(m.job, m.op): m.reason for m in res.diff.moved} == {
        ("J1", "o1"): "on_failed_machine",
        ("J1", "o2"): "pushed_by_predecessor",
        ("J2", "o1"): "displaced_by_conflict",
    }


def test_impossible_deadline_is_relaxed_and_reported() -> None:
    """Tests that a deadline the breakdown makes impossible is dropped and reported."""
    p = three_machines(
        jobs=[
            {"id": "J1", "operations": [op("o1", ("A", 10)), op("o2", ("B", 10))]},
            {"id": "J2", "operations": [op("o1", ("B", 10))], "deadline": 32},
        ]
    )
    res = machine_down(p, PUBLISHED[:3], "A", 5, until=15, improve=False)
    assert [(r.kind, r.subject) for r in res.relaxations] == [("deadline", "J2")]
    assert next(j for j in res.problem.jobs if j.id == "J2").deadline is None
    assert by_key(res.schedule)[("J2", "o1")].end == 45
    assert not validate(res.problem, res.schedule) and res.publications


def test_max_lag_after_a_done_operation_is_relaxed() -> None:
    """Tests that a maximum lag after a pinned predecessor that cannot hold is relaxed."""
    lagged = op("o2", ("B", 10), predecessors=[{"op": "o1", "max_lag": 5}])
    p = three_machines(jobs=[{"id": "J1", "operations": [op("o1", ("A", 10)), lagged]}])
    pub = [row("J1", "o1", "A", 0, 10), row("J1", "o2", "B", 10, 20)]
    res = machine_down(p, pub, "B", 8, until=30, improve=False)
    assert ("J1", "o1") in res.frozen
    assert [(r.kind, r.subject) for r in res.relaxations] == [("max_lag", "J1/o1->o2")]
    assert by_key(res.schedule)[("J1", "o2")].start == 30
    assert not validate(res.problem, res.schedule)
