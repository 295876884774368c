"""The derived problem: a published schedule plus shop-floor events, in ticks.

Downtimes become unavailable windows, work before ``now`` is pinned, interrupted
operations restart or resume as ``"<op>~rest"``, and what a breakdown made impossible is
relaxed and reported (see :mod:`aps.reschedule` for the full rules).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Container, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from aps.model import (
    Id,
    Job,
    Lag,
    Machine,
    Mode,
    Operation,
    Placement,
    Problem,
    Window,
)
from aps.reschedule.events import MachineDown, MachineUp, OperationProgress
from aps.result import ScheduledOperation
from aps.validate import Violation, validate
from aps.worktime import TickCalendar

Key = tuple[Id, Id]
#: where the derived problem keeps its state (calendars, downtimes, now, remainders)
META = "aps.reschedule"
#: the suffix of the remaining part of a resumed operation
REST = "~rest"


class Relaxation(BaseModel):
    """A requirement the disruption made impossible, dropped from the derived problem."""

    kind: Literal["deadline", "horizon", "max_lag"]
    subject: str
    detail: str


@dataclass
class Derived:
    """The derived problem and what the repair and the diff need to know about it."""

    problem: Problem
    now: int
    reference: dict[Key, ScheduledOperation]
    down: dict[Id, list[tuple[int, int]]]
    #: machines with an open-ended downtime and when it began
    open_down: dict[Id, int] = field(default_factory=dict)
    frozen: list[Key] = field(default_factory=list)
    interrupted: dict[str, Literal["restart", "resume"]] = field(default_factory=dict)
    origins: dict[Key, Key] = field(default_factory=dict)


def derive(
    problem: Problem,
    published: Sequence[ScheduledOperation],
    events: Sequence[MachineDown | MachineUp | OperationProgress],
    *,
    now: int | None = None,
    resume: Container[Key] | None = None,
) -> Derived:
    """Build the derived problem (see the module doc); pure and deterministic."""
    meta: dict[str, Any] = dict(problem.metadata.get(META, {}))
    base_cal: dict[Id, list[Window]] = {m.id: list(m.unavailable) for m in problem.machines}
    for mid, windows in meta.get("calendars", []):
        base_cal[mid] = [Window(start=s, end=e, reason=r) for s, e, r in windows]
    downtimes, progress, latest = _apply_events(meta, events)
    now_tick = latest if now is None else now
    down, open_down = _downtime_windows(downtimes, _open_end(problem, published, now_tick))
    # pins an earlier reschedule *assumed* from its plan (no progress report): a late
    # event may contradict them, so they are classified again like unpinned operations
    assumed: set[Key] = {(k[0], k[1]) for k in meta.get("assumed", [])}
    rows = _actual_rows(problem, published, progress, base_cal, now_tick, assumed)
    problem, status, merged = _unsplit(problem, rows, progress, down, now_tick, assumed)
    state = _State(rows, progress, status, merged, down, base_cal, assumed, resume)
    out = _Outcome()
    jobs = [_derive_job(job, state, out) for job in problem.jobs]
    # facts: reported progress and pins of the input that no reschedule assumed
    facts = set(progress) | {
        (j.id, o.id) for j in problem.jobs for o in j.operations
        if o.fixed is not None and (j.id, o.id) not in assumed
    }  # fmt: skip
    new_meta = {
        **problem.metadata,
        META: {
            "calendars": [
                [m.id, [[w.start, w.end, w.reason] for w in base_cal[m.id]]]
                for m in problem.machines
            ],
            "downtimes": downtimes,
            "now": now_tick,
            "assumed": [[j, o] for j, o in out.frozen if (j, o) not in facts],
        },
    }
    machines = _machines_after(problem, base_cal, down, now_tick)
    # built from validated parts; references are unchanged (remainders reuse machines)
    derived = problem.model_copy(update={"machines": machines, "jobs": jobs, "metadata": new_meta})
    return Derived(
        problem=derived, now=now_tick, reference=out.reference, down=dict(down),
        open_down=open_down, frozen=out.frozen,
        interrupted=out.interrupted, origins=out.origins,
    )  # fmt: skip


def _apply_events(
    meta: dict[str, Any], events: Sequence[MachineDown | MachineUp | OperationProgress]
) -> tuple[list[list[Any]], dict[Key, OperationProgress], int]:
    """The downtimes ``[machine, start, until]`` after ``events``, the progress reports by
    operation, and the latest event tick (or the earlier ``now``)."""
    downtimes: list[list[Any]] = [list(d) for d in meta.get("downtimes", [])]
    progress: dict[Key, OperationProgress] = {}
    latest = int(meta.get("now", 0))
    for ev in events:
        latest = max(latest, ev.time)
        if isinstance(ev, MachineDown):
            if ev.until is not None and ev.until <= ev.start:
                continue
            entry = [ev.machine, ev.start, ev.until]
            if entry not in downtimes:
                downtimes.append(entry)
        elif isinstance(ev, MachineUp):
            kept: list[list[Any]] = []
            for m, s, e in downtimes:
                if m == ev.machine and s >= ev.at:
                    continue  # cancelled before it began
                if m == ev.machine and (e is None or e > ev.at):
                    e = ev.at
                kept.append([m, s, e])
            downtimes = kept
        else:
            progress[(ev.job, ev.op)] = ev
    return downtimes, progress, latest


def _downtime_windows(
    downtimes: list[list[Any]], open_end: int
) -> tuple[dict[Id, list[tuple[int, int]]], dict[Id, int]]:
    """Sorted downtime windows by machine (open-ended ones up to ``open_end``), and
    when each machine's open-ended downtime began."""
    down: dict[Id, list[tuple[int, int]]] = defaultdict(list)
    open_down: dict[Id, int] = {}
    for m, s, e in downtimes:
        if e is None:
            open_down[m] = min(open_down.get(m, s), s)
        end = open_end if e is None else e
        if end > s:
            down[m].append((s, end))
    for m in down:
        down[m].sort()
    return down, open_down


