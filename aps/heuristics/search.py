"""Local search on the decoder's list: moves on the critical chains of late jobs.

A solution is the decoder's list order plus a mode per operation (:mod:`.decode`). A
move changes both a little and is evaluated by decoding the new list, so the value a
move is judged by is the value of the schedule it leads to, with setups, calendars,
lags and stock exactly as the decoder places them.

Each iteration picks a job by roulette on its share of the objective (weighted
tardiness of late jobs; the last job to finish when makespan counts), walks back along
its critical chain (from its last operation, through the predecessor or the machine
that made each operation wait) to an operation a machine delayed, and applies one of:

* ``jump``: the operation moves ahead of one to three of the operations that run before
  it on its machine (a resequence; its job's own predecessors stay ahead of it);
* ``swap``: it trades list places with the operation just before it on its machine;
* ``reassign``: it moves to another eligible machine (same list place);
* ``reassign+jump``: both.

Equal-valued moves are accepted (tardiness has wide plateaus), worse ones by a
threshold that decays over the run (threshold accepting), and the search returns to
the best list after a stall. Kreipl (2000) and Kuhpfahl & Bierwirth (2016) motivate the
critical-chain moves for weighted tardiness in job shops; Mastrolilli & Gambardella
(2000) the reassignment for flexible ones.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from aps.heuristics.arrays import I64, NONE, PlantArrays
from aps.heuristics.engine import Engine, accept, reset, trial

F64 = np.ndarray

JUMP, SWAP, REASSIGN, BOTH = 0, 1, 2, 3


@njit(cache=True, nogil=True)
def value_of(flags: int, terms: I64, weights: F64) -> float:
    """The search's single number: infeasibility first, then the weighted terms."""
    v = 0.0
    for k in range(len(terms)):
        v += weights[k] * terms[k]
    return (1e18 if flags != 0 else 0.0) + v


@njit(cache=True, nogil=True)
def machine_predecessors(a: PlantArrays, order: I64, mode: I64, pinned: I64, mpred: I64) -> None:
    """``mpred[i]``: the operation placed just before ``i`` on its machine (-1: none)."""
    n_machines = len(a.cal_ptr) - 1
    last = np.full(n_machines, -1, dtype=np.int64)
    mpred[:] = -1
    for i in pinned:
        m = a.mode_machine[a.op_fixed_mode[i]]
        mpred[i] = last[m]
        last[m] = i
    for i in order:
        m = a.mode_machine[mode[i]]
        mpred[i] = last[m]
        last[m] = i


@njit(cache=True, nogil=True)
def job_floor(a: PlantArrays, i: int, end: I64) -> tuple[int, int]:
    """(the earliest start the job allows, the predecessor that sets it or -1)."""
    floor = a.job_release[a.op_job[i]]
    by = -1
    for k in range(a.pred_ptr[i], a.pred_ptr[i + 1]):
        p = a.pred_op[k]
        t = end[p] + a.pred_min[k]
        if t > floor:
            floor, by = t, p
    return floor, by


@njit(cache=True, nogil=True)
def pick_job(a: PlantArrays, end: I64, weights: F64, rng_value: float) -> int:
    """A job by roulette on weighted tardiness (and the last job when makespan counts)."""
    n_jobs = len(a.job_ptr) - 1
    total = 0.0
    last_job, last_end = -1, NONE
    for j in range(n_jobs):
        c = NONE
        for i in range(a.job_ptr[j], a.job_ptr[j + 1]):
            c = max(c, end[i])
        if c > last_end:
            last_job, last_end = j, c
        if a.job_due[j] != NONE and c > a.job_due[j]:
            total += a.job_weight[j] * (c - a.job_due[j]) * weights[1] + weights[2]
    span = weights[0] * max(last_end, 1) * 0.05 if weights[0] > 0 else 0.0
    target = rng_value * (total + span)
    if target >= total:
        return last_job
    run = 0.0
    for j in range(n_jobs):
        c = NONE
        for i in range(a.job_ptr[j], a.job_ptr[j + 1]):
            c = max(c, end[i])
        if a.job_due[j] != NONE and c > a.job_due[j]:
            run += a.job_weight[j] * (c - a.job_due[j]) * weights[1] + weights[2]
            if run >= target:
                return j
    return last_job


@njit(cache=True, nogil=True)
def critical_candidates(a: PlantArrays, j: int, start: I64, end: I64, mpred: I64, out: I64) -> int:
    """Operations of the chain that ends job ``j`` which a machine made wait; their count.

    The walk starts at the job's last-ending operation; an operation that waited for its
    machine continues at its machine predecessor (on the chain but maybe of another
    job), one that waited for a predecessor continues at that predecessor.
    """
    i, c = -1, NONE
    for k in range(a.job_ptr[j], a.job_ptr[j + 1]):
        if end[k] > c:
            i, c = k, end[k]
    count = 0
    for _ in range(len(a.op_job)):
        if i < 0 or a.op_fixed_mode[i] >= 0:
            break
        floor, by = job_floor(a, i, end)
        if start[i] > floor and mpred[i] >= 0:
            out[count] = i
            count += 1
            if count == len(out):
                break
            i = mpred[i]
        else:
            i = by
    return count


@njit(cache=True, nogil=True)
def _earliest_position(a: PlantArrays, i: int, pos: I64) -> int:
    """The first list position ``i`` may take: after all of its job predecessors."""
    lowest = 0
    for k in range(a.pred_ptr[i], a.pred_ptr[i + 1]):
        p = a.pred_op[k]
        if a.op_fixed_mode[p] < 0 and pos[p] + 1 > lowest:
            lowest = pos[p] + 1
    return lowest


