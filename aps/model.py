"""The scheduling problem in integer time ticks.

This is the one model every solver, the validator and every reader share. Times are
integer ticks counted from the plan's origin (``Problem.time`` maps them to datetimes);
a job-shop instance is the special case with one mode per operation, chain precedences
and no calendars, setups or materials. Factory input (datetimes, shift calendars, rates
per unit) is compiled into this model, never the other way round.

Every model validates itself: a bad reference or an impossible value raises
``pydantic.ValidationError`` whose message names the field and the id involved.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    StrictInt,
    field_validator,
    model_validator,
)

#: Every tick value stays within +-2**40 (about 2 million years of minutes): the solvers
#: add and multiply them, and CP-SAT's 64-bit domains must not overflow.
MAX_TICK = 2**40
Tick = Annotated[int, Field(ge=-MAX_TICK, le=MAX_TICK)]
Ticks = Annotated[int, Field(ge=0, le=MAX_TICK)]
PositiveTicks = Annotated[int, Field(gt=0, le=MAX_TICK)]
Quantity = Annotated[int, Field(gt=0, le=MAX_TICK)]
Amount = Annotated[int, Field(ge=0, le=MAX_TICK)]

#: An identifier: JSSP files use 0-based integers, factory data uses strings.
Id = StrictInt | Annotated[str, Field(min_length=1, max_length=200)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Window(_Frozen):
    """A half-open tick interval ``[start, end)``."""

    start: Tick
    end: Tick
    reason: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end <= self.start:
            raise ValueError(f"window end {self.end} must be after start {self.start}")
        return self


class Mode(_Frozen):
    """One way to run an operation: on ``machine`` for ``setup`` + ``duration`` ticks.

    ``setup`` is the sequence-independent preparation that occupies the machine right
    before the run; sequence-dependent changeovers come from the machine's setup matrix.
    """

    machine: Id
    duration: Ticks
    setup: Ticks = 0


class Lag(_Frozen):
    """A precedence from operation ``op`` of the same job: its end to this start.

    ``start >= end(op) + min_lag`` and, when ``max_lag`` is set,
    ``start <= end(op) + max_lag`` (transfer time and maximum wait).
    """

    op: Id
    min_lag: Tick = 0
    max_lag: Tick | None = None

    @model_validator(mode="after")
    def _lags(self) -> Self:
        if self.max_lag is not None and self.max_lag < self.min_lag:
            raise ValueError(f"max_lag {self.max_lag} is below min_lag {self.min_lag}")
        return self


class MaterialFlow(_Frozen):
    """A quantity of a material consumed at an operation's start or produced at its end."""

    material: Id
    quantity: Quantity


class Placement(_Frozen):
    """Where and when an operation is pinned (done or started: its actual times).

    ``end`` overrides the mode's duration (actual run time); ``setup_start`` defaults to
    ``start``. Pinned operations are facts: solvers keep them, the validator checks that
    they were kept and that nothing else overlaps them.
    """

    machine: Id
    start: Tick
    end: Tick | None = None
    setup_start: Tick | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end is not None and self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        if self.setup_start is not None and self.setup_start > self.start:
            raise ValueError(f"setup_start {self.setup_start} is after start {self.start}")
        return self


class Operation(_Frozen):
    """A step of a job, run in exactly one of its ``modes``.

    ``predecessors=None`` means "after the previous operation of the job" (a chain);
    an explicit list, possibly empty, describes a DAG (assemblies merging branches).
    ``interruptible`` operations pause over machine unavailability and count only
    working ticks; the others must fit between two unavailable windows.
    """

    id: Id
    modes: list[Mode] = Field(min_length=1)
    predecessors: list[Lag] | None = None
    interruptible: bool = False
    family: str | None = Field(default=None, max_length=200)
    consumes: list[MaterialFlow] = Field(default_factory=list)
    produces: list[MaterialFlow] = Field(default_factory=list)
    fixed: Placement | None = None

    @model_validator(mode="after")
    def _distinct_modes(self) -> Self:
        seen: set[Id] = set()
        for i, mode in enumerate(self.modes):
            if mode.machine in seen:
                raise ValueError(f"modes[{i}]: machine {mode.machine!r} is listed twice")
            seen.add(mode.machine)
        if self.fixed is not None and self.fixed.machine not in seen:
            raise ValueError(
                f"fixed.machine {self.fixed.machine!r} is not one of the operation's modes"
            )
        return self

    def fixed_end(self) -> int | None:
        """The pinned end (actual, or start plus the pinned mode's duration)."""
        if self.fixed is None:
            return None
        if self.fixed.end is not None:
            return self.fixed.end
        mode = next(m for m in self.modes if m.machine == self.fixed.machine)
        return self.fixed.start + mode.duration


