"""Diff reasons on hand-built schedules: each reason, lateness changes and KPIs."""

from __future__ import annotations

from aps.model import ObjectiveTerm
from aps.reschedule.diff import diff
from aps.result import ScheduledOperation

from .helpers import PUBLISHED, op, row, three_machines


def _after() -> list[ScheduledOperation]:
    return [
        row("J1", "o1", "A", 15, 25),  # its slot [0, 10) overlaps A's downtime [5, 15)
        row("J1", "o2", "B", 25, 35),  # J1/o1 now ends at 25: the old start 10 is too early
        row("J2", "o1", "B", 35, 45),  # J1/o2 now occupies B over [25, 35): the old slot clashes
        row("J3", "o1", "C", 0, 10),  # the old slot [10, 20) on C is still free: a choice
    ]


def test_each_reason() -> None:
    """Tests that every moved operation gets the reason its definition gives."""
    d = diff(three_machines(), PUBLISHED, _after(), down={"A": [(5, 15)]})
    reasons = {(m.job, m.op): m.reason for m in d.moved}
    assert reasons == {
        ("J1", "o1"): "on_failed_machine",
        ("J1", "o2"): "pushed_by_predecessor",
        ("J2", "o1"): "displaced_by_conflict",
        ("J3", "o1"): "improved",
    }
    causes = {(m.job, m.op): m.cause for m in d.moved}
    assert causes[("J1", "o2")] == "J1/o1"
    assert causes[("J2", "o1")] == "J1/o2"
    assert d.reasons()["improved"] == 1


def test_without_downtime_the_failed_reason_disappears() -> None:
    """Tests that on_failed_machine needs a downtime under the old placement."""
    d = diff(three_machines(), PUBLISHED, _after(), down={"A": [(10, 15)]})
    reasons = {(m.job, m.op): m.reason for m in d.moved}
    assert reasons[("J1", "o1")] == "improved"


def test_moved_rows_carry_old_and_new_places() -> None:
    """Tests that a moved operation reports both machines and both time spans."""
    after = [*PUBLISHED[:3], row("J3", "o1", "A", 20, 30)]
    d = diff(three_machines(), PUBLISHED, after)
    (moved,) = d.moved
    assert (moved.old_machine, moved.old_start, moved.old_end) == ("C", 10, 20)
    assert (moved.new_machine, moved.new_start, moved.new_end) == ("A", 20, 30)
    assert d.kept == 3 and d.compared == 4 and d.kept_share == 0.75


def test_lateness_changes_and_kpis() -> None:
    """Tests that orders turning late or on time are listed and KPIs are recomputed."""
    d = diff(three_machines(), PUBLISHED, _after(), down={"A": [(5, 15)]})
    assert d.became_late == ["J2"]  # due 40, now ends at 45
    assert d.became_on_time == ["J3"]  # due 15, ended at 20, now at 10
    assert d.kpis_before[str(ObjectiveTerm.MAKESPAN)] == 30
    assert d.kpis_after[str(ObjectiveTerm.MAKESPAN)] == 45
    assert d.kpis_after[str(ObjectiveTerm.LATE_JOBS)] == 1


def test_stock_conflict_displaces() -> None:
    """Tests that a consumer whose old start lacks stock is displaced by a conflict."""
    make = op("make", ("A", 10), ("C", 20), produces=[{"material": "X", "quantity": 1}])
    use = op("use", ("B", 5), consumes=[{"material": "X", "quantity": 1}])
    p = three_machines(
        materials=[{"id": "X"}],
        jobs=[{"id": "P", "operations": [make]}, {"id": "Q", "operations": [use]}],
    )
    before = [row("P", "make", "A", 0, 10), row("Q", "use", "B", 10, 15)]
    # the producer moved to the slower C: at the old start 10 there is nothing to draw
    after = [row("P", "make", "C", 0, 20), row("Q", "use", "B", 20, 25)]
    d = diff(p, before, after)
    reasons = {(m.job, m.op): (m.reason, m.cause) for m in d.moved}
    assert reasons[("Q", "use")] == ("displaced_by_conflict", "stock of X")
    assert reasons[("P", "make")][0] == "improved"


def test_setup_conflict_displaces() -> None:
    """Tests that an old slot without the changeover its new predecessor needs is a conflict."""
    p = three_machines(
        setup_matrices={"m": {"changeover": {"x": {"y": 5}}}},
        machines=[{"id": "A"}, {"id": "B", "setup_matrix": "m"}, {"id": "C"}],
        jobs=[
            {"id": "J1", "family": "x", "operations": [{"id": "o1", "modes": [{"machine": "B",
             "duration": 10}]}]},
            {"id": "J2", "family": "y", "operations": [{"id": "o1", "modes": [{"machine": "B",
             "duration": 10}]}]},
        ],
    )  # fmt: skip
    before = [row("J1", "o1", "B", 30, 40), row("J2", "o1", "B", 10, 20)]
    # J1 moved before J2: J2's old slot [10, 20) has no room for the x -> y changeover
    after = [row("J1", "o1", "B", 0, 10), row("J2", "o1", "B", 15, 25)]
    d = diff(p, before, after)
    reasons = {(m.job, m.op): (m.reason, m.cause) for m in d.moved}
    assert reasons[("J2", "o1")] == ("displaced_by_conflict", "setup after J1/o1")
    assert reasons[("J1", "o1")][0] == "improved"
