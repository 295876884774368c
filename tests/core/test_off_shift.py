"""Off-shift setups (``Machine.off_shift_setup``): the setup may overlap the machine's
unavailable windows, the run may not, and nothing else overlaps the setup."""

from __future__ import annotations

from typing import Any

import pytest

from aps import solve
from aps.heuristics.arrays import build_arrays, to_schedule
from aps.heuristics.construct import construct
from aps.heuristics.decode import Scratch, run
from aps.heuristics.dispatch import best_dispatch
from aps.heuristics.repair import RepairPlan, repair
from aps.heuristics.witness import witness
from aps.model import Problem, Window
from aps.params import SolveParams
from aps.report.diagnose import diagnose
from aps.result import ScheduledOperation, SolveStatus
from aps.solvers.bounds import term_bounds
from aps.validate import validate
from aps.worktime import TickCalendar

from .factories import op, problem

#: off shift in [10, 20) and [30, 40)
WINDOWS = [{"start": 10, "end": 20}, {"start": 30, "end": 40}]


def shop(off_shift: bool, interruptible: bool = False, matrix: bool = False) -> Problem:
    """Two jobs on M1 with setups of 5 and 6 ticks plus family changeovers, released in
    and right after the window [10, 20). Only setups done off shift let both run by 48."""
    machine: dict[str, Any] = {"id": "M1", "unavailable": WINDOWS, "off_shift_setup": off_shift}
    if matrix:
        machine["setup_matrix"] = "S"
    return problem(
        machines=[machine],
        setup_matrices={"S": {"changeover": {"a": {"b": 3}, "b": {"a": 3}}, "initial": {"a": 2}}},
        jobs=[
            {"id": "J1", "family": "a", "release": 12,
             "operations": [op(0, ("M1", 8, 5), interruptible=interruptible)]},
            {"id": "J2", "family": "b", "release": 20,
             "operations": [op(0, ("M1", 9, 6), interruptible=interruptible)]},
        ],
    )  # fmt: skip


def row(job: str, start: int, end: int, setup_start: int | None) -> ScheduledOperation:
    return ScheduledOperation(
        job=job, op=0, machine="M1", start=start, end=end, setup_start=setup_start
    )


def off_shift_setups(p: Problem, rows: list[ScheduledOperation]) -> int:
    """How many setups overlap an unavailable window."""
    cals = {m.id: TickCalendar(m.unavailable) for m in p.machines}
    return sum(cals[r.machine].blocked(r.busy_from, r.start) > 0 for r in rows)


@pytest.mark.parametrize("interruptible", [False, True])
def test_validator_accepts_a_setup_in_a_window_only_with_the_option(interruptible: bool) -> None:
    """Tests that a setup overlapping a window is a calendar violation unless the machine
    sets up off shift, that the setup then counts in elapsed ticks, and that the run
    still may not start in (or, uninterrupted, overlap) a window."""
    good = [row("J1", 20, 28, 15), row("J2", 40, 49, 34)]
    assert "calendar" in {v.constraint for v in validate(shop(False, interruptible), good)}
    assert validate(shop(True, interruptible), good) == []
    short = [row("J1", 20, 28, 16), row("J2", 40, 49, 34)]  # 4 setup ticks, needs 5
    assert {v.constraint for v in validate(shop(True, interruptible), short)} == {"setup"}
    late = [row("J1", 20, 28, 15), row("J2", 35, 44, 29)] if not interruptible else []
    run_in_window = late or [row("J1", 15, 31, 10), row("J2", 40, 49, 34)]
    found = {v.constraint for v in validate(shop(True, interruptible), run_in_window)}
    assert "calendar" in found
    overlap = [row("J1", 20, 28, 15), row("J2", 40, 49, 27)]  # J2's setup under J1's run
    assert "no_overlap" in {v.constraint for v in validate(shop(True, interruptible), overlap)}


