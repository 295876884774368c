"""The CP-SAT model of a :class:`~aps.model.Problem`: variables, constraints and objective terms."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ortools.sat.python import cp_model

from aps.bounds import horizon_of
from aps.model import Id, Job, Machine, ObjectiveTerm, Operation, Problem
from aps.result import (
    Requirement,
    ScheduledOperation,
)
from aps.worktime import Periods

LinearExpr = cp_model.LinearExprT


@dataclass
class _ModeVars:
    machine: Id
    present: cp_model.IntVar | int
    interval: cp_model.IntervalVar
    duration: int
    setup: int
    changeover: cp_model.IntVar | int = 0
    size: cp_model.IntVar | None = None
    #: the run ``[s, e)`` alone, against the calendar, where setups may go off shift
    run: cp_model.IntervalVar | None = None
    #: period literals with the start range and the paused ticks they imply
    periods: list[tuple[cp_model.IntVar, int, int, int]] = field(default_factory=list)


@dataclass
class _OpVars:
    job: Job
    op: Operation
    family: str | None
    s: cp_model.IntVar
    e: cp_model.IntVar
    b: cp_model.IntVar
    modes: list[_ModeVars] = field(default_factory=list)


class CpsatModel:
    """Builds the CP-SAT model of a :class:`Problem`; keeps handles to read a solution."""

    def __init__(self, problem: Problem, horizon: int | None = None, explain: bool = False) -> None:
        self.problem = problem
        #: with ``explain``, relaxable requirements are enforced by assumption literals
        self.explain = explain
        self.assumptions: list[tuple[cp_model.IntVar, Requirement]] = []
        self.horizon = horizon if horizon is not None else horizon_of(problem)
        self.model = cp_model.CpModel()
        self.machines = {m.id: m for m in problem.machines}
        self.periods = {m.id: Periods(m.unavailable, self.horizon) for m in problem.machines}
        # machines where operations may span windows need the period encoding for all ops
        self.mixed = {
            m.id
            for m in problem.machines
            if m.unavailable
            and any(
                op.interruptible and any(md.machine == m.id for md in op.modes)
                for job in problem.jobs
                for op in job.operations
            )
        }
        self.ops: list[_OpVars] = []
        self.job_end: dict[Id, cp_model.IntVar] = {}
        self.tardy: dict[Id, tuple[cp_model.IntVar, cp_model.IntVar]] = {}
        self.circuits: list[tuple[Id, list[_OpVars], dict[tuple[int, int], cp_model.IntVar]]] = []
        self._sizes: dict[str, cp_model.IntVar] = {}
        self._devs: list[tuple[cp_model.IntVar, tuple[Id, Id], int]] = []
        self.terms: dict[ObjectiveTerm, LinearExpr] = {}
        self._build()

    def _assume(self, kind: str, subject: Id, detail: str) -> cp_model.IntVar:
        lit = self.model.new_bool_var(f"assume_{kind}_{subject}")
        self.assumptions.append((lit, Requirement(kind=kind, subject=str(subject), detail=detail)))
        return lit

    # -- variables --------------------------------------------------------------------

    def _build(self) -> None:
        for job in self.problem.jobs:
            for op in job.operations:
                self._add_operation(job, op)
        self._add_precedences()
        self._add_machines()
        self._add_materials()
        self._add_terms()

    def _needs_busy(self, op: Operation) -> bool:
        return any(
            md.setup > 0 or self.machines[md.machine].setup_matrix is not None for md in op.modes
        )

    def _add_fixed(self, job: Job, op: Operation) -> None:
        """A pinned operation: constants on its machine, kept clear of other operations."""
        assert op.fixed is not None
        m, f = self.model, op.fixed
        tag = f"{job.id}_{op.id}"
        end = op.fixed_end()
        assert end is not None
        busy_from = f.start if f.setup_start is None else f.setup_start
        s = m.new_int_var(f.start, f.start, f"s_{tag}")
        e = m.new_int_var(end, end, f"e_{tag}")
        # the pinned setup block is a fact too: keep it even when no mode needs a setup
        separate = self._needs_busy(op) or busy_from != f.start
        b = m.new_int_var(busy_from, busy_from, f"b_{tag}") if separate else s
        v = _OpVars(job, op, op.family if op.family is not None else job.family, s, e, b)
        interval = m.new_fixed_size_interval_var(busy_from, end - busy_from, f"i_{tag}")
        # its setup is what happened (start - setup_start), not a matrix changeover
        v.modes.append(_ModeVars(f.machine, 1, interval, end - f.start, f.start - busy_from, 0))
        self.ops.append(v)

    def _add_operation(self, job: Job, op: Operation) -> None:
        if op.fixed is not None:
            self._add_fixed(job, op)
            return
        m, H = self.model, self.horizon
        tag = f"{job.id}_{op.id}"
        hi_end = H if job.deadline is None else min(H, job.deadline)
        low = job.release
        if self.explain:
            hi_end, low = H, 0
        s = m.new_int_var(low, H, f"s_{tag}")
        e = m.new_int_var(low, hi_end, f"e_{tag}")
        if self.explain:
            if job.release > 0:
                m.add(s >= job.release).only_enforce_if(
                    self._assume("release", job.id, f"job {job.id!r} released at tick "
                                 f"{job.release}")
                )  # fmt: skip
            if job.deadline is not None:
                m.add(e <= job.deadline).only_enforce_if(
                    self._assume("deadline", job.id, f"job {job.id!r} has deadline tick "
                                 f"{job.deadline}")
                )  # fmt: skip
            if self.problem.horizon is not None:
                m.add(e <= self.problem.horizon).only_enforce_if(
                    self._assume("horizon", "plan", f"the plan ends at tick {self.problem.horizon}")
                )
        b = m.new_int_var(0, H, f"b_{tag}") if self._needs_busy(op) else s
        v = _OpVars(job, op, op.family if op.family is not None else job.family, s, e, b)
        single = len(op.modes) == 1
        presences: list[cp_model.IntVar] = []
        for mode in op.modes:
            present: cp_model.IntVar | int = (
                1 if single else m.new_bool_var(f"p_{tag}_{mode.machine}")
            )
            machine = self.machines[mode.machine]
            changeover: cp_model.IntVar | int = 0
            if machine.setup_matrix is not None:
                mx = self.problem.setup_matrices[machine.setup_matrix]
                top = max(
                    [x for row in mx.changeover.values() for x in row.values()]
                    + list(mx.initial.values())
                    + [0]
                )
                changeover = m.new_int_var(0, top, f"co_{tag}_{mode.machine}")
            lit = [] if isinstance(present, int) else [present]
            if b is s:
                interval = (
                    m.new_interval_var(s, mode.duration, e, f"i_{tag}")
                    if single and not op.interruptible
                    else self._optional(s, e, present, f"i_{tag}_{mode.machine}")
                )
            else:
                m.add(s == b + mode.setup + changeover).only_enforce_if(lit)
                interval = self._optional(b, e, present, f"i_{tag}_{mode.machine}")
            mv = _ModeVars(
                mode.machine, present, interval, mode.duration, mode.setup, changeover,
                self._sizes.get(f"i_{tag}_{mode.machine}"),
            )  # fmt: skip
            if (
                b is not s
                and mode.duration > 0
                and self._setup_off_shift(mode.machine)
                and mode.machine not in self.mixed
            ):  # the run alone meets the windows (periods do it on mixed machines)
                mv.run = (
                    m.new_interval_var(s, mode.duration, e, f"run_{tag}")
                    if isinstance(present, int)
                    else m.new_optional_interval_var(
                        s, mode.duration, e, present, f"run_{tag}_{mode.machine}"
                    )
                )
            # a zero-length operation occupies nothing: no calendar, no machine overlap
            zero = mode.duration == 0 and mode.setup == 0 and machine.setup_matrix is None
            if not zero and (
                mode.machine in self.mixed or (op.interruptible and machine.unavailable)
            ):
                self._add_periods(v, mv, tag)
            elif not (single and not op.interruptible and b is s):
                m.add(e == s + mode.duration).only_enforce_if(lit)
            v.modes.append(mv)
            if not isinstance(present, int):
                presences.append(present)
        if presences:
            m.add_exactly_one(presences)
        self.ops.append(v)

    def _setup_off_shift(self, machine: Id) -> bool:
        """Setups on ``machine`` may overlap its windows (and it has windows)."""
        mc = self.machines[machine]
        return mc.off_shift_setup and bool(mc.unavailable)

    def _optional(
        self,
        start: cp_model.IntVar,
        end: cp_model.IntVar,
        present: cp_model.IntVar | int,
        name: str,
    ) -> cp_model.IntervalVar:
        size = self.model.new_int_var(0, self.horizon, f"len_{name}")
        self.model.add(size == end - start)
        self._sizes[name] = size
        if isinstance(present, int):
            return self.model.new_interval_var(start, size, end, name)
        return self.model.new_optional_interval_var(start, size, end, present, name)

    def _add_periods(self, v: _OpVars, mv: _ModeVars, tag: str) -> None:
        """Pick the period the run starts in and the one it ends in; pauses fill the gaps."""
        m = self.model
        machine, duration, present = mv.machine, mv.duration, mv.present
        periods = self.periods[machine].periods
        off_shift = self._setup_off_shift(machine)
        lits: list[cp_model.IntVar] = []
        for i, (ps, pe) in enumerate(periods):
            extra = 0
            for j in range(i, len(periods) if v.op.interruptible else i + 1):
                if j > i:
                    extra += periods[j][0] - periods[j - 1][1]
                qs, qe = periods[j]
                if j == i:
                    lo, hi = ps, pe - duration
                else:
                    lo = max(ps, qs + 1 - duration - extra)
                    hi = min(pe - 1, qe - duration - extra)
                if j > i and (pe - 1) + duration + extra < qs:
                    break
                if lo > hi:
                    continue
                x = m.new_bool_var(f"x_{tag}_{machine}_{i}_{j}")
                m.add(v.s >= lo).only_enforce_if(x)
                m.add(v.s <= hi).only_enforce_if(x)
                if not off_shift:  # the setup in the run's first period
                    m.add(v.b >= ps).only_enforce_if(x)
                m.add(v.e == v.s + duration + extra).only_enforce_if(x)
                lits.append(x)
                mv.periods.append((x, lo, hi, extra))
        if isinstance(present, int):
            m.add_exactly_one(lits)
        else:
            m.add(sum(lits) == present)

    # -- constraints ------------------------------------------------------------------

    def _add_precedences(self) -> None:
        m = self.model
        index = 0
        for job in self.problem.jobs:
            ops = self.ops[index : index + len(job.operations)]
            index += len(job.operations)
            for p, s, lag in job.predecessor_lags():
                m.add(ops[s].s >= ops[p].e + lag.min_lag)
                if lag.max_lag is not None:
                    c = m.add(ops[s].s <= ops[p].e + lag.max_lag)
                    if self.explain:
                        c.only_enforce_if(
                            self._assume(
                                "max_lag", f"{job.id}/{ops[p].op.id}->{ops[s].op.id}",
                                f"job {job.id!r}: operation {ops[s].op.id!r} must start within "
                                f"{lag.max_lag} ticks of {ops[p].op.id!r}",
                            )
                        )  # fmt: skip
            # pinned operations may have ended before the release, or after the horizon
            top = max([self.horizon, *(o.op.fixed_end() or 0 for o in ops)])
            end = m.new_int_var(0, top, f"C_{job.id}")
            m.add_max_equality(end, [o.e for o in ops])
            self.job_end[job.id] = end

    def _add_machines(self) -> None:
        m = self.model
        by_machine: dict[Id, list[tuple[_OpVars, _ModeVars]]] = {k: [] for k in self.machines}
        for v in self.ops:
            for mv in v.modes:
                by_machine[mv.machine].append((v, mv))
        for mid, nodes in by_machine.items():
            machine = self.machines[mid]
            # zero-length operations occupy nothing (the validator's semantics); CP-SAT
            # would keep a size-0 interval out of the inside of other intervals
            nodes_busy = [
                (v, mv)
                for v, mv in nodes
                if not (mv.duration == 0 and mv.setup == 0 and isinstance(mv.changeover, int))
            ]
            intervals = [mv.interval for v, mv in nodes_busy if v.op.fixed is None]
            pinned = [mv.interval for v, mv in nodes_busy if v.op.fixed is not None]
            if pinned or self._setup_off_shift(mid):
                # pinned operations are facts: they may sit in a window, never under another;
                # setups done off shift keep the machine busy, but may meet the windows
                m.add_no_overlap([mv.interval for _, mv in nodes_busy])
            if self._setup_off_shift(mid):
                # against the windows: the runs only (an operation without setup is its run);
                # on a mixed machine the period choices keep runs out of the windows
                intervals = [
                    mv.run if mv.run is not None else mv.interval
                    for v, mv in nodes_busy
                    if v.op.fixed is None and (mv.run is not None or v.b is v.s)
                ] if mid not in self.mixed else []  # fmt: skip
            if mid not in self.mixed:
                calendar = (
                    self._assume("calendar", mid, f"machine {mid!r} is unavailable in its "
                                 f"{len(machine.unavailable)} calendar windows")
                    if self.explain and machine.unavailable else None
                )  # fmt: skip
                for w in machine.unavailable:
                    if w.start >= self.horizon:
                        continue
                    if calendar is None:
                        intervals.append(
                            m.new_fixed_size_interval_var(w.start, w.end - w.start, f"off_{mid}")
                        )
                    else:
                        intervals.append(
                            m.new_optional_fixed_size_interval_var(
                                w.start, w.end - w.start, calendar, f"off_{mid}"
                            )
                        )
            if len(intervals) > 1:
                m.add_no_overlap(intervals)
            if machine.setup_matrix is not None and nodes:
                self._add_circuit(machine, nodes)

    def _add_circuit(self, machine: Machine, nodes: list[tuple[_OpVars, _ModeVars]]) -> None:
        """Sequence the machine's operations so each changeover follows its predecessor."""
        m = self.model
        assert machine.setup_matrix is not None
        mx = self.problem.setup_matrices[machine.setup_matrix]
        arcs: list[tuple[int, int, Any]] = []
        handles: dict[tuple[int, int], cp_model.IntVar] = {}
        all_optional = True
        for i, (v, mv) in enumerate(nodes, start=1):
            first = m.new_bool_var(f"first_{machine.id}_{i}")
            last = m.new_bool_var(f"last_{machine.id}_{i}")
            arcs.append((0, i, first))
            arcs.append((i, 0, last))
            handles[0, i], handles[i, 0] = first, last
            if v.op.fixed is None:
                m.add(mv.changeover == mx.time(None, v.family)).only_enforce_if(first)
            if isinstance(mv.present, int):
                all_optional = False
            else:
                arcs.append((i, i, ~mv.present))
        for i, (vi, _mi) in enumerate(nodes, start=1):
            for j, (vj, mj) in enumerate(nodes, start=1):
                if i == j or vi is vj:
                    continue
                lit = m.new_bool_var(f"arc_{machine.id}_{i}_{j}")
                arcs.append((i, j, lit))
                handles[i, j] = lit
                m.add(vj.b >= vi.e).only_enforce_if(lit)
                if vj.op.fixed is None:
                    m.add(mj.changeover == mx.time(vi.family, vj.family)).only_enforce_if(lit)
        if all_optional:
            handles[0, 0] = m.new_bool_var(f"empty_{machine.id}")
            arcs.append((0, 0, handles[0, 0]))
        m.add_circuit(arcs)
        self.circuits.append((machine.id, [v for v, _ in nodes], handles))

    def _add_materials(self) -> None:
        if not self.problem.materials:
            return
        m = self.model
        times: dict[Id, list[LinearExpr]] = {mat.id: [] for mat in self.problem.materials}
        deltas: dict[Id, list[int]] = {mat.id: [] for mat in self.problem.materials}
        for mat in self.problem.materials:
            times[mat.id].append(0)
            deltas[mat.id].append(mat.initial)
            for r in mat.receipts:
                times[mat.id].append(max(0, r.time))
                deltas[mat.id].append(r.quantity)
        for v in self.ops:
            for flow in v.op.consumes:
                times[flow.material].append(v.s)
                deltas[flow.material].append(-flow.quantity)
            for flow in v.op.produces:
                times[flow.material].append(v.e)
                deltas[flow.material].append(flow.quantity)
        for mat in self.problem.materials:
            top = sum(d for d in deltas[mat.id] if d > 0)
            if not any(d < 0 for d in deltas[mat.id]):
                continue
            if self.explain:
                # relaxing the requirement = an emergency receipt of everything needed,
                # arriving at tick 0; kept, it arrives after the horizon and helps nothing
                need = -sum(d for d in deltas[mat.id] if d < 0)
                enough = self._assume("material", mat.id, f"stock of material {mat.id!r} "
                                      "never goes negative")  # fmt: skip
                arrival = m.new_int_var(0, self.horizon + 1, f"emergency_{mat.id}")
                m.add(arrival == self.horizon + 1).only_enforce_if(enough)
                m.add(arrival == 0).only_enforce_if(~enough)
                m.add_reservoir_constraint(
                    [*times[mat.id], arrival], [*deltas[mat.id], need], 0, top + need
                )
            else:
                m.add_reservoir_constraint(times[mat.id], deltas[mat.id], 0, max(top, 0))

    def _add_terms(self) -> None:
        m, H = self.model, self.horizon
        wanted = {t.term for t in self.problem.objective.terms}
        ends = list(self.job_end.values())
        if ObjectiveTerm.MAKESPAN in wanted:
            cmax = m.new_int_var(0, H, "makespan")
            m.add_max_equality(cmax, ends)
            self.terms[ObjectiveTerm.MAKESPAN] = cmax
        if wanted & {ObjectiveTerm.WEIGHTED_TARDINESS, ObjectiveTerm.LATE_JOBS}:
            tard: list[LinearExpr] = []
            late: list[LinearExpr] = []
            for job in self.problem.jobs:
                if job.due is None:
                    continue
                c = self.job_end[job.id]
                # an order already overdue at tick 0 has due < 0: tardiness can exceed H
                t = m.new_int_var(0, H + max(0, -job.due), f"T_{job.id}")
                m.add_max_equality(t, [c - job.due, 0])
                tard.append(job.weight * t)
                lj = m.new_bool_var(f"late_{job.id}")
                m.add(c <= job.due).only_enforce_if(~lj)
                m.add(c >= job.due + 1).only_enforce_if(lj)
                late.append(lj)
                self.tardy[job.id] = (t, lj)
            self.terms[ObjectiveTerm.WEIGHTED_TARDINESS] = sum(tard) if tard else 0
            self.terms[ObjectiveTerm.LATE_JOBS] = sum(late) if late else 0
        if ObjectiveTerm.FLOW_TIME in wanted:
            self.terms[ObjectiveTerm.FLOW_TIME] = sum(
                self.job_end[j.id] - j.release for j in self.problem.jobs
            )
        if ObjectiveTerm.STABILITY in wanted:
            self.terms[ObjectiveTerm.STABILITY] = self._stability()
        if ObjectiveTerm.SETUP_TIME in wanted:
            parts: list[LinearExpr] = []
            for v in self.ops:
                for mv in v.modes:
                    if mv.setup:
                        parts.append(mv.setup * mv.present)
                    if not isinstance(mv.changeover, int):
                        parts.append(mv.changeover)
            self.terms[ObjectiveTerm.SETUP_TIME] = sum(parts) if parts else 0

    def _stability(self) -> LinearExpr:
        """Start deviation plus machine-change cost against the reference schedule."""
        stab = self.problem.stability
        if stab is None:
            return 0
        m = self.model
        by_key = {(v.job.id, v.op.id): v for v in self.ops}
        parts: list[LinearExpr] = []
        for ref in stab.reference:
            v = by_key.get((ref.job, ref.op))
            if v is None:
                continue
            if v.op.fixed is not None:  # a fact: a constant part of the term
                assert v.op.fixed is not None
                parts.append(abs(v.op.fixed.start - ref.start))
                if stab.machine_change and v.op.fixed.machine != ref.machine:
                    parts.append(stab.machine_change)
                continue
            # a reference far outside [0, H] can lie more than H away from every start
            dev = m.new_int_var(0, self.horizon + abs(ref.start), f"dev_{ref.job}_{ref.op}")
            self._devs.append((dev, (ref.job, ref.op), ref.start))
            m.add_abs_equality(dev, v.s - ref.start)
            parts.append(dev)
            if stab.machine_change:
                for mv in v.modes:
                    if mv.machine != ref.machine:
                        parts.append(stab.machine_change * mv.present)
        return sum(parts) if parts else 0

    # -- hints and solutions ----------------------------------------------------------

    def add_hint(self, schedule: Sequence[ScheduledOperation]) -> None:
        """Hint every variable of the model from a schedule.

        CP-SAT repairs partial hints poorly on models with circuits, period choices and
        reservoirs; a complete, feasible hint is taken as the first solution at once.
        """
        rows = {(r.job, r.op): r for r in schedule}
        m = self.model
        m.clear_hints()  # type: ignore[no-untyped-call]
        for v in self.ops:
            r = rows.get((v.job.id, v.op.id))
            if r is None:
                continue
            m.add_hint(v.s, r.start)
            m.add_hint(v.e, r.end)
            busy_from = r.start
            if v.b is not v.s:
                busy_from = r.busy_from
                m.add_hint(v.b, busy_from)
            for mv in v.modes:
                chosen = mv.machine == r.machine
                if not isinstance(mv.present, int):
                    m.add_hint(mv.present, chosen)
                if not isinstance(mv.changeover, int) and v.op.fixed is None:
                    m.add_hint(mv.changeover, r.start - busy_from - mv.setup if chosen else 0)
                if mv.size is not None:
                    m.add_hint(mv.size, r.end - busy_from)
                for x, lo, hi, extra in mv.periods:
                    m.add_hint(
                        x, chosen and lo <= r.start <= hi and r.end == r.start + mv.duration + extra
                    )
        if len(rows) < len(self.ops):
            return  # a partial hint: leave the rest to the solver
        for machine_id, nodes, arcs in self.circuits:
            on_machine = [
                (rows[(v.job.id, v.op.id)], i)
                for i, v in enumerate(nodes, start=1)
                if rows[(v.job.id, v.op.id)].machine == machine_id
            ]
            seq = [i for _, i in sorted(on_machine, key=lambda t: (t[0].busy_from, t[0].end))]
            on = {(0, 0)} if not seq else {(0, seq[0]), (seq[-1], 0)}
            on.update(itertools.pairwise(seq))
            for key, lit in arcs.items():
                m.add_hint(lit, key in on)
        for dev, ref_key, ref_start in self._devs:
            m.add_hint(dev, abs(rows[ref_key].start - ref_start))
        done: dict[Id, int] = {}
        for r in schedule:
            done[r.job] = max(done.get(r.job, 0), r.end)
        for job_id, var in self.job_end.items():
            m.add_hint(var, done[job_id])
        cmax = self.terms.get(ObjectiveTerm.MAKESPAN)
        if isinstance(cmax, cp_model.IntVar):
            m.add_hint(cmax, max(done.values()))
        for job in self.problem.jobs:
            if job.id in self.tardy and job.due is not None:
                t, late = self.tardy[job.id]
                m.add_hint(t, max(0, done[job.id] - job.due))
                m.add_hint(late, done[job.id] > job.due)

    def extract(
        self, solver: cp_model.CpSolver | cp_model.CpSolverSolutionCallback
    ) -> list[ScheduledOperation]:
        out = []
        for v in self.ops:
            chosen = next(
                mv
                for mv in v.modes
                if isinstance(mv.present, int) or solver.boolean_value(mv.present)
            )
            s, b = solver.value(v.s), solver.value(v.b)
            out.append(
                ScheduledOperation(
                    job=v.job.id,
                    op=v.op.id,
                    machine=chosen.machine,
                    start=s,
                    end=solver.value(v.e),
                    setup_start=b if b != s else None,
                )
            )
        return out
