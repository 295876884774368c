"""Tabu search for flexible job shops: N7 resequencing plus machine reassignment, compiled.

A solution is a machine per operation and one sequence per machine (the sequences
concatenated by machine, as in :mod:`.tabu`, whose graph timing, shift and N7 code this
kernel reuses). Each iteration times the disjunctive graph, walks one critical path and
ranks two kinds of moves by an estimate of the makespan:

* N7 moves inside the path's machine blocks (Zhang et al. 2007), estimated by
  Balas & Vazacopoulos's partial re-timing;
* reassignments (Mastrolilli & Gambardella 2000): a critical operation leaves its
  machine for another eligible one and enters that machine's sequence where its job
  predecessor ends; the estimate is the longest path through it in the new place,
  ``max(r_job, r_u + p_u) + p_new + max(q_job, q_w + p_w)``, with ``u``/``w`` its new
  machine neighbours. Insertions next to a ``u`` the operation may reach, or a ``w``
  that may reach it, are left out (their head or tail gives them away): they could
  close a cycle. What remains cannot change those four heads and tails, so the
  estimate is exact: the longest path through the operation after the move.

A reversed machine order may not be restored, and an operation may not return to a
machine it left, for a random tenure (a hashed table of forbidden pairs: no table per
pair of operations, so a shop of any size fits); a forbidden move is allowed when it
beats the best makespan. After a long stall the search returns to the best solution and
kicks it with random N5 swaps.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from numba import njit

from aps.heuristics.fastdispatch import ShopArrays
from aps.solvers.jobshop.tabu import (
    I64,
    _estimate,
    _heads,
    _links,
    _n7_moves,
    _shift,
    _tails,
)

#: slots of the hashed tabu table (a power of two)
TABU_SLOTS = 1 << 16
#: insertion points tried on each other machine, around where the job predecessor ends
INSERTION_POINTS = 3


class Graph(NamedTuple):
    """The disjunctive graph of the current solution and its timing (scratch arrays)."""

    seq: I64
    machine: I64
    dur: I64
    jp: I64
    js: I64
    pos: I64
    mpred: I64
    msucc: I64
    head: I64
    tail: I64
    indeg: I64
    order: I64
    path: I64


def _graph(a: ShopArrays, seq: I64, machine: I64, dur: I64) -> Graph:
    n = len(seq)
    return Graph(seq, machine, dur, a.job_pred, a.job_succ,
                 *(np.empty(n, np.int64) for _ in range(8)))  # fmt: skip


@njit(cache=True, nogil=True)
def starts_of(dur: I64, jp: I64, js: I64, machine: I64, seq: I64) -> I64:
    n = dur.shape[0]
    mpred = np.empty(n, np.int64)
    msucc = np.empty(n, np.int64)
    start = np.empty(n, np.int64)
    indeg = np.empty(n, np.int64)
    queue = np.empty(n, np.int64)
    _links(seq, machine, n, mpred, msucc)
    _heads(dur, jp, js, mpred, msucc, start, indeg, queue)
    return start


@njit(cache=True, nogil=True, inline="always")
def _slot(key: int, keys: I64) -> int:
    h: int = (key * 0x5851F42D4C957F2D >> 17) & (keys.shape[0] - 1)
    return h


@njit(cache=True, nogil=True)
def _is_tabu(key: int, keys: I64, until: I64, it: int) -> bool:
    h = _slot(key, keys)
    for step in range(8):
        j = (h + step) & (keys.shape[0] - 1)
        if keys[j] == key:
            return bool(until[j] > it)
        if keys[j] == -1:
            return False
    return False


@njit(cache=True, nogil=True)
def _forbid_key(key: int, keys: I64, until: I64, it: int, span: int) -> None:
    h = _slot(key, keys)
    victim = h
    for step in range(8):
        j = (h + step) & (keys.shape[0] - 1)
        if keys[j] == key or keys[j] == -1 or until[j] <= it:
            victim = j
            break
        if until[j] < until[victim]:
            victim = j
    keys[victim], until[victim] = key, span


@njit(cache=True, nogil=True)
def _order_tabu(a: int, b: int, seq: I64, n: int, keys: I64, until: I64, it: int) -> bool:
    """Would moving ``seq[a]`` to index ``b`` restore a forbidden machine order?"""
    x = seq[a]
    if a < b:
        for i in range(a + 1, b + 1):
            if _is_tabu(seq[i] * n + x, keys, until, it):
                return True
    else:
        for i in range(b, a):
            if _is_tabu(x * n + seq[i], keys, until, it):
                return True
    return False


@njit(cache=True, nogil=True)
def _forbid_order(
    a: int, b: int, seq: I64, n: int, keys: I64, until: I64, it: int, span: int
) -> None:
    x = seq[a]
    if a < b:
        for i in range(a + 1, b + 1):
            _forbid_key(x * n + seq[i], keys, until, it, span)
    else:
        for i in range(b, a):
            _forbid_key(seq[i] * n + x, keys, until, it, span)


@njit(cache=True, nogil=True)
def _runs(seq: I64, machine: I64, n_machines: int, lo: I64, hi: I64) -> None:
    """Each machine's run ``seq[lo[m]:hi[m]]`` (-1, -1 when it has no operation)."""
    lo[:] = -1
    hi[:] = -1
    for p in range(seq.shape[0]):
        m = machine[seq[p]]
        if lo[m] < 0:
            lo[m] = p
        hi[m] = p + 1


