"""``solver="plan"``: plan in buckets, then schedule window by window with CP-SAT.

For plants too large for one CP-SAT model (:data:`aps.solvers.cpsat.size.MAX_MODEL_SIZE`),
the problem is decomposed along the bucket plan of :mod:`aps.solvers.plan.buckets`:

1. **Greedy start.** The caller's valid hint, else the greedy witness
   (:func:`aps.heuristics.witness.witness`): a valid schedule of everything, and the
   answer if nothing better is found.
2. **Plan.** :func:`aps.solvers.plan.buckets.make_plan` puts every operation in a bucket
   (a share of the time limit, at most :data:`PLAN_SECONDS`).
3. **Windows.** Consecutive buckets are grouped into windows of about
   :data:`WINDOW_OPERATIONS` operations; an operation belongs to its bucket's window (a
   predecessor never to a later window than its successor; an operation with a maximum
   lag to a successor joins the successor's window). Nothing starts before its window
   unless the greedy schedule already had it earlier (the plan estimates capacity in
   aggregate; the greedy schedule proves the earlier start feasible, and a plan that
   delays orders the greedy schedule finishes in time must not make them late): the
   greedy schedule is replayed with that floor (:func:`aps.heuristics.repair.repair`, a
   right-shift in the schedule's own order that keeps calendars, setups, changeovers,
   lags and stock) and becomes the incumbent.
4. **Rolling horizon.** Window by window, in time order, CP-SAT schedules the window's
   operations plus what spilled over from earlier windows, from the incumbent as a
   complete hint, on a model of those operations only: each keeps its incumbent machine
   and :data:`ALTERNATIVES` other modes; operations of earlier windows are pinned
   (``Operation.fixed``) where they are a free operation's predecessor or the last one on
   a setup-matrix machine (for the changeover), and otherwise leave their machine time
   behind as unavailable windows, with all time before the earliest floor; later
   windows are left out, and so is stock. The answer is replayed on the full problem
   (everything committed so far pinned), which restores stock and exact changeovers,
   validated, and kept when it is no worse than the incumbent; when CP-SAT finds nothing
   the window keeps the greedy replay. Operations that start before the next window
   are committed (pinned from then on); the rest spill over.
5. The final schedule is returned when its weighted tardiness and objective are both no
   worse than the greedy start's, else the greedy start (with a message saying so).

The time limit covers everything (greedy, plan, windows); the windows share what the
plan leaves in proportion to their operations. ``stop`` ends the search at the next
window boundary with the incumbent; ``on_progress`` gets the greedy start and each
accepted window. ``parameters["plan"]`` records the plan and ``parameters["windows"]``
what each window did.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from aps.heuristics.graph import topological_order
from aps.heuristics.repair import RepairPlan, repair
from aps.heuristics.witness import witness
from aps.kpi import objective_value, term_values
from aps.model import Id, Job, ObjectiveTerm, Operation, Placement, Problem, Window
from aps.params import SolveParams
from aps.result import Result, ScheduledOperation
from aps.solvers.cpsat.solve import solve_cpsat
from aps.solvers.heuristic import heuristic_result
from aps.solvers.plan.buckets import Plan, make_plan
from aps.validate import validate

Key = tuple[Id, Id]

#: operations per window (each one CP-SAT model)
WINDOW_OPERATIONS = 500
#: modes kept per free operation besides its incumbent machine
ALTERNATIVES = 2
#: the plan's share of the time limit, and its cap in seconds
PLAN_SHARE = 0.25
PLAN_SECONDS = 60.0
#: a window's CP-SAT solve needs at least this many seconds to be worth starting
MIN_WINDOW_SECONDS = 1.0


def _objective(problem: Problem, schedule: Sequence[ScheduledOperation]) -> tuple[int, int]:
    """(objective, weighted tardiness) of a schedule."""
    values = term_values(problem, schedule)
    return (
        objective_value(problem.objective, values),
        values[ObjectiveTerm.WEIGHTED_TARDINESS],
    )


def assign_windows(
    jobs: Sequence[Job], plan: Plan, target: int = WINDOW_OPERATIONS
) -> tuple[dict[Key, int], list[int]]:
    """Each operation's window and each window's first tick (see the module doc)."""
    per_bucket: dict[int, int] = defaultdict(int)
    for b in plan.op_bucket.values():
        per_bucket[b] += 1
    bucket_window: dict[int, int] = {}
    starts: list[int] = []
    count = 0
    for b in range(len(plan.starts)):
        if not starts or count >= target:
            starts.append(plan.starts[b])
            count = 0
        bucket_window[b] = len(starts) - 1
        count += per_bucket.get(b, 0)
    window = {k: bucket_window[b] for k, b in plan.op_bucket.items()}
    for job in jobs:
        arcs = list(job.predecessor_lags())
        changed = True
        while changed:  # maximum lags pull the predecessor up; successors never earlier
            changed = False
            for p, s, lag in arcs:
                kp, ks = (job.id, job.operations[p].id), (job.id, job.operations[s].id)
                if window[ks] < window[kp]:
                    window[ks], changed = window[kp], True
                if lag.max_lag is not None and window[kp] < window[ks]:
                    window[kp], changed = window[ks], True
    return window, starts


def _floored(
    problem: Problem, schedule: Sequence[ScheduledOperation], floors: dict[Key, int]
) -> dict[Key, ScheduledOperation]:
    """The schedule as a replay reference with every start at least its floor.

    The replay goes in reference order and appends to each machine, so an operation the
    plan moved later must also move later in that order (or it holds up what follows
    it on its machine); successors stay behind their predecessors' moved ends.
    """
    given = {(r.job, r.op): r for r in schedule}
    out: dict[Key, ScheduledOperation] = {}
    for job in problem.jobs:
        preds: dict[int, list[int]] = defaultdict(list)
        for p, s, _ in job.predecessor_lags():
            preds[s].append(p)
        for i in topological_order(job):
            key = (job.id, job.operations[i].id)
            r = given[key]
            start = max([r.start, floors.get(key, r.start),
                         *(out[(job.id, job.operations[p].id)].end for p in preds[i])])  # fmt: skip
            late = start - r.start
            out[key] = r.model_copy(update={"start": start, "end": r.end + late}) if late else r
    return out


def _replay(
    problem: Problem,
    rows: dict[Key, ScheduledOperation],
    window_rows: Sequence[ScheduledOperation],
    free: set[Key],
    committed: set[Key],
    floors: dict[Key, int],
) -> list[ScheduledOperation]:
    """The full schedule with the window's CP-SAT rows, replayed with the committed
    operations pinned (restores stock and the changeovers the window did not see)."""
    reference = dict(rows)
    reference.update({(r.job, r.op): r for r in window_rows if (r.job, r.op) in free})
    ordered = _floored(problem, list(reference.values()), floors)
    pinned = _pinned_problem(problem, rows, committed)
    return repair(pinned, RepairPlan(reference=ordered, floors=floors)).schedule


def _pin(op: Operation, row: ScheduledOperation) -> Operation:
    return op.model_copy(
        update={
            "fixed": Placement(
                machine=row.machine, start=row.start, end=row.end,
                setup_start=row.setup_start if row.busy_from < row.start else None,
            )
        }
    )  # fmt: skip


def _pinned_problem(problem: Problem, rows: dict[Key, ScheduledOperation],
                    committed: set[Key]) -> Problem:  # fmt: skip
    """The full problem with the committed operations pinned where they are (no re-validation:
    pinning at a validated row is always a valid model)."""
    jobs = []
    for job in problem.jobs:
        if any((job.id, o.id) in committed and o.fixed is None for o in job.operations):
            ops = [
                _pin(o, rows[(job.id, o.id)])
                if (job.id, o.id) in committed and o.fixed is None
                else o
                for o in job.operations
            ]
            jobs.append(job.model_copy(update={"operations": ops}))
        else:
            jobs.append(job)
    return problem.model_copy(update={"jobs": jobs})


def window_problem(
    problem: Problem,
    rows: dict[Key, ScheduledOperation],
    free: set[Key],
    committed: set[Key],
    start: int,
    floors: dict[Key, int],
) -> tuple[Problem, list[ScheduledOperation]]:
    """The CP-SAT model of one window and its hint (see the module doc, step 4).

    Machine time before ``start`` is blocked; a free operation's job is released at the
    earliest floor of its free operations.
    """
    machines = {m.id: m for m in problem.machines}
    keep: set[Key] = set(free)
    for job in problem.jobs:
        for p, s, _ in job.predecessor_lags():
            if (job.id, job.operations[s].id) in free:
                keep.add((job.id, job.operations[p].id))
    # the last committed operation on each setup-matrix machine the window may use
    used = {md.machine for job in problem.jobs for op in job.operations
            if (job.id, op.id) in free for md in op.modes}  # fmt: skip
    last: dict[Id, ScheduledOperation] = {}
    for key in committed:
        r = rows[key]
        if machines[r.machine].setup_matrix is None or r.machine not in used:
            continue
        if r.machine not in last or (r.busy_from, r.end) > (last[r.machine].busy_from,
                                                            last[r.machine].end):  # fmt: skip
            last[r.machine] = r
    keep.update((r.job, r.op) for r in last.values())
    blocked: dict[Id, list[Window]] = defaultdict(list)
    for key in committed:
        r = rows[key]
        if key not in keep and r.end > start and r.end > r.busy_from and r.machine in used:
            blocked[r.machine].append(Window(start=r.busy_from, end=r.end, reason="committed"))
    jobs: list[Job] = []
    hint: list[ScheduledOperation] = []
    alternatives = 0
    for job in problem.jobs:
        mine = [o for o in job.operations if (job.id, o.id) in keep]
        if not mine:
            continue
        ids = {o.id for o in mine}
        arcs = [(job.operations[p].id, job.operations[s].id, lag)
                for p, s, lag in job.predecessor_lags()]  # fmt: skip
        ops: list[Operation] = []
        for op in mine:
            key = (job.id, op.id)
            r = rows[key]
            hint.append(r)
            preds = [lag for p_id, s_id, lag in arcs if s_id == op.id and p_id in ids]
            update: dict[str, Any] = {"consumes": [], "produces": [], "predecessors": preds}
            if key in free:
                others = [m for m in op.modes if m.machine != r.machine]
                # rotate through the equally fast machines so the windows spread the load
                others.sort(key=lambda m: (m.duration + m.setup, str(m.machine)))
                k = alternatives % max(1, len(others))
                alternatives += 1
                picked = (others[k:] + others[:k])[:ALTERNATIVES]
                update["modes"] = [m for m in op.modes if m.machine == r.machine or m in picked]
            elif op.fixed is None:
                update["modes"] = [m for m in op.modes if m.machine == r.machine]
                update["fixed"] = _pin(op, r).fixed
            else:
                update["modes"] = [m for m in op.modes if m.machine == op.fixed.machine]
            ops.append(op.model_copy(update=update))
        has_free = any((job.id, o.id) in free for o in mine)
        floor = min((floors[(job.id, o.id)] for o in mine if (job.id, o.id) in free), default=0)
        release = max(job.release, floor) if has_free else 0
        jobs.append(job.model_copy(update={"operations": ops, "release": release}))
    new_machines = []
    for m in problem.machines:
        extra = list(blocked.get(m.id, ()))
        if start > 0 and m.id in used:
            extra.append(Window(start=0, end=start, reason="before the window"))
        new_machines.append(m.with_busy_time(extra))
    sub = Problem.model_validate(
        {
            **problem.model_dump(exclude={"jobs", "machines", "materials", "stability", "horizon"}),
            "name": f"{problem.name} window from {start}",
            "jobs": [j.model_dump() for j in jobs],
            "machines": [m.model_dump() for m in new_machines],
        }
    )
    return sub, hint


def _commit(
    problem: Problem,
    rows: dict[Key, ScheduledOperation],
    free: set[Key],
    until: int | None,
    committed: set[Key],
) -> set[Key]:
    """The free operations that start before ``until`` (all when None), minus those whose
    maximum-lag successor does not (a pinned predecessor could strand it), those whose
    job predecessor is not committed, and those behind an uncommitted operation on
    their machine.

    The last rule keeps what is committed a prefix of each machine's sequence. A replay
    pins the committed operations and appends the rest behind them, so an operation
    pinned behind an unpinned one would lose its machine predecessor, and with it the
    changeover its setup was sized for.
    """
    done = {k for k in free if until is None or rows[k].start < until}
    sequences: dict[Id, list[Key]] = defaultdict(list)
    for key in sorted(rows, key=lambda k: (rows[k].busy_from, rows[k].start)):
        sequences[rows[key].machine].append(key)
    changed = True
    while changed:
        changed = False
        for job in problem.jobs:
            for p, s, lag in job.predecessor_lags():
                kp, ks = (job.id, job.operations[p].id), (job.id, job.operations[s].id)
                if lag.max_lag is not None and kp in done and ks not in done and ks in free:
                    done.discard(kp)
                    changed = True
                if ks in done and kp not in done and kp not in committed:
                    done.discard(ks)
                    changed = True
        for sequence in sequences.values():
            held = False  # an operation earlier on the machine stays uncommitted
            for key in sequence:
                if key in committed:
                    continue
                if held and key in done:
                    done.discard(key)
                    changed = True
                held = held or key not in done
    return done


def solve_plan(
    problem: Problem,
    params: SolveParams,
    hint: Sequence[ScheduledOperation] | None = None,
    *,
    bucket: str | int | None = None,
    window_operations: int = WINDOW_OPERATIONS,
    plan: Plan | None = None,
) -> Result:
    """Plan, then schedule window by window (see the module doc); ``plan`` skips step 2."""
    greedy = list(hint) if hint and not validate(problem, hint) else witness(problem)
    if greedy is None:  # no greedy schedule: the single model is all there is
        result = solve_cpsat(problem, params, hint)
        result.message = "no greedy schedule to plan from; " + (result.message or "one model")
        return result
    greedy_value = _objective(problem, greedy)
    if plan is None:
        plan_seconds = min(PLAN_SECONDS, PLAN_SHARE * params.time_limit)
        plan = make_plan(problem, bucket, plan_seconds, 1, params.seed, stop=params.stop)
    window, starts = assign_windows(problem.jobs, plan, window_operations)
    # nothing starts before its window, unless the greedy schedule already had it earlier
    # (the plan estimates capacity; the greedy schedule proves that earlier start feasible)
    first = {(r.job, r.op): r.start for r in greedy}
    floors = {k: min(starts[w], first[k]) for k, w in window.items()}
    rows = _floored(problem, greedy, floors)
    replayed = repair(problem, RepairPlan(reference=rows, floors=floors)).schedule
    if validate(problem, replayed):
        # cannot happen (the replay keeps every constraint); never return it if it does
        failed = "the plan's replay did not validate; returning the greedy schedule"
        return _result(problem, greedy, params, plan, [], failed)
    rolling = _Rolling(problem, params, replayed, floors, greedy_value[0])
    rolling.run(window, starts)
    message: str | None = None
    if rolling.spill:
        message = f"{len(rolling.spill)} operations spilled past the last window (greedy placement)"
    final = _objective(problem, rolling.current)
    if final[1] > greedy_value[1] or final[0] > greedy_value[0]:
        return _result(problem, greedy, params, plan, rolling.log,
                       f"plan-then-schedule (objective {final[0]}, weighted tardiness "
                       f"{final[1]}) did not beat the greedy schedule; returning it")  # fmt: skip
    return _result(problem, rolling.current, params, plan, rolling.log, message)


class _Rolling:
    """The rolling horizon: window by window, CP-SAT on the window, replay, keep if better."""

    def __init__(
        self,
        problem: Problem,
        params: SolveParams,
        start: list[ScheduledOperation],
        floors: dict[Key, int],
        greedy_value: int,
    ) -> None:
        self.problem, self.params, self.floors = problem, params, floors
        self.current = start
        self.value = _objective(problem, start)
        self.rows = {(r.job, r.op): r for r in start}
        self.committed = {
            (j.id, o.id) for j in problem.jobs for o in j.operations if o.fixed is not None
        }
        self.log: list[dict[str, Any]] = []
        self.spill: set[Key] = set()
        self.reported = greedy_value + 1
        self.report(greedy_value)

    def report(self, value: int) -> None:
        """Improvements over the greedy start only."""
        if value < self.reported:
            self.reported = value
            self.params.report(value, 0)

    def run(self, window: dict[Key, int], starts: list[int]) -> None:
        by_window: dict[int, set[Key]] = defaultdict(set)
        for k, w in window.items():
            if k not in self.committed:
                by_window[w].add(k)
        for w in range(len(starts)):
            free = (by_window.get(w, set()) | self.spill) - self.committed
            if not free:
                continue
            entry: dict[str, Any] = {"window": w, "start": starts[w], "free": len(free)}
            window_started = time.monotonic()
            self.log.append(entry)
            later = sum(len(by_window.get(v, ())) for v in range(w + 1, len(starts)))
            share = self.params.remaining() * len(free) / max(1, len(free) + later)
            if share >= MIN_WINDOW_SECONDS and not self.params.stopped():
                entry.update(
                    self.solve_window(free, min(starts[w], *(self.floors[k] for k in free)), share)
                )
            else:
                entry["kept"] = (
                    "greedy (stopped)" if self.params.stopped() else "greedy (no time left)"
                )
            # commit what starts before the window after next; the rest spills over
            horizon = None if w + 2 >= len(starts) else starts[w + 2]
            done = _commit(self.problem, self.rows, free, horizon, self.committed)
            entry["wall_s"] = round(time.monotonic() - window_started, 2)
            self.committed |= done
            self.spill = free - done
            entry["spilled"] = len(self.spill)

    def solve_window(self, free: set[Key], lo: int, share: float) -> dict[str, Any]:
        """CP-SAT on one window's operations; the replayed answer is kept when no worse."""
        problem = self.problem
        sub, sub_hint = window_problem(problem, self.rows, free, self.committed, lo, self.floors)
        # the full schedule's rows follow operations the window leaves out (other
        # changeovers): right-shift them in the window's model so the hint is valid
        sub_hint = repair(sub, RepairPlan(reference={(r.job, r.op): r for r in sub_hint})).schedule
        solved = solve_cpsat(sub, self.params.phase(share * 0.8, on_progress=None), sub_hint)
        entry: dict[str, Any] = {
            "cpsat_s": solved.wall_s,
            "cpsat": f"{solved.solver} {solved.status}",
        }
        if not (solved.status.has_schedule and solved.schedule):
            return {**entry, "kept": "greedy (cpsat found nothing)"}
        try:
            candidate = _replay(
                problem, self.rows, solved.schedule, free, self.committed, self.floors
            )
        except Exception as exc:  # a failed window must never lose the incumbent
            return {**entry, "kept": f"greedy (replay failed: {exc!r})"}
        if candidate is None:
            return entry
        broken = validate(problem, candidate)
        if broken:
            return {**entry, "kept": "greedy (the replayed window did not validate: "
                    f"{broken[0]}, {len(broken)} in all)"}  # fmt: skip
        got = _objective(problem, candidate)
        if got[0] > self.value[0]:
            return {**entry, "kept": "greedy (cpsat's window was worse after the replay)"}
        self.current, self.value = candidate, got
        self.rows = {(r.job, r.op): r for r in candidate}
        self.report(got[0])
        return {**entry, "kept": "cpsat"}


def _result(
    problem: Problem,
    schedule: list[ScheduledOperation],
    params: SolveParams,
    plan: Plan,
    log: list[dict[str, Any]],
    message: str | None,
) -> Result:
    result = heuristic_result(problem, schedule, params.started, params.seed, message or "")
    result.solver, result.message = "plan", message
    result.parameters = {
        "max_time_in_seconds": float(params.time_limit),
        "num_workers": params.workers,
        "random_seed": params.seed,
        "plan": plan.summary(),
        "windows": log,
    }
    return result
