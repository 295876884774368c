"""What a batch of normalized events does to the plant's problem.

Order, material and calendar events edit the problem itself (:func:`apply_edits`);
machine and operation events become the rescheduler's events (:func:`core_events`),
which :func:`aps.reschedule.repair.reschedule` turns into the derived problem. :func:`apply`
does both and finds the reschedule's ``now``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aps.live.events import (
    NormalizedCalendarChanged,
    NormalizedMachineDown,
    NormalizedMachineUp,
    NormalizedMaterialReceived,
    NormalizedOperationCompleted,
    NormalizedOperationStarted,
    NormalizedOrderCancelled,
    NormalizedOrderCreated,
    NormalizedOrderUpdated,
    NormalizedReschedule,
    Requantified,
    to_tick,
)
from aps.live.normalize import Recorded
from aps.model import Id, Job, MaterialFlow, Operation, Problem, Receipt, Window
from aps.reschedule.derive import META, REST, with_base_calendar
from aps.reschedule.events import MachineDown, MachineUp, OperationProgress, coalesce

CoreEvent = MachineDown | MachineUp | OperationProgress


@dataclass(frozen=True)
class Batch:
    """A batch of events made ready for one reschedule."""

    #: the problem after the batch's order, material and calendar events
    problem: Problem
    #: the batch's machine and operation events, coalesced
    events: list[CoreEvent]
    #: the reschedule's ``now``: the latest known fact
    now: int


def apply(problem: Problem, events: Sequence[Recorded]) -> Batch:
    """The batch ``events`` (in occurrence order) made ready for a reschedule of
    ``problem``; raises ``ValueError`` (pydantic's included) when they do not apply."""
    edited = apply_edits(problem, events)
    core = core_events(edited, events)
    return Batch(edited, core, now(edited, events, core))


# -- edits ----------------------------------------------------------------------------------


def apply_edits(problem: Problem, events: Sequence[Recorded]) -> Problem:
    """Order, material and calendar events, in occurrence order, on the problem."""
    given = problem
    for ev in events:
        match ev.norm:
            case NormalizedOrderCreated(job=job):
                problem = problem.model_copy(update={"jobs": [*problem.jobs, job]})
            case NormalizedOrderCancelled(order=order):
                jobs = [j for j in problem.jobs if str(j.id) != order]
                problem = problem.model_copy(update={"jobs": jobs})
            case NormalizedOrderUpdated():
                problem = update_order(problem, ev.norm)
            case NormalizedMaterialReceived(material=material, quantity=quantity, at=at):
                problem = receive(problem, material, Receipt(time=at, quantity=quantity))
            case NormalizedCalendarChanged(machine=machine, windows=windows):
                unavailable = [Window(start=s, end=e, reason=r) for s, e, r in windows]
                problem = with_base_calendar(problem, machine, unavailable)
    if problem is given:  # machine and operation events only: nothing to re-check
        return problem
    # the edits copy validated parts; the whole is checked once (references, dates)
    return Problem.model_validate(problem.model_dump())


def update_order(problem: Problem, update: NormalizedOrderUpdated) -> Problem:
    """The order's new dates, weight or quantity (re-quantified operations)."""
    changes = {
        k: v
        for k, v in update.model_dump(include={"release", "due", "deadline", "weight"}).items()
        if v is not None
    }
    jobs = []
    for job in problem.jobs:
        if str(job.id) == update.order:
            job = job.model_copy(update=changes)
            if update.operations is not None:
                job = requantify(job, update.operations)
        jobs.append(job)
    metadata = problem.metadata
    orders = (metadata.get("orders") or {}).get(update.order)
    if update.quantity is not None and isinstance(orders, dict):
        # the factory's order record (what the plan reports) follows the quantity
        all_orders = {**metadata["orders"], update.order: {**orders, "quantity": update.quantity}}
        metadata = {**metadata, "orders": all_orders}
    return problem.model_copy(update={"jobs": jobs, "metadata": metadata})


def requantify(job: Job, operations: dict[str, Requantified]) -> Job:
    """New run times and flows for the order's operations that have not started.

    Pinned operations (started or done) keep their actual times. The remainder
    ``<op>~rest`` of a resumed operation gets the change in run time on its own machine
    (the work already done stays done) and full new run times elsewhere.
    """
    done: dict[str, Operation] = {}
    for op in job.operations:
        oid = str(op.id)
        new = operations.get(oid)
        if op.fixed is None and new is not None:
            op = op.model_copy(
                update={"modes": new.modes, "consumes": new.consumes, "produces": new.produces}
            )
        elif op.fixed is None and oid.endswith(REST):
            base = oid.removesuffix(REST)
            new, ran = operations.get(base), done.get(base)
            if new is not None and ran is not None:
                op = _rest_at(op, ran, new)
        done[oid] = op
    return job.model_copy(update={"operations": list(done.values())})


def _rest_at(rest: Operation, ran: Operation, new: Requantified) -> Operation:
    """The remainder ``rest`` of the operation ``ran`` at the new quantity ``new``."""
    old_run = {m.machine: m.duration for m in ran.modes}
    new_run = {m.machine: m for m in new.modes}
    modes = []
    for k, m in enumerate(rest.modes):
        fresh = new_run.get(m.machine)
        if fresh is None:
            continue  # no longer eligible at this quantity
        if k == 0 and m.machine in old_run:  # resumes on the machine it ran on
            left = m.duration + fresh.duration - old_run[m.machine]
            modes.append(m.model_copy(update={"duration": max(0, left)}))
        else:
            modes.append(fresh)
    return rest.model_copy(update={"modes": modes or rest.modes, "produces": new.produces})


def receive(problem: Problem, material: Id, receipt: Receipt) -> Problem:
    """``problem`` with one more receipt of ``material``."""
    materials = [
        m.model_copy(update={"receipts": [*m.receipts, receipt]}) if m.id == material else m
        for m in problem.materials
    ]
    return problem.model_copy(update={"materials": materials})


# -- the rescheduler's events ---------------------------------------------------------------


def core_events(problem: Problem, events: Sequence[Recorded]) -> list[CoreEvent]:
    """Machine and operation events as :mod:`aps.reschedule` takes them, coalesced."""
    out: list[CoreEvent] = []
    ops = {(j.id, o.id): o for j in problem.jobs for o in j.operations}
    for ev in events:
        match ev.norm:
            case NormalizedMachineDown(machine=machine, start=start, until=until):
                out.append(MachineDown(machine=machine, start=start, until=until))
            case NormalizedMachineUp(machine=machine, at=at):
                out.append(MachineUp(machine=machine, at=at))
            case NormalizedOperationStarted() | NormalizedOperationCompleted():
                op = ops.get((ev.norm.job, ev.norm.op))
                if op is None:
                    continue  # its order was cancelled in the same batch
                out.append(_progress(ev.norm, op))
    return coalesce(out)


def _progress(
    norm: NormalizedOperationStarted | NormalizedOperationCompleted, op: Operation
) -> OperationProgress:
    remaining = produced = None
    if isinstance(norm, NormalizedOperationStarted):
        remaining = norm.remaining
    elif norm.quantity is not None:  # the actual good output replaces the planned one
        produced = [MaterialFlow(material=f.material, quantity=norm.quantity) for f in op.produces]
    return OperationProgress(
        job=norm.job, op=norm.op, machine=norm.machine, start=norm.start, end=norm.end,
        setup_start=norm.setup_start, remaining=remaining, produced=produced,
    )  # fmt: skip


def now(problem: Problem, events: Sequence[Recorded], core: Sequence[CoreEvent]) -> int:
    """The reschedule's ``now``: the latest known fact (event ticks, occurrence times)."""
    ticks = [applied_now(problem) or 0, *(e.time for e in core)]
    for ev in events:
        if isinstance(ev.norm, NormalizedReschedule):
            if ev.norm.now is not None:
                ticks.append(ev.norm.now)
        elif problem.time is not None:
            ticks.append(to_tick(problem, ev.occurred_at, ["timestamp"]))
    return max(0, *ticks)


# -- what earlier repairs applied -----------------------------------------------------------


class WithMetadata(Protocol):
    """A problem, or a summary of one that kept its metadata."""

    @property
    def metadata(self) -> Mapping[str, Any]: ...


def applied_now(problem: WithMetadata) -> int | None:
    """The ``now`` of the last repair that derived ``problem`` (None: never repaired)."""
    value = (problem.metadata.get(META) or {}).get("now")
    return None if value is None else int(value)


def applied_downtimes(problem: WithMetadata) -> list[list[Any]]:
    """The downtimes applied so far, each ``[machine, from, until or None]``."""
    return [list(d) for d in (problem.metadata.get(META) or {}).get("downtimes", [])]