@pytest.mark.parametrize("interruptible", [False, True])
@pytest.mark.parametrize("matrix", [False, True])
def test_witness_cpsat_and_milp_use_off_shift_setups(interruptible: bool, matrix: bool) -> None:
    """Tests that the witness, dispatching, CP-SAT and the MILP give valid schedules that
    set up off shift, that CP-SAT and the MILP agree on the optimum, and that the option never makes
    a plan worse."""
    on, off = shop(True, interruptible, matrix), shop(False, interruptible, matrix)
    rows = witness(on)
    assert rows is not None and validate(on, rows) == [] and off_shift_setups(on, rows)
    fast = best_dispatch(on)
    assert validate(on, fast) == [] and off_shift_setups(on, fast)
    best = solve(on, solver="cpsat", time_limit=10, workers=1)
    exact = solve(on, solver="milp", time_limit=30, workers=1)
    without = solve(off, solver="cpsat", time_limit=10, workers=1)
    for result, p in ((best, on), (exact, on), (without, off)):
        assert result.status is SolveStatus.OPTIMAL and validate(p, result.schedule) == []
    assert best.objective == exact.objective == 48
    assert without.objective is not None and without.objective >= 48
    assert off_shift_setups(on, best.schedule)


def test_repair_keeps_off_shift_setups() -> None:
    """Tests that the right-shift repair replays a schedule with off-shift setups as it is
    (nothing pushes it) and that derived problems with busy time switch the option off."""
    p = shop(True, matrix=True)
    best = solve(p, solver="cpsat", time_limit=10, workers=1).schedule
    out = repair(p, RepairPlan(reference={(r.job, r.op): r for r in best}))
    assert sorted(out.schedule, key=lambda r: r.start) == sorted(best, key=lambda r: r.start)
    busy = p.machines[0].with_busy_time([Window(start=0, end=3, reason="past")])
    assert not busy.off_shift_setup and busy.unavailable[0] == Window(start=0, end=3, reason="past")
    assert p.machines[0].with_busy_time([]) is p.machines[0]


def test_path_bound_and_diagnosis_know_the_option() -> None:
    """Tests that the path bound stays below the optimum with off-shift setups, and that a
    run that fits a window is no ``operation_exceeds_window`` because of its setup."""
    p = shop(True)
    assert max(term_bounds(p).completion.values()) <= 48
    tight = problem(
        horizon=50,
        machines=[{"id": "M1", "unavailable": WINDOWS, "off_shift_setup": True}],
        jobs=[{"id": "J", "operations": [op(0, ("M1", 10, 4))]}],
    )
    assert not [f for f in diagnose(tight) if f.code == "operation_exceeds_window"]
    strict = tight.model_copy(
        update={"machines": [tight.machines[0].model_copy(update={"off_shift_setup": False})]}
    )
    assert [f.code for f in diagnose(strict)] == ["operation_exceeds_window"]


@pytest.mark.parametrize("interruptible", [False, True])
@pytest.mark.parametrize("matrix", [False, True])
def test_compiled_decoder_sets_up_off_shift(interruptible: bool, matrix: bool) -> None:
    """Tests that the compiled decoder (every dispatching rule of the plant search, and the
    plant search itself) sets up off shift where the machine allows it, validly, never later
    than without the option, and keeps setups in working time where it does not."""
    on, off = shop(True, interruptible, matrix), shop(False, interruptible, matrix)
    ends: dict[bool, tuple[int, ...]] = {}
    for p, allowed in ((on, True), (off, False)):
        a = build_arrays(p)
        s = Scratch(a, len(p.machines))
        candidates = construct(p, a, s, SolveParams(time_limit=10.0))
        for c in candidates:
            run(a, s, c.order, c.mode)
            rows = to_schedule(p, a, c.mode, s.busy, s.start, s.end)
            assert validate(p, rows) == [], c.rule
            # the first run can start no earlier than 20, the end of the window its
            # release (12) falls in: its setup is off shift exactly when that is allowed
            assert (off_shift_setups(p, rows) > 0) == allowed, c.rule
        ends[allowed] = min(c.score for c in candidates)
    assert ends[True] <= ends[False]
