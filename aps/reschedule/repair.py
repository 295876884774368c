"""One reschedule: derive the problem, publish the greedy repair, then CP-SAT improvements."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from aps.heuristics.repair import RepairPlan, repair
from aps.kpi import objective_value, term_values
from aps.model import (
    Id,
    Objective,
    ObjectiveTerm,
    Problem,
    Reference,
    Stability,
    WeightedTerm,
)
from aps.reschedule.derive import Derived, Key, Relaxation, derive, relax
from aps.reschedule.diff import ScheduleDiff, diff
from aps.reschedule.events import MachineDown, MachineUp, OperationProgress
from aps.reschedule.improve import improve as run_cpsat
from aps.result import ScheduledOperation
from aps.validate import Violation

# -- results ------------------------------------------------------------------------------


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
    (:mod:`aps.reschedule.improve`). ``resume`` lists the interrupted operations that
    resume (default: the interruptible ones). ``efficiency_weight`` and
    ``machine_change`` set the repair objective (module doc).
    """
    started = time.monotonic()
    derived = derive(problem, published, events, now=now, resume=resume)
    result = _greedy_result(derived, published, started, efficiency_weight, machine_change)
    if result.violations:
        return result
    schedule, repair_problem = result.schedule, result.repair_problem
    publisher = _Publisher(result, repair_problem, derived.now, started, on_publish, schedule)
    greedy_value = objective_value(repair_problem.objective, term_values(repair_problem, schedule))
    publisher.publish(
        Publication(
            phase="greedy", schedule=schedule, diff=result.changes, objective=greedy_value,
            elapsed=round(time.monotonic() - started, 4),
        )
    )  # fmt: skip
    remaining = time_limit - (time.monotonic() - started)
    if not improve or remaining <= 0.2 or (stop is not None and stop.is_set()):
        return result
    found = run_cpsat(
        derived.problem, repair_problem, schedule, derived.reference, derived.down,
        derived.now, started + time_limit, publisher.accept, workers, seed, stop=stop,
        max_free=max_free,
    )  # fmt: skip
    result.solver_message = found.message
    result.neighbourhood = None if found.whole else found.free
    result.rounds = found.rounds
    if publisher.best is not schedule:
        best = publisher.best
        result.schedule = best
        result.stranded = _stranded(derived, best)
        result.changes = _changes(result.repair_problem, published, derived, best)
        result.kept_share = result.changes.kept_share
    return result


def _greedy_result(
    derived: Derived,
    published: Sequence[ScheduledOperation],
    started: float,
    efficiency_weight: int,
    machine_change: int,
) -> RescheduleResult:
    """The result after the greedy repair (``solver_message`` says why when it is invalid)."""
    schedule, relaxations, violations = _greedy_repair(derived)
    greedy_seconds = time.monotonic() - started
    repair_problem = _repair_problem(
        derived.problem, derived.reference, efficiency_weight, machine_change
    )
    kept = _changes(repair_problem, published, derived, schedule)
    # built from checked parts: validating it would re-check both problems whole
    result = RescheduleResult.model_construct(
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


def _changes(
    repair_problem: Problem,
    published: Sequence[ScheduledOperation],
    derived: Derived,
    schedule: Sequence[ScheduledOperation],
) -> ScheduleDiff:
    """``schedule`` against the schedule published before the events, with reasons."""
    down = {m: [(s, e) for s, e in ws] for m, ws in derived.down.items()}
    return diff(repair_problem, _previous(published, derived), schedule, down=down,
                now=derived.now, origins=derived.origins)  # fmt: skip


def _greedy_repair(
    derived: Derived,
) -> tuple[list[ScheduledOperation], list[Relaxation], list[Violation]]:
    """The right-shift repair of the derived problem, which is relaxed (in place) where
    the repair cannot keep a requirement; the violations left (none when it is valid)."""
    active = {m for m, ws in derived.down.items() if any(e > derived.now for _, e in ws)}
    plan = RepairPlan(reference=derived.reference, down=frozenset(active), now=derived.now)
    schedule = repair(derived.problem, plan).schedule
    derived.problem, relaxations, violations = relax(derived.problem, schedule)
    return schedule, relaxations, violations


@dataclass
class _Publisher:
    """Publishes schedules into ``result`` and to ``on_publish``, each better than the last."""

    result: RescheduleResult
    #: the problem CP-SAT solves: its objective judges "better"
    problem: Problem
    now: int
    started: float
    on_publish: Callable[[Publication], None] | None
    #: the last schedule published
    best: list[ScheduledOperation]

    def publish(self, pub: Publication) -> None:
        self.result.publications.append(pub)
        if self.on_publish is not None:
            self.on_publish(pub)

    def accept(self, candidate: list[ScheduledOperation]) -> bool:
        """Publish ``candidate`` when it beats the last published schedule."""
        problem = self.problem
        if not _better(problem.objective, problem, candidate, self.best):
            return False
        value = objective_value(problem.objective, term_values(problem, candidate))
        pub = Publication(
            phase="improved", schedule=candidate,
            diff=diff(problem, self.best, candidate, now=self.now),
            objective=value, elapsed=round(time.monotonic() - self.started, 4),
        )  # fmt: skip
        self.best = candidate
        self.publish(pub)
        return True


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
