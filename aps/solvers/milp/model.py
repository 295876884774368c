"""The MILP's variables, constraints and objective terms (see :mod:`aps.solvers.milp`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aps.model import Id, Job, ObjectiveTerm, Operation, Problem, SetupMatrix
from aps.result import ScheduledOperation
from aps.solvers.milp.runtime import Expr


def serial_horizon(problem: Problem) -> int:
    """The same bound CP-SAT uses: every job run serially after every fixed event.

    Recomputed here (not imported) so the two backends stay independent; it must match
    :func:`aps.bounds.horizon_of` for INFEASIBLE verdicts to be comparable.
    """
    if problem.horizon is not None:
        return problem.horizon
    base = 0
    for machine in problem.machines:
        for w in machine.unavailable:
            base = max(base, w.end)
    for mat in problem.materials:
        for r in mat.receipts:
            base = max(base, r.time)
    worst = {name: _max_changeover(mx) for name, mx in problem.setup_matrices.items()}
    machines = {m.id: m for m in problem.machines}
    total = 0
    for job in problem.jobs:
        base = max(base, job.release)
        for op in job.operations:
            base = max(base, op.fixed_end() or 0)
            total += max(
                md.duration + md.setup + worst.get(machines[md.machine].setup_matrix or "", 0)
                for md in op.modes
            )
        for _, _, lag in job.predecessor_lags():
            total += max(0, lag.min_lag)
    return base + total + 1


def _max_changeover(mx: SetupMatrix) -> int:
    values = [v for row in mx.changeover.values() for v in row.values()]
    return max([*values, *mx.initial.values(), 0])


def _periods(problem: Problem, machine_id: Id, horizon: int) -> list[tuple[int, int]]:
    """Available periods ``[start, end)`` between the machine's windows; the last is open."""
    machine = next(m for m in problem.machines if m.id == machine_id)
    out: list[tuple[int, int]] = []
    t = 0
    for w in machine.unavailable:
        if w.start > t:
            out.append((t, w.start))
        t = max(t, w.end)
    out.append((t, max(t + 1, horizon)))
    return out


def check_supported(problem: Problem) -> None:
    """Raise ``ValueError`` naming the feature when the MILP cannot express the problem."""
    machines = {m.id: m for m in problem.machines}
    for job in problem.jobs:
        for op in job.operations:
            if op.fixed is not None:
                f = op.fixed
                if machines[f.machine].setup_matrix is not None and op.fixed_end() == (
                    f.start if f.setup_start is None else f.setup_start
                ):
                    raise ValueError(
                        f"milp backend: zero-length pinned operation {op.id!r} of job "
                        f"{job.id!r} on machine {f.machine!r} with a setup matrix is not "
                        "supported; use solver='cpsat'"
                    )
                continue
            for md in op.modes:
                if (
                    md.duration == 0
                    and md.setup == 0
                    and machines[md.machine].setup_matrix is not None
                ):
                    raise ValueError(
                        f"milp backend: zero-length operation {op.id!r} of job {job.id!r} on "
                        f"machine {md.machine!r} with a setup matrix is not supported "
                        "(its position in the changeover sequence is ambiguous); "
                        "use solver='cpsat'"
                    )


@dataclass
class _Op:
    job: Job
    op: Operation
    family: str | None
    s: Any
    e: Any
    b: Any
    present: list[Any] = field(default_factory=list)  # per mode: binary var or 1
    extra: list[Expr] = field(default_factory=list)  # pause terms of interruptible ops
    changeover: list[Expr] = field(default_factory=list)