class Job(_Frozen):
    """One order's route through the plant.

    ``release`` is the earliest start, ``due`` the date lateness is measured from and
    ``deadline`` a hard latest end. ``weight`` scales tardiness and lateness counts.
    """

    id: Id
    operations: list[Operation] = Field(min_length=1)
    release: Ticks = 0
    due: Tick | None = None
    deadline: Tick | None = None
    weight: Amount = 1
    family: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.deadline is not None and self.deadline < self.release:
            raise ValueError(f"deadline {self.deadline} is before release {self.release}")
        ids: set[Id] = set()
        for i, op in enumerate(self.operations):
            if op.id in ids:
                raise ValueError(f"operations[{i}]: operation id {op.id!r} is used twice")
            ids.add(op.id)
        for i, op in enumerate(self.operations):
            for k, lag in enumerate(op.predecessors or ()):
                if lag.op not in ids:
                    raise ValueError(
                        f"operations[{i}] (id {op.id!r}).predecessors[{k}]: "
                        f"unknown operation {lag.op!r}"
                    )
                if lag.op == op.id:
                    raise ValueError(f"operations[{i}] (id {op.id!r}) precedes itself")
        _check_acyclic(self)
        return self

    def predecessor_lags(self) -> Iterator[tuple[int, int, Lag]]:
        """Yield ``(pred_index, succ_index, lag)`` with chain defaults filled in."""
        index = {op.id: i for i, op in enumerate(self.operations)}
        for i, op in enumerate(self.operations):
            if op.predecessors is None:
                if i > 0:
                    yield i - 1, i, Lag(op=self.operations[i - 1].id)
            else:
                for lag in op.predecessors:
                    yield index[lag.op], i, lag


def _check_acyclic(job: Job) -> None:
    succ: dict[int, list[int]] = {}
    indeg = [0] * len(job.operations)
    for p, s, _ in job.predecessor_lags():
        succ.setdefault(p, []).append(s)
        indeg[s] += 1
    stack = [i for i, d in enumerate(indeg) if d == 0]
    seen = 0
    while stack:
        i = stack.pop()
        seen += 1
        for s in succ.get(i, ()):
            indeg[s] -= 1
            if indeg[s] == 0:
                stack.append(s)
    if seen != len(job.operations):
        cyclic = [job.operations[i].id for i, d in enumerate(indeg) if d > 0]
        raise ValueError(f"precedences form a cycle through operations {cyclic}")


class SetupMatrix(_Frozen):
    """Sequence-dependent changeover ticks between product families.

    ``changeover[a][b]`` is the time to switch from family ``a`` to ``b``; a missing
    entry means no changeover. ``initial[b]`` applies to the first operation on the
    machine.
    """

    changeover: dict[str, dict[str, Ticks]] = Field(default_factory=dict)
    initial: dict[str, Ticks] = Field(default_factory=dict)

    def time(self, before: str | None, after: str | None) -> int:
        """Changeover ticks from ``before`` to ``after`` (``None`` means nothing ran)."""
        if after is None:
            return 0
        if before is None:
            return self.initial.get(after, 0)
        return self.changeover.get(before, {}).get(after, 0)


