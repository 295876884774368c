"""The CP-SAT phase of a reschedule: improve the greedy repair around the disruption.

On a small plant CP-SAT gets the whole repair problem. On a large one a single model of
every operation with every alternative mode and sequence-dependent changeover is too
big to build (the core then returns its hint unchanged), and above 200 operations the
core runs LNS without presolve, which takes a hint slowly. So CP-SAT gets a
*neighbourhood*: the operations the repair moved or that sit on a failed machine after
the failure, plus their neighbours on the machines they may use (at most ``max_free``,
and a model of at most 120 operations), with their cheapest few modes. Their direct job
neighbours stay, pinned at the greedy placement; every other operation leaves the model
and leaves its machine time behind as unavailable windows; stock is left out.

The answer is replayed by the greedy right-shift in CP-SAT's order and machines
(:func:`aps.heuristics.repair.repair`), which restores the changeovers and stock the
neighbourhood did not see, so the published schedule is valid for the full problem by
construction (and validated once more) and published only if it is better.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from aps.bounds import horizon_of
from aps.heuristics.repair import RepairPlan, repair
from aps.model import Id, Operation, Placement, Problem, Window
from aps.result import ScheduledOperation
from aps.solve import solve
from aps.validate import validate

Key = tuple[Id, Id]

#: the core solves models above 200 operations by LNS from the hint without presolve
MAX_MODEL_OPERATIONS = 120

#: a neighbourhood round needs at least this much time left to start
MIN_ROUND_SECONDS = 1.0

#: modes kept per free operation in a neighbourhood (besides its greedy and old machine)
ALTERNATIVES = 3


@dataclass
class Improvement:
    """What the CP-SAT phase did: rounds, free operations, accepted schedules, last word."""

    rounds: int = 0
    free: int = 0
    accepted: int = 0
    whole: bool = False
    message: str | None = None


def improve(
    derived: Problem,
    repair_problem: Problem,
    greedy: Sequence[ScheduledOperation],
    reference: Mapping[Key, ScheduledOperation],
    down: Mapping[Id, Sequence[tuple[int, int]]],
    now: int,
    deadline: float,
    accept: Callable[[list[ScheduledOperation]], bool],
    workers: int = 2,
    seed: int = 0,
    stop: threading.Event | None = None,
    max_free: int = 60,
) -> Improvement:
    """Improve ``greedy`` by CP-SAT until ``deadline`` (``time.monotonic``).

    Small problems: one solve of the whole repair problem. Large ones: neighbourhoods
    of the disruption in time order, each solved from the incumbent; ``accept`` gets each
    valid candidate and says whether it was better (and published).
    """

    unpinned = [(j.id, o.id) for j in derived.jobs for o in j.operations if o.fixed is None]
    if len(unpinned) <= max_free:
        return _improve_whole(derived, repair_problem, greedy, len(unpinned), deadline,
                              accept, workers, seed, stop)  # fmt: skip
    core = _disrupted(derived, greedy, reference, down)
    return _improve_neighbourhoods(
        derived, repair_problem, greedy, reference, core, now, deadline, accept,
        workers, seed, stop, max_free,
    )  # fmt: skip


def _improve_whole(
    derived: Problem,
    repair_problem: Problem,
    greedy: Sequence[ScheduledOperation],
    free: int,
    deadline: float,
    accept: Callable[[list[ScheduledOperation]], bool],
    workers: int,
    seed: int,
    stop: threading.Event | None,
) -> Improvement:
    """One solve of the whole repair problem (``free`` unpinned operations) from the greedy
    schedule."""
    out = Improvement(whole=True, free=free, rounds=1)
    incumbent = list(greedy)
    model = _room_for_references(repair_problem, incumbent)
    left = deadline - time.monotonic()
    if left <= 0.1:
        return out
    solved = solve(model, left, workers, seed, hint=incumbent, solver="cpsat", stop=stop)
    out.message = solved.message
    if solved.status.has_schedule and solved.schedule and not validate(derived, solved.schedule):
        out.accepted += accept(solved.schedule)
    return out


def _improve_neighbourhoods(
    derived: Problem,
    repair_problem: Problem,
    greedy: Sequence[ScheduledOperation],
    reference: Mapping[Key, ScheduledOperation],
    core: list[Key],
    now: int,
    deadline: float,
    accept: Callable[[list[ScheduledOperation]], bool],
    workers: int,
    seed: int,
    stop: threading.Event | None,
    max_free: int,
) -> Improvement:
    """Neighbourhoods of the ``core`` operations in time order, each from the incumbent."""
    out = Improvement()
    incumbent = list(greedy)
    done: set[Key] = set()
    while deadline - time.monotonic() > MIN_ROUND_SECONDS and not (stop and stop.is_set()):
        rows = {(r.job, r.op): r for r in incumbent}
        batch = [k for k in core if k not in done][:max_free]
        if not batch:
            break
        chosen = _with_neighbours(derived, incumbent, set(batch), max_free)
        model, hint = _subproblem(repair_problem, incumbent, reference, chosen)
        while model.num_operations > MAX_MODEL_OPERATIONS and len(chosen) > 1:
            # above this the core runs LNS without presolve, slow to take a hint, and
            # the first solution comes late: keep the earliest free operations only
            latest = sorted(chosen, key=lambda k: (rows[k].start, str(k)))
            chosen = set(latest[: max(1, len(latest) * 3 // 4)])
            model, hint = _subproblem(repair_problem, incumbent, reference, chosen)
        done.update(k for k in batch if k in chosen)
        out.rounds += 1
        out.free += len(chosen)
        model = _room_for_references(model, hint)
        left = deadline - time.monotonic()
        solved = solve(model, left, workers, seed, hint=hint, solver="cpsat", stop=stop)
        out.message = solved.message
        if not solved.status.has_schedule or not solved.schedule:
            continue
        # replay in CP-SAT's order and machines: restores changeovers and stock
        order = dict(rows)
        order.update({(r.job, r.op): r for r in solved.schedule})
        candidate = repair(derived, RepairPlan(reference=order, now=now)).schedule
        if validate(derived, candidate):
            out.message = "a neighbourhood answer did not validate after the replay; skipped"
            continue
        if accept(candidate):
            out.accepted += 1
            incumbent = candidate
    return out


def _disrupted(
    derived: Problem,
    greedy: Sequence[ScheduledOperation],
    reference: Mapping[Key, ScheduledOperation],
    down: Mapping[Id, Sequence[tuple[int, int]]],
) -> list[Key]:
    """The operations the repair moved or that sit on a failed machine, in time order."""
    ops = {(j.id, o.id): o for j in derived.jobs for o in j.operations}
    first_down = {m: min(s for s, _ in ws) for m, ws in down.items() if ws}
    core: list[ScheduledOperation] = []
    for r in greedy:
        key = (r.job, r.op)
        if ops[key].fixed is not None:
            continue
        ref = reference.get(key)
        moved = ref is None or (ref.machine, ref.start) != (r.machine, r.start)
        failed = ref is not None and ref.machine in first_down and r.end > first_down[ref.machine]
        if moved or failed:
            core.append(r)
    core.sort(key=lambda r: (r.start, str(r.job), str(r.op)))
    return [(r.job, r.op) for r in core]


def _with_neighbours(
    derived: Problem, incumbent: Sequence[ScheduledOperation], chosen: set[Key], max_free: int
) -> set[Key]:
    """Fill up to ``max_free`` with unpinned operations near the chosen ones on their machines."""
    if len(chosen) >= max_free or not chosen:
        return chosen
    ops = {(j.id, o.id): o for j in derived.jobs for o in j.operations}
    rows = {(r.job, r.op): r for r in incumbent}
    machines = {m.machine for k in chosen for m in ops[k].modes}
    lo = min(rows[k].busy_from for k in chosen)
    hi = max(rows[k].end for k in chosen)
    near = sorted(
        (
            r
            for k, r in rows.items()
            if k not in chosen
            and ops[k].fixed is None
            and r.machine in machines
            and r.end > lo
            and r.busy_from < hi
        ),
        key=lambda r: (abs(r.start - lo), str(r.job), str(r.op)),
    )
    return chosen | {(r.job, r.op) for r in near[: max_free - len(chosen)]}


def _subproblem(
    problem: Problem,
    greedy: Sequence[ScheduledOperation],
    reference: Mapping[Key, ScheduledOperation],
    free: set[Key],
) -> tuple[Problem, list[ScheduledOperation]]:
    """The neighbourhood model and its hint (see the module doc).

    Free operations keep their greedy and old machine and the ``ALTERNATIVES`` fastest
    others; their direct job predecessors and successors stay, pinned at the greedy rows
    with one mode, with explicit precedences. Every other operation leaves the model and
    its machine time becomes unavailable windows. Stock is left out (the replay restores
    it), so the model stays small whatever the plant's size.
    """
    rows = {(r.job, r.op): r for r in greedy}
    extra: dict[Id, list[Window]] = {m.id: [] for m in problem.machines}
    jobs = []
    hint: list[ScheduledOperation] = []
    for job in problem.jobs:
        arcs = [
            (job.operations[p].id, job.operations[s].id, lag)
            for p, s, lag in job.predecessor_lags()
        ]
        ids = {o.id for o in job.operations if (job.id, o.id) in free}
        keep = set(ids)
        for p_id, s_id, _ in arcs:
            if p_id in ids or s_id in ids:
                keep.update((p_id, s_id))
        ops: list[Operation] = []
        for op in job.operations:
            key = (job.id, op.id)
            r = rows[key]
            if op.id not in keep:
                if r.end > r.busy_from:
                    extra[r.machine].append(Window(start=r.busy_from, end=r.end, reason="pinned"))
                continue
            hint.append(r)
            preds = [lag for p_id, s_id, lag in arcs if s_id == op.id and p_id in keep]
            update: dict[str, object] = {"consumes": [], "produces": [], "predecessors": preds}
            if op.fixed is not None:
                update["modes"] = [m for m in op.modes if m.machine == op.fixed.machine]
            elif key not in free:
                update["modes"] = [m for m in op.modes if m.machine == r.machine]
                update["fixed"] = Placement(
                    machine=r.machine, start=r.start, end=r.end,
                    setup_start=r.setup_start if r.busy_from < r.start else None,
                )  # fmt: skip
            else:
                ref = reference.get(key)
                mine = {r.machine} | ({ref.machine} if ref is not None else set())
                others = sorted(
                    (m for m in op.modes if m.machine not in mine),
                    key=lambda m: (m.duration + m.setup, str(m.machine)),
                )[:ALTERNATIVES]
                update["modes"] = [m for m in op.modes if m.machine in mine or m in others]
            ops.append(op.model_copy(update=update))
        if ops:
            jobs.append(job.model_copy(update={"operations": ops}))
    machines = [m.with_busy_time(extra[m.id]) for m in problem.machines]
    stability = problem.stability
    if stability is not None:
        refs = [r for r in stability.reference if (r.job, r.op) in free]
        stability = stability.model_copy(update={"reference": refs})
    sub = problem.model_copy(
        update={"jobs": jobs, "machines": machines, "materials": [], "stability": stability}
    )
    return sub, hint


def _room_for_references(problem: Problem, hint: Sequence[ScheduledOperation]) -> Problem:
    """Work around the core bounding each stability deviation by the model horizon.

    ``CpsatModel._stability`` gives ``|start - reference|`` the domain ``[0, horizon]``;
    when a reference start lies past the serial horizon (possible after a long downtime
    ended early) the model is wrongly INFEASIBLE. An explicit horizon past the references
    and the hint restores it (only then, so large plants keep their horizon cut).
    """

    if problem.horizon is not None or problem.stability is None:
        return problem
    top = max((r.start for r in problem.stability.reference), default=0)
    bound = horizon_of(problem)
    if top < bound:
        return problem
    return problem.model_copy(
        update={"horizon": max(top, bound, max((r.end for r in hint), default=0)) + 1}
    )
