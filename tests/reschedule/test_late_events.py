"""Late (out-of-order) breakdowns: an event older than the last reschedule's ``now``."""

from __future__ import annotations

import random

import pytest

from aps.factory.compile import compile_plant
from aps.factory.generate import generate_plant
from aps.heuristics.witness import witness
from aps.model import Problem
from aps.reschedule.events import MachineDown
from aps.reschedule.repair import RescheduleResult, reschedule
from aps.result import ScheduledOperation
from aps.validate import validate

from .helpers import by_key, op, row


def _idle_during(rows: list[ScheduledOperation], machine: str, start: int, until: int) -> bool:
    return all(r.end <= start or r.busy_from >= until for r in rows if r.machine == machine)


def _chain() -> tuple[Problem, list[ScheduledOperation]]:
    """J1 = B then C, J2 on A, J3 on B; everything planned around tick 25."""
    problem = Problem.model_validate(
        {
            "name": "late",
            "machines": [{"id": "A"}, {"id": "B"}, {"id": "C"}],
            "jobs": [
                {"id": "J1", "operations": [op("o1", ("B", 10)), op("o2", ("C", 10))]},
                {"id": "J2", "operations": [op("o1", ("A", 30))]},
                {"id": "J3", "operations": [op("o1", ("B", 10))]},
            ],
        }
    )
    published = [
        row("J1", "o1", "B", 10, 20),
        row("J1", "o2", "C", 20, 30),
        row("J2", "o1", "A", 0, 30),
        row("J3", "o1", "B", 20, 30),
    ]
    return problem, published


def _twice(
    first: MachineDown, late: MachineDown, problem: Problem, published: list[ScheduledOperation]
) -> tuple[RescheduleResult, RescheduleResult]:
    one = reschedule(problem, published, [first], improve=False)
    assert one.publications and not validate(one.problem, one.schedule)
    two = reschedule(one.problem, one.schedule, [late], improve=False)
    return one, two


def test_late_breakdown_unpins_what_the_plan_assumed_had_run() -> None:
    """Tests that a breakdown older than ``now`` frees the work it prevented, and its
    successors, instead of leaving them pinned before their moved predecessors."""
    problem, published = _chain()
    one, two = _twice(
        MachineDown(machine="A", start=25, until=40),
        MachineDown(machine="B", start=12, until=22),
        problem,
        published,
    )
    assert ("J1", "o2") in one.frozen and ("J3", "o1") in one.frozen
    assert two.violations == [] and two.publications, two.solver_message
    assert validate(two.problem, two.schedule) == []
    got = by_key(two.schedule)
    # J1/o1 was cut on B at 12 (restarts after now=25), J1/o2 could not have started
    # at 20, J3/o1 never ran on B in the downtime: all after now
    assert two.interrupted == {"J1/o1": "restart"}
    for key in [("J1", "o1"), ("J1", "o2"), ("J3", "o1")]:
        assert key not in two.frozen and got[key].start >= 25, got[key]
    assert got[("J1", "o2")].start >= got[("J1", "o1")].end
    assert _idle_during(two.schedule, "A", 25, 40) and _idle_during(two.schedule, "B", 12, 22)
    # what the late event does not touch keeps its place
    assert got[("J2", "o1")] == by_key(one.schedule)[("J2", "o1")]
    assert two.problem.metadata["aps.reschedule"]["assumed"] == []


def test_late_breakdown_merges_a_resumed_split_it_contradicts() -> None:
    """Tests that an operation split (resumed) at the first breakdown becomes one
    operation again when a late breakdown shows it never started."""
    problem = Problem.model_validate(
        {
            "name": "split",
            "machines": [{"id": "A"}, {"id": "B"}, {"id": "C"}],
            "jobs": [
                {
                    "id": "J1",
                    "operations": [
                        op("o1", ("B", 10)),
                        op("o2", ("A", 30), interruptible=True),
                        op("o3", ("C", 5)),
                    ],
                }
            ],
        }
    )
    published = [row("J1", "o1", "B", 0, 10), row("J1", "o2", "A", 10, 40),
                 row("J1", "o3", "C", 40, 45)]  # fmt: skip
    one, two = _twice(
        MachineDown(machine="A", start=25, until=30),
        MachineDown(machine="B", start=5, until=12),
        problem,
        published,
    )
    assert one.interrupted == {"J1/o2": "resume"}
    assert ("J1", "o2~rest") in by_key(one.schedule)
    assert two.violations == [] and validate(two.problem, two.schedule) == []
    ops = [o.id for j in two.problem.jobs for o in j.operations]
    assert ops == ["o1", "o2", "o3"], ops
    got = by_key(two.schedule)
    assert got[("J1", "o2")].end - got[("J1", "o2")].start == 30  # the whole work again
    assert got[("J1", "o1")].start >= 25 and got[("J1", "o3")].start >= got[("J1", "o2")].end


