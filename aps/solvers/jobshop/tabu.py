"""Tabu search on the job shop's disjunctive graph (N7 neighbourhood), compiled with numba.

A solution is one sequence per machine. Each iteration times the graph (heads by a
topological pass, tails back along it), walks one critical path, splits it into blocks
of consecutive operations on one machine and ranks the N7 moves (Zhang et al. 2007:
any operation of a block to its front or back, the first or last into its interior) by
Balas & Vazacopoulos's estimate, which re-times only the moved run. Moves that could
close a cycle are left out. The best move that does not restore a recently reversed
machine order is applied (a forbidden one is allowed when it beats the best makespan);
after a long stall the search jumps back to the best solution and perturbs it. Shops
too large for the table of forbidden orders use the N5 swaps (Nowicki & Smutnicki 1996)
with a short list of forbidden swaps instead.
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

    def sequence_of(self, start: I64) -> I64:
        """Machine sequences (concatenated by machine) ordered by ``start`` (arrays)."""
        return np.lexsort((np.arange(len(start)), start, self.machine)).astype(np.int64)

    def starts(self, seq: I64) -> I64:
        """Earliest starts of the operations in the machine order ``seq``."""
        return _starts_of(self.duration, self.job_pred, self.job_succ, self.machine, seq)

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
def _tails(dur: I64, js: I64, msucc: I64, order: I64, tail: I64) -> None:
    """Longest path from each operation's end to the sink, in reverse topological ``order``."""
    for i in range(dur.shape[0] - 1, -1, -1):
        k = order[i]
        t = 0
        s = js[k]
        if s >= 0 and tail[s] + dur[s] > t:
            t = tail[s] + dur[s]
        s = msucc[k]
        if s >= 0 and tail[s] + dur[s] > t:
            t = tail[s] + dur[s]
        tail[k] = t


@njit(cache=True, nogil=True)
def _shift(a: int, b: int, seq: I64, pos: I64, machine: I64, mpred: I64, msucc: I64) -> None:
    """Move the operation at ``seq[a]`` to index ``b`` of its machine's run; the rest shift."""
    x = seq[a]
    if a < b:
        for i in range(a, b):
            seq[i] = seq[i + 1]
    else:
        for i in range(a, b, -1):
            seq[i] = seq[i - 1]
    seq[b] = x
    lo, hi, n = min(a, b), max(a, b), seq.shape[0]
    for i in range(lo, hi + 1):
        pos[seq[i]] = i
    for i in range(max(lo - 1, 0), min(hi + 2, n)):
        k = seq[i]
        mpred[k] = seq[i - 1] if i > 0 and machine[seq[i - 1]] == machine[k] else -1
        msucc[k] = seq[i + 1] if i + 1 < n and machine[seq[i + 1]] == machine[k] else -1


@njit(cache=True, nogil=True)
def _estimate(
    a: int, b: int, seq: I64, dur: I64, jp: I64, js: I64, machine: I64,
    head: I64, tail: I64, buf: I64,
) -> int:  # fmt: skip
    """Makespan estimate of moving ``seq[a]`` to index ``b`` (Balas & Vazacopoulos 1998).

    Heads along the moved run in its new order and tails back along it, each with the job
    neighbours' old values: O(run length) instead of a full pass over the graph.
    """
    lo, hi, n = min(a, b), max(a, b), seq.shape[0]
    m = hi - lo + 1
    x = seq[a]
    if a < b:
        for i in range(m - 1):
            buf[i] = seq[lo + 1 + i]
        buf[m - 1] = x
    else:
        buf[0] = x
        for i in range(1, m):
            buf[i] = seq[lo + i - 1]
    prev = seq[lo - 1] if lo > 0 and machine[seq[lo - 1]] == machine[x] else -1
    nxt = seq[hi + 1] if hi + 1 < n and machine[seq[hi + 1]] == machine[x] else -1
    end = head[prev] + dur[prev] if prev >= 0 else 0
    for i in range(m):
        k = buf[i]
        r = end
        p = jp[k]
        if p >= 0 and head[p] + dur[p] > r:
            r = head[p] + dur[p]
        buf[m + i] = r
        end = r + dur[k]
    after = tail[nxt] + dur[nxt] if nxt >= 0 else 0
    value = 0
    for i in range(m - 1, -1, -1):
        k = buf[i]
        q = after
        s = js[k]
        if s >= 0 and tail[s] + dur[s] > q:
            q = tail[s] + dur[s]
        if buf[m + i] + dur[k] + q > value:
            value = buf[m + i] + dur[k] + q
        after = q + dur[k]
    return value


