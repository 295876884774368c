"""The bucketed capacity and material plan: which orders run in which shift, day or week.

A plant of thousands of orders is too large for one detailed model, so it is first
*planned* in time buckets, as a MILP (Pyomo, solved by HiGHS):

- **Aggregation.** Each order's operations move together: every operation gets its
  earliest bucket (release, predecessors and minimum lags, its machine's calendar), and
  the plan picks one *shift* per order, the number of working buckets its whole chain is
  delayed (binary ``x[order, shift]``, at most ``max_shift`` buckets). Buckets in which no
  machine works (weekends, holidays) are skipped, so a shift counts working buckets and a
  chain keeps its shape. Pinned orders (an operation with ``Operation.fixed``) do not move.
  Precedence holds by construction: a successor is never in an earlier bucket than its
  predecessor, plus whole buckets of minimum lag.
- **Capacity.** Each operation loads its *pool* (the set of machines its modes may use:
  alternative machines of one group) with its fastest mode's setup plus run. For every
  pool and bucket, the load of the operations that can only use that pool's machines is
  at most ``utilisation`` times the working ticks of those machines in the bucket (the
  calendars): Hall's condition over the distinct pools, exact for nested groups.
- **Material.** Per material and bucket, stock = previous stock + receipts + what
  producing operations make in this bucket - what consumers take in it (bill of
  materials per operation); it may not go negative. Output counts in the bucket where
  its operation starts, so an intermediate made and used within one bucket (a chain's
  sub-assembly) is no shortage: the plan is a relaxation, never short where a
  stock-feasible schedule exists, and the detailed schedule orders the bucket's work.
- **Objective.** Weighted tardiness at bucket granularity (the order ends when its last
  operation's bucket starts plus that operation's work, at the earliest at its unshifted
  finish), inventory holding (stock summed over buckets) and a small pull towards early
  buckets; overload and shortage are allowed at a large penalty, so the MILP always has a
  solution (every order unshifted) and the plan says how much it breaks.

The MILP has ``orders x (max_shift + 1)`` binaries and a few hundred rows; ``max_columns``
caps the binaries (the shift range shrinks for very many orders). HiGHS gets a time limit
and its incumbent is taken; when it finds none, every order stays unshifted.
The detailed schedule is then made window by window (:mod:`aps.solvers.plan`).
"""

from __future__ import annotations

import math
import threading
import time
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Literal

from aps.heuristics.graph import topological_order
from aps.model import Id, Job, Problem
from aps.solvers.milp.runtime import TRANSLATE_LOCK, highs_threads
from aps.worktime import TickCalendar

Key = tuple[Id, Id]
BucketName = Literal["shift", "day", "week"]

#: bucket lengths in seconds
BUCKET_SECONDS: dict[str, int] = {"shift": 8 * 3600, "day": 24 * 3600, "week": 7 * 24 * 3600}
#: the automatic choice takes the shortest bucket giving at most this many buckets
MAX_AUTO_BUCKETS = 60
#: the greedy start's penalty per tick of overload and per unit of shortage
PENALTY = 1000.0
#: in the MILP, 60 ticks of overload (an hour of minute ticks), or a material's largest
#: single flow missing, cost this many times the costliest order's whole tardiness
OVERLOAD_FACTOR = 10.0
#: material rows are checked every few buckets when checking each would exceed this
MAX_MATERIAL_NONZEROS = 300_000


