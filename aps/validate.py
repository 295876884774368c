"""Independent schedule validator.

It re-checks every hard constraint from the original :class:`~aps.model.Problem`, on its
own arithmetic, without importing OR-Tools or any solver module, so a solver bug cannot
hide behind the model that produced it. Every solve in tests, CLI and benchmarks goes
through :func:`validate`; a violation is an error.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence

from pydantic import BaseModel, Field

from aps.model import Id, Job, Machine, Mode, Operation, Problem, Window
from aps.result import ScheduledOperation


class Violation(BaseModel):
    """One broken hard constraint with the operations and times involved."""

    constraint: str
    message: str
    operations: list[tuple[Id, Id]] = Field(default_factory=list)
    times: list[int] = Field(default_factory=list)

    def __str__(self) -> str:
        return f"[{self.constraint}] {self.message}"


class ScheduleInvalidError(ValueError):
    """Raised by :func:`assert_valid`; carries every violation found."""

    def __init__(self, violations: Sequence[Violation]) -> None:
        self.violations = list(violations)
        head = "; ".join(str(v) for v in self.violations[:5])
        more = f" (+{len(self.violations) - 5} more)" if len(self.violations) > 5 else ""
        super().__init__(f"schedule violates {len(self.violations)} constraint(s): {head}{more}")


class _Calendar:
    """Working-time arithmetic over a machine's merged unavailable windows."""

    def __init__(self, windows: Sequence[Window]) -> None:
        self.starts = [w.start for w in windows]
        self.ends = [w.end for w in windows]

    def blocked(self, a: int, b: int) -> int:
        """Unavailable ticks inside ``[a, b)``."""
        total = 0
        for s, e in zip(self.starts, self.ends, strict=True):
            if e <= a:
                continue
            if s >= b:
                break
            total += min(b, e) - max(a, s)
        return total

    def inside_window(self, t: int) -> bool:
        i = bisect_right(self.starts, t) - 1
        return i >= 0 and t < self.ends[i]


def validate(problem: Problem, schedule: Iterable[ScheduledOperation]) -> list[Violation]:
    """Return every hard-constraint violation of ``schedule``; empty means valid."""
    rows = list(schedule)
    out: list[Violation] = []
    machines = {m.id: m for m in problem.machines}
    calendars = {m.id: _Calendar(m.unavailable) for m in problem.machines}
    ops: dict[tuple[Id, Id], tuple[Job, Operation]] = {
        (job.id, op.id): (job, op) for job in problem.jobs for op in job.operations
    }

    placed: dict[tuple[Id, Id], ScheduledOperation] = {}
    for row in rows:
        key = (row.job, row.op)
        if key not in ops:
            out.append(
                _v("unknown_operation", f"job {row.job!r} has no operation {row.op!r}", [key])
            )
        elif key in placed:
            out.append(_v("duplicate", f"operation {key} is scheduled twice", [key]))
        else:
            placed[key] = row
    for key in ops:
        if key not in placed:
            out.append(_v("missing", f"operation {key} is not scheduled", [key]))

    modes: dict[tuple[Id, Id], Mode] = {}
    for key, row in placed.items():
        job, op = ops[key]
        mode = next((m for m in op.modes if m.machine == row.machine), None)
        if mode is None:
            out.append(
                _v(
                    "eligibility",
                    f"operation {key} runs on machine {row.machine!r}, which is not one of "
                    f"its modes {[m.machine for m in op.modes]}",
                    [key],
                )
            )
            continue
        modes[key] = mode
        if op.fixed is not None:
            out.extend(_check_fixed(job, op, row))
            continue  # a pinned operation is a fact: its own times are not re-judged
        out.extend(
            _check_times(problem, job, op, mode, row, calendars[row.machine], machines[row.machine])
        )

    out.extend(_check_machines(problem, ops, placed, modes, machines, calendars))
    out.extend(_check_precedences(problem, placed))
    out.extend(_check_materials(problem, placed))
    return out


def assert_valid(problem: Problem, schedule: Iterable[ScheduledOperation]) -> None:
    """Raise :class:`ScheduleInvalidError` unless the schedule satisfies every constraint."""
    violations = validate(problem, schedule)
    if violations:
        raise ScheduleInvalidError(violations)


def _v(
    constraint: str, message: str, ops: list[tuple[Id, Id]], times: Sequence[int] = ()
) -> Violation:
    return Violation(constraint=constraint, message=message, operations=ops, times=list(times))


