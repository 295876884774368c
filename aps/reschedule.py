"""Minimal-disruption rescheduling after machine failures (issue 6, the core part).

A published schedule is wrong the moment a machine breaks. :func:`reschedule` turns the
problem, the published schedule and the shop-floor events into a *derived* problem and
repairs the schedule in two phases:

1. a greedy right-shift repair (:mod:`aps.reschedule_repair`), valid and published at
   once (``on_publish``), then
2. CP-SAT warm-started from it, minimising ``efficiency_weight`` x the problem's own
   (weighted) objective plus the ``stability`` term against the published schedule;
   published when it is strictly better.

Each publication carries a :class:`~aps.diff.ScheduleDiff` against the previous one.

The derived problem
-------------------
* Downtime: each ``machine.down`` adds an unavailable window ``[start, until)`` to the
  machine (open-ended: up to the horizon, or past any schedule that does not use the
  machine); ``machine.up`` ends it early (or cancels one that had not begun).
* ``now`` (default: the latest event tick) adds a window ``[0, now)`` to *every*
  machine, so nothing unpinned starts or sets up in the past; pinned operations may sit
  in windows (they are facts).
* Frozen: an operation whose setup or run started before ``now`` is pinned at its actual
  times (``Operation.fixed``) unless a downtime of its machine starts inside its run
  (interrupted), it was on a down machine when it should have started (it never did), or
  a job predecessor or a stock producer it depends on is not done (it cannot have
  started either). ``operation.progress`` events give actual times and override the
  published ones.
* Interrupted operations *restart* (the partial run is lost, all modes stay open) or
  *resume*: the part that ran is pinned on the failed machine and ends at the failure,
  and a new operation ``"<op>~rest"`` carries the remaining work (the remaining ticks on
  the same machine, without a new fixed setup, or a full restart on an alternative
  machine), the products and the successors; the consumption stays with the part that
  ran. A restart moves the whole operation, its consumption included (scrap of the
  first attempt is not modelled). By default interruptible operations resume and the others restart
  (``resume=`` overrides it per operation).
* Late events: a pin made from the published plan (no progress report) is *assumed*
  and listed in the metadata (``assumed``). A later event older than that repair's
  ``now`` (a ``machine.down`` reported late) classifies assumed pins again like
  unpinned operations: work the breakdown prevented, and what depends on it, is freed
  or interrupted; a resumed split it contradicts becomes one operation again. Reported
  progress and pins of the input are facts and stay.
* What the breakdown made impossible is relaxed and reported: a deadline the greedy
  repair misses, the horizon, a maximum lag after an operation that is already done.

All state needed to apply later events (the calendars before any downtime, the
downtimes, the remainders) travels in ``problem.metadata["aps.reschedule"]``: pass
``result.problem`` and ``result.schedule`` to the next call.

Why a weighted objective and not a lexicographic one: lexicographic [original, stability]
accepts moving hundreds of operations for one tick of tardiness, which is exactly the
nervousness a repair must avoid; [stability, original] forbids every improvement beyond
the greedy repair. A weight states the exchange rate ("one tick of the objective is worth
``efficiency_weight`` ticks of total start deviation") and the whole time budget goes to
one search (the core splits it between lexicographic levels). A lexicographic problem
objective is kept lexicographic with stability appended as the last level.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from aps.calendar import TickCalendar
from aps.diff import ScheduleDiff, diff
from aps.kpi import objective_value, term_values
from aps.model import (
    Id,
    Job,
    Lag,
    Machine,
    MaterialFlow,
    Mode,
    Objective,
    ObjectiveTerm,
    Operation,
    Placement,
    Problem,
    Reference,
    Stability,
    WeightedTerm,
    Window,
)
from aps.reschedule_repair import RepairPlan, repair
from aps.result import ScheduledOperation
from aps.validate import Violation, validate

Key = tuple[Id, Id]
META = "aps.reschedule"
REST = "~rest"


# -- events -------------------------------------------------------------------------------


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MachineDown(_Event):
    """The MES reports a breakdown: ``machine`` is down from ``start`` until ``until``."""

    kind: Literal["machine.down"] = "machine.down"
    machine: Id
    start: int
    until: int | None = None

    @property
    def time(self) -> int:
        return self.start


class MachineUp(_Event):
    """``machine`` works again from ``at`` (ends or cancels its downtime)."""

    kind: Literal["machine.up"] = "machine.up"
    machine: Id
    at: int

    @property
    def time(self) -> int:
        return self.at


class OperationProgress(_Event):
    """Actual progress of an operation: started (``end`` None) or completed.

    ``remaining`` is the work left on a running operation (ticks) and ``produced`` the
    actual output of a completed one (replaces the planned quantities: yield and scrap).
    """

    kind: Literal["operation.progress"] = "operation.progress"
    job: Id
    op: Id
    machine: Id
    start: int
    end: int | None = None
    setup_start: int | None = None
    remaining: int | None = Field(default=None, ge=0)
    produced: list[MaterialFlow] | None = None

    @property
    def time(self) -> int:
        return self.start if self.end is None else self.end


Event = Annotated[MachineDown | MachineUp | OperationProgress, Field(discriminator="kind")]


# -- results ------------------------------------------------------------------------------


class Relaxation(BaseModel):
    """A requirement the disruption made impossible, dropped from the derived problem."""

    kind: Literal["deadline", "horizon", "max_lag"]
    subject: str
    detail: str


class Publication(BaseModel):
    """One published schedule: the greedy repair first, then each CP-SAT improvement."""

    phase: Literal["greedy", "improved"]
    schedule: list[ScheduledOperation]
    diff: ScheduleDiff
    objective: int
    elapsed: float


class RescheduleResult(BaseModel):
    """The outcome of one reschedule: the state to keep and what was published."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    #: the derived problem (original objective): pass it to the next reschedule
    problem: Problem
    #: the problem CP-SAT solved (objective plus stability against the published plan)
    repair_problem: Problem
    schedule: list[ScheduledOperation]
    publications: list[Publication]
    now: int
    frozen: list[tuple[Id, Id]] = Field(default_factory=list)
    interrupted: dict[str, Literal["restart", "resume"]] = Field(default_factory=dict)
    relaxations: list[Relaxation] = Field(default_factory=list)
    #: operations left on a machine with an open-ended downtime (no alternative): they
    #: sit after the assumed end and must be re-planned when the machine is back
    stranded: list[tuple[Id, Id]] = Field(default_factory=list)
    #: operations that kept their published machine and start, over those compared
    kept_share: float = 1.0
    #: the final schedule against the one published before the events (reasons included)
    changes: ScheduleDiff = Field(default_factory=ScheduleDiff)
    greedy_seconds: float = 0.0
    #: free operations over all CP-SAT neighbourhoods (None: CP-SAT saw the whole problem)
    neighbourhood: int | None = None
    #: CP-SAT solves run (neighbourhoods of the disruption, in time order)
    rounds: int = 0
    solver_message: str | None = None
    violations: list[Violation] = Field(default_factory=list)

    @property
    def diff(self) -> ScheduleDiff:
        """The final schedule against the schedule published before the events.

        Each publication's own ``diff`` is against the previous publication instead.
        """
        return self.changes