def _actual_rows(
    problem: Problem,
    published: Sequence[ScheduledOperation],
    progress: dict[Key, OperationProgress],
    base_cal: dict[Id, list[Window]],
    now: int,
    assumed: set[Key],
) -> dict[Key, ScheduledOperation]:
    """Where each operation ran or runs: reported progress over the published rows, and
    the pin of an assumed operation the published schedule lacks."""
    rows = {(r.job, r.op): r for r in published}
    for key, pe in progress.items():
        end = pe.end if pe.end is not None else _planned_end(problem, key, pe, base_cal, now)
        rows[key] = ScheduledOperation(
            job=key[0], op=key[1], machine=pe.machine, start=pe.start, end=end,
            setup_start=pe.setup_start,
        )  # fmt: skip
    for job in problem.jobs:
        for op in job.operations:
            if (job.id, op.id) in assumed and (job.id, op.id) not in rows and op.fixed:
                rows[(job.id, op.id)] = _fixed_row(job.id, op)
    return rows


@dataclass
class _State:
    """What the events and the classification say about each operation."""

    rows: dict[Key, ScheduledOperation]
    progress: dict[Key, OperationProgress]
    status: dict[Key, str]
    merged: dict[Key, ScheduledOperation]
    down: dict[Id, list[tuple[int, int]]]
    base_cal: dict[Id, list[Window]]
    assumed: set[Key]
    resume: Container[Key] | None


@dataclass
class _Outcome:
    """What deriving the jobs found, collected for :class:`Derived`."""

    reference: dict[Key, ScheduledOperation] = field(default_factory=dict)
    frozen: list[Key] = field(default_factory=list)
    interrupted: dict[str, Literal["restart", "resume"]] = field(default_factory=dict)
    origins: dict[Key, Key] = field(default_factory=dict)


