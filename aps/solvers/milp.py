"""A second, independent exact backend: a Pyomo MILP of the full problem, solved by HiGHS.

Why: CP-SAT is our production solver, but an exact solver can be wrong too (wrong
INFEASIBLE verdicts have been reported upstream). This model shares nothing with
:mod:`aps.solvers.cpsat` except the problem definition and the validator, so where both
prove optimality their objectives must agree (``tests/milp`` checks that).

Formulation (all times integer ticks in ``[0, H]``; ``H`` is the same serial horizon CP-SAT
uses, recomputed here, cut to a valid dispatching makespan when only makespan counts):

* per operation: run start ``s``, run end ``e``, busy-from ``b`` (``s - b`` is exactly the
  fixed setup plus the sequence-dependent changeover), one binary per mode (sum 1);
* precedences and lags: ``s_succ >= e_pred + min_lag`` and ``<= e_pred + max_lag``;
* machines without a setup matrix: big-M disjunction per pair of (operation, mode) on the
  machine, active only when both modes are chosen; zero-length modes (no duration, no
  setup) are left out, as the validator ignores them. Where the job's precedences imply
  ``s_q >= e_p`` (longest path of lags and shortest durations at least 0), the order is
  fixed without a binary (on setup-matrix machines: no arc ``q -> p``, plus the cut);
* machines with a setup matrix: an "immediate successor" path (arc binaries from a source,
  one in- and one out-arc per chosen mode); ``b_v >= e_u`` on each arc and the changeover
  is read off the arc into each operation (``initial`` off the source arc). Positive
  lengths make cycles impossible, so no subtour constraints are needed; zero-length modes
  on such machines are refused (their order, hence their changeover, is ambiguous);
* calendars: a non-interruptible operation (and any setup block) chooses the available
  period it lies in (one binary per period); an interruptible one chooses the period its
  run starts in and the one it ends in (one binary per feasible pair) and its end is
  ``s + duration + the windows it spans``; its setup lies in the start period;
* materials, exact event ordering: for each consuming operation ``c`` the stock at ``s_c``
  counts receipts with ``t <= s_c``, productions with ``e_p <= s_c`` (optional binaries the
  solver may switch on only when the order holds) and every draw with ``s_c' <= s_c``
  (binaries forced on unless ``s_c' >= s_c + 1``). Arrivals count before draws at a tick,
  as in the validator;
* pinned operations (``Operation.fixed``): constants on their machine (start, end and
  setup start as pinned), kept in the machine disjunctions / successor paths and in the
  stock, but free of release, deadline, calendar, duration and setup rules, and of
  precedences between two pinned operations (the validator's rules for facts); big-M
  constants cover pinned times beyond the horizon;
* objectives: the same terms, weighted or lexicographic (one solve per level, each level
  then bounded by its value, as the CP-SAT backend does). ``stability`` is
  ``|s - reference start|`` (two inequalities) plus the machine-change cost per
  non-chosen mode, counting pinned operations as :func:`aps.kpi.stability` does;
  ``setup_time`` is the sum of ``s - b``; tardiness allows due dates before tick 0;
  makespan gets machine-load cuts (valid, only to tighten the LP bound).

Refused (``ValueError`` naming the feature): zero-length operations (and zero-length
pinned blocks) on setup-matrix machines. Everything else in :class:`aps.model.Problem`
is modelled exactly; the result is validated by :mod:`aps.validate` like every backend's.

Status mapping (HiGHS model status): optimal -> OPTIMAL; infeasible and
unbounded-or-infeasible (every variable is bounded, so it is infeasible) -> INFEASIBLE;
time limit / interrupt / other limits -> FEASIBLE with an incumbent, else UNKNOWN;
load/model/presolve/solve errors -> MODEL_INVALID. The bound is HiGHS's MIP dual bound
rounded up (objectives are integral); ``mip_abs_gap`` is just under 1 so "optimal" means
proven to the tick. ``on_progress`` is fed from HiGHS's improving-solution callback (first
objective level only; the bound is HiGHS's dual bound from the main search, else 0) and
``stop`` from its interrupt callback. Pyomo's ``appsi_highs`` interface only translates
the model (and later changes) into a ``highspy.Highs`` object; we run that object
ourselves, because ``Highs.solve`` redirects the process's stdout/stderr file
descriptors around each run, which breaks concurrent solves in one process (the
service's in-process worker pool) and swallows other threads' output; with HiGHS's
output off there is nothing to capture. Pyomo's ``set_instance`` captures them too (the
HiGHS banner), so translations are serialised by a lock; they take milliseconds.
``workers`` becomes HiGHS ``threads`` (HiGHS's MIP search is essentially serial, so more
workers rarely help; HiGHS sizes one scheduler per process, rebuilt when the count
changes and no solve runs). The ``hint`` (if valid), else a valid dispatching schedule, is
used, when only makespan counts, to cut the horizon to its makespan. It is not given to
HiGHS as a MIP start: with a partial start HiGHS 1.16 reported the optimum's objective
while ``getSolution()`` still held the start (found by the cross-check). As a guard, a
solution vector whose schedule is worse than HiGHS's reported objective is never
returned as OPTIMAL.

Scale: the Pyomo model is built and translated in Python before HiGHS starts (about 15 s
for the 263-operation example plant, 80 000 binaries); that time counts against
``time_limit`` and, when it uses it all, the result is UNKNOWN with a message saying so.
HiGHS's presolve can overrun a short limit by a few seconds on such models. The MILP is
meant for small problems (see :mod:`aps.solvers.auto`).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

from aps.kpi import objective_value, term_values
from aps.model import Id, Job, ObjectiveTerm, Operation, Problem, SetupMatrix
from aps.result import Incumbent, Result, ScheduledOperation, SolveStatus, relative_gap
from aps.validate import validate

#: An affine expression: Pyomo expressions, variables or plain ints.
Expr = Any

# HiGHS keeps one thread scheduler per process, sized by the first solve's ``threads``;
# asking for another size later fails the solve. It can only be rebuilt while no HiGHS
# solve runs, so concurrent MILP solves share the current size (recorded in the result).
_SCHEDULER_LOCK = threading.Lock()
#: Pyomo's ``set_instance`` redirects the process's stdout/stderr fds: one at a time.
TRANSLATE_LOCK = threading.Lock()
_scheduler_threads: int | None = None
_active_solves = 0


def _acquire_threads(wanted: int) -> int:
    """Register a solve and return the thread count it may use."""
    global _scheduler_threads, _active_solves
    import highspy

    with _SCHEDULER_LOCK:
        if _scheduler_threads != wanted and (_scheduler_threads is None or _active_solves == 0):
            if _scheduler_threads is not None:
                highspy.Highs.resetGlobalScheduler(True)
            _scheduler_threads = wanted
        _active_solves += 1
        assert _scheduler_threads is not None
        return _scheduler_threads


def _release_threads() -> None:
    global _active_solves
    with _SCHEDULER_LOCK:
        _active_solves -= 1


@contextmanager
def highs_threads(wanted: int) -> Iterator[int]:
    """Hold HiGHS's process-wide scheduler for one solve; yields the threads it may use."""
    granted = _acquire_threads(wanted)
    try:
        yield granted
    finally:
        _release_threads()


