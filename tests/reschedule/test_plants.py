"""The greedy repair on the example plant and on random generated plants."""

from __future__ import annotations

import random
from functools import cache
from pathlib import Path

import pytest

from aps.factory.compile import compile_plant
from aps.factory.generate import generate_plant
from aps.heuristics.witness import witness
from aps.io.load import load_problem
from aps.model import Id, Problem
from aps.reschedule.events import MachineDown, OperationProgress
from aps.reschedule.repair import RescheduleResult, machine_down, reschedule
from aps.result import ScheduledOperation
from aps.validate import validate

from .helpers import by_key

PLANT = Path(__file__).resolve().parents[2] / "instances" / "plant.json"


@cache
def _example() -> tuple[Problem, tuple[ScheduledOperation, ...]]:
    problem = load_problem(PLANT)
    published = witness(problem)
    assert published is not None and not validate(problem, published)
    return problem, tuple(published)


def _check(
    problem: Problem,
    published: list[ScheduledOperation],
    res: RescheduleResult,
    machine: Id,
    start: int,
    until: int | None,
) -> None:
    """The properties every repair must have (see the test docstrings)."""
    assert not res.violations, res.violations[:3]
    assert not validate(res.problem, res.schedule)
    assert [p.phase for p in res.publications][:1] == ["greedy"]
    got, old = by_key(res.schedule), by_key(published)
    ops = {(j.id, o.id): o for j in res.problem.jobs for o in j.operations}
    # frozen operations keep their actual (published) machine and start
    for key in res.frozen:
        assert (got[key].machine, got[key].start) == (old[key].machine, old[key].start)
        if f"{key[0]}/{key[1]}" not in res.interrupted:
            assert got[key].end == old[key].end
    # everything that started before the event on a healthy machine is frozen
    for key, r in old.items():
        if r.machine != machine and r.busy_from < res.now and key in got and got[key] != r:
            assert key not in res.frozen  # unfrozen only through a dependency
    # nothing (unpinned) works on the failed machine during its downtime
    end = until if until is not None else 1 << 62
    for key, r in got.items():
        if r.machine != machine or ops[key].fixed is not None:
            continue
        if ops[key].interruptible:
            assert not (start <= r.start < end and r.end > r.start)
            assert r.busy_from >= end or r.start <= start or r.busy_from >= r.start
        else:
            assert r.end <= start or r.busy_from >= end or r.end == r.busy_from
    assert 0.0 <= res.kept_share <= 1.0


def _busiest(published: list[ScheduledOperation]) -> Id:
    counts: dict[Id, int] = {}
    for r in published:
        counts[r.machine] = counts.get(r.machine, 0) + 1
    return max(sorted(counts, key=str), key=lambda m: counts[m])


@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.6])
@pytest.mark.parametrize("hours", [2, 30, None])
def test_example_plant_repairs_validate(fraction: float, hours: int | None) -> None:
    """Tests that a breakdown of the busiest machine is repaired validly on the example."""
    problem, pub = _example()
    published = list(pub)
    machine = _busiest(published)
    starts = sorted(r.start for r in published if r.machine == machine)
    start = starts[int(fraction * (len(starts) - 1))] + 3  # inside a run
    until = None if hours is None else start + 60 * hours
    res = machine_down(problem, published, machine, start, until=until, improve=False)
    _check(problem, published, res, machine, start, until)
    assert res.diff.moved or fraction == 0.0
    print(f"kept share {res.kept_share:.3f}, moved {res.diff.reasons()}")


def test_example_plant_repair_is_deterministic() -> None:
    """Tests that the same event on the same input gives the same repaired schedule."""
    problem, pub = _example()
    machine = _busiest(list(pub))
    start = sorted(r.start for r in pub if r.machine == machine)[10] + 1
    one = machine_down(problem, list(pub), machine, start, until=start + 600, improve=False)
    two = machine_down(problem, list(pub), machine, start, until=start + 600, improve=False)
    assert one.schedule == two.schedule
    again = reschedule(one.problem, one.schedule,
                       [MachineDown(machine=machine, start=start, until=start + 600)],
                       now=start, improve=False)  # fmt: skip
    assert by_key(again.schedule) == by_key(one.schedule) and not again.diff.moved


@pytest.mark.parametrize("seed", range(8))
def test_random_plants_random_breakdowns(seed: int) -> None:
    """Tests that random breakdowns (late reports and progress too) repair validly."""
    rng = random.Random(seed)
    problem = compile_plant(generate_plant(6 + 3 * (seed % 4), seed=seed))
    published = witness(problem)
    assert published is not None
    horizon_end = max(r.end for r in published)
    for k in range(3):
        machine = rng.choice(published).machine if k else _busiest(published)
        start = rng.randint(0, horizon_end)
        until = None if k == 2 else start + rng.randint(30, 4000)
        now = start + (rng.randint(0, 300) if k == 1 else 0)
        events: list[MachineDown | OperationProgress] = [
            MachineDown(machine=machine, start=start, until=until)
        ]
        running = [r for r in published if r.start < now < r.end and r.machine != machine]
        if running and k == 1:  # an actual start reported a little late
            r = rng.choice(running)
            events.append(OperationProgress(job=r.job, op=r.op, machine=r.machine,
                                            start=r.start + 1))  # fmt: skip
        res = reschedule(problem, published, events, now=now, improve=False)
        if k == 1 and len(events) == 2:
            assert not validate(res.problem, res.schedule)
            continue  # the progress row differs from the published one by design
        _check(problem, published, res, machine, start, until)