@njit(cache=True, nogil=True)
def _path(dur: I64, jp: I64, mpred: I64, head: I64, path: I64) -> int:
    """One critical path, last operation first; its length."""
    n = dur.shape[0]
    last = 0
    for k in range(n):
        if head[k] + dur[k] > head[last] + dur[last]:
            last = k
    plen = 0
    k = last
    while k >= 0:
        path[plen] = k
        plen += 1
        a = mpred[k]
        if a >= 0 and head[a] + dur[a] == head[k]:
            k = a
        elif jp[k] >= 0 and head[jp[k]] + dur[jp[k]] == head[k]:
            k = jp[k]
        else:
            k = -1
    return plen


@njit(cache=True, nogil=True)
def _fixed(path: I64, plen: int, mode_ptr: I64) -> bool:
    """Whether no operation of the path has another eligible machine."""
    for q in range(plen):  # noqa: SIM110 (numba compiles loops, not generators)
        if mode_ptr[path[q] + 1] - mode_ptr[path[q]] > 1:
            return False
    return True


@njit(cache=True, nogil=True)
def _reassignments(
    path: I64, plen: int, seq: I64, machine: I64, dur: I64, jp: I64, js: I64,
    mode_ptr: I64, mode_machine: I64, mode_dur: I64, head: I64, tail: I64,
    lo: I64, hi: I64, rx: I64, rm: I64, rt: I64, rv: I64,
) -> int:  # fmt: skip
    """Reassignment moves of the path's operations: (operation, mode, insertion index,
    estimate) into rx/rm/rt/rv; how many."""
    n = seq.shape[0]
    count = 0
    for q in range(plen):
        x = path[q]
        rj = head[jp[x]] + dur[jp[x]] if jp[x] >= 0 else 0
        qj = tail[js[x]] + dur[js[x]] if js[x] >= 0 else 0
        for md in range(mode_ptr[x], mode_ptr[x + 1]):
            k = mode_machine[md]
            if k == machine[x]:
                continue
            if lo[k] < 0:  # an idle machine: the operation alone, appended
                if count < rx.shape[0]:
                    rx[count], rm[count], rt[count] = x, md, n
                    rv[count] = rj + mode_dur[md] + qj
                    count += 1
                continue
            # where the job predecessor ends in k's run, then a few points around it
            t0 = lo[k]
            while t0 < hi[k] and head[seq[t0]] < rj:
                t0 += 1
            for t in range(max(lo[k], t0 - 1), min(hi[k], t0 + INSERTION_POINTS - 1) + 1):
                u = seq[t - 1] if t > lo[k] else -1
                w = seq[t] if t < hi[k] else -1
                if u >= 0 and head[u] >= head[x] + dur[x]:
                    continue  # u may come after x: inserting behind it could close a cycle
                if w >= 0 and tail[w] >= tail[x] + dur[x]:
                    continue  # x may come after w
                r = rj if u < 0 else max(rj, head[u] + dur[u])
                qv = qj if w < 0 else max(qj, tail[w] + dur[w])
                if count < rx.shape[0]:
                    rx[count], rm[count], rt[count], rv[count] = x, md, t, r + mode_dur[md] + qv
                    count += 1
    return count