def _derive_job(job: Job, s: _State, out: _Outcome) -> Job:
    """The job with its operations pinned, freed, restarted or split by their status."""
    ops: list[Operation] = []
    renamed: dict[Id, Id] = {}
    for op in job.operations:
        key = (job.id, op.id)
        st = s.status.get(key, "free")
        row = s.rows.get(key)
        if st == "frozen" and row is not None:
            ops.append(_pin(op, row, s.progress.get(key)))
            out.frozen.append(key)
        elif st == "interrupted" and row is not None:
            ops += _interrupt(job.id, op, row, s, out, renamed)
        elif op.fixed is not None and st != "unpin" and key not in s.assumed:
            ops.append(op)
            out.frozen.append(key)
        else:
            ops.append(op.model_copy(update={"fixed": None}) if op.fixed else op)
            if row is not None:
                out.reference[key] = s.merged.get(key, row)
    if renamed:
        ops = [_repoint(o, renamed) for o in ops]
        # the job's structure changed: validate it again (ids, references, cycles)
        return Job.model_validate({**job.model_dump(), "operations": ops})
    if any(a is not b for a, b in zip(ops, job.operations, strict=True)):
        return job.model_copy(update={"operations": ops})
    return job


def _interrupt(
    job_id: Id,
    op: Operation,
    row: ScheduledOperation,
    s: _State,
    out: _Outcome,
    renamed: dict[Id, Id],
) -> list[Operation]:
    """An operation a downtime cut: it restarts, or resumes as the part that ran plus
    its ``~rest`` (then ``renamed`` maps it to the remainder), or it had finished."""
    key = (job_id, op.id)
    cut = _cut(row, s.down)
    worked = _worked(op, row, cut, s.base_cal)
    mode = next(m for m in op.modes if m.machine == row.machine)
    report = s.progress.get(key)
    left = report.remaining if report is not None else None
    if left is None:
        left = max(0, mode.duration - worked)
    wants = (op.interruptible if s.resume is None else key in s.resume) and worked > 0
    if wants and left == 0:
        out.frozen.append(key)
        return [_pin(op, row.model_copy(update={"end": cut}), None)]
    if not wants:
        out.reference[key] = s.merged.get(key, row)
        out.interrupted[f"{job_id}/{op.id}"] = "restart"
        return [op.model_copy(update={"fixed": None})]
    done = op.model_copy(
        update={
            "fixed": Placement(
                machine=row.machine, start=row.start, end=cut,
                setup_start=row.setup_start,
            ),
            "produces": [],
        }
    )  # fmt: skip
    rest_id = f"{op.id}{REST}"
    rest = Operation(
        id=rest_id,
        modes=[Mode(machine=row.machine, duration=left)]
        + [m for m in op.modes if m.machine != row.machine],
        predecessors=[Lag(op=op.id)],
        interruptible=op.interruptible,
        family=op.family,
        produces=list(op.produces),
    )
    renamed[op.id] = rest_id
    out.frozen.append(key)
    out.reference[(job_id, rest_id)] = s.merged.get(key, row)
    out.origins[(job_id, rest_id)] = key
    out.interrupted[f"{job_id}/{op.id}"] = "resume"
    return [done, rest]


def _machines_after(
    problem: Problem,
    base_cal: dict[Id, list[Window]],
    down: dict[Id, list[tuple[int, int]]],
    now: int,
) -> list[Machine]:
    """The machines with their calendar, the downtimes and the past as unavailable."""
    machines: list[Machine] = []
    for m in problem.machines:
        busy = [Window(start=s, end=e, reason="breakdown") for s, e in down.get(m.id, ())]
        if now > 0:
            busy.append(Window(start=0, end=now, reason="past"))
        base = Machine.model_validate({**m.model_dump(), "unavailable": base_cal[m.id]})
        machines.append(base.with_busy_time(busy))
    return machines


