"""Event-driven dispatching for (flexible) job shops in O(N log N), compiled.

The plant construction (:mod:`.construct`) rescans every ready operation at every step,
which is fine for thousands of operations and hopeless for a million. Here every machine
keeps two binary heaps in flat arrays: operations waiting for their job (keyed by the
tick they become ready) and operations ready to start (keyed by the rule's priority). A
global heap holds each machine's next decision time. The machine that can start
something first takes the best ready operation (non-delay list scheduling, the parallel
schedule generation scheme); its job successor is pushed on its own eligible machines.
An operation of a flexible shop waits on every eligible machine and is taken by the
first that decides, unless another eligible machine that is free no later would finish
it sooner. Each operation is pushed a bounded number of times per eligible machine.

Priorities (higher first): ``mwkr`` (most work remaining in the job, the default),
``spt`` (shortest processing time), ``mor`` (most operations remaining).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from aps.heuristics.arrays import I64
from aps.model import Problem
from aps.result import ScheduledOperation

RULES = ("mwkr", "spt", "mor")


class ShopArrays:
    """A (flexible) job shop as arrays: job chains and modes (CSR), built in linear time."""

    def __init__(self, problem: Problem) -> None:
        index = problem.machine_index()
        pred, succ, counts, machine, duration = [], [], [], [], []
        k = 0
        for job in problem.jobs:
            n = len(job.operations)
            for o, op in enumerate(job.operations):
                pred.append(k - 1 if o > 0 else -1)
                succ.append(k + 1 if o < n - 1 else -1)
                counts.append(len(op.modes))
                for md in op.modes:
                    machine.append(index[md.machine])
                    duration.append(md.duration)
                k += 1
        self.job_pred = np.asarray(pred, dtype=np.int64)
        self.job_succ = np.asarray(succ, dtype=np.int64)
        self.mode_ptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        self.mode_machine = np.asarray(machine, dtype=np.int64)
        self.mode_duration = np.asarray(duration, dtype=np.int64)
        self.n_machines = len(problem.machines)

    def priority(self, rule: str) -> I64:
        """Per operation, larger first, for ``rule`` (see the module docstring)."""
        shortest = np.minimum.reduceat(self.mode_duration, self.mode_ptr[:-1])
        if rule == "spt":
            return -shortest
        out = np.zeros(len(self.job_pred), dtype=np.int64)
        _remaining(self.job_succ, shortest if rule == "mwkr" else np.ones_like(shortest), out)
        return out

    def dispatch(self, rule: str = "mwkr") -> tuple[int, I64, I64, I64]:
        """(makespan, start, end, mode index) of ``rule``'s schedule."""
        n = len(self.job_pred)
        start = np.zeros(n, dtype=np.int64)
        end = np.zeros(n, dtype=np.int64)
        chosen = np.zeros(n, dtype=np.int64)
        cmax = dispatch_shop(self.job_pred, self.job_succ, self.mode_ptr, self.mode_machine,
                             self.mode_duration, self.priority(rule), self.n_machines, start,
                             end, chosen)  # fmt: skip
        return int(cmax), start, end, chosen

    def rows(self, problem: Problem, start: I64, end: I64, chosen: I64) -> list[ScheduledOperation]:
        """The times as schedule rows."""
        machines = [m.id for m in problem.machines]
        out = []
        k = 0
        for job in problem.jobs:
            for op in job.operations:
                out.append(ScheduledOperation(
                    job=job.id, op=op.id, machine=machines[int(self.mode_machine[chosen[k]])],
                    start=int(start[k]), end=int(end[k]),
                ))  # fmt: skip
                k += 1
        return out


@njit(cache=True, nogil=True)
def _remaining(job_succ: I64, work: I64, out: I64) -> None:
    """Work from each operation to its job's end (chains), walking each chain backwards."""
    n = len(job_succ)
    for i in range(n - 1, -1, -1):
        s = job_succ[i]
        out[i] = work[i] + (out[s] if s >= 0 else 0)


@njit(cache=True, nogil=True, inline="always")
def _push(key: I64, val: I64, base: int, size: I64, h: int, k: int, v: int) -> None:
    """Push (k, v) on heap ``h`` stored at ``key/val[base:base + size[h]]`` (min-heap)."""
    i = size[h]
    size[h] += 1
    while i > 0:
        parent = (i - 1) // 2
        if key[base + parent] <= k:
            break
        key[base + i], val[base + i] = key[base + parent], val[base + parent]
        i = parent
    key[base + i], val[base + i] = k, v


@njit(cache=True, nogil=True, inline="always")
def _pop(key: I64, val: I64, base: int, size: I64, h: int) -> tuple[int, int]:
    """Pop the smallest (k, v) of heap ``h``."""
    top_k, top_v = key[base], val[base]
    size[h] -= 1
    n = size[h]
    k, v = key[base + n], val[base + n]
    i = 0
    while True:
        c = 2 * i + 1
        if c >= n:
            break
        if c + 1 < n and key[base + c + 1] < key[base + c]:
            c += 1
        if key[base + c] >= k:
            break
        key[base + i], val[base + i] = key[base + c], val[base + c]
        i = c
    if n > 0:
        key[base + i], val[base + i] = k, v
    return top_k, top_v