def test_late_breakdown_on_the_same_machine_cuts_the_split_earlier() -> None:
    """Tests that a second, earlier breakdown of the machine that split an operation
    splits it again at the earlier cut (no duplicate ``~rest``)."""
    problem = Problem.model_validate(
        {
            "name": "same",
            "machines": [{"id": "A"}],
            "jobs": [{"id": "J1", "operations": [op("o1", ("A", 30), interruptible=True)]}],
        }
    )
    _, two = _twice(
        MachineDown(machine="A", start=25, until=30),
        MachineDown(machine="A", start=15, until=20),
        problem,
        [row("J1", "o1", "A", 10, 40)],
    )
    assert two.violations == [] and validate(two.problem, two.schedule) == []
    got = by_key(two.schedule)
    assert (got[("J1", "o1")].start, got[("J1", "o1")].end) == (10, 15)
    assert got[("J1", "o1~rest")].start >= 25
    assert _idle_during(two.schedule, "A", 15, 20) and _idle_during(two.schedule, "A", 25, 30)


def test_reported_progress_is_a_fact_not_an_assumption() -> None:
    """Tests that pins from progress reports are not listed as assumed (they stay)."""
    from aps.reschedule.events import OperationProgress

    problem, published = _chain()
    done = OperationProgress(job="J1", op="o1", machine="B", start=10, end=20)
    one = reschedule(
        problem, published, [MachineDown(machine="A", start=25, until=40), done], improve=False
    )
    assumed = {tuple(k) for k in one.problem.metadata["aps.reschedule"]["assumed"]}
    assert ("J1", "o1") not in assumed and ("J1", "o2") in assumed


@pytest.mark.parametrize("seed", range(24))
def test_random_plants_late_breakdowns(seed: int) -> None:
    """Tests that on random plants (stock, lags, setups) a chain of breakdowns, each
    older than the repair before it, always gets a valid repair that keeps frozen
    operations in place and nothing unpinned in any downtime."""
    rng = random.Random(seed)
    problem = compile_plant(generate_plant(6 + 3 * (seed % 4), seed=seed))
    published = witness(problem)
    assert published is not None
    end = max(r.end for r in published)
    machines = sorted({r.machine for r in published}, key=str)
    t, machine = rng.randint(end // 3, 2 * end // 3), rng.choice(machines)
    downs: list[MachineDown] = []
    current, rows = problem, list(published)
    for k in range(3):
        down = MachineDown(machine=machine, start=t, until=t + rng.randint(30, 900))
        downs.append(down)
        res = reschedule(current, rows, [down], improve=False)
        assert res.violations == [] and res.publications, (k, res.solver_message)
        assert validate(res.problem, res.schedule) == []
        assert res.now == downs[0].start, "late events do not move now back"
        got, old = by_key(res.schedule), by_key(rows)
        for key in res.frozen:
            if f"{key[0]}/{key[1]}" not in res.interrupted and key in old:
                assert got[key] == old[key], f"frozen {key} moved"
        ops = {(j.id, o.id): o for j in res.problem.jobs for o in j.operations}
        for d in downs:
            for key, r in got.items():
                if r.machine == d.machine and ops[key].fixed is None:
                    assert d.until is not None
                    assert r.end <= d.start or r.busy_from >= d.until, (d, r)
        current, rows = res.problem, res.schedule
        # the next report is older still: inside a run the plan assumed had happened
        ran = [r for r in rows if r.end - r.start >= 2 and r.start + 1 < min(t, res.now)]
        if not ran:
            break
        r = rng.choice(ran)
        t, machine = rng.randint(r.start + 1, min(r.end, t, res.now) - 1), r.machine
