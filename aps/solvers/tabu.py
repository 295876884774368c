"""Tabu search on the job shop's disjunctive graph (N5 neighbourhood), compiled with numba.

A solution is one sequence per machine. Each iteration computes heads by a topological
pass, walks one critical path, splits it into blocks of consecutive operations on one
machine, and tries the N5 moves (swap the first two or the last two operations of a
block, Nowicki & Smutnicki 1996). The best non-tabu move is applied (a tabu move is
allowed when it beats the best makespan); after a long stall the search jumps back to
the best solution and perturbs it. Swapping adjacent critical operations never creates
a cycle, so every visited solution is feasible.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import NDArray

from aps.model import Problem
from aps.result import ScheduledOperation
from aps.validate import makespan

I64 = NDArray[np.int64]


@dataclass
class JobShopArrays:
    """Flat arrays of a classic job shop (operation k of job j is ``offsets[j] + o``)."""

    machine: I64
    duration: I64
    job_pred: I64
    job_succ: I64
    job_of: I64
    op_of: I64
    n_machines: int

    @classmethod
    def from_problem(cls, problem: Problem) -> JobShopArrays:
        index = problem.machine_index()
        machine, duration, jp, js, job_of, op_of = [], [], [], [], [], []
        k = 0
        for j, job in enumerate(problem.jobs):
            n = len(job.operations)
            for o, op in enumerate(job.operations):
                machine.append(index[op.modes[0].machine])
                duration.append(op.modes[0].duration)
                jp.append(k - 1 if o > 0 else -1)
                js.append(k + 1 if o < n - 1 else -1)
                job_of.append(j)
                op_of.append(o)
                k += 1
        return cls(
            _arr(machine), _arr(duration), _arr(jp), _arr(js), _arr(job_of), _arr(op_of),
            len(problem.machines),
        )  # fmt: skip

    def sequences_from(self, problem: Problem, schedule: list[ScheduledOperation]) -> I64:
        """Machine sequences (concatenated by machine) ordered by start in ``schedule``."""
        starts = {(r.job, r.op): r.start for r in schedule}
        keys = []
        for k in range(len(self.machine)):
            job = problem.jobs[self.job_of[k]]
            keys.append((self.machine[k], starts[(job.id, job.operations[self.op_of[k]].id)], k))
        keys.sort()
        return np.asarray([k for _, _, k in keys], dtype=np.int64)

    def schedule(self, problem: Problem, start: I64) -> list[ScheduledOperation]:
        out = []
        for k in range(len(self.machine)):
            job = problem.jobs[int(self.job_of[k])]
            op = job.operations[int(self.op_of[k])]
            s = int(start[k])
            out.append(ScheduledOperation(job=job.id, op=op.id, machine=op.modes[0].machine,
                                          start=s, end=s + int(self.duration[k])))  # fmt: skip
        return out


def _arr(values: list[int]) -> I64:
    return np.asarray(values, dtype=np.int64)


@njit(cache=True, nogil=True)
def _links(seq: I64, machine: I64, n: int, mpred: I64, msucc: I64) -> None:
    for i in range(n):
        mpred[i] = -1
        msucc[i] = -1
    for p in range(1, n):
        a, b = seq[p - 1], seq[p]
        if machine[a] == machine[b]:
            mpred[b] = a
            msucc[a] = b


@njit(cache=True, nogil=True)
def _heads(
    dur: I64, jp: I64, js: I64, mpred: I64, msucc: I64, start: I64, indeg: I64, queue: I64
) -> int:
    """Earliest starts by a topological pass; returns the makespan (-1 on a cycle)."""
    n = dur.shape[0]
    head = 0
    tail = 0
    for k in range(n):
        d = 0
        if jp[k] >= 0:
            d += 1
        if mpred[k] >= 0:
            d += 1
        indeg[k] = d
        start[k] = 0
        if d == 0:
            queue[tail] = k
            tail += 1
    cmax = 0
    while head < tail:
        k = queue[head]
        head += 1
        end = start[k] + dur[k]
        if end > cmax:
            cmax = end
        s = js[k]
        if s >= 0:
            if end > start[s]:
                start[s] = end
            indeg[s] -= 1
            if indeg[s] == 0:
                queue[tail] = s
                tail += 1
        s = msucc[k]
        if s >= 0:
            if end > start[s]:
                start[s] = end
            indeg[s] -= 1
            if indeg[s] == 0:
                queue[tail] = s
                tail += 1
    if tail < n:
        return -1
    return cmax


@njit(cache=True, nogil=True)
def _swap(u: int, v: int, seq: I64, pos: I64, mpred: I64, msucc: I64) -> None:
    """Swap machine-adjacent u (before v) and v."""
    pu, pv = pos[u], pos[v]
    seq[pu], seq[pv] = v, u
    pos[u], pos[v] = pv, pu
    a = mpred[u]
    b = msucc[v]
    mpred[v] = a
    msucc[v] = u
    mpred[u] = v
    msucc[u] = b
    if a >= 0:
        msucc[a] = v
    if b >= 0:
        mpred[b] = u


@njit(cache=True, nogil=True)
def _critical_moves(dur: I64, jp: I64, mpred: I64, start: I64, path: I64, mu: I64, mv: I64) -> int:
    """N5 moves of one critical path into (mu, mv); returns how many (0: optimal)."""
    n = dur.shape[0]
    last = 0
    for k in range(n):
        if start[k] + dur[k] > start[last] + dur[last]:
            last = k
    plen = 0
    k = last
    while k >= 0:
        path[plen] = k
        plen += 1
        a = mpred[k]
        if a >= 0 and start[a] + dur[a] == start[k]:
            k = a
        elif jp[k] >= 0 and start[jp[k]] + dur[jp[k]] == start[k]:
            k = jp[k]
        else:
            k = -1
    # path[plen-1] is the first operation; blocks are machine-adjacent runs
    nm = 0
    i = plen - 1
    first_block = True
    while i >= 0:
        j = i
        while j - 1 >= 0 and mpred[path[j - 1]] == path[j]:
            j -= 1
        size = i - j + 1
        last_block = j == 0
        if size >= 2:
            if not first_block:
                mu[nm] = path[i]
                mv[nm] = path[i - 1]
                nm += 1
            if not last_block and not (size == 2 and not first_block):
                mu[nm] = path[j + 1]
                mv[nm] = path[j]
                nm += 1
        first_block = False
        i = j - 1
    return nm


@njit(cache=True, nogil=True)
def _search(
    dur: I64,
    jp: I64,
    js: I64,
    machine: I64,
    seq: I64,
    best_seq: I64,
    iterations: int,
    stall_limit: int,
    tenure: int,
    seed: int,
    state: I64,
) -> int:
    """Run ``iterations`` tabu steps from ``seq``; keeps the best in ``best_seq``.

    ``state`` carries [best makespan, stall counter, iterations, restarts without an
    improvement, optimal flag] between calls.
    """
    np.random.seed(seed)
    n = dur.shape[0]
    mpred = np.empty(n, np.int64)
    msucc = np.empty(n, np.int64)
    pos = np.empty(n, np.int64)
    start = np.empty(n, np.int64)
    indeg = np.empty(n, np.int64)
    queue = np.empty(n, np.int64)
    path = np.empty(n, np.int64)
    mu = np.empty(2 * n, np.int64)
    mv = np.empty(2 * n, np.int64)
    ties = np.empty(2 * n, np.int64)
    tabu_u = np.full(64, -1, np.int64)
    tabu_v = np.full(64, -1, np.int64)
    tabu_len = min(tenure, 64)
    tabu_at = 0
    for p in range(n):
        pos[seq[p]] = p
    _links(seq, machine, n, mpred, msucc)
    best = state[0]
    stall = state[1]
    it0 = state[2]
    kicks = state[3]
    cur = _heads(dur, jp, js, mpred, msucc, start, indeg, queue)
    if best < 0 or cur < best:
        best = cur
        best_seq[:] = seq
    for _ in range(iterations):
        nm = _critical_moves(dur, jp, mpred, start, path, mu, mv)
        if nm == 0:
            state[4] = 1  # one block or one job chain is critical: a lower bound, optimal
            break
        best_val = 1 << 62
        nties = 0
        for q in range(nm):
            u, v = mu[q], mv[q]
            is_tabu = False
            for t in range(tabu_len):
                if tabu_u[t] == v and tabu_v[t] == u:
                    is_tabu = True
                    break
            _swap(u, v, seq, pos, mpred, msucc)
            val = _heads(dur, jp, js, mpred, msucc, start, indeg, queue)
            _swap(v, u, seq, pos, mpred, msucc)
            if val < 0 or (is_tabu and val >= best):
                continue
            if val < best_val:
                best_val = val
                nties = 0
            if val == best_val:
                ties[nties] = q
                nties += 1
        q = ties[np.random.randint(nties)] if nties > 0 else np.random.randint(nm)
        u, v = mu[q], mv[q]
        _swap(u, v, seq, pos, mpred, msucc)
        tabu_u[tabu_at] = u
        tabu_v[tabu_at] = v
        tabu_at = (tabu_at + 1) % tabu_len
        cur = _heads(dur, jp, js, mpred, msucc, start, indeg, queue)
        if cur < best:
            best = cur
            best_seq[:] = seq
            stall = 0
            kicks = 0
        else:
            stall += 1
        if stall >= stall_limit:
            # back to the best, then a kick of random critical moves that grows while
            # restarts keep failing (moves are recomputed after every step)
            kicks += 1
            seq[:] = best_seq
            for p in range(n):
                pos[seq[p]] = p
            _links(seq, machine, n, mpred, msucc)
            cur = _heads(dur, jp, js, mpred, msucc, start, indeg, queue)
            strength = min(2 + kicks, 2 + n // 10)
            for _ in range(strength):
                nk = _critical_moves(dur, jp, mpred, start, path, mu, mv)
                if nk == 0:
                    break
                q = np.random.randint(nk)
                _swap(mu[q], mv[q], seq, pos, mpred, msucc)
                cur = _heads(dur, jp, js, mpred, msucc, start, indeg, queue)
            stall = 0
            for t in range(64):
                tabu_u[t] = -1
                tabu_v[t] = -1
    state[0] = best
    state[1] = stall
    state[2] = it0 + iterations
    state[3] = kicks
    return best


@njit(cache=True, nogil=True)
def _starts_of(dur: I64, jp: I64, js: I64, machine: I64, seq: I64) -> I64:
    n = dur.shape[0]
    mpred = np.empty(n, np.int64)
    msucc = np.empty(n, np.int64)
    start = np.empty(n, np.int64)
    indeg = np.empty(n, np.int64)
    queue = np.empty(n, np.int64)
    _links(seq, machine, n, mpred, msucc)
    _heads(dur, jp, js, mpred, msucc, start, indeg, queue)
    return start


def warm_up() -> None:
    """Compile the numba kernels now (cached on disk), so no timed solve pays for it."""
    problem = Problem.model_validate(
        {
            "machines": [{"id": 0}, {"id": 1}],
            "jobs": [
                {"id": 0, "operations": [{"id": 0, "modes": [{"machine": 0, "duration": 2}]},
                                         {"id": 1, "modes": [{"machine": 1, "duration": 1}]}]},
                {"id": 1, "operations": [{"id": 0, "modes": [{"machine": 1, "duration": 2}]},
                                         {"id": 1, "modes": [{"machine": 0, "duration": 1}]}]},
            ],
        }
    )  # fmt: skip
    rows = [
        ScheduledOperation(job=0, op=0, machine=0, start=0, end=2),
        ScheduledOperation(job=0, op=1, machine=1, start=2, end=3),
        ScheduledOperation(job=1, op=0, machine=1, start=3, end=5),
        ScheduledOperation(job=1, op=1, machine=0, start=5, end=6),
    ]
    tabu_search(problem, rows, time_limit=0.01)


def tabu_search(
    problem: Problem,
    initial: list[ScheduledOperation],
    time_limit: float,
    seed: int = 0,
    stall_limit: int | None = None,
    lower_bound: int = 0,
    stop: threading.Event | None = None,
    on_improve: Callable[[list[ScheduledOperation], int], object] | None = None,
    report_every: float = 0.0,
) -> tuple[list[ScheduledOperation], int]:
    """Improve ``initial`` for ``time_limit`` seconds; returns (schedule, makespan).

    ``on_improve`` gets every improvement (checked between chunks of iterations), and
    setting ``stop`` ends the search at the next chunk.
    """
    a = JobShopArrays.from_problem(problem)
    seq = a.sequences_from(problem, initial)
    best_seq = seq.copy()
    n = len(a.machine)
    tenure = int(min(60, 8 + n // a.n_machines // 2))
    stall = stall_limit if stall_limit is not None else max(500, 4 * n)
    state = np.asarray([-1, 0, 0, 0, 0], dtype=np.int64)
    deadline = time.monotonic() + time_limit
    chunk = 50
    round_ = 0
    reported = makespan(initial)
    last_report = 0.0
    while True:
        t0 = time.monotonic()
        best = _search(a.duration, a.job_pred, a.job_succ, a.machine, seq, best_seq, chunk,
                       stall, tenure, seed + round_, state)  # fmt: skip
        round_ += 1
        took = time.monotonic() - t0
        if (
            on_improve is not None
            and best < reported
            and time.monotonic() - last_report >= report_every
        ):
            reported = best
            last_report = time.monotonic()
            start = _starts_of(a.duration, a.job_pred, a.job_succ, a.machine, best_seq)
            on_improve(a.schedule(problem, start), int(best))
        if best <= lower_bound or state[4] or time.monotonic() + took >= deadline:
            break
        if stop is not None and stop.is_set():
            break
        if took < 0.05:
            chunk = min(chunk * 2, 100000)
    start = _starts_of(a.duration, a.job_pred, a.job_succ, a.machine, best_seq)
    final = a.schedule(problem, start)
    if on_improve is not None and int(state[0]) < reported:
        on_improve(final, int(state[0]))
    return final, int(state[0])