@dataclass
class Plan:
    """The plan: each operation's bucket, and what the MILP did.

    ``starts[b]`` is the first tick of working bucket ``b`` (``ends[b]`` its end); buckets
    without work (weekends) are not numbered. ``op_bucket`` maps ``(job, op)`` to a bucket.
    """

    bucket: str
    length: int
    starts: list[int]
    ends: list[int]
    op_bucket: dict[Key, int]
    shift: dict[Id, int]
    status: str
    objective: float | None = None
    bound: float | None = None
    overload: float = 0.0
    shortage: float = 0.0
    binaries: int = 0
    wall_s: float = 0.0
    message: str | None = None
    load: dict[tuple[str, int], float] = field(default_factory=dict)
    capacity: dict[tuple[str, int], float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """What a result records about the plan."""
        return {
            "bucket": self.bucket,
            "bucket_ticks": self.length,
            "buckets": len(self.starts),
            "status": self.status,
            "objective": self.objective,
            "bound": self.bound,
            "overload_ticks": round(self.overload, 1),
            "shortage_units": round(self.shortage, 1),
            "binaries": self.binaries,
            "orders_shifted": sum(1 for d in self.shift.values() if d > 0),
            "wall_s": round(self.wall_s, 3),
        }


def bucket_ticks(problem: Problem, bucket: str | int | None) -> tuple[str, int]:
    """``(name, ticks)`` of the bucket: given by name or ticks, else chosen by horizon.

    Without a time base a tick is taken as a minute. The automatic choice is the shortest
    of shift, day and week that covers the plan in at most ``MAX_AUTO_BUCKETS`` buckets.
    """
    tick_s = problem.time.tick_seconds if problem.time is not None else 60
    if isinstance(bucket, int):
        if bucket < 1:
            raise ValueError(f"bucket must be at least one tick, got {bucket}")
        return f"{bucket} ticks", bucket
    if bucket is not None:
        if bucket not in BUCKET_SECONDS:
            raise ValueError(f"bucket must be shift, day, week or ticks, not {bucket!r}")
        return bucket, max(1, BUCKET_SECONDS[bucket] // tick_s)
    span = _span(problem)
    for name in ("shift", "day", "week"):
        ticks = max(1, BUCKET_SECONDS[name] // tick_s)
        if math.ceil(span / ticks) <= MAX_AUTO_BUCKETS:
            return name, ticks
    return "week", max(1, BUCKET_SECONDS["week"] // tick_s)


def _span(problem: Problem) -> int:
    """The ticks the plan covers: the horizon, else the last due date, release or receipt."""
    if problem.horizon is not None:
        return problem.horizon
    ticks = [j.due or 0 for j in problem.jobs] + [j.release for j in problem.jobs]
    ticks += [r.time for m in problem.materials for r in m.receipts]
    ticks += [w.end for m in problem.machines for w in m.unavailable]
    return max([1, *ticks])


def _pool(job: Job, index: int) -> frozenset[Id]:
    return frozenset(md.machine for md in job.operations[index].modes)


def _work(job: Job, index: int) -> int:
    """Fastest mode's setup plus run (a pinned operation: its actual busy time)."""
    op = job.operations[index]
    if op.fixed is not None:
        busy = op.fixed.start if op.fixed.setup_start is None else op.fixed.setup_start
        return (op.fixed_end() or op.fixed.start) - busy
    return min(md.setup + md.duration for md in op.modes)


def earliest_starts(problem: Problem) -> dict[Key, tuple[int, int]]:
    """Each operation's earliest ``(start, end)`` tick, on its first mode's calendar.

    Releases, predecessors with minimum lags and pinned placements count; capacity does
    not. Interruptible or not, the work is laid over working time.
    """
    cals = {m.id: TickCalendar(m.unavailable) for m in problem.machines}
    out: dict[Key, tuple[int, int]] = {}
    for job in problem.jobs:
        preds: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for p, s, lag in job.predecessor_lags():
            preds[s].append((p, lag.min_lag))
        for i in topological_order(job):
            op = job.operations[i]
            if op.fixed is not None:
                end = op.fixed_end()
                assert end is not None
                out[(job.id, op.id)] = (op.fixed.start, end)
                continue
            est = max([job.release, *(out[(job.id, job.operations[p].id)][1] + lag
                                      for p, lag in preds[i])])  # fmt: skip
            cal = cals[op.modes[0].machine]
            start = cal.next_working(est)
            out[(job.id, op.id)] = (start, cal.add_working(start, _work(job, i)))
    return out


class Buckets:
    """Working buckets: the fixed-length buckets from tick 0 in which some machine works."""

    def __init__(self, problem: Problem, length: int, until: int) -> None:
        self.length = length
        self.cals = {m.id: TickCalendar(m.unavailable) for m in problem.machines}
        self.starts: list[int] = []
        t = 0
        # past the last calendar window every machine works: buckets are all active
        quiet = max([0, *(w.end for m in problem.machines for w in m.unavailable)])
        while t < until or t < quiet:
            if any(c.working(t, t + length) > 0 for c in self.cals.values()):
                self.starts.append(t)
            t += length

    def extend(self, count: int) -> None:
        """Make sure at least ``count`` buckets exist (later ones are always active)."""
        while len(self.starts) < count:
            nxt = (self.starts[-1] + self.length) if self.starts else 0
            # past the calendars' last window a bucket is active if any machine works
            while not any(c.working(nxt, nxt + self.length) > 0 for c in self.cals.values()):
                nxt += self.length
            self.starts.append(nxt)

    def index(self, tick: int) -> int:
        """The working bucket holding ``tick``, or the next one when it falls in a gap."""
        k = bisect_right(self.starts, tick) - 1
        if k < 0:
            return 0
        if tick >= self.starts[k] + self.length:
            k += 1
            self.extend(k + 1)
        return k

    def start(self, b: int) -> int:
        self.extend(b + 1)
        return self.starts[b]

    def end(self, b: int) -> int:
        return self.start(b) + self.length


def make_plan(
    problem: Problem,
    bucket: str | int | None = None,
    time_limit: float = 30.0,
    threads: int = 1,
    seed: int = 0,
    *,
    utilisation: float = 0.85,
    max_shift: int = 15,
    max_columns: int = 12_000,
    holding: float = 0.01,
    earliness: float = 0.01,
    stop: threading.Event | None = None,
) -> Plan:
    """Plan ``problem`` in buckets (see the module doc) within about ``time_limit`` seconds.

    ``utilisation`` leaves room for changeovers and sequencing the plan does not see;
    ``holding`` is the cost per unit of stock per bucket, ``earliness`` the pull per tick
    of delay (both small next to weighted tardiness, which counts per tick and weight).
    """
    started = time.monotonic()
    name, length = bucket_ticks(problem, bucket)
    es = earliest_starts(problem)
    until = max([_span(problem), *(e for _, e in es.values())]) + length
    grid = Buckets(problem, length, until)
    jobs = list(problem.jobs)
    base: dict[Key, int] = {k: grid.index(s) for k, (s, _) in es.items()}
    pinned = {j.id for j in jobs if any(o.fixed is not None for o in j.operations)}
    movable = [j for j in jobs if j.id not in pinned]
    shift_cap = max(0, min(max_shift, max_columns // max(1, len(movable)) - 1))
    grid.extend(max(base.values()) + shift_cap + 2)
    shifts = _shift_options(jobs, pinned, shift_cap, base, grid)
    pool_of = {(j.id, i): _pool(j, i) for j in jobs for i in range(len(j.operations))}
    work_of = {(j.id, i): _work(j, i) for j in jobs for i in range(len(j.operations))}
    pools = sorted(set(pool_of.values()), key=lambda p: sorted(map(str, p)))
    pool_name = {p: ",".join(sorted(map(str, p)))[:60] for p in pools}
    capacity = {
        (p, b): utilisation * sum(grid.cals[m].working(a, a + length) for m in p)
        for p in pools
        for b, a in enumerate(grid.starts)
    }
    columns, loads, flows = _columns(problem, grid, es, base, shifts, pool_of, work_of,
                                     holding, earliness)  # fmt: skip
    nb = len(grid.starts) + 1
    receipts: dict[tuple[Id, int], int] = defaultdict(int)
    for mat in problem.materials:
        for r in mat.receipts:
            receipts[(mat.id, min(grid.index(r.time), nb - 1))] += r.quantity
    start = _greedy_shifts(problem, jobs, shifts, loads, flows, receipts, pools, capacity, nb)
    building = time.monotonic()
    model = _Model(problem, columns, loads, flows, receipts, pools, capacity, nb)
    values = model.start_values(start, receipts)
    chosen, info = _solve(
        model, columns, values, start, time.monotonic() - building,
        started + time_limit, threads, seed, stop,
    )  # fmt: skip
    shift = {job.id: chosen.get(job.id, start[job.id]) for job in jobs}
    op_bucket = {k: b + shift[k[0]] for k, b in base.items()}
    load, overload = _load(jobs, shift, loads, pools, pool_name, capacity)
    grid.extend(max(op_bucket.values()) + 1)
    return Plan(
        bucket=name,
        length=length,
        starts=list(grid.starts),
        ends=[s + length for s in grid.starts],
        op_bucket=op_bucket,
        shift=shift,
        status=info["status"],
        objective=info.get("objective"),
        bound=info.get("bound"),
        overload=overload,
        shortage=_shortage(problem, op_bucket, receipts, nb),
        binaries=len(columns),
        wall_s=time.monotonic() - started,
        message=info.get("message"),
        load=load,
        capacity={(pool_name[p], b): c for (p, b), c in capacity.items()},
    )


Loads = dict[tuple[Id, int], list[tuple[frozenset[Id], int, int]]]  # (pool, bucket, work)
Flows = dict[tuple[Id, int], list[tuple[Id, int, int]]]  # (material, bucket, delta)


def _shift_options(
    jobs: list[Job], pinned: set[Id], shift_cap: int, base: dict[Key, int], grid: Buckets
) -> dict[Id, list[int]]:
    """Each order's candidate shifts in buckets: none when pinned, none past its deadline."""
    shifts: dict[Id, list[int]] = {}
    for job in jobs:
        options = [0] if job.id in pinned else list(range(shift_cap + 1))
        if job.deadline is not None:
            last = max(base[(job.id, o.id)] for o in job.operations)
            options = [d for d in options if d == 0 or grid.start(last + d) <= job.deadline]
        shifts[job.id] = options
    return shifts


def _columns(
    problem: Problem,
    grid: Buckets,
    es: dict[Key, tuple[int, int]],
    base: dict[Key, int],
    shifts: dict[Id, list[int]],
    pool_of: dict[tuple[Id, int], frozenset[Id]],
    work_of: dict[tuple[Id, int], int],
    holding: float,
    earliness: float,
) -> tuple[list[tuple[Id, int, float]], Loads, Flows]:
    """One column per (order, shift): its cost, and its loads and material flows by bucket."""
    columns: list[tuple[Id, int, float]] = []  # (job, shift, cost)
    loads: Loads = {}
    flows: Flows = {}
    obj_weight = _tardiness_weight(problem)
    horizon_buckets = len(grid.starts) + 1
    for job in problem.jobs:
        ends = [es[(job.id, o.id)][1] for o in job.operations]
        finish = max(ends)
        last = max(
            range(len(job.operations)),
            key=lambda i: (base[(job.id, job.operations[i].id)], ends[i]),
        )
        lb = base[(job.id, job.operations[last].id)]
        for d in shifts[job.id]:
            completion = max(finish, grid.start(lb + d) + work_of[(job.id, last)])
            tardy = max(0, completion - job.due) if job.due is not None else 0
            delay = grid.start(lb + d) - grid.start(lb)
            cost = obj_weight * job.weight * tardy + earliness * delay
            ld: list[tuple[frozenset[Id], int, int]] = []
            fl: list[tuple[Id, int, int]] = []
            for i, op in enumerate(job.operations):
                b = base[(job.id, op.id)] + d
                ld.append((pool_of[(job.id, i)], b, work_of[(job.id, i)]))
                for f in op.consumes:
                    fl.append((f.material, b, -f.quantity))
                for f in op.produces:
                    fl.append((f.material, b, f.quantity))  # usable within its bucket
            # stock summed over the buckets: a flow in bucket b counts in every later one
            cost += holding * sum(q * max(0, horizon_buckets - b) for _, b, q in fl)
            columns.append((job.id, d, cost))
            loads[(job.id, d)] = ld
            flows[(job.id, d)] = fl
    return columns, loads, flows


def _load(
    jobs: list[Job],
    shift: dict[Id, int],
    loads: Loads,
    pools: list[frozenset[Id]],
    pool_name: dict[frozenset[Id], str],
    capacity: dict[tuple[frozenset[Id], int], float],
) -> tuple[dict[tuple[str, int], float], float]:
    """The chosen plan's load per (pool, bucket), and its total overload."""
    load: dict[tuple[str, int], float] = defaultdict(float)
    for job in jobs:
        for p, b, w in loads[(job.id, shift[job.id])]:
            load[(pool_name[p], b)] += w
    overload = 0.0
    for (p, b), cap in capacity.items():
        # Hall's condition: everything confined to a sub-pool of p loads p
        used = sum(load[(pool_name[q], b)] for q in pools if q <= p)
        overload += max(0.0, used - cap)
    return dict(load), overload


def _tardiness_weight(problem: Problem) -> float:
    """The objective's weight of weighted tardiness (1 when it is not a term)."""
    for t in problem.objective.terms:
        if t.term == "weighted_tardiness":
            return float(t.weight)
    return 1.0


def _shortage(
    problem: Problem, op_bucket: dict[Key, int], receipts: dict[tuple[Id, int], int], nb: int
) -> float:
    """Units missing over the buckets when the plan's consumption runs ahead of supply."""
    delta: dict[tuple[Id, int], int] = defaultdict(int)
    for job in problem.jobs:
        for op in job.operations:
            b = op_bucket[(job.id, op.id)]
            for f in op.consumes:
                delta[(f.material, b)] -= f.quantity
            for f in op.produces:
                delta[(f.material, b)] += f.quantity
    top = max([nb, *(b + 2 for _, b in delta)])
    missing = 0.0
    for mat in problem.materials:
        stock = mat.initial
        for b in range(top):
            stock += receipts.get((mat.id, b), 0) + delta.get((mat.id, b), 0)
            missing += max(0, -stock)
    return missing


def _solve(
    model: _Model,
    columns: list[tuple[Id, int, float]],
    values: dict[int, float],
    start: dict[Id, int],
    built: float,
    deadline: float,
    threads: int,
    seed: int,
    stop: threading.Event | None,
) -> tuple[dict[Id, int], dict[str, Any]]:
    """Run HiGHS on the plan's model from the greedy plan ``values``; each order's shift
    and what happened."""
    opt, highs = _run_highs(model.m, values, deadline, threads, seed, stop)
    info = highs.getInfo()
    status = highs.modelStatusToString(highs.getModelStatus())
    out: dict[str, Any] = {"status": status, "build_s": round(built, 2)}
    if info.primal_solution_status != 2:
        out["message"] = f"HiGHS found no plan ({status}); the greedy plan is kept"
        return dict(start), out
    column = opt._pyomo_var_to_solver_var_map
    solution = highs.getSolution().col_value
    chosen: dict[Id, int] = {}
    for c, (job_id, d, _) in enumerate(columns):
        col = column.get(id(model.m.x[c]))
        if col is not None and solution[col] > 0.5:
            chosen[job_id] = d
    out["objective"] = float(info.objective_function_value)
    out["bound"] = float(info.mip_dual_bound)
    return chosen, out


class _Model:
    """The plan's MILP in Pyomo: one binary per column, exactly one column per order,
    capacity per (pool, bucket) with an overload slack, cumulative stock at checkpoints
    with a shortage slack; both slacks cost far more than any column."""

    def __init__(
        self,
        problem: Problem,
        columns: list[tuple[Id, int, float]],
        loads: Loads,
        flows: Flows,
        receipts: dict[tuple[Id, int], int],
        pools: list[frozenset[Id]],
        capacity: dict[tuple[frozenset[Id], int], float],
        nb: int,
    ) -> None:
        import pyomo.environ as pyo  # loaded lazily: Pyomo is heavy and optional

        self.columns, self.pools, self.capacity = columns, pools, capacity
        self.m = m = pyo.ConcreteModel()
        m.x = pyo.Var(range(len(columns)), domain=pyo.Binary)
        by_job: dict[Id, list[int]] = defaultdict(list)
        self.load_terms: dict[tuple[frozenset[Id], int], list[tuple[int, float]]] = defaultdict(
            list
        )
        self.flow_terms: dict[tuple[Id, int], list[tuple[int, float]]] = defaultdict(list)
        for c, (job_id, d, _) in enumerate(columns):
            by_job[job_id].append(c)
            for p, b, w in loads[(job_id, d)]:
                if w > 0:
                    self.load_terms[(p, b)].append((c, float(w)))
            for mid, b, qty in flows[(job_id, d)]:
                self.flow_terms[(mid, min(b, nb - 1))].append((c, float(qty)))
        m.one = pyo.ConstraintList()
        for cols in by_job.values():
            m.one.add(sum(m.x[c] for c in cols) == 1)
        self._capacity(pyo, nb)
        self._stock(pyo, problem, receipts, nb)
        big = OVERLOAD_FACTOR * max([1.0, *(cost for _, _, cost in columns)])
        m.obj = pyo.Objective(
            expr=sum(cost * m.x[c] for c, (_, _, cost) in enumerate(columns) if cost)
            + big / 60 * sum(m.over.values())
            + big * sum(m.short.values())
        )

    def _capacity(self, pyo: Any, nb: int) -> None:
        """Capacity with an overload slack per (pool, bucket) that has load."""
        m, pools, terms_of = self.m, self.pools, self.load_terms
        self.keys = [(p, b) for p in pools for b in range(nb)
                     if any((q, b) in terms_of for q in pools if q <= p)]  # fmt: skip
        m.over = pyo.Var(range(len(self.keys)), domain=pyo.NonNegativeReals)
        m.cap = pyo.ConstraintList()
        for k, (p, b) in enumerate(self.keys):
            terms = [m.x[c] * w for q in pools if q <= p for c, w in terms_of.get((q, b), ())]
            m.cap.add(sum(terms) <= self.capacity.get((p, b), 0.0) + m.over[k])

    def _stock(
        self, pyo: Any, problem: Problem, receipts: dict[tuple[Id, int], int], nb: int
    ) -> None:
        """Cumulative stock at checkpoints (the bucket before each receipt, where stock is
        lowest, every ``step`` buckets and the last) may not go negative. Levels as free
        variables made HiGHS's root LP slow; cumulative rows keep it fast."""
        m, flow_terms = self.m, self.flow_terms
        mats = [mat for mat in problem.materials if any(k[0] == mat.id for k in flow_terms)]
        # one unit per material = its largest single flow: keeps the LP well scaled
        self.unit = {
            mat.id: max([1.0, *(abs(q) for b in range(nb)
                                 for _, q in flow_terms.get((mat.id, b), ()))])
            for mat in mats
        }  # fmt: skip
        flow_nnz = sum(len(v) for v in flow_terms.values())
        step = max(1, math.ceil(flow_nnz * nb / 2 / MAX_MATERIAL_NONZEROS))
        self.checks: list[tuple[Id, int]] = []
        for mat in mats:
            points = {nb - 1, *range(step - 1, nb, step)}
            points.update(b - 1 for (mid, b) in receipts if mid == mat.id and b > 0)
            self.checks.extend((mat.id, t) for t in sorted(points))
        m.short = pyo.Var(range(len(self.checks)), domain=pyo.NonNegativeReals)
        m.stock = pyo.ConstraintList()
        self.by_id = {mat.id: mat for mat in mats}
        for k, (mid, t) in enumerate(self.checks):
            u = self.unit[mid]
            supply = self.by_id[mid].initial + sum(receipts.get((mid, b), 0) for b in range(t + 1))
            flow = sum(
                m.x[c] * (q / u) for b in range(t + 1) for c, q in flow_terms.get((mid, b), ())
            )
            m.stock.add(flow + m.short[k] >= -supply / u)

    def start_values(
        self, start: dict[Id, int], receipts: dict[tuple[Id, int], int]
    ) -> dict[int, float]:
        """The greedy plan's value of every variable (by ``id``): HiGHS's MIP start."""
        m, pools = self.m, self.pools
        picked = {c for c, (job_id, d, _) in enumerate(self.columns) if start.get(job_id, 0) == d}
        values: dict[int, float] = {id(m.x[c]): 1.0 for c in picked}
        for k, (p, b) in enumerate(self.keys):
            used = sum(w for q in pools if q <= p for c, w in self.load_terms.get((q, b), ())
                       if c in picked)  # fmt: skip
            values[id(m.over[k])] = max(0.0, used - self.capacity.get((p, b), 0.0))
        for k, (mid, t) in enumerate(self.checks):
            run = float(
                self.by_id[mid].initial + sum(receipts.get((mid, b), 0) for b in range(t + 1))
            )
            run += sum(q for b in range(t + 1) for c, q in self.flow_terms.get((mid, b), ())
                       if c in picked)  # fmt: skip
            values[id(m.short[k])] = max(0.0, -run / self.unit[mid])
        return values


def _run_highs(
    m: Any,
    values: dict[int, float],
    deadline: float,
    threads: int,
    seed: int,
    stop: threading.Event | None,
) -> tuple[Any, Any]:
    """Run HiGHS on ``m`` from the MIP start until ``deadline`` or ``stop``; (appsi
    solver, its ``highspy`` model)."""
    from pyomo.contrib.appsi.solvers import Highs  # with Pyomo, loaded lazily

    opt = Highs()
    with highs_threads(max(1, threads)) as granted:
        with TRANSLATE_LOCK:
            opt.set_instance(m)
        highs = opt._solver_model
        for key, value in {
            "threads": granted,
            "random_seed": int(seed),
            "output_flag": False,
            "mip_rel_gap": 1e-3,
            # probing can take the whole limit on plans of thousands of orders
            "presolve_rule_off": 1 << 15,
            "time_limit": max(1.0, deadline - time.monotonic()),
        }.items():
            highs.setOptionValue(key, value)
        _set_start(highs, opt, m, values)

        def interrupt(event: Any) -> None:
            # HiGHS's own time limit is not checked inside a long root LP: enforce it here
            if time.monotonic() > deadline or (stop is not None and stop.is_set()):
                event.interrupt()

        highs.cbSimplexInterrupt += interrupt
        highs.cbIpmInterrupt += interrupt
        highs.cbMipInterrupt += interrupt
        # and, should no callback fire in time, cancel from outside at the deadline
        timer = threading.Timer(max(0.0, deadline - time.monotonic()) + 1.0, highs.cancelSolve)
        timer.daemon = True
        timer.start()
        try:
            highs.run()
        finally:
            timer.cancel()
    return opt, highs


def _greedy_shifts(
    problem: Problem,
    jobs: list[Job],
    shifts: dict[Id, list[int]],
    loads: dict[tuple[Id, int], list[tuple[frozenset[Id], int, int]]],
    flows: dict[tuple[Id, int], list[tuple[Id, int, int]]],
    receipts: dict[tuple[Id, int], int],
    pools: list[frozenset[Id]],
    capacity: dict[tuple[frozenset[Id], int], float],
    nb: int,
) -> dict[Id, int]:
    """A first plan for HiGHS to improve: orders by due date (material makers first), each
    at the smallest shift that fits capacity and stock, else the least overloaded one."""
    produced = {f.material for j in jobs for o in j.operations for f in o.produces}
    consumed = {f.material for j in jobs for o in j.operations for f in o.consumes}

    def rank(job: Job) -> tuple[int, int, int]:
        makes = any(f.material in consumed for o in job.operations for f in o.produces)
        needs = any(f.material in produced for o in job.operations for f in o.consumes)
        due = job.due if job.due is not None else (job.deadline or 1 << 40)
        return (0 if makes and not needs else 1, due, job.release)

    supers = {p: [q for q in pools if p <= q] for p in pools}
    used: dict[tuple[frozenset[Id], int], float] = defaultdict(float)
    level: dict[Id, list[float]] = {}
    for mat in problem.materials:
        run, row = float(mat.initial), []
        for b in range(nb):
            run += receipts.get((mat.id, b), 0)
            row.append(run)
        level[mat.id] = row
    out: dict[Id, int] = {}
    for job in sorted(jobs, key=rank):
        best: tuple[float, int] | None = None
        for d in shifts[job.id]:
            over = 0.0
            extra: dict[tuple[frozenset[Id], int], float] = defaultdict(float)
            for p, b, w in loads[(job.id, d)]:
                for q in supers[p]:  # a pool's load counts in every pool containing it
                    extra[(q, b)] += w
            for key, add in extra.items():
                over += max(0.0, used[key] + add - max(capacity.get(key, 0.0), used[key]))
            short = 0.0
            if over == 0:
                for mid, b, qty in flows[(job.id, d)]:
                    if qty < 0:
                        short += max(0.0, -qty - min(level[mid][min(b, nb - 1) :], default=0.0))
            score = PENALTY * (over + short)
            if best is None or score < best[0]:
                best = (score, d)
            if score == 0:
                break
        assert best is not None
        d = best[1]
        out[job.id] = d
        for p, b, w in loads[(job.id, d)]:
            for q in supers[p]:
                used[(q, b)] += w
        for mid, b, qty in flows[(job.id, d)]:
            row = level[mid]
            for t in range(min(b, nb - 1), nb):
                row[t] += qty
    return out


def _set_start(highs: Any, opt: Any, m: Any, values: dict[int, float]) -> None:
    """Give HiGHS the greedy plan as a complete MIP start (every column valued)."""
    import highspy

    column = opt._pyomo_var_to_solver_var_map
    vector = [0.0] * highs.getNumCol()
    for var_id, value in values.items():
        col = column.get(var_id)
        if col is not None:
            vector[col] = value
    solution = highspy.HighsSolution()
    solution.col_value = vector
    solution.value_valid = True
    highs.setSolution(solution)