def solver_version() -> str:
    """HiGHS and Pyomo versions, recorded in every result."""
    return f"highs {version('highspy')} via pyomo {version('pyomo')}"


def serial_horizon(problem: Problem) -> int:
    """The same bound CP-SAT uses: every job run serially after every fixed event.

    Recomputed here (not imported) so the two backends stay independent; it must match
    :func:`aps.solvers.cpsat.horizon_of` for INFEASIBLE verdicts to be comparable.
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
            if op.interruptible and md.duration > 0:
                self._add_spanning(v, periods, md.duration, x)
            elif md.duration + md.setup > 0 or machine.setup_matrix is not None:
                self._add_within(v, periods, md.duration + md.setup, x)
        self.ops.append(v)

    def _add_within(self, v: _Op, periods: list[tuple[int, int]], length: int, x: Any) -> None:
        """The whole busy block ``[b, e)`` lies inside one available period."""
        choice = [(p, self._bool()) for p in periods if p[1] - p[0] >= length]
        self._add(sum(z for _, z in choice) == x)
        self._add(v.b >= sum(ps * z for (ps, _), z in choice))
        self._add(v.e <= sum(pe * z for (_, pe), z in choice) + self.H * (1 - x))

    def _add_spanning(self, v: _Op, periods: list[tuple[int, int]], d: int, x: Any) -> None:
        """Interruptible run: pick its start period ``i`` and end period ``j``.

        With ``W`` the working ticks of the periods strictly between, the run ends in ``j``
        iff ``(pe_i - s) + W < d <= (pe_i - s) + W + len_j``; its end is then
        ``s + d + (ticks of the windows between i and j)``. The setup lies in period ``i``.
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