# -- entry points -------------------------------------------------------------------------


def machine_down(
    problem: Problem,
    published: Sequence[ScheduledOperation],
    machine: Id,
    start: int,
    until: int | None = None,
    now: int | None = None,
    progress: Sequence[OperationProgress] = (),
    **options: Any,
) -> RescheduleResult:
    """Repair ``published`` after ``machine`` broke at ``start`` (see :func:`reschedule`)."""
    events: list[MachineDown | MachineUp | OperationProgress] = [
        MachineDown(machine=machine, start=start, until=until),
        *progress,
    ]
    return reschedule(problem, published, events, now=start if now is None else now, **options)


def reschedule(
    problem: Problem,
    published: Sequence[ScheduledOperation],
    events: Sequence[MachineDown | MachineUp | OperationProgress],
    *,
    now: int | None = None,
    time_limit: float = 5.0,
    workers: int = 2,
    seed: int = 0,
    on_publish: Callable[[Publication], None] | None = None,
    improve: bool = True,
    efficiency_weight: int = 10,
    machine_change: int = 60,
    resume: Container[Key] | None = None,
    stop: threading.Event | None = None,
    max_free: int = 60,
) -> RescheduleResult:
    """Apply ``events`` to ``problem`` and repair ``published`` with minimal disruption.

    ``time_limit`` bounds the whole call; the greedy repair is published first (no
    solver), then CP-SAT (``improve``) publishes each better schedule it finds. Above
    ``max_free`` unpinned operations CP-SAT works on neighbourhoods of the disruption
    (:mod:`aps.reschedule_improve`). ``resume`` lists the interrupted operations that
    resume (default: the interruptible ones). ``efficiency_weight`` and
    ``machine_change`` set the repair objective (module doc).
    """
    started = time.monotonic()
    derived = derive(problem, published, events, now=now, resume=resume)
    active = {m for m, ws in derived.down.items() if any(e > derived.now for _, e in ws)}
    plan = RepairPlan(reference=derived.reference, down=frozenset(active), now=derived.now)
    outcome = repair(derived.problem, plan)
    schedule = outcome.schedule
    relaxed_problem, relaxations, violations = _relax(derived.problem, schedule)
    derived.problem = relaxed_problem
    greedy_seconds = time.monotonic() - started
    repair_problem = _repair_problem(
        derived.problem, derived.reference, efficiency_weight, machine_change
    )
    down = {m: [(s, e) for s, e in ws] for m, ws in derived.down.items()}
    kept = diff(repair_problem, _previous(published, derived), schedule, down=down,
                now=derived.now, origins=derived.origins)  # fmt: skip
    result = RescheduleResult(
        problem=derived.problem,
        repair_problem=repair_problem,
        schedule=schedule,
        publications=[],
        now=derived.now,
        frozen=derived.frozen,
        interrupted=derived.interrupted,
        relaxations=relaxations,
        kept_share=kept.kept_share,
        changes=kept,
        greedy_seconds=round(greedy_seconds, 4),
        violations=violations,
        stranded=_stranded(derived, schedule),
    )
    if violations:
        result.solver_message = "the greedy repair is invalid: " + "; ".join(
            str(v) for v in violations[:3]
        )
        return result
    greedy_value = objective_value(repair_problem.objective, term_values(repair_problem, schedule))
    first = Publication(
        phase="greedy", schedule=schedule, diff=kept, objective=greedy_value,
        elapsed=round(time.monotonic() - started, 4),
    )  # fmt: skip
    result.publications.append(first)
    if on_publish is not None:
        on_publish(first)
    remaining = time_limit - (time.monotonic() - started)
    if not improve or remaining <= 0.2 or (stop is not None and stop.is_set()):
        return result
    from aps.reschedule_improve import improve as run_cpsat

    best: list[ScheduledOperation] = schedule

    def accept(candidate: list[ScheduledOperation]) -> bool:
        """Publish ``candidate`` when it beats the last published schedule."""
        nonlocal best
        if not _better(repair_problem.objective, repair_problem, candidate, best):
            return False
        value = objective_value(repair_problem.objective, term_values(repair_problem, candidate))
        pub = Publication(
            phase="improved", schedule=candidate,
            diff=diff(repair_problem, best, candidate, now=derived.now),
            objective=value, elapsed=round(time.monotonic() - started, 4),
        )  # fmt: skip
        best = candidate
        result.publications.append(pub)
        if on_publish is not None:
            on_publish(pub)
        return True

    found = run_cpsat(
        derived.problem, repair_problem, schedule, derived.reference, derived.down,
        derived.now, started + time_limit, accept, workers, seed, stop=stop, max_free=max_free,
    )  # fmt: skip
    result.solver_message = found.message
    result.neighbourhood = None if found.whole else found.free
    result.rounds = found.rounds
    if best is not schedule:
        result.schedule = best
        result.stranded = _stranded(derived, best)
        result.changes = diff(
            repair_problem, _previous(published, derived), best,
            down=down, now=derived.now, origins=derived.origins,
        )  # fmt: skip
        result.kept_share = result.changes.kept_share
    return result