@njit(cache=True, nogil=True)
def _reassign(
    x: int, md: int, t: int, seq: I64, pos: I64, machine: I64, dur: I64, mode_machine: I64,
    mode_dur: I64, mpred: I64, msucc: I64,
) -> tuple[int, int]:  # fmt: skip
    """Move ``x`` to mode ``md`` at insertion index ``t``; (old index, new index)."""
    a = pos[x]
    b = t - 1 if t > a else t
    if b >= seq.shape[0]:
        b = seq.shape[0] - 1
    machine[x] = mode_machine[md]
    dur[x] = mode_dur[md]
    _shift(a, b, seq, pos, machine, mpred, msucc)
    return a, b


@njit(cache=True, nogil=True)
def _choose(
    nm: int, nr: int, ma: I64, mb: I64, rx: I64, rm: I64, rv: I64, seq: I64, dur: I64,
    jp: I64, js: I64, machine: I64, head: I64, tail: I64, buf: I64, mode_machine: I64,
    best: int, keys: I64, until: I64, it: int, n_machines: int,
) -> int:  # fmt: skip
    """The best allowed move, ties broken at random: resequencing moves are 0 .. nm-1,
    reassignments nm .. nm+nr-1; -1 when every move is forbidden."""
    n = seq.shape[0]
    pick, pick_val, ties = -1, 1 << 62, 0
    for q in range(nm + nr):
        if q < nm:
            val = _estimate(ma[q], mb[q], seq, dur, jp, js, machine, head, tail, buf)
            forbidden = val >= best and _order_tabu(ma[q], mb[q], seq, n, keys, until, it)
        else:
            r = q - nm
            val = rv[r]
            key = _machine_key(rx[r], mode_machine[rm[r]], n_machines)
            forbidden = val >= best and _is_tabu(key, keys, until, it)
        if forbidden:
            continue
        if val < pick_val:
            pick, pick_val, ties = q, val, 1
        elif val == pick_val:
            ties += 1
            if np.random.randint(ties) == 0:
                pick = q
    return pick


@njit(cache=True, nogil=True, inline="always")
def _machine_key(x: int, m: int, n_machines: int) -> int:
    """The tabu key of 'operation x on machine m' (negative: apart from order keys)."""
    return -(x * n_machines + m) - 2


@njit(cache=True, nogil=True)
def _retime(g: Graph) -> int:
    """Heads and tails of the graph; the makespan (-1 on a cycle)."""
    cur = _heads(g.dur, g.jp, g.js, g.mpred, g.msucc, g.head, g.indeg, g.order)
    if cur >= 0:
        _tails(g.dur, g.js, g.msucc, g.order, g.tail)
    return cur


@njit(cache=True, nogil=True)
def _reset(g: Graph, seq: I64, machine: I64, dur: I64) -> int:
    """Load a solution into the graph; its makespan."""
    g.seq[:], g.machine[:], g.dur[:] = seq, machine, dur
    for p in range(seq.shape[0]):
        g.pos[seq[p]] = p
    _links(g.seq, g.machine, seq.shape[0], g.mpred, g.msucc)
    return _retime(g)


@njit(cache=True, nogil=True)
def _apply(
    g: Graph, q: int, nm: int, ma: I64, mb: I64, rx: I64, rm: I64, rt: I64,
    mode_machine: I64, mode_dur: I64, keys: I64, until: I64, it: int, span: int,
    n_machines: int,
) -> int:  # fmt: skip
    """Apply move ``q`` (see :func:`_choose`), forbidding its reversal until ``span``;
    the new makespan, or -1 when it closed a cycle after all (then it is undone)."""
    n = g.seq.shape[0]
    x, old_m, old_d = -1, -1, 0
    if q < nm:
        a, b = ma[q], mb[q]
        _forbid_order(a, b, g.seq, n, keys, until, it, span)
        _shift(a, b, g.seq, g.pos, g.machine, g.mpred, g.msucc)
    else:
        r = q - nm
        x = rx[r]
        old_m, old_d = g.machine[x], g.dur[x]
        _forbid_key(_machine_key(x, old_m, n_machines), keys, until, it, span)
        a, b = _reassign(x, rm[r], rt[r], g.seq, g.pos, g.machine, g.dur, mode_machine,
                         mode_dur, g.mpred, g.msucc)  # fmt: skip
    cur = _retime(g)
    if cur < 0:
        if x >= 0:
            g.machine[x], g.dur[x] = old_m, old_d
        _shift(b, a, g.seq, g.pos, g.machine, g.mpred, g.msucc)
        _retime(g)
    return cur