class Machine(_Frozen):
    """A machine with the windows in which it cannot work (breaks, off-shift, maintenance).

    With ``off_shift_setup`` a setup crew works while the machine is unavailable: an
    operation's setup (fixed setup plus changeover, elapsed ticks right before its start)
    may overlap the unavailable windows; its run still starts in working time and, unless
    interruptible, fits between two windows. The machine stays busy for the setup.
    """

    id: Id
    name: str | None = Field(default=None, max_length=200)
    group: str | None = Field(default=None, max_length=200)
    unavailable: list[Window] = Field(default_factory=list)
    setup_matrix: str | None = Field(default=None, max_length=200)
    off_shift_setup: bool = Field(
        default=False,
        description="setups may overlap the unavailable windows (the run may not)",
    )

    def with_busy_time(self, windows: Sequence[Window]) -> Machine:
        """This machine with ``windows`` of time nothing may use, setups included (other
        work, breakdowns, the past), added to its unavailable ones.

        The windows of a machine are one list, so its ``off_shift_setup`` is switched off
        when any are added: the result is stricter, never wrong.
        """
        if not windows:
            return self
        return Machine.model_validate(
            {
                **self.model_dump(),
                "unavailable": [*self.unavailable, *windows],
                "off_shift_setup": False,
            }
        )

    @field_validator("unavailable")
    @classmethod
    def _merge(cls, windows: list[Window]) -> list[Window]:
        """Sort and merge overlapping windows so every consumer sees one canonical list."""
        merged: list[Window] = []
        for w in sorted(windows, key=lambda w: (w.start, w.end)):
            if merged and w.start <= merged[-1].end:
                last = merged[-1]
                if w.end > last.end:
                    merged[-1] = Window(start=last.start, end=w.end, reason=last.reason)
            else:
                merged.append(w)
        return merged


class Receipt(_Frozen):
    """A scheduled arrival of ``quantity`` units at tick ``time``."""

    time: Tick
    quantity: Quantity


class Material(_Frozen):
    """An item with stock: never negative, fed by receipts and producing operations."""

    id: Id
    initial: Amount = 0
    receipts: list[Receipt] = Field(default_factory=list)
    name: str | None = Field(default=None, max_length=200)


class ObjectiveTerm(StrEnum):
    """What a planner can ask the solver to minimise."""

    MAKESPAN = "makespan"
    WEIGHTED_TARDINESS = "weighted_tardiness"
    LATE_JOBS = "late_jobs"
    FLOW_TIME = "flow_time"
    SETUP_TIME = "setup_time"
    STABILITY = "stability"


class WeightedTerm(_Frozen):
    term: ObjectiveTerm
    weight: Quantity = 1


class Objective(_Frozen):
    """A weighted sum of terms, or the terms in lexicographic order (weights then ignored)."""

    kind: Literal["weighted", "lexicographic"] = "weighted"
    terms: list[WeightedTerm] = Field(
        default_factory=lambda: [WeightedTerm(term=ObjectiveTerm.MAKESPAN)], min_length=1
    )

    @classmethod
    def makespan(cls) -> Objective:
        return cls()

    @classmethod
    def parse(cls, text: str, lexicographic: bool = False) -> Objective:
        """Read ``"weighted_tardiness:10;makespan:1"`` (weights optional, default 1)."""
        terms = []
        for part in text.replace(",", ";").split(";"):
            if not part.strip():
                continue
            name, _, weight = part.partition(":")
            try:
                term = ObjectiveTerm(name.strip())
            except ValueError:
                choices = ", ".join(t.value for t in ObjectiveTerm)
                raise ValueError(
                    f"unknown objective term {name.strip()!r}; use {choices}"
                ) from None
            try:
                value = int(weight) if weight.strip() else 1
            except ValueError:
                raise ValueError(f"objective weight {weight.strip()!r} is not an integer") from None
            if value < 1:
                raise ValueError(f"objective weight of {term.value} must be at least 1")
            terms.append(WeightedTerm(term=term, weight=value))
        if not terms:
            raise ValueError("empty objective; e.g. 'weighted_tardiness:10;makespan:1'")
        return cls(kind="lexicographic" if lexicographic else "weighted", terms=terms)


class Reference(_Frozen):
    """An operation's place in a previously published schedule."""

    job: Id
    op: Id
    machine: Id
    start: Tick


class Stability(_Frozen):
    """What the ``stability`` objective term measures against (rescheduling).

    The term is the sum over referenced operations of ``|start - reference start|`` plus
    ``machine_change`` ticks for each operation that moves to another machine.
    """

    reference: list[Reference] = Field(default_factory=list)
    machine_change: Ticks = 0