def _stranded(derived: Derived, schedule: Sequence[ScheduledOperation]) -> list[Key]:
    frozen = set(derived.frozen)
    return [
        (r.job, r.op)
        for r in schedule
        if r.machine in derived.open_down
        and r.end > derived.open_down[r.machine]
        and (r.job, r.op) not in frozen
    ]


def _better(
    objective: Objective,
    problem: Problem,
    new: Sequence[ScheduledOperation],
    old: Sequence[ScheduledOperation],
) -> bool:
    a, b = term_values(problem, new), term_values(problem, old)
    if objective.kind == "lexicographic":
        return [a[t.term] for t in objective.terms] < [b[t.term] for t in objective.terms]
    return objective_value(objective, a) < objective_value(objective, b)


def _previous(
    published: Sequence[ScheduledOperation], derived: Derived
) -> list[ScheduledOperation]:
    """The published rows, restricted to operations of the derived problem."""
    keys = {(j.id, o.id) for j in derived.problem.jobs for o in j.operations}
    return [r for r in published if (r.job, r.op) in keys]


def _repair_problem(
    problem: Problem,
    reference: dict[Key, ScheduledOperation],
    efficiency_weight: int,
    machine_change: int,
) -> Problem:
    """The problem's objective plus stability against the published rows (module doc)."""
    refs = [
        Reference(job=k[0], op=k[1], machine=r.machine, start=r.start)
        for k, r in sorted(reference.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1])))
    ]
    objective = problem.objective
    if objective.kind == "weighted":
        terms = [
            WeightedTerm(term=t.term, weight=t.weight * efficiency_weight)
            for t in objective.terms
            if t.term != ObjectiveTerm.STABILITY
        ]
        terms.append(WeightedTerm(term=ObjectiveTerm.STABILITY, weight=1))
        new_objective = Objective(kind="weighted", terms=terms)
    else:
        terms = [t for t in objective.terms if t.term != ObjectiveTerm.STABILITY]
        terms.append(WeightedTerm(term=ObjectiveTerm.STABILITY))
        new_objective = Objective(kind="lexicographic", terms=terms)
    return problem.model_copy(
        update={
            "objective": new_objective,
            "stability": Stability(reference=refs, machine_change=machine_change),
        }
    )