@njit(cache=True, nogil=True)
def _acyclic(a: int, b: int, seq: I64, dur: I64, jp: I64, js: I64, head: I64, tail: I64) -> bool:
    """Whether moving ``seq[a]`` to index ``b`` surely keeps the graph acyclic.

    Moving x behind v closes a cycle only if x's job successor is v or reaches v, which
    would make its tail at least v's duration plus tail; symmetrically in front of u.
    """
    x = seq[a]
    if a < b:
        v = seq[b]
        return js[x] < 0 or (js[x] != v and tail[js[x]] < tail[v] + dur[v])
    u = seq[b]
    return jp[x] < 0 or (jp[x] != u and head[jp[x]] < head[u] + dur[u])


@njit(cache=True, nogil=True)
def _add(
    a: int, b: int, seq: I64, dur: I64, jp: I64, js: I64, head: I64, tail: I64,
    ma: I64, mb: I64, nm: int,
) -> int:  # fmt: skip
    if _acyclic(a, b, seq, dur, jp, js, head, tail) or (
        abs(a - b) == 1 and _acyclic(b, a, seq, dur, jp, js, head, tail)  # a swap: either test
    ):
        ma[nm], mb[nm] = a, b
        return nm + 1
    return nm


@njit(cache=True, nogil=True)
def _n7_moves(
    seq: I64, dur: I64, jp: I64, js: I64, mpred: I64, pos: I64, head: I64, tail: I64,
    path: I64, ma: I64, mb: I64, wide: bool,
) -> int:  # fmt: skip
    """N7 (Zhang et al. 2007) or N5 moves of one critical path, as seq index pairs (ma, mb).

    N7, in each block of two or more operations: any operation to the block's front or
    back, and the first or last operation into its interior. N5: swap the first two or
    the last two, except the swaps that keep the first block's last operation or the
    last block's first (they cannot shorten the path; N7 here still tries its moves of
    that kind). Moves that might close a cycle are left out. Returns how many; 0 when
    no move can shorten the path (it is one job's chain or one machine's run from time
    0, a lower bound: optimal); -1 when the cycle test left none of the candidates.
    """
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
    nm = 0
    candidates = 0
    i = plen - 1  # path[plen-1] is the first operation; blocks are machine-adjacent runs
    while i >= 0:
        j = i
        while j - 1 >= 0 and mpred[path[j - 1]] == path[j]:
            j -= 1
        first, final = i == plen - 1, j == 0
        if i > j and not (first and final):
            s, e = pos[path[i]], pos[path[j]]
            if not wide:
                if not first:
                    candidates += 1
                    nm = _add(s + 1, s, seq, dur, jp, js, head, tail, ma, mb, nm)
                if not final and not (e == s + 1 and not first):
                    candidates += 1
                    nm = _add(e - 1, e, seq, dur, jp, js, head, tail, ma, mb, nm)
            else:
                for c in range(s + 1, e + 1):  # to the front
                    candidates += 1
                    nm = _add(c, s, seq, dur, jp, js, head, tail, ma, mb, nm)
                for c in range(s, e):  # to the back
                    if c > s or e > s + 1:  # (s, s+1) is the front move's swap
                        candidates += 1
                        nm = _add(c, e, seq, dur, jp, js, head, tail, ma, mb, nm)
                for c in range(s + 2, e):  # the first into the interior
                    candidates += 1
                    nm = _add(s, c, seq, dur, jp, js, head, tail, ma, mb, nm)
                for c in range(s + 1, e - 1):  # the last into the interior
                    candidates += 1
                    nm = _add(e, c, seq, dur, jp, js, head, tail, ma, mb, nm)
        i = j - 1
    return -1 if nm == 0 and candidates > 0 else nm


@njit(cache=True, nogil=True)
def _arcs_tabu(a: int, b: int, seq: I64, row: I64, rank: I64, arcs: I64, it: int) -> bool:
    """Whether moving ``seq[a]`` to index ``b`` re-creates an order forbidden until later."""
    x = seq[a]
    if a < b:  # x goes behind seq[a+1..b]: each of them now precedes x
        for i in range(a + 1, b + 1):
            if arcs[row[seq[i]] + rank[x]] > it:
                return True
    else:  # x goes in front of seq[b..a-1]
        for i in range(b, a):
            if arcs[row[x] + rank[seq[i]]] > it:
                return True
    return False


@njit(cache=True, nogil=True)
def _swap_tabu(a: int, b: int, seq: I64, fu: I64, fv: I64, until: I64, it: int) -> bool:
    """Whether swapping ``seq[a]`` and its neighbour ``seq[b]`` restores a forbidden order."""
    first, second = seq[max(a, b)], seq[min(a, b)]  # the order the swap creates
    for t in range(fu.shape[0]):  # noqa: SIM110 (numba compiles loops, not generators)
        if until[t] > it and fu[t] == first and fv[t] == second:
            return True
    return False


