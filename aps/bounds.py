"""Bounds every backend shares: the serial horizon (an upper bound on any optimal
schedule's end) and the simple makespan lower bound."""

from __future__ import annotations

from aps.model import Id, Problem


def horizon_of(problem: Problem) -> int:
    """A horizon no optimal schedule needs to exceed (serial after every fixed event)."""
    if problem.horizon is not None:
        return problem.horizon
    base = 0
    for m in problem.machines:
        if m.unavailable:
            base = max(base, m.unavailable[-1].end)
    for mat in problem.materials:
        for r in mat.receipts:
            base = max(base, r.time)
    max_change = {
        name: max(
            [v for row in mx.changeover.values() for v in row.values()]
            + list(mx.initial.values())
            + [0]
        )
        for name, mx in problem.setup_matrices.items()
    }
    machines = {m.id: m for m in problem.machines}
    total = 0
    for job in problem.jobs:
        base = max(base, job.release)
        for op in job.operations:
            base = max(base, op.fixed_end() or 0)
            total += max(
                m.duration
                + m.setup
                + (
                    max_change[machines[m.machine].setup_matrix or ""]
                    if machines[m.machine].setup_matrix
                    else 0
                )
                for m in op.modes
            )
        for _, _, lag in job.predecessor_lags():
            total += max(0, lag.min_lag)
    return base + total + 1


def simple_lower_bound(problem: Problem) -> int:
    """Simple makespan bound: the longest job path and the busiest single-mode machine."""
    job_lb = 0
    for job in problem.jobs:
        finish = [0] * len(job.operations)
        ready = [job.release] * len(job.operations)
        order = sorted(job.predecessor_lags(), key=lambda t: t[0])
        by_pred: dict[int, list[tuple[int, int]]] = {}
        indeg = [0] * len(job.operations)
        for p, q, lag in order:
            by_pred.setdefault(p, []).append((q, lag.min_lag))
            indeg[q] += 1
        stack = [i for i, d in enumerate(indeg) if d == 0]
        while stack:
            i = stack.pop()
            pinned = job.operations[i].fixed_end()
            finish[i] = (
                pinned  # a fact, whatever the release says
                if pinned is not None
                else min(max(ready[i], md.setup) + md.duration for md in job.operations[i].modes)
            )
            for q, min_lag in by_pred.get(i, ()):
                ready[q] = max(ready[q], finish[i] + min_lag)
                indeg[q] -= 1
                if indeg[q] == 0:
                    stack.append(q)
        job_lb = max(job_lb, *finish)
    load: dict[Id, int] = {}
    for job in problem.jobs:
        for op in job.operations:
            if op.fixed is not None:
                f = op.fixed
                busy_from = f.start if f.setup_start is None else f.setup_start
                load[f.machine] = load.get(f.machine, 0) + (op.fixed_end() or f.start) - busy_from
            elif len(op.modes) == 1:
                md = op.modes[0]
                load[md.machine] = load.get(md.machine, 0) + md.duration + md.setup
    return max([job_lb, *load.values()])