# -- the derived problem ------------------------------------------------------------------


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
    now_tick = latest if now is None else now
    open_end = _open_end(problem, published, now_tick)
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

    rows = {(r.job, r.op): r for r in published}
    for key, pe in progress.items():
        end = pe.end if pe.end is not None else _planned_end(problem, key, pe, base_cal, now_tick)
        rows[key] = ScheduledOperation(
            job=key[0], op=key[1], machine=pe.machine, start=pe.start, end=end,
            setup_start=pe.setup_start,
        )  # fmt: skip
    # pins an earlier reschedule *assumed* from its plan (no progress report): a late
    # event may contradict them, so they are classified again like unpinned operations
    assumed: set[Key] = {(k[0], k[1]) for k in meta.get("assumed", [])}
    for job in problem.jobs:
        for op in job.operations:
            if (job.id, op.id) in assumed and (job.id, op.id) not in rows and op.fixed:
                rows[(job.id, op.id)] = _fixed_row(job.id, op)
    problem, status, merged = _unsplit(problem, rows, progress, down, now_tick, assumed)

    jobs: list[Job] = []
    reference: dict[Key, ScheduledOperation] = {}
    frozen: list[Key] = []
    interrupted: dict[str, Literal["restart", "resume"]] = {}
    origins: dict[Key, Key] = {}
    for job in problem.jobs:
        ops: list[Operation] = []
        renamed: dict[Id, Id] = {}
        for op in job.operations:
            key = (job.id, op.id)
            st = status.get(key, "free")
            row = rows.get(key)
            if st == "frozen" and row is not None:
                ops.append(_pin(op, row, progress.get(key)))
                frozen.append(key)
            elif st == "interrupted" and row is not None:
                cut = _cut(row, down)
                worked = _worked(op, row, cut, base_cal)
                mode = next(m for m in op.modes if m.machine == row.machine)
                report = progress.get(key)
                left = report.remaining if report is not None else None
                if left is None:
                    left = max(0, mode.duration - worked)
                wants = (op.interruptible if resume is None else key in resume) and worked > 0
                if wants and left == 0:
                    ops.append(_pin(op, row.model_copy(update={"end": cut}), None))
                    frozen.append(key)
                elif wants:
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
                    ops += [done, rest]
                    renamed[op.id] = rest_id
                    frozen.append(key)
                    reference[(job.id, rest_id)] = merged.get(key, row)
                    origins[(job.id, rest_id)] = key
                    interrupted[f"{job.id}/{op.id}"] = "resume"
                else:
                    ops.append(op.model_copy(update={"fixed": None}))
                    reference[key] = merged.get(key, row)
                    interrupted[f"{job.id}/{op.id}"] = "restart"
            else:
                if op.fixed is not None and st != "unpin" and key not in assumed:
                    ops.append(op)
                    frozen.append(key)
                    continue
                ops.append(op.model_copy(update={"fixed": None}) if op.fixed else op)
                if row is not None:
                    reference[key] = merged.get(key, row)
        if renamed:
            ops = [_repoint(o, renamed) for o in ops]
            # the job's structure changed: validate it again (ids, references, cycles)
            jobs.append(Job.model_validate({**job.model_dump(), "operations": ops}))
        elif any(a is not b for a, b in zip(ops, job.operations, strict=True)):
            jobs.append(job.model_copy(update={"operations": ops}))
        else:
            jobs.append(job)

    # facts: reported progress and pins of the input that no reschedule assumed
    facts = set(progress) | {
        (j.id, o.id) for j in problem.jobs for o in j.operations
        if o.fixed is not None and (j.id, o.id) not in assumed
    }  # fmt: skip
    machines: list[Machine] = []
    for m in problem.machines:
        windows = list(base_cal[m.id])
        windows += [Window(start=s, end=e, reason="breakdown") for s, e in down.get(m.id, ())]
        if now_tick > 0:
            windows.append(Window(start=0, end=now_tick, reason="past"))
        machines.append(Machine.model_validate({**m.model_dump(), "unavailable": windows}))
    new_meta = {
        **problem.metadata,
        META: {
            "calendars": [
                [m.id, [[w.start, w.end, w.reason] for w in base_cal[m.id]]]
                for m in problem.machines
            ],
            "downtimes": downtimes,
            "now": now_tick,
            "assumed": [[j, o] for j, o in frozen if (j, o) not in facts],
        },
    }
    # built from validated parts; references are unchanged (remainders reuse machines)
    derived = problem.model_copy(update={"machines": machines, "jobs": jobs, "metadata": new_meta})
    return Derived(
        problem=derived, now=now_tick, reference=reference, down=dict(down),
        open_down=open_down, frozen=frozen,
        interrupted=interrupted, origins=origins,
    )  # fmt: skip


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