def _check_times(
    problem: Problem,
    job: Job,
    op: Operation,
    mode: Mode,
    row: ScheduledOperation,
    cal: _Calendar,
    machine: Machine,
) -> list[Violation]:
    """An unpinned operation's times: order, horizon, release, deadline, duration, calendar.

    On a machine with ``off_shift_setup`` only the run is held to the calendar.
    """
    key = (job.id, op.id)
    busy_from = row.busy_from
    if busy_from > row.start or row.start > row.end:
        return [
            _v(
                "order",
                f"operation {key}: needs setup_start <= start <= end",
                [key],
                [busy_from, row.start, row.end],
            )
        ]
    out = _check_dates(problem, job, key, row)
    setup_off_shift = machine.off_shift_setup
    if op.interruptible:
        out.extend(_check_interruptible(key, mode, row, cal, setup_off_shift))
    else:
        out.extend(_check_uninterrupted(key, mode, row, cal, setup_off_shift))
    return out


def _check_dates(
    problem: Problem, job: Job, key: tuple[Id, Id], row: ScheduledOperation
) -> list[Violation]:
    """Within ``[0, horizon]``, not before the job's release, not after its deadline."""
    out: list[Violation] = []
    if row.busy_from < 0:
        out.append(_v("horizon", f"operation {key} starts before tick 0", [key], [row.busy_from]))
    if problem.horizon is not None and row.end > problem.horizon:
        out.append(
            _v(
                "horizon",
                f"operation {key} ends at {row.end} after the horizon {problem.horizon}",
                [key],
                [row.end],
            )
        )
    if row.start < job.release:
        out.append(
            _v(
                "release",
                f"operation {key} starts at {row.start} before the job's release {job.release}",
                [key],
                [row.start, job.release],
            )
        )
    if job.deadline is not None and row.end > job.deadline:
        out.append(
            _v(
                "deadline",
                f"operation {key} ends at {row.end} after the job's deadline {job.deadline}",
                [key],
                [row.end, job.deadline],
            )
        )
    return out


def _check_interruptible(
    key: tuple[Id, Id], mode: Mode, row: ScheduledOperation, cal: _Calendar, setup_off_shift: bool
) -> list[Violation]:
    """The run gets exactly its working ticks, starts in working time, and its setup
    sits in working time (anywhere with ``setup_off_shift``)."""
    out: list[Violation] = []
    busy_from = row.busy_from
    work = (row.end - row.start) - cal.blocked(row.start, row.end)
    if work != mode.duration:
        out.append(
            _v(
                "duration",
                f"interruptible operation {key} gets {work} working ticks in "
                f"[{row.start}, {row.end}), needs {mode.duration}",
                [key],
                [row.start, row.end],
            )
        )
    if mode.duration > 0 and cal.inside_window(row.start):
        out.append(
            _v(
                "calendar",
                f"operation {key} starts at {row.start} inside an unavailable window",
                [key],
                [row.start],
            )
        )
    if not setup_off_shift and busy_from < row.start and cal.blocked(busy_from, row.start) > 0:
        out.append(
            _v(
                "calendar",
                f"setup of operation {key} overlaps an unavailable window",
                [key],
                [busy_from, row.start],
            )
        )
    return out


def _check_uninterrupted(
    key: tuple[Id, Id], mode: Mode, row: ScheduledOperation, cal: _Calendar, setup_off_shift: bool
) -> list[Violation]:
    """The run lasts its duration and setup and run avoid every unavailable window (the
    run alone with ``setup_off_shift``)."""
    out: list[Violation] = []
    held = row.start if setup_off_shift else row.busy_from  # held to the calendar
    if row.end - row.start != mode.duration:
        out.append(
            _v(
                "duration",
                f"operation {key} lasts {row.end - row.start} ticks on machine "
                f"{row.machine!r}, needs {mode.duration}",
                [key],
                [row.start, row.end],
            )
        )
    if row.end > held and cal.blocked(held, row.end) > 0:
        out.append(
            _v(
                "calendar",
                f"operation {key} on machine {row.machine!r} overlaps an "
                f"unavailable window in [{held}, {row.end})",
                [key],
                [held, row.end],
            )
        )
    return out


def _check_fixed(job: Job, op: Operation, row: ScheduledOperation) -> list[Violation]:
    assert op.fixed is not None
    key = (job.id, op.id)
    setup_start = op.fixed.start if op.fixed.setup_start is None else op.fixed.setup_start
    want = (op.fixed.machine, op.fixed.start, op.fixed_end(), setup_start)
    got = (row.machine, row.start, row.end, row.busy_from)
    if got != want:
        return [
            _v("fixed", f"pinned operation {key} must stay on {want[0]!r} over "
               f"[{want[1]}, {want[2]}) with setup from {want[3]}, found {got[0]!r} over "
               f"[{got[1]}, {got[2]}) with setup from {got[3]}", [key], [row.start, row.end])
        ]  # fmt: skip
    return []