class TimeBase(_Frozen):
    """How ticks map to wall-clock time: ``origin + tick * tick_seconds`` in ``timezone``."""

    origin: AwareDatetime
    tick_seconds: PositiveInt = 60
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    def to_datetime(self, tick: int) -> datetime:
        # absolute (UTC) arithmetic: wall-clock arithmetic would be wrong across DST
        return (
            self.origin.astimezone(UTC) + timedelta(seconds=tick * self.tick_seconds)
        ).astimezone(ZoneInfo(self.timezone))


class Problem(_Frozen):
    """A complete scheduling problem: machines, jobs, materials, setups and an objective."""

    name: str = Field(default="problem", max_length=200)
    machines: list[Machine] = Field(min_length=1)
    jobs: list[Job] = Field(min_length=1)
    materials: list[Material] = Field(default_factory=list)
    setup_matrices: dict[str, SetupMatrix] = Field(default_factory=dict)
    objective: Objective = Field(default_factory=Objective)
    stability: Stability | None = None
    horizon: PositiveTicks | None = None
    time: TimeBase | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _references(self) -> Self:
        machine_ids = _unique("machines", [m.id for m in self.machines])
        _unique("jobs", [j.id for j in self.jobs])
        material_ids = _unique("materials", [m.id for m in self.materials])
        for i, m in enumerate(self.machines):
            if m.setup_matrix is not None and m.setup_matrix not in self.setup_matrices:
                raise ValueError(
                    f"machines[{i}] (id {m.id!r}).setup_matrix: unknown matrix {m.setup_matrix!r}"
                )
        for j, job in enumerate(self.jobs):
            for o, op in enumerate(job.operations):
                where = f"jobs[{j}] (id {job.id!r}).operations[{o}] (id {op.id!r})"
                for k, mode in enumerate(op.modes):
                    if mode.machine not in machine_ids:
                        raise ValueError(
                            f"{where}.modes[{k}].machine: unknown machine {mode.machine!r}"
                        )
                for field, flows in (("consumes", op.consumes), ("produces", op.produces)):
                    for k, flow in enumerate(flows):
                        if flow.material not in material_ids:
                            raise ValueError(
                                f"{where}.{field}[{k}].material: unknown material {flow.material!r}"
                            )
        return self

    # -- convenience -------------------------------------------------------------------

    @property
    def num_operations(self) -> int:
        return sum(len(j.operations) for j in self.jobs)

    def machine_index(self) -> dict[Id, int]:
        return {m.id: i for i, m in enumerate(self.machines)}

    def is_job_shop(self) -> bool:
        """True when nothing beyond the classic job shop is used (the benchmark case)."""
        return self.is_flexible_job_shop() and all(
            len(op.modes) == 1 for job in self.jobs for op in job.operations
        )

    def is_flexible_job_shop(self) -> bool:
        """True for a (flexible) job shop: chains of operations, each on one of its
        eligible machines, minimum makespan; no calendars, setups, materials, releases,
        deadlines or pins."""
        return (
            not self.materials
            and not self.setup_matrices
            and all(not m.unavailable for m in self.machines)
            and all(
                job.release == 0
                and job.deadline is None
                and all(
                    all(md.setup == 0 for md in op.modes)
                    and not op.consumes
                    and not op.produces
                    and op.fixed is None
                    and (op.predecessors is None)
                    for op in job.operations
                )
                for job in self.jobs
            )
            and self.objective.kind == "weighted"
            and [t.term for t in self.objective.terms] == [ObjectiveTerm.MAKESPAN]
        )

    def to_json(self, indent: int | None = 2) -> str:
        return self.model_dump_json(indent=indent, exclude_defaults=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Problem:
        return cls.model_validate_json(text)


def _unique(field: str, ids: list[Id]) -> set[Id]:
    seen: set[Id] = set()
    for i, value in enumerate(ids):
        if value in seen:
            raise ValueError(f"{field}[{i}]: id {value!r} is used twice")
        seen.add(value)
    return seen


def json_schema() -> str:
    """The published JSON Schema of :class:`Problem` (also at ``aps/schema/problem.json``)."""
    return json.dumps(Problem.model_json_schema(), indent=2, sort_keys=True) + "\n"