def _relax(
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


# -- bursts of events -----------------------------------------------------------------------


class Coalescer:
    """Collects a burst of events into one reschedule.

    The batch is ready when ``quiet`` seconds passed without a new event, or ``max_wait``
    seconds after its first event (a stream that never pauses still gets answers).
    ``clock`` is injectable for tests.
    """

    def __init__(
        self,
        quiet: float = 2.0,
        max_wait: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.quiet = quiet
        self.max_wait = max_wait
        self.clock = clock
        self._events: list[MachineDown | MachineUp | OperationProgress] = []
        self._first: float | None = None
        self._last: float | None = None

    def add(self, event: MachineDown | MachineUp | OperationProgress) -> None:
        now = self.clock()
        if self._first is None:
            self._first = now
        self._last = now
        self._events.append(event)

    def ready(self) -> bool:
        if self._first is None or self._last is None:
            return False
        now = self.clock()
        return now - self._last >= self.quiet or now - self._first >= self.max_wait

    def take(self) -> list[MachineDown | MachineUp | OperationProgress]:
        """The coalesced batch (see :func:`coalesce`); empties the buffer."""
        out = coalesce(self._events)
        self._events, self._first, self._last = [], None, None
        return out


def coalesce(
    events: Iterable[MachineDown | MachineUp | OperationProgress],
) -> list[MachineDown | MachineUp | OperationProgress]:
    """One equivalent event list: duplicates dropped, a down followed by an up on the same
    machine becomes one bounded downtime, the latest progress per operation kept."""
    out: list[MachineDown | MachineUp | OperationProgress] = []
    seen: set[str] = set()
    for ev in sorted(events, key=lambda e: (e.time, e.kind)):
        tag = ev.model_dump_json()
        if tag in seen:
            continue
        seen.add(tag)
        if isinstance(ev, MachineUp):
            for i in range(len(out) - 1, -1, -1):
                d = out[i]
                if (
                    isinstance(d, MachineDown)
                    and d.machine == ev.machine
                    and d.start < ev.at
                    and (d.until is None or d.until > ev.at)
                ):
                    out[i] = d.model_copy(update={"until": ev.at})
                    break
            else:
                out.append(ev)
        elif isinstance(ev, OperationProgress):
            out = [
                e for e in out
                if not (isinstance(e, OperationProgress) and (e.job, e.op) == (ev.job, ev.op))
            ]  # fmt: skip
            out.append(ev)
        else:
            out.append(ev)
    return out