@njit(cache=True, nogil=True)
def _forbid(a: int, b: int, seq: I64, row: I64, rank: I64, arcs: I64, until: int) -> None:
    """Before moving ``seq[a]`` to ``b``: forbid restoring the orders the move reverses."""
    x = seq[a]
    if a < b:
        for i in range(a + 1, b + 1):
            arcs[row[x] + rank[seq[i]]] = until
    else:
        for i in range(b, a):
            arcs[row[seq[i]] + rank[x]] = until


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
    row: I64,
    rank: I64,
    arcs: I64,
    ring: I64,
    wide: bool,
) -> int:
    """Run ``iterations`` tabu steps from ``seq``; keeps the best in ``best_seq``.

    Moves are N7's (``wide``) or N5's, ranked by their estimate; the chosen one is
    applied and the graph re-timed exactly. A move may not restore, for a random
    tenure, any machine order that a recent move reversed: ``arcs`` holds, per ordered
    pair of operations on one machine, the iteration until which it is forbidden; N5
    keeps its recent swaps in ``ring`` (3 rows: first, second, until) instead.
    ``state`` carries [best makespan, stall counter, iterations, restarts without an
    improvement, optimal flag, next ring slot] between calls.
    """
    np.random.seed(seed)
    n = dur.shape[0]
    mpred = np.empty(n, np.int64)
    msucc = np.empty(n, np.int64)
    pos = np.empty(n, np.int64)
    head = np.empty(n, np.int64)
    tail = np.empty(n, np.int64)
    indeg = np.empty(n, np.int64)
    order = np.empty(n, np.int64)
    path = np.empty(n, np.int64)
    ma = np.empty(4 * n + 4, np.int64)
    mb = np.empty(4 * n + 4, np.int64)
    ties = np.empty(4 * n + 4, np.int64)
    buf = np.empty(2 * n + 2, np.int64)
    fu, fv, funtil = ring[0], ring[1], ring[2]
    for p in range(n):
        pos[seq[p]] = p
    _links(seq, machine, n, mpred, msucc)
    best, stall, it, kicks, fat = state[0], state[1], state[2], state[3], state[5]
    cur = _heads(dur, jp, js, mpred, msucc, head, indeg, order)
    _tails(dur, js, msucc, order, tail)
    if best < 0 or cur < best:
        best = cur
        best_seq[:] = seq
    for _ in range(iterations):
        it += 1
        nm = _n7_moves(seq, dur, jp, js, mpred, pos, head, tail, path, ma, mb, wide)
        if nm == 0:
            state[4] = 1  # one job chain or one machine run is critical: optimal
            break
        if nm < 0:
            stall = stall_limit  # every candidate failed the cycle test: restart
        else:
            best_val = 1 << 62
            nties = 0
            for q in range(nm):
                a, b = ma[q], mb[q]
                val = _estimate(a, b, seq, dur, jp, js, machine, head, tail, buf)
                if val >= best and (
                    _arcs_tabu(a, b, seq, row, rank, arcs, it)
                    if wide
                    else _swap_tabu(a, b, seq, fu, fv, funtil, it)
                ):
                    continue  # tabu, and not good enough to override it
                if val < best_val:
                    best_val = val
                    nties = 0
                if val == best_val:
                    ties[nties] = q
                    nties += 1
            q = ties[np.random.randint(nties)] if nties > 0 else np.random.randint(nm)
            a, b = ma[q], mb[q]
            span = it + tenure + np.random.randint(tenure // 2 + 1)
            if wide:
                _forbid(a, b, seq, row, rank, arcs, span)
            else:  # forbid restoring the swapped pair's order, in a ring of recent swaps
                fu[fat], fv[fat], funtil[fat] = seq[min(a, b)], seq[max(a, b)], span
                fat = (fat + 1) % fu.shape[0]
            _shift(a, b, seq, pos, machine, mpred, msucc)
            cur = _heads(dur, jp, js, mpred, msucc, head, indeg, order)
            if cur < 0:  # the cycle test forbids this; undo and restart rather than trust it
                _shift(b, a, seq, pos, machine, mpred, msucc)
                cur = _heads(dur, jp, js, mpred, msucc, head, indeg, order)
                stall = stall_limit
            _tails(dur, js, msucc, order, tail)
            if cur < best:
                best = cur
                best_seq[:] = seq
                stall = 0
                kicks = 0
            else:
                stall += 1
        if stall >= stall_limit:
            # back to the best, then a kick of random N5 swaps that grows while restarts
            # keep failing; the clock jumps so that every tabu entry expires
            kicks += 1
            seq[:] = best_seq
            for p in range(n):
                pos[seq[p]] = p
            _links(seq, machine, n, mpred, msucc)
            cur = _heads(dur, jp, js, mpred, msucc, head, indeg, order)
            _tails(dur, js, msucc, order, tail)
            for _ in range(min(2 + kicks, 2 + n // 10)):
                nk = _n7_moves(seq, dur, jp, js, mpred, pos, head, tail, path, ma, mb, False)
                if nk <= 0:
                    break
                q = np.random.randint(nk)
                _shift(ma[q], mb[q], seq, pos, machine, mpred, msucc)
                cur = _heads(dur, jp, js, mpred, msucc, head, indeg, order)
                _tails(dur, js, msucc, order, tail)
            stall = 0
            it += 2 * tenure + 2
    state[0], state[1], state[2], state[3], state[5] = best, stall, it, kicks, fat
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


#: Largest table of forbidden machine orders (one int64 per ordered pair of operations on
#: a machine) for the N7 neighbourhood; bigger shops use N5, which needs no table.
ORDER_TABLE_MAX = 4_000_000


def _order_table(machine: I64, n_machines: int) -> tuple[I64, I64, I64]:
    """Index of the pair (u, v) in the table: ``row[u] + rank[v]``; an empty table if too big."""
    count = np.bincount(machine, minlength=n_machines).astype(np.int64)
    rank = np.zeros(len(machine), dtype=np.int64)
    seen = np.zeros(n_machines, dtype=np.int64)
    for k, m in enumerate(machine):
        rank[k] = seen[m]
        seen[m] += 1
    offset = np.concatenate(([0], np.cumsum(count * count)[:-1])).astype(np.int64)
    row = offset[machine] + rank * count[machine]
    size = int((count * count).sum())
    arcs = np.zeros(size if size <= ORDER_TABLE_MAX else 1, dtype=np.int64)
    return row, rank, arcs


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


def tabu_improve(
    a: JobShopArrays,
    seq: I64,
    time_limit: float,
    seed: int = 0,
    stall_limit: int | None = None,
    lower_bound: int = 0,
    stop: threading.Event | None = None,
    on_improve: Callable[[I64, int], object] | None = None,
    report_every: float = 0.0,
) -> tuple[I64, int]:
    """Improve the machine order ``seq`` for ``time_limit`` seconds; (best order, makespan).

    ``on_improve`` gets a copy of every improving order (checked between chunks of
    iterations, at most every ``report_every`` seconds), and setting ``stop`` ends the
    search at the next chunk. Arrays in, arrays out: a million operations are never
    turned into schedule rows here.
    """
    seq = seq.copy()
    best_seq = seq.copy()
    n = len(a.machine)
    tenure = int(min(60, 8 + n // a.n_machines // 2))
    stall = stall_limit if stall_limit is not None else max(500, 4 * n)
    state = np.asarray([-1, 0, 0, 0, 0, 0], dtype=np.int64)
    row, rank, arcs = _order_table(a.machine, a.n_machines)
    wide = arcs.shape[0] > 1
    ring = np.zeros((3, 64), dtype=np.int64)
    ring[:2] = -1
    deadline = time.monotonic() + time_limit
    chunk, round_ = 50, 0
    reported, last_report = int((a.starts(seq) + a.duration).max(initial=0)), 0.0
    while True:
        t0 = time.monotonic()
        best = _search(a.duration, a.job_pred, a.job_succ, a.machine, seq, best_seq, chunk, stall,
                       tenure, seed + round_, state, row, rank, arcs, ring, wide)  # fmt: skip
        round_ += 1
        took = time.monotonic() - t0
        if (
            on_improve is not None
            and best < reported
            and (time.monotonic() - last_report >= report_every)
        ):
            reported, last_report = int(best), time.monotonic()
            on_improve(best_seq.copy(), int(best))
        if best <= lower_bound or state[4] or time.monotonic() + took >= deadline:
            break
        if stop is not None and stop.is_set():
            break
        if took < 0.05:
            chunk = min(chunk * 2, 100000)
    if on_improve is not None and int(state[0]) < reported:
        on_improve(best_seq.copy(), int(state[0]))
    return best_seq, int(state[0])


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

    The schedule-row face of :func:`tabu_improve`: ``on_improve`` gets rows.
    """
    a = JobShopArrays.from_problem(problem)

    def improve(seq: I64, value: int) -> None:
        assert on_improve is not None
        on_improve(a.schedule(problem, a.starts(seq)), value)

    seq = a.sequences_from(problem, initial)
    if makespan(initial) <= lower_bound:
        return list(initial), makespan(initial)
    best_seq, value = tabu_improve(a, seq, time_limit, seed, stall_limit, lower_bound, stop,
                                   improve if on_improve is not None else None,
                                   report_every)  # fmt: skip
    return a.schedule(problem, a.starts(best_seq)), value