class MilpModel:
    """Builds the Pyomo model of a :class:`Problem`; keeps handles to read a solution."""

    def __init__(self, problem: Problem, horizon: int) -> None:
        import pyomo.environ as pyo

        self.pyo = pyo
        self.problem = problem
        self.H = horizon
        # big-M: pinned operations may lie beyond the horizon (facts are not re-judged)
        self.M = max(
            [horizon] + [op.fixed_end() or 0 for job in problem.jobs for op in job.operations]
        )
        self.machines = {m.id: m for m in problem.machines}
        self.m = pyo.ConcreteModel(name="aps")
        self.m.t = pyo.VarList(domain=pyo.Integers)
        self.m.z = pyo.VarList(domain=pyo.Binary)
        self.m.c = pyo.ConstraintList()
        self.ops: list[_Op] = []
        self.job_end: dict[Id, Any] = {}
        self.terms: dict[ObjectiveTerm, Expr] = {}
        self.num_binaries = 0
        self._build()

    # -- helpers ----------------------------------------------------------------------

    def _int(self, lo: int, hi: int) -> Any:
        v = self.m.t.add()
        v.setlb(lo)
        v.setub(hi)
        return v

    def _bool(self) -> Any:
        self.num_binaries += 1
        return self.m.z.add()

    def _add(self, expr: Any) -> None:
        """Add a constraint; one that folded to a constant becomes a fixed-variable row."""
        if expr is True:
            return
        if expr is False:
            expr = self._int(0, 0) >= 1  # infeasible: the solver must say so, not Pyomo
        self.m.c.add(expr)

    # -- model ------------------------------------------------------------------------

    def _build(self) -> None:
        for job in self.problem.jobs:
            for op in job.operations:
                self._add_operation(job, op)
        self._add_precedences()
        self._add_machines()
        for v in self.ops:
            if v.op.fixed is not None:
                continue  # pinned: constants, setup and duration not re-judged
            dur = sum(md.duration * x for md, x in zip(v.op.modes, v.present, strict=True))
            self._add(v.e == v.s + dur + sum(v.extra))
            if v.b is not v.s:
                fixed = sum(md.setup * x for md, x in zip(v.op.modes, v.present, strict=True))
                self._add(v.s - v.b == fixed + sum(v.changeover))
        self._add_materials()
        self._add_terms()

    def _needs_busy(self, op: Operation) -> bool:
        return any(
            md.setup > 0 or self.machines[md.machine].setup_matrix is not None for md in op.modes
        )

    def _add_fixed(self, job: Job, op: Operation) -> None:
        """A pinned operation: constant times on its machine, no calendar or setup rules."""
        f = op.fixed
        end = op.fixed_end()
        assert f is not None and end is not None
        busy_from = f.start if f.setup_start is None else f.setup_start
        s = self._int(f.start, f.start)
        e = self._int(end, end)
        b = self._int(busy_from, busy_from) if busy_from != f.start else s
        v = _Op(job, op, op.family if op.family is not None else job.family, s, e, b)
        v.present = [1 if md.machine == f.machine else 0 for md in op.modes]
        self.ops.append(v)

    def _add_operation(self, job: Job, op: Operation) -> None:
        if op.fixed is not None:
            self._add_fixed(job, op)
            return
        H = self.H
        lo = job.release
        hi_end = H if job.deadline is None else min(H, job.deadline)
        s = self._int(lo, max(lo, H))
        e = self._int(lo, max(lo, hi_end))
        if hi_end < lo:
            self._add(e <= hi_end)  # infeasible: let the solver say so, not the bounds
        b = self._int(0, H) if self._needs_busy(op) else s
        v = _Op(job, op, op.family if op.family is not None else job.family, s, e, b)
        if len(op.modes) == 1:
            v.present = [1]
        else:
            v.present = [self._bool() for _ in op.modes]
            self._add(sum(v.present) == 1)
        for md, x in zip(op.modes, v.present, strict=True):
            machine = self.machines[md.machine]
            if not machine.unavailable:
                continue
            periods = _periods(self.problem, md.machine, H)
            # off-shift setups: only the run is held to the calendar
            off_shift = machine.off_shift_setup
            if op.interruptible and md.duration > 0:
                self._add_spanning(v, periods, md.duration, x, setup_in_period=not off_shift)
            elif off_shift:
                if md.duration > 0:
                    self._add_within(v, periods, md.duration, x, v.s)
            elif md.duration + md.setup > 0 or machine.setup_matrix is not None:
                self._add_within(v, periods, md.duration + md.setup, x, v.b)
        self.ops.append(v)

    def _add_within(
        self, v: _Op, periods: list[tuple[int, int]], length: int, x: Any, first: Any
    ) -> None:
        """The block ``[first, e)`` (the busy block, or the run alone) lies inside one
        available period."""
        choice = [(p, self._bool()) for p in periods if p[1] - p[0] >= length]
        self._add(sum(z for _, z in choice) == x)
        self._add(first >= sum(ps * z for (ps, _), z in choice))
        self._add(v.e <= sum(pe * z for (_, pe), z in choice) + self.H * (1 - x))

    def _add_spanning(
        self,
        v: _Op,
        periods: list[tuple[int, int]],
        d: int,
        x: Any,
        setup_in_period: bool = True,
    ) -> None:
        """Interruptible run: pick its start period ``i`` and end period ``j``.

        With ``W`` the working ticks of the periods strictly between, the run ends in ``j``
        iff ``(pe_i - s) + W < d <= (pe_i - s) + W + len_j``; its end is then
        ``s + d + (ticks of the windows between i and j)``. The setup lies in period ``i``
        (unless ``setup_in_period`` is off: off-shift setups).
        """
        lo_s: list[Expr] = []
        hi_s: list[Expr] = []
        lo_b: list[Expr] = []
        pairs: list[Any] = []
        for i, (ps, pe) in enumerate(periods):
            between = 0  # working ticks of periods strictly between i and j
            gaps = 0  # unavailable ticks between i and j
            for j in range(i, len(periods)):
                qs, qe = periods[j]
                if j == i:
                    lo, hi = ps, pe - d
                else:
                    gaps += qs - periods[j - 1][1]
                    if j > i + 1:
                        between += periods[j - 1][1] - periods[j - 1][0]
                    if 1 + between >= d:  # even a start at pe - 1 finishes before j
                        break
                    lo = max(ps, pe + between + 1 - d)
                    hi = min(pe - 1, qe - d - gaps)
                if lo > hi:
                    continue
                y = self._bool()
                pairs.append(y)
                lo_s.append(lo * y)
                hi_s.append(hi * y)
                lo_b.append(ps * y)
                if gaps:
                    v.extra.append(gaps * y)
        self._add(sum(pairs) == x)
        self._add(v.s >= sum(lo_s))
        self._add(v.s <= sum(hi_s) + self.H * (1 - x))
        if setup_in_period:
            self._add(v.b >= sum(lo_b))

    def _add_precedences(self) -> None:
        index = 0
        for job in self.problem.jobs:
            ops = self.ops[index : index + len(job.operations)]
            index += len(job.operations)
            for p, q, lag in job.predecessor_lags():
                if ops[p].op.fixed is not None and ops[q].op.fixed is not None:
                    continue  # both happened already: facts, not plans
                self._add(ops[q].s >= ops[p].e + lag.min_lag)
                if lag.max_lag is not None:
                    self._add(ops[q].s <= ops[p].e + lag.max_lag)
            pinned = [o.e.lb for o in ops if o.op.fixed is not None]
            end = self._int(min([0, *pinned]), self.M)  # facts may end before tick 0
            for o in ops:
                self._add(end >= o.e)
            self.job_end[job.id] = end

    def _add_machines(self) -> None:
        nodes: dict[Id, list[tuple[_Op, int]]] = {k: [] for k in self.machines}
        for v in self.ops:
            for k, md in enumerate(v.op.modes):
                x = v.present[k]
                if not (isinstance(x, int) and x == 0):  # skip a pinned operation's other modes
                    nodes[md.machine].append((v, k))
        self.before = self._implied_orders()
        for mid, here in nodes.items():
            if self.machines[mid].setup_matrix is not None:
                self._add_sequence(mid, here)
            else:
                self._add_disjunctions(here)

    def _implied_orders(self) -> set[tuple[int, int]]:
        """Pairs ``(id(p), id(q))`` of operations where ``q`` cannot start before ``p`` ends.

        Longest path of ``min_lag`` plus the shortest duration of each operation between,
        over the job's precedences (none between two pinned operations): when it is at
        least 0, ``s_q >= e_p``, so on a shared machine ``p``'s (positive-length) block
        must come first. Fixing these orders is implied, not assumed; it lets presolve see
        infeasible max-lag/setup combinations the big-M relaxation hides.
        """
        out: set[tuple[int, int]] = set()
        index = 0
        for job in self.problem.jobs:
            ops = self.ops[index : index + len(job.operations)]
            index += len(job.operations)
            n = len(ops)
            gap: dict[tuple[int, int], int] = {}  # lower bound on s_q - e_p
            for p, q, lag in job.predecessor_lags():
                if ops[p].op.fixed is not None and ops[q].op.fixed is not None:
                    continue
                gap[p, q] = max(gap.get((p, q), lag.min_lag), lag.min_lag)
            shortest = [
                int(v.e.lb - v.s.lb)
                if v.op.fixed is not None
                else min(md.duration for md in v.op.modes)
                for v in ops
            ]
            for r in range(n):  # Floyd-Warshall on longest paths (the job graph is acyclic)
                for p in range(n):
                    if (p, r) not in gap:
                        continue
                    for q in range(n):
                        if (r, q) in gap:
                            via = gap[p, r] + shortest[r] + gap[r, q]
                            if via > gap.get((p, q), via - 1):
                                gap[p, q] = via
            out.update((id(ops[p]), id(ops[q])) for (p, q), g in gap.items() if g >= 0)
        return out

    def _add_disjunctions(self, here: list[tuple[_Op, int]]) -> None:
        """Either ``u`` ends before ``v`` is busy or the reverse, when both run here."""
        H = self.M
        busy = [(v, k) for v, k in here if _length(v, k) > 0]
        for a in range(len(busy)):
            u, ku = busy[a]
            for c in range(a + 1, len(busy)):
                w, kw = busy[c]
                if u is w:
                    continue
                off = 2 - u.present[ku] - w.present[kw]
                if (id(u), id(w)) in self.before:
                    self._add(w.b >= u.e - H * off)
                elif (id(w), id(u)) in self.before:
                    self._add(u.b >= w.e - H * off)
                else:
                    y = self._bool()
                    self._add(w.b >= u.e - H * (1 - y) - H * off)
                    self._add(u.b >= w.e - H * y - H * off)

    def _add_sequence(self, mid: Id, here: list[tuple[_Op, int]]) -> None:
        """Immediate-successor path on a machine with a setup matrix."""
        H = self.M
        name = self.machines[mid].setup_matrix
        assert name is not None
        mx = self.problem.setup_matrices[name]
        first = [self._bool() for _ in here]
        last = [self._bool() for _ in here]
        arcs: dict[tuple[int, int], Any] = {}
        for a, (u, ku) in enumerate(here):
            for c, (w, kw) in enumerate(here):
                if a == c or u is w:
                    continue
                if (id(w), id(u)) in self.before:  # w must come before u: no arc u -> w
                    off = 2 - u.present[ku] - w.present[kw]
                    self._add(u.b >= w.e - H * off)  # implied order, as a cut
                    continue
                arcs[a, c] = self._bool()
        self._add(sum(first) <= 1)
        for a, (u, ku) in enumerate(here):
            into = [arcs[c, a] for c in range(len(here)) if (c, a) in arcs]
            out = [arcs[a, c] for c in range(len(here)) if (a, c) in arcs]
            self._add(first[a] + sum(into) == u.present[ku])
            self._add(last[a] + sum(out) == u.present[ku])
            co = mx.time(None, u.family) * first[a]
            for c in range(len(here)):
                if (c, a) in arcs:
                    co += mx.time(here[c][0].family, u.family) * arcs[c, a]
            u.changeover.append(co)
        for (a, c), y in arcs.items():
            self._add(here[c][0].b >= here[a][0].e - H * (1 - y))

    def _add_materials(self) -> None:
        H = self.M
        for mat in self.problem.materials:
            cons: dict[int, int] = {}
            prod: dict[int, int] = {}
            for i, v in enumerate(self.ops):
                for flow in v.op.consumes:
                    if flow.material == mat.id:
                        cons[i] = cons.get(i, 0) + flow.quantity
                for flow in v.op.produces:
                    if flow.material == mat.id:
                        prod[i] = prod.get(i, 0) + flow.quantity
            if not cons:
                continue
            base = mat.initial + sum(r.quantity for r in mat.receipts if r.time <= 0)
            if base >= sum(cons.values()):
                continue
            later = [r for r in mat.receipts if 0 < r.time <= H]
            for c, qty in cons.items():
                sc = self.ops[c].s
                stock: Expr = base - qty
                for r in later:
                    rho = self._bool()
                    self._add(sc >= r.time * rho)
                    stock += r.quantity * rho
                for p, q in prod.items():
                    delta = self._bool()
                    self._add(self.ops[p].e <= sc + H * (1 - delta))
                    stock += q * delta
                for c2, q2 in cons.items():
                    if c2 == c:
                        continue
                    gamma = self._bool()
                    self._add(self.ops[c2].s >= sc + 1 - (H + 1) * gamma)
                    stock -= q2 * gamma
                self._add(stock >= 0)

    def _add_terms(self) -> None:
        H = self.M
        wanted = {t.term for t in self.problem.objective.terms}
        ends = self.job_end
        if ObjectiveTerm.MAKESPAN in wanted:
            cmax = self._int(0, H)
            for c in ends.values():
                self._add(cmax >= c)
            self._add_load_cuts(cmax)
            self.terms[ObjectiveTerm.MAKESPAN] = cmax
        if wanted & {ObjectiveTerm.WEIGHTED_TARDINESS, ObjectiveTerm.LATE_JOBS}:
            tard: Expr = 0
            late: Expr = 0
            for job in self.problem.jobs:
                if job.due is None or job.due >= H:
                    continue
                c = ends[job.id]
                t = self._int(0, max(0, H - job.due))  # overdue orders: due < 0
                self._add(t >= c - job.due)
                tard += job.weight * t
                lj = self._bool()
                self._add(c <= job.due + (H - job.due) * lj)
                late += lj
            self.terms[ObjectiveTerm.WEIGHTED_TARDINESS] = tard
            self.terms[ObjectiveTerm.LATE_JOBS] = late
        if ObjectiveTerm.FLOW_TIME in wanted:
            self.terms[ObjectiveTerm.FLOW_TIME] = sum(
                ends[j.id] - j.release for j in self.problem.jobs
            )
        if ObjectiveTerm.SETUP_TIME in wanted:
            self.terms[ObjectiveTerm.SETUP_TIME] = sum(v.s - v.b for v in self.ops)
        if ObjectiveTerm.STABILITY in wanted:
            self.terms[ObjectiveTerm.STABILITY] = self._stability()

    def _stability(self) -> Expr:
        """``|start - reference start|`` plus the machine-change cost, per reference.

        Pinned operations count too (a constant), as :func:`aps.kpi.stability` counts them.
        """
        stab = self.problem.stability
        if stab is None:
            return 0
        by_key = {(v.job.id, v.op.id): v for v in self.ops}
        total: Expr = 0
        for ref in stab.reference:
            v = by_key.get((ref.job, ref.op))
            if v is None:
                continue
            lo, hi = v.s.lb, v.s.ub
            dev = self._int(0, max(abs(lo - ref.start), abs(hi - ref.start)))
            self._add(dev >= v.s - ref.start)
            self._add(dev >= ref.start - v.s)
            total += dev
            if stab.machine_change:
                for md, x in zip(v.op.modes, v.present, strict=True):
                    if md.machine != ref.machine:
                        total += stab.machine_change * x
        return total

    def _add_load_cuts(self, cmax: Any) -> None:
        """Valid cuts: a machine's chosen work fits before ``cmax``.

        Big-M disjunctions give an LP bound of about the longest job only; these add the
        machine-load bound the relaxation otherwise misses (not needed for correctness).
        Runs start at or after their job's release; setups may come earlier, from tick 0.
        """
        for mid in self.machines:
            runs: Expr = 0
            busy: Expr = 0
            first = self.H
            for v in self.ops:
                if v.op.fixed is not None:
                    continue  # a subset of the operations gives a valid cut as well
                for md, x in zip(v.op.modes, v.present, strict=True):
                    if md.machine == mid:
                        runs += md.duration * x
                        busy += (md.duration + md.setup) * x
                        first = min(first, v.job.release)
            if first < self.H:
                self._add(cmax >= first + runs)
                self._add(cmax >= busy)

    # -- solutions --------------------------------------------------------------------

    def extract(self, value_of: Callable[[Any], float]) -> list[ScheduledOperation]:
        """Read a schedule through ``value_of(var)`` (times rounded to ticks)."""

        def val(x: Any) -> float:
            return float(x) if isinstance(x, int) else float(value_of(x))

        out = []
        for v in self.ops:
            k = max(range(len(v.op.modes)), key=lambda i: val(v.present[i]))
            s, e, b = (round(val(x)) for x in (v.s, v.e, v.b))
            out.append(
                ScheduledOperation(
                    job=v.job.id,
                    op=v.op.id,
                    machine=v.op.modes[k].machine,
                    start=s,
                    end=e,
                    setup_start=b if b != s else None,
                )
            )
        return out


def _length(v: _Op, k: int) -> int:
    """Ticks the mode keeps its machine busy, at least (pinned: the actual block)."""
    if v.op.fixed is not None:
        return int(v.e.lb) - int(v.b.lb)
    md = v.op.modes[k]
    return md.duration + md.setup