def _reader(opt: Any, highs: Any) -> Callable[[Any], float]:
    """Value of a Pyomo variable in HiGHS's current solution (via Pyomo's column map)."""
    column = opt._pyomo_var_to_solver_var_map
    col_value = highs.getSolution().col_value

    def value_of(var: Any) -> float:
        col = column.get(id(var))
        if col is None:  # in no constraint, so Pyomo never passed it: a pinned constant
            assert var.lb == var.ub, var
            return float(var.lb)
        return float(col_value[col])

    return value_of


def _status(highs: Any, has_solution: bool) -> SolveStatus:
    """Map HiGHS's model status onto ours (see the module docstring)."""
    import highspy

    st = highspy.HighsModelStatus
    code = highs.getModelStatus()
    if code == st.kOptimal:
        return SolveStatus.OPTIMAL
    if code in (st.kInfeasible, st.kUnboundedOrInfeasible):
        return SolveStatus.INFEASIBLE
    if code in (st.kLoadError, st.kModelError, st.kPresolveError, st.kSolveError):
        return SolveStatus.MODEL_INVALID
    return SolveStatus.FEASIBLE if has_solution else SolveStatus.UNKNOWN


def _starting_schedule(
    problem: Problem, hint: Sequence[ScheduledOperation] | None, seed: int
) -> tuple[str, list[ScheduledOperation]] | None:
    """A valid schedule to start from: the caller's hint, else a dispatching schedule."""
    from aps.solvers.dispatch import best_dispatch

    candidates: list[tuple[str, list[ScheduledOperation]]] = []
    if hint:
        candidates.append(("hint", list(hint)))
    try:
        candidates.append(("dispatch", best_dispatch(problem, seed=seed)))
    except Exception:  # a heuristic failing must never fail the exact solve
        logging.getLogger(__name__).debug("dispatching failed", exc_info=True)
    for name, sched in candidates:
        if sched and not validate(problem, sched):
            return name, sched
    return None


def solve_milp(
    problem: Problem,
    time_limit: float,
    workers: int,
    seed: int,
    hint: Sequence[ScheduledOperation] | None = None,
    on_progress: Callable[[Incumbent], None] | None = None,
    stop: threading.Event | None = None,
) -> Result:
    """Solve with the MILP model and HiGHS (weighted or lexicographic objective)."""
    started = time.monotonic()
    check_supported(problem)
    objective = problem.objective
    horizon = serial_horizon(problem)
    only_makespan = objective.kind == "weighted" and [t.term for t in objective.terms] == [
        ObjectiveTerm.MAKESPAN
    ]
    horizon_from = None
    start = _starting_schedule(problem, hint, seed) if only_makespan else None
    if start is not None:
        # an optimal schedule never needs to end after a known feasible makespan
        horizon = min(horizon, max(r.end for r in start[1]))
        horizon_from = start[0]
    built = MilpModel(problem, horizon)
    levels: list[list[tuple[int, ObjectiveTerm]]] = (
        [[(t.weight, t.term) for t in objective.terms]]
        if objective.kind == "weighted"
        else [[(1, t.term)] for t in objective.terms]
    )

    with highs_threads(int(workers)) as threads:
        return _solve(
            problem,
            built,
            levels,
            time_limit,
            threads,
            seed,
            on_progress,
            stop,
            started,
            horizon_from,
        )