def with_base_calendar(problem: Problem, machine: Id, windows: Sequence[Window]) -> Problem:
    """``problem`` with ``machine``'s planned unavailability replaced by ``windows``.

    A derived problem keeps each machine's calendar before downtimes and the past in its
    metadata, and the next :func:`derive` rebuilds the machine's windows from it; any
    other problem holds the calendar in the machine's own windows.
    """
    meta = problem.metadata.get(META) or {}
    calendars = meta.get("calendars")
    if calendars is not None:
        entry = [[w.start, w.end, w.reason] for w in windows]
        state = {
            **meta,
            "calendars": [[mid, entry] if mid == machine else [mid, ws] for mid, ws in calendars],
        }
        return problem.model_copy(update={"metadata": {**problem.metadata, META: state}})
    machines = [
        Machine.model_validate({**m.model_dump(), "unavailable": list(windows)})
        if m.id == machine
        else m
        for m in problem.machines
    ]
    return problem.model_copy(update={"machines": machines})


def _fixed_row(job: Id, op: Operation) -> ScheduledOperation:
    f = op.fixed
    assert f is not None
    end = op.fixed_end()
    assert end is not None
    return ScheduledOperation(
        job=job, op=op.id, machine=f.machine, start=f.start, end=end, setup_start=f.setup_start
    )


def _unsplit(
    problem: Problem,
    rows: dict[Key, ScheduledOperation],
    progress: dict[Key, OperationProgress],
    down: dict[Id, list[tuple[int, int]]],
    now: int,
    assumed: set[Key],
) -> tuple[Problem, dict[Key, str], dict[Key, ScheduledOperation]]:
    """Classify; undo earlier resume splits whose assumed part a late event contradicts.

    An operation split at a breakdown ran (by assumption) up to the cut. When a late
    event shows it did not (a predecessor was down, a downtime began earlier), the part
    and its ``~rest`` become one operation again and are classified anew. Returns the
    problem, the statuses and, per merged operation, the ``~rest`` row published (its
    reference: where the bulk of its work was planned).
    """
    merged: dict[Key, ScheduledOperation] = {}
    while True:
        status = _classify(problem, rows, progress, down, now, assumed)
        undo: dict[Id, set[Id]] = defaultdict(set)
        for job in problem.jobs:
            ids = {o.id for o in job.operations}
            for o in job.operations:
                rest, key = f"{o.id}{REST}", (job.id, o.id)
                if (
                    rest in ids
                    and f"{rest}{REST}" not in ids  # the innermost split first
                    and key in assumed
                    and status.get(key) != "frozen"
                ):
                    undo[job.id].add(o.id)
        if not undo:
            return problem, status, merged
        jobs = []
        for job in problem.jobs:
            for oid in undo.get(job.id, ()):
                rest_key = (job.id, f"{oid}{REST}")
                if rest_key in rows:
                    merged[(job.id, oid)] = rows[rest_key]
                job = _merge(job, oid)
            jobs.append(job)
        problem = problem.model_copy(update={"jobs": jobs})


def _merge(job: Job, oid: Id) -> Job:
    """``oid`` and its ``~rest`` as the one operation they were before the split."""
    rest_id = f"{oid}{REST}"
    rest = next(o for o in job.operations if o.id == rest_id)
    ops: list[Operation] = []
    for o in job.operations:
        if o.id == rest_id:
            continue
        if o.id == oid:
            o = o.model_copy(update={"fixed": None, "produces": list(rest.produces)})
        elif o.predecessors is not None:
            lags = [
                lag.model_copy(update={"op": oid}) if lag.op == rest_id else lag
                for lag in o.predecessors
            ]
            o = o.model_copy(update={"predecessors": lags})
        ops.append(o)
    return Job.model_validate({**job.model_dump(), "operations": [o.model_dump() for o in ops]})