@njit(cache=True, nogil=True)
def _kick(g: Graph, moves: int, ma: I64, mb: I64) -> None:
    """Random N5 swaps on the current solution (a perturbation)."""
    for _ in range(moves):
        nk = _n7_moves(g.seq, g.dur, g.jp, g.js, g.mpred, g.pos, g.head, g.tail, g.path,
                       ma, mb, False)  # fmt: skip
        if nk <= 0:
            return
        q = np.random.randint(nk)
        _shift(ma[q], mb[q], g.seq, g.pos, g.machine, g.mpred, g.msucc)
        if _retime(g) < 0:
            _shift(mb[q], ma[q], g.seq, g.pos, g.machine, g.mpred, g.msucc)
            _retime(g)


@njit(cache=True, nogil=True)
def _flex_search(
    g: Graph, mode_ptr: I64, mode_machine: I64, mode_dur: I64, n_machines: int,
    best_seq: I64, best_machine: I64, best_dur: I64, iterations: int, stall_limit: int,
    tenure: int, seed: int, state: I64, keys: I64, until: I64,
) -> int:  # fmt: skip
    """Run ``iterations`` steps from the graph's solution; the best goes to best_*.

    ``state`` carries [best makespan, stall counter, iterations, restarts without an
    improvement, optimal flag] between calls.
    """
    np.random.seed(seed)
    n = g.seq.shape[0]
    room = 4 * n + 4
    ma, mb = np.empty(room, np.int64), np.empty(room, np.int64)
    rx, rm = np.empty(room, np.int64), np.empty(room, np.int64)
    rt, rv = np.empty(room, np.int64), np.empty(room, np.int64)
    buf = np.empty(2 * n + 2, np.int64)
    lo, hi = np.empty(n_machines, np.int64), np.empty(n_machines, np.int64)
    best, stall, it, kicks = state[0], state[1], state[2], state[3]
    cur = _reset(g, g.seq.copy(), g.machine.copy(), g.dur.copy())
    if best < 0 or cur < best:
        best = cur
        best_seq[:], best_machine[:], best_dur[:] = g.seq, g.machine, g.dur
    for _ in range(iterations):
        it += 1
        nm = _n7_moves(g.seq, g.dur, g.jp, g.js, g.mpred, g.pos, g.head, g.tail, g.path,
                       ma, mb, True)  # fmt: skip
        plen = _path(g.dur, g.jp, g.mpred, g.head, g.path)
        if nm == 0 and _fixed(g.path, plen, mode_ptr):
            state[4] = 1  # one job chain or one machine run, no operation on it may move
            break
        nm = max(nm, 0)
        _runs(g.seq, g.machine, n_machines, lo, hi)
        nr = _reassignments(g.path, plen, g.seq, g.machine, g.dur, g.jp, g.js, mode_ptr,
                            mode_machine, mode_dur, g.head, g.tail, lo, hi,
                            rx, rm, rt, rv)  # fmt: skip
        q = _choose(nm, nr, ma, mb, rx, rm, rv, g.seq, g.dur, g.jp, g.js, g.machine, g.head,
                    g.tail, buf, mode_machine, best, keys, until, it, n_machines)  # fmt: skip
        cur = -1
        if q >= 0:
            span = it + tenure + np.random.randint(tenure // 2 + 1)
            cur = _apply(g, q, nm, ma, mb, rx, rm, rt, mode_machine, mode_dur, keys, until, it,
                         span, n_machines)  # fmt: skip
        if 0 <= cur < best:
            best, stall, kicks = cur, 0, 0
            best_seq[:], best_machine[:], best_dur[:] = g.seq, g.machine, g.dur
        else:
            stall = stall + 1 if cur >= 0 else stall_limit
        if stall >= stall_limit:  # back to the best, kicked a little harder each time
            kicks += 1
            _reset(g, best_seq, best_machine, best_dur)
            _kick(g, min(2 + kicks, 2 + n // 10), ma, mb)
            stall = 0
            it += 2 * tenure + 2  # every tabu entry expires
    state[0], state[1], state[2], state[3] = best, stall, it, kicks
    return int(best)


class FlexibleTabu:
    """One search thread's state: the graph, the best solution, the tabu table.

    :meth:`steps` runs a number of iterations (tests count them; :func:`flexible_tabu`
    runs chunks until its time is up).
    """

    def __init__(self, a: ShopArrays, seq: I64, machine: I64, duration: I64) -> None:
        self.a = a
        self.g = _graph(a, seq.copy(), machine.copy(), duration.copy())
        self.best = Solution3(seq.copy(), machine.copy(), duration.copy())
        n = len(seq)
        self.tenure = int(min(60, 8 + n // max(1, a.n_machines) // 2))
        self.stall = max(500, 4 * n)
        #: best makespan, stall counter, iterations, kicks without an improvement, optimal
        self.state = np.asarray([-1, 0, 0, 0, 0], dtype=np.int64)
        self.keys = np.full(TABU_SLOTS, -1, dtype=np.int64)
        self.until = np.zeros(TABU_SLOTS, dtype=np.int64)

    @property
    def value(self) -> int:
        """The best makespan (-1 before the first step)."""
        return int(self.state[0])

    @property
    def optimal(self) -> bool:
        """Whether a critical path was found that no move can shorten."""
        return bool(self.state[4])

    def copy(self) -> tuple[I64, I64, I64]:
        """A copy of the best solution."""
        seq, machine, duration = self.best
        return seq.copy(), machine.copy(), duration.copy()

    def steps(self, iterations: int, seed: int) -> int:
        """Run ``iterations`` iterations (fewer when proven optimal); the best makespan."""
        a = self.a
        return _flex_search(self.g, a.mode_ptr, a.mode_machine, a.mode_duration, a.n_machines,
                            *self.best, iterations, self.stall, self.tenure, seed,
                            self.state, self.keys, self.until)  # fmt: skip


class Solution3(NamedTuple):
    """Machine order, machines and durations (as in :class:`.shops.Solution`)."""

    seq: I64
    machine: I64
    duration: I64


def flexible_tabu(
    a: ShopArrays,
    seq: I64,
    machine: I64,
    duration: I64,
    time_limit: float,
    seed: int = 0,
    lower_bound: int = 0,
    stop: threading.Event | None = None,
    on_improve: Callable[[I64, I64, I64, int], object] | None = None,
    report_every: float = 0.0,
) -> tuple[I64, I64, I64, int]:
    """Improve a solution for ``time_limit`` seconds; (order, machine, duration, makespan).

    ``on_improve`` gets copies of every improving solution (checked between chunks of
    iterations, at most every ``report_every`` seconds); ``stop`` ends the search at the
    next chunk.
    """
    search = FlexibleTabu(a, seq, machine, duration)
    deadline = time.monotonic() + time_limit
    chunk, round_ = 20, 0
    start = starts_of(duration, a.job_pred, a.job_succ, machine, seq)
    reported = int((start + duration).max(initial=0))
    last_report = 0.0
    while True:
        t0 = time.monotonic()
        best = search.steps(chunk, seed + round_)
        round_ += 1
        took = time.monotonic() - t0
        if on_improve is not None and best < reported and t0 + took - last_report >= report_every:
            reported, last_report = best, time.monotonic()
            on_improve(*search.copy(), best)
        if best <= lower_bound or search.optimal or time.monotonic() + took >= deadline:
            break
        if stop is not None and stop.is_set():
            break
        if took < 0.05:
            chunk = min(chunk * 2, 100000)
    if on_improve is not None and search.value < reported:
        on_improve(*search.copy(), search.value)
    return (*search.best, search.value)
