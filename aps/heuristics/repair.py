"""Greedy right-shift repair: the fast first answer after a disruption.

The published schedule is replayed in its own order (by published start). Every
operation keeps its machine and its place in the machine's sequence and starts at the
earliest tick that is no earlier than its published start and respects the (new)
calendars, job precedences and minimum lags, setups and changeovers, and stock. Nothing
moves left, so an operation that nothing pushes keeps its start exactly. Operations on a
machine that is down may move to an alternative mode when that ends earlier; they are
inserted into the other machine's sequence at their published position. Maximum lags are
repaired by starting the predecessor later and replaying (a few rounds). The caller
validates the result and relaxes what a breakdown made impossible (see
:mod:`aps.reschedule`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from aps.heuristics.placement import earliest_slot
from aps.heuristics.stock import StockProfile
from aps.model import Id, Job, Operation, Problem
from aps.result import ScheduledOperation
from aps.worktime import TickCalendar

Key = tuple[Id, Id]

#: replays allowed to repair maximum lags before giving up (the caller then relaxes them)
MAX_ROUNDS = 30


@dataclass
class RepairPlan:
    """What the greedy needs besides the problem.

    ``reference`` gives each unpinned operation its published row (order, machine and
    earliest start); ``down`` lists the machines whose operations may change mode;
    ``now`` is the earliest tick anything unpinned may start.
    """

    reference: Mapping[Key, ScheduledOperation]
    down: frozenset[Id] = frozenset()
    now: int = 0
    floors: dict[Key, int] = field(default_factory=dict)


@dataclass
class RepairOutcome:
    """The repaired rows and the maximum lags that still break (pinned predecessors)."""

    schedule: list[ScheduledOperation]
    rounds: int
    broken_lags: list[tuple[Id, Id, Id]]


def repair(problem: Problem, plan: RepairPlan) -> RepairOutcome:
    """Right-shift ``plan.reference`` into a schedule of ``problem`` (see module doc)."""
    floors = dict(plan.floors)
    rows: list[ScheduledOperation] = []
    rounds = 0
    broken: list[tuple[Id, Id, Id]] = []
    for rounds in range(1, MAX_ROUNDS + 1):  # noqa: B007 - reported
        rows = _pass(problem, plan, floors)
        placed = {(r.job, r.op): r for r in rows}
        raised, broken = _max_lag_floors(problem, placed, floors)
        if not raised:
            break
    return RepairOutcome(schedule=rows, rounds=rounds, broken_lags=broken)


def _family(job: Job, op: Operation) -> str | None:
    return op.family if op.family is not None else job.family


def _pass(
    problem: Problem, plan: RepairPlan, floors: Mapping[Key, int]
) -> list[ScheduledOperation]:
    """One replay: pinned operations first, then the rest by published start."""
    preds: dict[Key, list[tuple[Key, int]]] = {}
    items: list[tuple[tuple[int, int, int, int], Job, Operation]] = []
    pinned: list[tuple[Job, Operation]] = []
    for j, job in enumerate(problem.jobs):
        for p, s, lag in job.predecessor_lags():
            sk = (job.id, job.operations[s].id)
            preds.setdefault(sk, []).append(((job.id, job.operations[p].id), lag.min_lag))
        for o, op in enumerate(job.operations):
            if op.fixed is not None:
                pinned.append((job, op))
                continue
            ref = plan.reference.get((job.id, op.id))
            order = (ref.start, ref.end, j, o) if ref is not None else (1 << 62, job.release, j, o)
            items.append((order, job, op))
    replay = _Replay(problem)
    # pinned operations are facts that precede everything unpinned on their machine
    for job, op in sorted(pinned, key=lambda jo: _pinned_busy(jo[1])):
        replay.pin(job, op)
    items.sort(key=lambda it: it[0])
    for _, job, op in items:
        key = (job.id, op.id)
        ref = plan.reference.get(key)
        floor = max(plan.now, job.release, floors.get(key, 0))
        if ref is not None:
            floor = max(floor, ref.start)
        for pk, min_lag in preds.get(key, ()):
            floor = max(floor, replay.ends[pk] + min_lag)
        replay.place(job, op, ref, floor, plan.down)
    return replay.out


class _Replay:
    """The machines, stock and placed operations of one replay."""

    def __init__(self, problem: Problem) -> None:
        machines = problem.machines
        self.cals = {m.id: TickCalendar(m.unavailable) for m in machines}
        self.matrices = {m.id: problem.setup_matrices.get(m.setup_matrix or "") for m in machines}
        self.off_shift = {m.id: m.off_shift_setup for m in machines}
        self.free: dict[Id, int] = {m.id: 0 for m in machines}
        self.last: dict[Id, tuple[int, int, str | None] | None] = {m.id: None for m in machines}
        self.stock = {
            m.id: StockProfile(m.initial, [(r.time, r.quantity) for r in m.receipts])
            for m in problem.materials
        }
        self.ends: dict[Key, int] = {}
        self.out: list[ScheduledOperation] = []

    def pin(self, job: Job, op: Operation) -> None:
        """Record a pinned operation where it is fixed."""
        f = op.fixed
        end = op.fixed_end()
        assert f is not None and end is not None
        busy = f.start if f.setup_start is None else f.setup_start
        self._commit(job, op, busy, f.start, end, f.machine)

    def place(
        self, job: Job, op: Operation, ref: ScheduledOperation | None, floor: int,
        down: frozenset[Id] | set[Id],
    ) -> None:  # fmt: skip
        """Place ``op`` no earlier than ``floor``: on its published machine, or, when that
        is down and pushes it (or it is new), on whichever eligible machine ends first."""
        kept = ref.machine if ref is not None and any(m.machine == ref.machine
                                                      for m in op.modes) else None  # fmt: skip
        family = _family(job, op)
        draws = [(self.stock[f.material], f.quantity) for f in op.consumes]
        best = self._slot(kept, op, family, floor, draws) if kept is not None else None
        pushed = best is None or ref is None or best[1] > ref.start
        if kept is None or (kept in down and pushed):
            # pushed on a failed machine (or new): every mode competes, the kept one wins ties
            for mode in op.modes:
                if mode.machine == kept:
                    continue
                got = self._slot(mode.machine, op, family, floor, draws)
                if got is not None and (best is None or got[2] < best[2]):
                    best = got
        if best is None:  # no stock ever: place it anyway, the validator will say why
            mode = next((m for m in op.modes if m.machine == kept), op.modes[0])
            b = max(self.free[mode.machine], floor - mode.setup)
            best = (b, b + mode.setup, b + mode.setup + mode.duration, mode.machine)
        self._commit(job, op, *best)

    def _slot(
        self, machine: Id, op: Operation, family: str | None, floor: int,
        draws: list[tuple[StockProfile, int]],
    ) -> tuple[int, int, int, Id] | None:  # fmt: skip
        """Earliest placement on ``machine``, appended after what it already runs."""
        mode = next(m for m in op.modes if m.machine == machine)
        mx, prev = self.matrices[machine], self.last[machine]
        change = mx.time(prev[2] if prev else None, family) if mx is not None else 0
        got = earliest_slot(
            self.cals[machine], mode.setup + change, mode.duration, op.interruptible,
            self.free[machine], floor, draws, setup_off_shift=self.off_shift[machine],
        )  # fmt: skip
        return None if got is None else (got[0], got[1], got[2], machine)

    def _commit(self, job: Job, op: Operation, b: int, s: int, e: int, machine: Id) -> None:
        self.free[machine] = max(self.free[machine], e)
        self.last[machine] = (b, e, _family(job, op))
        for flow in op.consumes:
            self.stock[flow.material].add(s, -flow.quantity)
        for flow in op.produces:
            self.stock[flow.material].add(e, flow.quantity)
        self.ends[(job.id, op.id)] = e
        self.out.append(
            ScheduledOperation(job=job.id, op=op.id, machine=machine, start=s, end=e,
                               setup_start=b if b < s else None)
        )  # fmt: skip


def _pinned_busy(op: Operation) -> tuple[int, int]:
    f = op.fixed
    assert f is not None
    end = op.fixed_end()
    assert end is not None
    return (f.start if f.setup_start is None else f.setup_start, end)


def _max_lag_floors(
    problem: Problem, placed: Mapping[Key, ScheduledOperation], floors: dict[Key, int]
) -> tuple[bool, list[tuple[Id, Id, Id]]]:
    """Raise predecessor floors for broken maximum lags; report those that cannot move."""
    raised = False
    broken: list[tuple[Id, Id, Id]] = []
    for job in problem.jobs:
        for p, s, lag in job.predecessor_lags():
            if lag.max_lag is None:
                continue
            pop, sop = job.operations[p], job.operations[s]
            pr, sr = placed[(job.id, pop.id)], placed[(job.id, sop.id)]
            excess = sr.start - (pr.end + lag.max_lag)
            if excess <= 0 or (pop.fixed is not None and sop.fixed is not None):
                continue
            if pop.fixed is not None:
                broken.append((job.id, pop.id, sop.id))
                continue
            key = (job.id, pop.id)
            floors[key] = max(floors.get(key, 0), pr.start + excess)
            raised = True
    return raised, broken