def _open_end(problem: Problem, published: Sequence[ScheduledOperation], now: int) -> int:
    """Where an open-ended downtime ends: the horizon, or past any schedule without it."""
    if problem.horizon is not None:
        return max(problem.horizon, now + 1)
    base = max([now, *(r.end for r in published)])
    for m in problem.machines:
        if m.unavailable:
            base = max(base, m.unavailable[-1].end)
    for mat in problem.materials:
        for rc in mat.receipts:
            base = max(base, rc.time)
    total = 0
    for job in problem.jobs:
        base = max(base, job.release)
        for op in job.operations:
            total += max(m.duration + m.setup for m in op.modes)
        total += sum(max(0, lag.min_lag) for _, _, lag in job.predecessor_lags())
    top_change = max(
        [v for mx in problem.setup_matrices.values() for row in mx.changeover.values()
         for v in row.values()] + [0]
    )  # fmt: skip
    return base + total + top_change * problem.num_operations + 1


def _planned_end(
    problem: Problem, key: Key, ev: OperationProgress, cal: dict[Id, list[Window]], now: int
) -> int:
    """End of a running operation: ``remaining`` ticks of work from ``now``, else planned."""
    op = next(o for j in problem.jobs if j.id == key[0] for o in j.operations if o.id == key[1])
    mode = next((m for m in op.modes if m.machine == ev.machine), op.modes[0])
    calendar = TickCalendar(cal[ev.machine])
    if ev.remaining is not None:
        t = max(now, ev.start)
        return calendar.add_working(t, ev.remaining) if op.interruptible else t + ev.remaining
    if op.interruptible:
        return calendar.add_working(ev.start, mode.duration)
    return ev.start + mode.duration


def _cut(row: ScheduledOperation, down: dict[Id, list[tuple[int, int]]]) -> int:
    """The tick a downtime interrupts ``row``'s run."""
    return min(s for s, _ in down[row.machine] if row.start < s < row.end)


def _worked(op: Operation, row: ScheduledOperation, cut: int, cal: dict[Id, list[Window]]) -> int:
    if op.interruptible:
        return TickCalendar(cal[row.machine]).working(row.start, cut)
    return cut - row.start


def _classify(
    problem: Problem,
    rows: dict[Key, ScheduledOperation],
    progress: dict[Key, OperationProgress],
    down: dict[Id, list[tuple[int, int]]],
    now: int,
    assumed: Container[Key] = (),
) -> dict[Key, str]:
    """``frozen``, ``interrupted``, ``unpin`` (a pin the breakdown broke) or ``free``.

    ``assumed`` pins are plans, not facts: classified as if they were not pinned.
    """
    status: dict[Key, str] = {}
    ops = {(j.id, o.id): o for j in problem.jobs for o in j.operations}
    for key, op in ops.items():
        row = rows.get(key)
        if row is None:
            continue
        windows = down.get(row.machine, ())
        ev = progress.get(key)
        hit = any(row.busy_from < e and s < max(row.end, row.busy_from + 1) for s, e in windows)
        cut = any(row.start < s < row.end for s, _ in windows)
        if ev is not None and ev.end is not None:
            status[key] = "frozen"  # reported complete: a fact
        elif cut and row.start < now:
            status[key] = "interrupted"
        elif op.fixed is not None and key not in assumed:
            status[key] = "unpin" if hit else "frozen"
        elif ev is not None:
            status[key] = "frozen"  # reported running, not hit by a downtime
        elif row.busy_from < now and not hit:
            status[key] = "frozen"
        else:
            status[key] = "free"
    # nothing started whose job predecessor or stock producer is not done
    preds: dict[Key, list[tuple[Key, int]]] = defaultdict(list)
    for job in problem.jobs:
        for p, s, lag in job.predecessor_lags():
            pk = (job.id, job.operations[p].id)
            preds[(job.id, job.operations[s].id)].append((pk, lag.min_lag))
    producers: dict[Id, list[Key]] = defaultdict(list)
    for key, op in ops.items():
        for f in op.produces:
            producers[f.material].append(key)
    changed = True
    while changed:
        changed = False
        for key, st in status.items():
            if st != "frozen" or key in progress:
                continue
            if ops[key].fixed is not None and key not in assumed:
                continue
            row = rows[key]
            # a predecessor not done, or done (actually) too late for this start
            blocked = any(
                status.get(pk) != "frozen" or rows[pk].end + lag > row.start
                for pk, lag in preds.get(key, ())
            )
            if not blocked:
                for f in ops[key].consumes:
                    for pk in producers[f.material]:
                        pr = rows.get(pk)
                        if pr is not None and pr.end <= row.start and status.get(pk) != "frozen":
                            blocked = True
            if blocked:
                status[key] = "free"
                changed = True
    return status