def _solve(
    problem: Problem,
    built: MilpModel,
    levels: list[list[tuple[int, ObjectiveTerm]]],
    time_limit: float,
    threads: int,
    seed: int,
    on_progress: Callable[[Incumbent], None] | None,
    stop: threading.Event | None,
    started: float,
    horizon_from: str | None,
) -> Result:
    """Run HiGHS level by level on the built model and assemble the result."""
    import pyomo.environ as pyo
    from pyomo.contrib.appsi.solvers import Highs

    m = built.m
    objective = problem.objective
    options: dict[str, Any] = {
        "threads": threads,
        "random_seed": int(seed),
        "mip_rel_gap": 0.0,
        "mip_abs_gap": 0.999,  # integral objective: a gap below one tick is a proof
        "output_flag": False,
    }
    opt = Highs()
    history: list[Incumbent] = []
    level_box = [0]

    trusted = [0.0]  # last bound known valid; 0 like CP-SAT's dispatch incumbent

    def improving(event: Any) -> None:
        out = event.data_out
        objective_now = float(out.objective_function_value)
        if level_box[0] != 0:  # later levels optimise other terms: not comparable
            return
        if history and objective_now >= history[-1].objective:
            return  # HiGHS re-announces a MIP start once it adopts it
        raw = float(out.mip_dual_bound)
        # only trust a finite bound from the main search (HiGHS sub-MIPs, e.g. completing
        # a start, report their own bound with gap 0 at node 0)
        if math.isfinite(raw) and (out.mip_node_count > 0 or out.mip_gap > 0):
            trusted[0] = max(trusted[0], raw)
        inc = Incumbent(
            objective=objective_now,
            bound=min(trusted[0], objective_now),
            elapsed=round(time.monotonic() - started, 4),
        )
        history.append(inc)
        if on_progress is not None:
            on_progress(inc)

    def interrupt(event: Any) -> None:
        if stop is not None and stop.is_set():
            event.interrupt()

    m.obj = pyo.Objective(expr=sum(w * built.terms[t] for w, t in levels[0]))
    logging.getLogger("pyomo.contrib.appsi.solvers.highs").setLevel(logging.ERROR)
    with TRANSLATE_LOCK:  # set_instance captures the process's stdout/stderr fds
        opt.set_instance(m)  # Pyomo translates the model into a highspy.Highs object ...
    highs = opt._solver_model  # ... which we run ourselves (see the module docstring)
    for key, value in options.items():
        highs.setOptionValue(key, value)
    # No MIP start: with a partial start (highspy setSolution, sparse), HiGHS 1.16 reports
    # the optimum's objective but getSolution() still returns the completed start
    # (cross-check seed 5285); the start is only used to cut a makespan horizon.
    highs.cbMipImprovingSolution += improving
    if stop is not None:
        highs.cbMipInterrupt += interrupt

    schedule: list[ScheduledOperation] | None = None
    status = SolveStatus.UNKNOWN
    bound: float | None = None
    all_optimal = True
    message: str | None = None
    for k, level in enumerate(levels):
        level_box[0] = k
        if k > 0:
            m.del_component(m.obj)
            m.obj = pyo.Objective(expr=sum(w * built.terms[t] for w, t in level))
            opt.update()  # pass the new level's bound and objective to HiGHS
        remaining = time_limit - (time.monotonic() - started)
        if k == 0 and remaining <= 0:
            message = (
                f"the time limit went on building the model ({built.num_binaries} binaries, "
                f"{time.monotonic() - started:.1f} s); HiGHS did not run"
            )
            break
        highs.setOptionValue("time_limit", max(0.05, remaining / (len(levels) - k)))
        highs.run()
        has_solution = highs.getInfo().primal_solution_status == 2
        level_status = _status(highs, has_solution)
        if not level_status.has_schedule:
            if k == 0:
                status = level_status
                message = f"HiGHS: {highs.modelStatusToString(highs.getModelStatus())}"
            break
        schedule = built.extract(_reader(opt, highs))
        values = term_values(problem, schedule)
        value = sum(w * values[t] for w, t in level)
        reported = float(highs.getInfo().objective_function_value)
        if value > reported + 0.5:
            # the model's objective is never below the schedule's true value, so HiGHS's
            # solution vector is not the solution it reports: trust neither as optimal
            level_status = SolveStatus.FEASIBLE
            message = (
                f"HiGHS reported objective {reported:g} but its solution vector has "
                f"{value}; kept as a feasible schedule, optimality not claimed"
            )
        if k == 0:
            raw = float(highs.getInfo().mip_dual_bound)
            bound = float(min(value, math.ceil(raw - 1e-6))) if math.isfinite(raw) else None
            if level_status == SolveStatus.OPTIMAL:
                bound = float(value)
        all_optimal &= level_status == SolveStatus.OPTIMAL
        status = SolveStatus.OPTIMAL if all_optimal else SolveStatus.FEASIBLE
        if k + 1 < len(levels):
            built._add(sum(w * built.terms[t] for w, t in level) <= value)
        if stop is not None and stop.is_set():
            break

    obj_value: float | None = None
    kpis: dict[str, float] = {}
    if schedule is not None:
        values = term_values(problem, schedule)
        obj_value = float(objective_value(objective, values))
        kpis = {str(t): float(v) for t, v in values.items()}
    return Result(
        name=problem.name,
        status=status,
        objective=obj_value,
        bound=bound if schedule is not None or status == SolveStatus.OPTIMAL else None,
        gap=relative_gap(obj_value, bound),
        makespan=max((r.end for r in schedule), default=0) if schedule else None,
        wall_s=round(time.monotonic() - started, 3),
        solver="milp",
        solver_version=solver_version(),
        parameters={
            "time_limit": float(time_limit),
            **{k: v for k, v in options.items() if k != "output_flag"},
            "objective": objective.kind,
            "levels": len(levels),
            "horizon": built.H,
            "horizon_from": horizon_from,
            "binaries": built.num_binaries,
            "constraints": len(m.c),
        },
        seed=seed,
        schedule=schedule or [],
        progress=history,
        kpis=kpis,
        message=message,
    )