@njit(cache=True, nogil=True)
def _shift(order: I64, pos: I64, source: int, target: int) -> None:
    """Move the list element at ``source`` to ``target``, shifting those in between."""
    i = order[source]
    if target < source:
        for q in range(source, target, -1):
            order[q] = order[q - 1]
            pos[order[q]] = q
    else:
        for q in range(source, target):
            order[q] = order[q + 1]
            pos[order[q]] = q
    order[target] = i
    pos[i] = target


@njit(cache=True, nogil=True)
def propose(
    a: PlantArrays, e: Engine, kind: int, i: int, depth: int, new_mode: int, mpred: I64, undo: I64
) -> bool:
    """Apply a move to the engine's list in place; ``undo`` records how to take it back:
    [kind, operation, old mode, source position, target position, first changed, last
    changed]. False (nothing changed) when the move is not allowed."""
    undo[0], undo[1], undo[2] = kind, i, e.mode[i]
    source = e.pos[i]
    if (kind in (REASSIGN, BOTH)) and (new_mode < 0 or new_mode == e.mode[i]):
        return False
    target = source
    if kind == SWAP:
        b = mpred[i]
        if b < 0 or a.op_fixed_mode[b] >= 0:
            return False
        target = e.pos[b]
        if _earliest_position(a, i, e.pos) > target:
            return False
        for k in range(a.succ_ptr[b], a.succ_ptr[b + 1]):
            s = a.succ_op[k]
            if a.op_fixed_mode[s] < 0 and e.pos[s] < source:
                return False
        e.order[target], e.order[source] = i, b
        e.pos[i], e.pos[b] = target, source
    elif kind in (JUMP, BOTH):
        b = i
        for _ in range(depth):
            if mpred[b] < 0 or a.op_fixed_mode[mpred[b]] >= 0:
                break
            b = mpred[b]
        if b != i:
            target = max(e.pos[b], _earliest_position(a, i, e.pos))
        if target >= source:
            if kind == JUMP:
                return False
            target = source  # a reassignment alone
        else:
            _shift(e.order, e.pos, source, target)
    if kind in (REASSIGN, BOTH):
        e.mode[i] = new_mode
    undo[3], undo[4] = source, target
    undo[5], undo[6] = min(source, target), max(source, target)
    return True


@njit(cache=True, nogil=True)
def take_back(e: Engine, undo: I64) -> None:
    """Undo :func:`propose`."""
    kind, i, old_mode, source, target = undo[0], undo[1], undo[2], undo[3], undo[4]
    if kind == SWAP:
        b = e.order[source]
        e.order[target], e.order[source] = b, i
        e.pos[i], e.pos[b] = source, target
    elif target != source:
        _shift(e.order, e.pos, target, source)
    e.mode[i] = old_mode


@njit(cache=True, nogil=True)
def search(
    a: PlantArrays,
    e: Engine,
    weights: F64,
    iterations: int,
    seed: int,
    threshold: float,
    best_order: I64,
    best_mode: I64,
    best_floors: I64,
    stats: F64,
) -> int:
    """Run ``iterations`` moves on the engine's current list; the best list seen goes to
    ``best_order``/``best_mode``/``best_floors`` (decode it with those floors).

    ``stats`` carries across calls: [best value, iterations since the last improvement,
    accepted, tried, improvements]; a NaN best value means "the current list is the
    best so far". Returns the flags of the best list.
    """
    np.random.seed(seed)
    n = len(e.order)
    mpred = np.zeros(len(a.op_job), dtype=np.int64)
    cand = np.zeros(64, dtype=np.int64)
    undo = np.zeros(7, dtype=np.int64)
    cur_value = value_of(e.state[2], e.cur_terms, weights)
    if np.isnan(stats[0]) or cur_value < stats[0]:
        stats[0] = cur_value
        best_order[:] = e.order
        best_mode[:] = e.mode
        best_floors[:] = e.floors
    best_flags = -1
    machine_predecessors(a, e.order, e.mode, e.pinned, mpred)
    for it in range(iterations):
        if n == 0:
            break
        j = pick_job(a, e.end, weights, np.random.random())
        count = critical_candidates(a, j, e.start, e.end, mpred, cand)
        if count == 0:
            stats[1] += 1
            continue
        i = cand[np.random.randint(count)]
        kind = np.random.randint(4)
        lo, hi = a.mode_ptr[i], a.mode_ptr[i + 1]
        if hi - lo < 2 and (kind in (REASSIGN, BOTH)):
            kind = JUMP if np.random.random() < 0.7 else SWAP
        new_mode = lo + np.random.randint(hi - lo) if hi - lo >= 2 else -1
        if not propose(a, e, kind, i, 1 + np.random.randint(3), new_mode, mpred, undo):
            stats[1] += 1
            continue
        stats[3] += 1
        flags = trial(a, e, undo[5], undo[6])
        value = value_of(flags, e.terms, weights)
        limit = cur_value + threshold * abs(cur_value) * (1.0 - it / max(iterations, 1))
        if value <= cur_value or (flags == 0 and value <= limit and np.random.random() < 0.1):
            accept(a, e, flags)
            cur_value = value
            machine_predecessors(a, e.order, e.mode, e.pinned, mpred)
            stats[2] += 1
            if value < stats[0]:
                stats[0] = value
                best_flags = flags
                best_order[:] = e.order
                best_mode[:] = e.mode
                best_floors[:] = e.floors
                stats[1] = 0
                stats[4] += 1
                continue
        else:
            take_back(e, undo)
        stats[1] += 1
        if stats[1] > 400 + n // 4:
            # back to the best list
            e.order[:] = best_order
            e.mode[:] = best_mode
            flags = reset(a, e, best_floors)
            cur_value = value_of(flags, e.cur_terms, weights)
            machine_predecessors(a, e.order, e.mode, e.pinned, mpred)
            stats[1] = 0
    return best_flags
