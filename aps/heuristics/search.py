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
  it on its machine (a resequence; its job's own predecessors stay ahead of it), or, in
  a share of jumps, to right after the nearest earlier operation of its own family
  there (a changeover saved: on a loaded machine with family setups, capacity);
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
from aps.heuristics.decode import lag_pred
from aps.heuristics.engine import Engine, accept, reset, trial

F64 = np.ndarray

JUMP, SWAP, REASSIGN, BOTH = 0, 1, 2, 3
#: a jump, this often, goes to the nearest earlier operation of the same family on the
#: machine (within GROUP_REACH machine predecessors): a changeover saved
GROUP_SHARE, GROUP_REACH = 0.3, 64


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
def family_depth(a: PlantArrays, i: int, mpred: I64) -> int:
    """How many machine predecessors ``i`` jumps to run right after the nearest earlier
    operation of its family on its machine (0: none within :data:`GROUP_REACH`, or it
    already does)."""
    f = a.op_family[i]
    if f < 0:
        return 0
    b = mpred[i]
    for d in range(GROUP_REACH):
        if b < 0 or a.op_fixed_mode[b] >= 0:
            return 0
        if a.op_family[b] == f:
            return d
        b = mpred[b]
    return 0


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
def _maker(a: PlantArrays, i: int, start: I64, end: I64) -> int:
    """The producer whose output ``i`` waited for: of the makers of what ``i`` draws, the
    one that ended last at or before its start (-1: none, or pinned)."""
    best, best_end = -1, NONE
    for c in range(a.cons_ptr[i], a.cons_ptr[i + 1]):
        mat = a.cons_mat[c]
        for k in range(a.maker_ptr[mat], a.maker_ptr[mat + 1]):
            p = a.maker_op[k]
            if end[p] <= start[i] and end[p] > best_end and a.op_fixed_mode[p] < 0:
                best, best_end = p, end[p]
    return best


@njit(cache=True, nogil=True)
def critical_candidates(
    a: PlantArrays, j: int, start: I64, end: I64, busy: I64, mpred: I64, out: I64
) -> int:
    """Operations of the chain that ends job ``j`` which a machine or a missing material
    made wait; their count.

    The walk starts at the job's last-ending operation. One that waited for its machine
    continues at its machine predecessor (on the chain, maybe of another job); one that
    waited for stock continues at the producer it waited for; one that waited for a
    predecessor continues at that predecessor.
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
        if start[i] <= floor:
            i = by
            continue
        out[count] = i
        count += 1
        if count == len(out):
            break
        b = mpred[i]
        if b >= 0 and busy[i] <= end[b]:  # its machine was busy until it started
            i = b
        elif a.cons_ptr[i + 1] > a.cons_ptr[i]:
            i = _maker(a, i, start, end)
        else:
            i = b
    return count


@njit(cache=True, nogil=True)
def _is_tail(a: PlantArrays, order: I64, pos: I64, i: int) -> bool:
    """Does ``i`` follow its maximum-lag predecessor directly (part of its block)?"""
    q = pos[i]
    return q > 0 and lag_pred(a, order[q - 1], i)


@njit(cache=True, nogil=True)
def _block(a: PlantArrays, order: I64, pos: I64, i: int) -> tuple[int, int]:
    """(head position, length) of the block ``i`` belongs to."""
    h = pos[i]
    while h > 0 and lag_pred(a, order[h - 1], order[h]):
        h -= 1
    length = 1
    while h + length < len(order) and lag_pred(a, order[h + length - 1], order[h + length]):
        length += 1
    return h, length


@njit(cache=True, nogil=True)
def _earliest_position(a: PlantArrays, order: I64, pos: I64, head: int, length: int) -> int:
    """The first list position a block may take: after every predecessor of its members
    that lies outside it."""
    lowest = 0
    for q in range(head, head + length):
        i = order[q]
        for k in range(a.pred_ptr[i], a.pred_ptr[i + 1]):
            p = a.pred_op[k]
            if a.op_fixed_mode[p] < 0 and not (head <= pos[p] < head + length):
                lowest = max(lowest, pos[p] + 1)
    return lowest


@njit(cache=True, nogil=True)
def _move_segment(order: I64, pos: I64, start: int, length: int, new_start: int) -> None:
    """Move ``order[start:start + length]`` so that it starts at ``new_start``."""
    segment = order[start : start + length].copy()
    if new_start < start:
        for q in range(start + length - 1, new_start + length - 1, -1):
            order[q] = order[q - length]
            pos[order[q]] = q
    else:
        for q in range(start, new_start):
            order[q] = order[q + length]
            pos[order[q]] = q
    for k in range(length):
        order[new_start + k] = segment[k]
        pos[segment[k]] = new_start + k


@njit(cache=True, nogil=True)
def propose(
    a: PlantArrays, e: Engine, kind: int, i: int, depth: int, new_mode: int, mpred: I64, undo: I64
) -> bool:
    """Apply a move to the engine's list in place; ``undo`` records how to take it back:
    [kind, operation, old mode, source start, target start, first changed, last changed,
    block length]. False (nothing changed) when the move is not allowed.

    A jump moves ``i``'s block (``i`` with its pulled maximum-lag successors, see
    :func:`~aps.heuristics.decode.normalize`) ahead of the blocks of ``depth`` machine
    predecessors, never into another block; a swap is a jump of depth one.
    """
    undo[0], undo[1], undo[2] = kind, i, e.mode[i]
    if (kind in (REASSIGN, BOTH)) and (new_mode < 0 or new_mode == e.mode[i]):
        return False
    head, length = _block(a, e.order, e.pos, i)
    source = target = head
    if kind != REASSIGN:
        b = i
        for _ in range(1 if kind == SWAP else depth):
            if mpred[b] < 0 or a.op_fixed_mode[mpred[b]] >= 0:
                break
            b = mpred[b]
        if b != i:
            b_head, _ = _block(a, e.order, e.pos, b)
            target = max(b_head, _earliest_position(a, e.order, e.pos, head, length))
            while target < source and _is_tail(a, e.order, e.pos, e.order[target]):
                target += 1  # never split another block
        if target >= source:
            if kind in (JUMP, SWAP):
                return False
            target = source  # a reassignment alone
        else:
            _move_segment(e.order, e.pos, source, length, target)
    if kind in (REASSIGN, BOTH):
        e.mode[i] = new_mode
    undo[3], undo[4], undo[7] = source, target, length
    undo[5], undo[6] = min(source, target), max(source, target) + length - 1
    return True


@njit(cache=True, nogil=True)
def take_back(e: Engine, undo: I64) -> None:
    """Undo :func:`propose`."""
    i, old_mode, source, target, length = undo[1], undo[2], undo[3], undo[4], undo[7]
    if target != source:
        _move_segment(e.order, e.pos, target, length, source)
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
    undo = np.zeros(8, dtype=np.int64)
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
        count = critical_candidates(a, j, e.start, e.end, e.busy, mpred, cand)
        if count == 0:
            stats[1] += 1
            continue
        i = cand[np.random.randint(count)]
        kind = np.random.randint(4)
        lo, hi = a.mode_ptr[i], a.mode_ptr[i + 1]
        if hi - lo < 2 and (kind in (REASSIGN, BOTH)):
            kind = JUMP if np.random.random() < 0.7 else SWAP
        new_mode = lo + np.random.randint(hi - lo) if hi - lo >= 2 else -1
        depth = 1 + np.random.randint(3) if np.random.random() < 0.7 else 1 + np.random.randint(24)
        if kind == JUMP and np.random.random() < GROUP_SHARE:
            grouped = family_depth(a, i, mpred)
            if grouped > 0:
                depth = grouped
        if not propose(a, e, kind, i, depth, new_mode, mpred, undo):
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