def _pin(op: Operation, row: ScheduledOperation, ev: OperationProgress | None) -> Operation:
    update: dict[str, Any] = {
        "fixed": Placement(
            machine=row.machine, start=row.start, end=row.end,
            setup_start=row.setup_start if row.setup_start is not None else None,
        )
    }  # fmt: skip
    if ev is not None and ev.produced is not None:
        update["produces"] = list(ev.produced)
    return op.model_copy(update=update)


def _repoint(op: Operation, renamed: dict[Id, Id]) -> Operation:
    """Successors of a split operation follow its remainder."""
    if op.predecessors is None or str(op.id).endswith(REST):
        return op
    lags = [
        lag.model_copy(update={"op": renamed[lag.op]}) if lag.op in renamed else lag
        for lag in op.predecessors
    ]
    return op.model_copy(update={"predecessors": lags})


def relax(
    problem: Problem, schedule: Sequence[ScheduledOperation]
) -> tuple[Problem, list[Relaxation], list[Violation]]:
    """Drop deadlines, the horizon and max lags the repair cannot keep; report the rest."""
    violations = validate(problem, schedule)
    relaxations: list[Relaxation] = []
    if not violations:
        return problem, relaxations, []
    late_jobs = {v.operations[0][0] for v in violations if v.constraint == "deadline"}
    lags = {
        (v.operations[0][0], v.operations[0][1], v.operations[1][1])
        for v in violations
        if v.constraint == "max_lag"
    }
    horizon = any(v.constraint == "horizon" and v.times and v.times[0] > 0 for v in violations)
    jobs = []
    for job in problem.jobs:
        update: dict[str, Any] = {}
        if job.id in late_jobs:
            relaxations.append(
                Relaxation(kind="deadline", subject=str(job.id),
                           detail=f"order {job.id!r} cannot meet its deadline {job.deadline}")
            )  # fmt: skip
            update["deadline"] = None
        ops = []
        for op in job.operations:
            if op.predecessors is not None:  # chains have no maximum lags
                new = []
                for lag in op.predecessors:
                    if (job.id, lag.op, op.id) in lags:
                        lag = lag.model_copy(update={"max_lag": None})
                    new.append(lag)
                op = op.model_copy(update={"predecessors": new})
            ops.append(op)
        for j, p, s in sorted(lags, key=str):
            if j == job.id:
                relaxations.append(
                    Relaxation(kind="max_lag", subject=f"{j}/{p}->{s}",
                               detail=f"operation {s!r} of {j!r} cannot start within the "
                                      f"maximum lag after {p!r}, which is already done")
                )  # fmt: skip
        update["operations"] = ops
        jobs.append(job.model_copy(update=update))
    if horizon:
        relaxations.append(
            Relaxation(kind="horizon", subject="plan",
                       detail=f"the repair ends at {max(r.end for r in schedule)}, past the "
                              f"horizon {problem.horizon}")
        )  # fmt: skip
    relaxed = problem.model_copy(
        update={"jobs": jobs, "horizon": None if horizon else problem.horizon}
    )
    return relaxed, relaxations, validate(relaxed, schedule)