@njit(cache=True, nogil=True)
def dispatch_shop(
    job_pred: I64,
    job_succ: I64,
    mode_ptr: I64,
    mode_machine: I64,
    mode_duration: I64,
    priority: I64,
    n_machines: int,
    start: I64,
    end: I64,
    chosen: I64,
) -> int:
    """Schedule every operation; times into ``start``/``end``, modes into ``chosen``;
    returns the makespan. ``priority``: larger first (ties: lower operation index)."""
    n = len(job_pred)
    # heap room per machine: one slot per mode on it (each heap holds an operation once)
    cap = np.zeros(n_machines + 1, dtype=np.int64)
    for md in range(len(mode_machine)):
        cap[mode_machine[md] + 1] += 1
    for m in range(n_machines):
        cap[m + 1] += cap[m]
    w_key = np.empty(cap[n_machines], dtype=np.int64)
    w_val = np.empty(cap[n_machines], dtype=np.int64)
    a_key = np.empty(cap[n_machines], dtype=np.int64)
    a_val = np.empty(cap[n_machines], dtype=np.int64)
    w_size = np.zeros(n_machines, dtype=np.int64)
    a_size = np.zeros(n_machines, dtype=np.int64)
    room = len(mode_machine) + n + n_machines + 16  # each placement pushes a few
    g_key = np.empty(room, dtype=np.int64)  # machine decision times
    g_val = np.empty(room, dtype=np.int64)
    g_size = np.zeros(1, dtype=np.int64)
    free = np.zeros(n_machines, dtype=np.int64)
    ready = np.zeros(n, dtype=np.int64)
    done = np.zeros(n, dtype=np.bool_)
    stamp = np.full(n_machines, -1, dtype=np.int64)  # the decision time last pushed
    for i in range(n):
        if job_pred[i] < 0:
            for md in range(mode_ptr[i], mode_ptr[i + 1]):
                m = mode_machine[md]
                _push(w_key, w_val, cap[m], w_size, m, 0, i)
    for m in range(n_machines):
        _schedule_decision(m, free, w_key, w_size, a_size, cap, stamp, g_key, g_val, g_size)
    cmax = 0
    placed = 0
    while g_size[0] > 0 and placed < n:
        t, m = _pop(g_key, g_val, 0, g_size, 0)
        if stamp[m] != t:
            continue  # a stale event: the machine's decision time moved
        stamp[m] = -1
        # everything ready by the decision time becomes available
        while w_size[m] > 0 and w_key[cap[m]] <= t:
            _, i = _pop(w_key, w_val, cap[m], w_size, m)
            if not done[i]:
                _push(a_key, a_val, cap[m], a_size, m, -priority[i] * (n + 1) + i, i)
        i = -1
        while a_size[m] > 0:
            _, i = _pop(a_key, a_val, cap[m], a_size, m)
            if done[i]:
                i = -1
                continue
            if _better_elsewhere(i, m, t, mode_ptr, mode_machine, mode_duration, free):
                i = -1  # another eligible machine, free by now, finishes it sooner
                continue
            break
        if i >= 0:
            md = _mode_on(i, m, mode_ptr, mode_machine)
            s = max(t, ready[i])
            e = s + mode_duration[md]
            start[i], end[i], chosen[i] = s, e, md
            done[i] = True
            placed += 1
            free[m] = e
            if e > cmax:
                cmax = e
            nxt = job_succ[i]
            if nxt >= 0:
                ready[nxt] = e
                for k in range(mode_ptr[nxt], mode_ptr[nxt + 1]):
                    mk = mode_machine[k]
                    _push(w_key, w_val, cap[mk], w_size, mk, e, nxt)
                    _schedule_decision(mk, free, w_key, w_size, a_size, cap, stamp,
                                       g_key, g_val, g_size)  # fmt: skip
        _schedule_decision(m, free, w_key, w_size, a_size, cap, stamp, g_key, g_val, g_size)
    return cmax if placed == n else -1


@njit(cache=True, nogil=True, inline="always")
def _schedule_decision(
    m: int,
    free: I64,
    w_key: I64,
    w_size: I64,
    a_size: I64,
    cap: I64,
    stamp: I64,
    g_key: I64,
    g_val: I64,
    g_size: I64,
) -> None:
    """Push machine ``m``'s next decision time (when it is free and has work) if earlier
    than the one already pushed."""
    if a_size[m] > 0:
        t = free[m]
    elif w_size[m] > 0:
        t = max(free[m], w_key[cap[m]])
    else:
        return
    if stamp[m] >= 0 and stamp[m] <= t:
        return
    stamp[m] = t
    if g_size[0] >= len(g_key):
        return  # cannot happen: each placement pushes a bounded number of events
    _push(g_key, g_val, 0, g_size, 0, t, m)


@njit(cache=True, nogil=True, inline="always")
def _mode_on(i: int, m: int, mode_ptr: I64, mode_machine: I64) -> int:
    for md in range(mode_ptr[i], mode_ptr[i + 1]):
        if mode_machine[md] == m:
            return md
    return -1


@njit(cache=True, nogil=True, inline="always")
def _better_elsewhere(
    i: int, m: int, t: int, mode_ptr: I64, mode_machine: I64, mode_duration: I64, free: I64
) -> bool:
    """Would another eligible machine, free by ``t``, finish ``i`` sooner than ``m``?"""
    here = mode_duration[_mode_on(i, m, mode_ptr, mode_machine)]
    for md in range(mode_ptr[i], mode_ptr[i + 1]):
        k = mode_machine[md]
        if k != m and free[k] <= t and mode_duration[md] < here:
            return True
    return False