def _check_machines(
    problem: Problem,
    ops: dict[tuple[Id, Id], tuple[Job, Operation]],
    placed: dict[tuple[Id, Id], ScheduledOperation],
    modes: dict[tuple[Id, Id], Mode],
    machines: dict[Id, Machine],
    calendars: dict[Id, _Calendar],
) -> list[Violation]:
    out: list[Violation] = []
    by_machine: dict[Id, list[tuple[Id, Id]]] = defaultdict(list)
    for key in modes:
        by_machine[placed[key].machine].append(key)
    for machine_id, keys in by_machine.items():
        machine = machines[machine_id]
        matrix = problem.setup_matrices.get(machine.setup_matrix) if machine.setup_matrix else None
        keys.sort(key=lambda k: (placed[k].busy_from, placed[k].end))
        prev: tuple[Id, Id] | None = None
        latest_end = None
        latest_key: tuple[Id, Id] | None = None
        for key in keys:
            row = placed[key]
            job, op = ops[key]
            if row.end > row.busy_from:
                if latest_end is not None and row.busy_from < latest_end and latest_key:
                    out.append(
                        _v(
                            "no_overlap",
                            f"operations {latest_key} and {key} overlap on machine {machine_id!r}",
                            [latest_key, key],
                            [row.busy_from, latest_end],
                        )
                    )
                if latest_end is None or row.end > latest_end:
                    latest_end, latest_key = row.end, key
            family = op.family if op.family is not None else job.family
            prev_family = None
            if prev is not None:
                pjob, pop = ops[prev]
                prev_family = pop.family if pop.family is not None else pjob.family
            changeover = matrix.time(prev_family, family) if matrix else 0
            needed = modes[key].setup + changeover
            cal = calendars[machine_id]
            got = row.start - row.busy_from
            if op.interruptible and not machine.off_shift_setup:
                got -= cal.blocked(row.busy_from, row.start)
            if got < needed and op.fixed is None:
                out.append(
                    _v(
                        "setup",
                        f"operation {key} on machine {machine_id!r} gets {got} setup "
                        f"ticks, needs {needed} ({modes[key].setup} fixed + {changeover} "
                        f"changeover from family {prev_family!r})",
                        [key],
                        [row.busy_from, row.start],
                    )
                )
            prev = key
    return out


def _check_precedences(
    problem: Problem, placed: dict[tuple[Id, Id], ScheduledOperation]
) -> list[Violation]:
    out: list[Violation] = []
    for job in problem.jobs:
        for p, s, lag in job.predecessor_lags():
            pk = (job.id, job.operations[p].id)
            sk = (job.id, job.operations[s].id)
            if pk not in placed or sk not in placed:
                continue
            if job.operations[p].fixed is not None and job.operations[s].fixed is not None:
                continue  # both happened already: facts, not plans
            pend, sstart = placed[pk].end, placed[sk].start
            if sstart < pend + lag.min_lag:
                out.append(
                    _v(
                        "precedence",
                        f"operation {sk} starts at {sstart}, before {pk} ends at "
                        f"{pend} plus min_lag {lag.min_lag}",
                        [pk, sk],
                        [pend, sstart],
                    )
                )
            if lag.max_lag is not None and sstart > pend + lag.max_lag:
                out.append(
                    _v(
                        "max_lag",
                        f"operation {sk} starts at {sstart}, more than max_lag "
                        f"{lag.max_lag} after {pk} ends at {pend}",
                        [pk, sk],
                        [pend, sstart],
                    )
                )
    return out


def _check_materials(
    problem: Problem, placed: dict[tuple[Id, Id], ScheduledOperation]
) -> list[Violation]:
    """Stock never negative; at one tick, arrivals count before consumptions."""
    out: list[Violation] = []
    if not problem.materials:
        return out
    # events[material] = list of (time, order, delta, op-key); order 0 = arrival, 1 = draw
    events: dict[Id, list[tuple[int, int, int, tuple[Id, Id] | None]]] = defaultdict(list)
    for mat in problem.materials:
        events[mat.id].append((-(2**62), 0, mat.initial, None))
        for r in mat.receipts:
            events[mat.id].append((r.time, 0, r.quantity, None))
    for job in problem.jobs:
        for op in job.operations:
            row = placed.get((job.id, op.id))
            if row is None:
                continue
            for flow in op.consumes:
                events[flow.material].append((row.start, 1, -flow.quantity, (job.id, op.id)))
            for flow in op.produces:
                events[flow.material].append((row.end, 0, flow.quantity, (job.id, op.id)))
    for mat_id, evs in events.items():
        evs.sort(key=lambda e: (e[0], e[1]))
        stock = 0
        for t, _, delta, key in evs:
            stock += delta
            if stock < 0:
                out.append(
                    _v(
                        "material",
                        f"stock of material {mat_id!r} drops to {stock} at tick {t}"
                        + (f" when operation {key} starts" if key else ""),
                        [key] if key else [],
                        [t],
                    )
                )
                break
    return out


def makespan(schedule: Iterable[ScheduledOperation]) -> int:
    """Latest end of any operation (0 for an empty schedule)."""
    return max((r.end for r in schedule), default=0)
