"""What changed between two published schedules, and why each operation moved.

A planner who receives a repaired schedule asks "what moved, and why?". :func:`diff`
compares the previous and the new schedule of the same (new) problem and gives every
moved operation exactly one reason, the first that applies:

``on_failed_machine``
    Its old placement overlaps a downtime of its old machine (it was on, or interrupted
    by, the failed machine), or it is the remainder of an interrupted operation.
``pushed_by_predecessor``
    Its old start breaks a lag with a job predecessor's new end: earlier than the end
    plus the minimum lag (pushed), or later than the end plus the maximum lag.
``displaced_by_conflict``
    Its old placement, with every other operation as in the new schedule, breaks a
    resource constraint: it overlaps another operation on its machine, lacks the setup
    or changeover its new machine predecessor needs, falls into a calendar window or
    before ``now``, or draws stock that is no longer there.
``improved``
    None of these: the old placement was still possible, so the move is a choice that
    improves the objective (the CP-SAT phase). Constraints towards job *successors* are
    not reasons: a successor never forces its predecessor to move, it follows it.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from aps.kpi import completion_times, term_values
from aps.model import Id, Job, Operation, Problem
from aps.result import ScheduledOperation
from aps.worktime import TickCalendar

Key = tuple[Id, Id]
Reason = Literal["on_failed_machine", "pushed_by_predecessor", "displaced_by_conflict", "improved"]
REASONS: tuple[Reason, ...] = (
    "on_failed_machine",
    "pushed_by_predecessor",
    "displaced_by_conflict",
    "improved",
)


class MovedOperation(BaseModel):
    """One operation whose machine or start changed, with the reason and its cause."""

    model_config = ConfigDict(frozen=True)

    job: Id
    op: Id
    old_machine: Id
    old_start: int
    old_end: int
    new_machine: Id
    new_start: int
    new_end: int
    reason: Reason
    #: what forced it: the failed machine, the predecessor or the operation in the way
    cause: str | None = None


class ScheduleDiff(BaseModel):
    """Moved operations, orders whose lateness changed and KPIs before and after."""

    moved: list[MovedOperation] = Field(default_factory=list)
    #: operations cut short by a breakdown (same start, earlier end: the part that ran)
    interrupted: list[tuple[Id, Id]] = Field(default_factory=list)
    became_late: list[Id] = Field(default_factory=list)
    became_on_time: list[Id] = Field(default_factory=list)
    kpis_before: dict[str, int] = Field(default_factory=dict)
    kpis_after: dict[str, int] = Field(default_factory=dict)
    #: operations in both schedules that kept machine and start
    kept: int = 0
    compared: int = 0

    @property
    def kept_share(self) -> float:
        return self.kept / self.compared if self.compared else 1.0

    def reasons(self) -> dict[str, int]:
        """How many operations moved for each reason (every reason listed)."""
        counts: dict[str, int] = dict.fromkeys(REASONS, 0)
        for m in self.moved:
            counts[m.reason] += 1
        return counts


def diff(
    problem: Problem,
    before: Iterable[ScheduledOperation],
    after: Iterable[ScheduledOperation],
    *,
    down: Mapping[Id, Sequence[tuple[int, int]]] | None = None,
    now: int | None = None,
    origins: Mapping[Key, Key] | None = None,
) -> ScheduleDiff:
    """Compare ``before`` and ``after`` (both read against ``problem``, the new one).

    ``down`` maps a machine to its downtime windows, ``now`` is the rescheduling tick
    (nothing unpinned may start before it) and ``origins`` maps the remainder of an
    interrupted operation to the operation it continues.
    """
    down = down or {}
    origins = origins or {}
    old = {(r.job, r.op): r for r in before}
    new_rows = list(after)
    new = {(r.job, r.op): r for r in new_rows}
    ctx = _Context(problem, new_rows, now)
    out = ScheduleDiff()
    for key, row in new.items():
        prev = old.get(key)
        if prev is None and key in origins:
            prev = old.get(origins[key])
            if prev is not None:
                out.moved.append(_moved(key, prev, row, "on_failed_machine", f"{prev.machine}"))
            continue
        if prev is None:
            continue
        out.compared += 1
        if prev.machine == row.machine and prev.start == row.start:
            out.kept += 1
            if prev.end > row.end:
                out.interrupted.append(key)
            continue
        reason, cause = _reason(ctx, key, prev, down)
        out.moved.append(_moved(key, prev, row, reason, cause))
    done_before = completion_times(problem, old.values())
    done_after = completion_times(problem, new_rows)
    for job in problem.jobs:
        if job.due is None or job.id not in done_before or job.id not in done_after:
            continue
        was, is_ = done_before[job.id] > job.due, done_after[job.id] > job.due
        if is_ and not was:
            out.became_late.append(job.id)
        elif was and not is_:
            out.became_on_time.append(job.id)
    out.kpis_before = {str(k): v for k, v in term_values(problem, old.values()).items()}
    out.kpis_after = {str(k): v for k, v in term_values(problem, new_rows).items()}
    return out


def _moved(
    key: Key, prev: ScheduledOperation, row: ScheduledOperation, reason: Reason, cause: str | None
) -> MovedOperation:
    return MovedOperation(
        job=key[0], op=key[1], old_machine=prev.machine, old_start=prev.start,
        old_end=prev.end, new_machine=row.machine, new_start=row.start, new_end=row.end,
        reason=reason, cause=cause,
    )  # fmt: skip


class _Context:
    """The new schedule indexed for "would the old placement still fit?" questions."""

    def __init__(self, problem: Problem, rows: list[ScheduledOperation], now: int | None) -> None:
        self.problem = problem
        self.now = now
        self.ops: dict[Key, tuple[Job, Operation]] = {
            (j.id, o.id): (j, o) for j in problem.jobs for o in j.operations
        }
        self.rows = {(r.job, r.op): r for r in rows}
        self.machines = {m.id: m for m in problem.machines}
        self._cals: dict[Id, TickCalendar] = {}  # built on demand: calendars are long
        self.by_machine: dict[Id, list[ScheduledOperation]] = defaultdict(list)
        for r in rows:
            self.by_machine[r.machine].append(r)
        self.busy: dict[Id, list[int]] = {}
        for mid, lst in self.by_machine.items():
            lst.sort(key=lambda r: (r.busy_from, r.end))
            self.busy[mid] = [r.busy_from for r in lst]
        self.preds: dict[Key, list[tuple[Key, int, int | None]]] = defaultdict(list)
        for job in problem.jobs:
            for p, s, lag in job.predecessor_lags():
                pk, sk = (job.id, job.operations[p].id), (job.id, job.operations[s].id)
                self.preds[sk].append((pk, lag.min_lag, lag.max_lag))
        self._profiles: dict[Id, tuple[list[int], list[int]]] = {}

    def cal(self, machine: Id) -> TickCalendar:
        cal = self._cals.get(machine)
        if cal is None:
            cal = self._cals[machine] = TickCalendar(self.machines[machine].unavailable)
        return cal

    def machine_conflict(self, key: Key, prev: ScheduledOperation) -> str | None:
        """Another operation of the new schedule in the old busy interval, or a bad setup."""
        lst = self.by_machine.get(prev.machine, [])
        busy = self.busy.get(prev.machine, [])
        lo, hi = prev.busy_from, prev.end
        i = bisect_left(busy, hi)
        if hi > lo:
            for r in reversed(lst[max(0, i - 64) : i]):
                if (r.job, r.op) != key and r.end > r.busy_from and r.end > lo:
                    return f"{r.job}/{r.op}"
        # the setup its new machine predecessor would require
        k = bisect_right(busy, prev.busy_from)
        before = [r for r in lst[max(0, k - 8) : k] if (r.job, r.op) != key]
        machine = self.machines[prev.machine]
        job, op = self.ops[key]
        mode = next((m for m in op.modes if m.machine == prev.machine), None)
        if mode is None:
            return None
        change = 0
        if machine.setup_matrix is not None and before:
            pj, po = self.ops[(before[-1].job, before[-1].op)]
            mx = self.problem.setup_matrices[machine.setup_matrix]
            fam = op.family if op.family is not None else job.family
            pfam = po.family if po.family is not None else pj.family
            change = mx.time(pfam, fam)
        got = prev.start - prev.busy_from
        if op.interruptible and not machine.off_shift_setup:
            got -= self.cal(prev.machine).blocked(prev.busy_from, prev.start)
        if got < mode.setup + change:
            return f"setup after {before[-1].job}/{before[-1].op}" if before else "setup"
        return None

    def calendar_conflict(self, key: Key, prev: ScheduledOperation) -> str | None:
        if self.now is not None and prev.busy_from < self.now:
            return f"before now ({self.now})"
        _, op = self.ops[key]
        cal = self.cal(prev.machine)
        # with off-shift setups only the run is held to the calendar
        held = prev.start if self.machines[prev.machine].off_shift_setup else prev.busy_from
        if op.interruptible:
            if cal.blocked(held, prev.start) > 0 or (
                prev.end > prev.start and cal.is_blocked(prev.start)
            ):
                return f"calendar of {prev.machine}"
            return None
        if prev.end > held and cal.blocked(held, prev.end) > 0:
            return f"calendar of {prev.machine}"
        return None

    def stock_conflict(self, key: Key, prev: ScheduledOperation) -> str | None:
        _, op = self.ops[key]
        row = self.rows.get(key)
        for flow in op.consumes:
            times, levels = self._profile(flow.material)
            # level without this operation's own new events, with its old ones instead
            own: list[tuple[int, int]] = [(prev.start, -flow.quantity)]
            if row is not None:
                own.append((row.start, flow.quantity))
            for f in op.produces:
                if f.material == flow.material:
                    own.append((prev.end, f.quantity))
                    if row is not None:
                        own.append((row.end, -f.quantity))
            k = bisect_left(times, prev.start)
            checkpoints = sorted({prev.start, *times[k:]})
            for t in checkpoints:
                j = bisect_right(times, t)
                level = levels[j - 1] if j > 0 else self._initial(flow.material)
                level += sum(d for tt, d in own if tt <= t)
                if level < 0:
                    return f"stock of {flow.material}"
        return None

    def _initial(self, material: Id) -> int:
        return next(m.initial for m in self.problem.materials if m.id == material)

    def _profile(self, material: Id) -> tuple[list[int], list[int]]:
        """Event times and the stock level after each, for the new schedule."""
        if material not in self._profiles:
            mat = next(m for m in self.problem.materials if m.id == material)
            events = [(r.time, r.quantity) for r in mat.receipts]
            for key, row in self.rows.items():
                _, op = self.ops[key]
                events += [(row.start, -f.quantity) for f in op.consumes if f.material == material]
                events += [(row.end, f.quantity) for f in op.produces if f.material == material]
            events.sort()
            times: list[int] = []
            levels: list[int] = []
            run = mat.initial
            for t, d in events:
                run += d
                if times and times[-1] == t:
                    levels[-1] = run
                else:
                    times.append(t)
                    levels.append(run)
            self._profiles[material] = (times, levels)
        return self._profiles[material]


def _reason(
    ctx: _Context, key: Key, prev: ScheduledOperation, down: Mapping[Id, Sequence[tuple[int, int]]]
) -> tuple[Reason, str | None]:
    for ds, de in down.get(prev.machine, ()):
        if prev.busy_from < de and ds < max(prev.end, prev.busy_from + 1):
            return "on_failed_machine", str(prev.machine)
    for pk, min_lag, max_lag in ctx.preds.get(key, ()):
        p = ctx.rows.get(pk)
        if p is not None and (
            prev.start < p.end + min_lag or (max_lag is not None and prev.start > p.end + max_lag)
        ):
            return "pushed_by_predecessor", f"{pk[0]}/{pk[1]}"
    for check in (ctx.calendar_conflict, ctx.machine_conflict, ctx.stock_conflict):
        cause = check(key, prev)
        if cause is not None:
            return "displaced_by_conflict", cause
    return "improved", None
