"""The list decoder: a priority list of operations and their modes -> a valid schedule.

Operations are placed one at a time in list order, each on its mode's machine, appended
after whatever that machine already runs (so the list fixes every machine's sequence),
at the earliest tick that respects the job's release, its predecessors' ends plus
minimum lags, the machine's calendar (a non-interruptible run and every setup fit in one
working window; an interruptible run pauses over the others), the sequence-dependent
changeover from the machine's previous family, and stock (a draw at the start must keep
every later level non-negative; a product arrives at the end). Pinned operations come
first, as facts. A maximum lag that breaks is repaired by starting the predecessor later
and decoding again (a few rounds), as in Franck, Neumann & Schwindt's unscheduling step.

The decoder is the one placement rule shared by construction and local search: a move
is evaluated by decoding the changed list, so what a move is worth and the schedule it
leads to cannot disagree. It is compiled (numba) and works on :class:`PlantArrays`;
a plant of 10,000 operations decodes in milliseconds.

``decode`` returns a bit set of what it could not honour (:data:`BAD_ORDER` a list that
puts an operation before a predecessor, :data:`NO_SLOT` no placement before the horizon
or no stock ever, :data:`MAX_LAG` a maximum lag still broken, :data:`DEADLINE`), with 0
for a schedule that satisfies every hard constraint, and the objective terms in
:data:`aps.heuristics.arrays.TERMS` order.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from aps.heuristics.arrays import FAR, I64, NONE, PlantArrays

BAD_ORDER = 1
NO_SLOT = 2
MAX_LAG = 4
DEADLINE = 8

#: decodes allowed to repair maximum lags before a list is called infeasible
MAX_LAG_ROUNDS = 30


class Scratch:
    """Work arrays of one decoder (reused across decodes; one per thread)."""

    def __init__(self, a: PlantArrays, n_machines: int) -> None:
        n = len(a.op_job)
        self.busy = np.zeros(n, dtype=np.int64)
        self.start = np.zeros(n, dtype=np.int64)
        self.end = np.zeros(n, dtype=np.int64)
        self.floors = np.zeros(n, dtype=np.int64)
        self.free = np.zeros(n_machines, dtype=np.int64)
        self.last = np.zeros(n_machines, dtype=np.int64)
        room = int(a.stock_ptr[-1]) if len(a.stock_ptr) else 0
        self.stock_time = np.zeros(max(room, 1), dtype=np.int64)
        self.stock_delta = np.zeros(max(room, 1), dtype=np.int64)
        self.stock_n = np.zeros(max(len(a.mat_initial), 1), dtype=np.int64)
        self.levels = np.zeros(max(room, 1), dtype=np.int64)
        self.ticks = np.zeros(max(room, 1), dtype=np.int64)
        self.terms = np.zeros(6, dtype=np.int64)
        self.pinned = np.asarray(
            sorted(
                (i for i in range(n) if a.op_fixed_mode[i] >= 0),
                key=lambda i: (int(a.op_fixed_busy[i]), int(a.op_fixed_end[i])),
            ),
            dtype=np.int64,
        )


def run(a: PlantArrays, s: Scratch, order: I64, mode: I64, floors: I64 | None = None) -> int:
    """Decode ``order`` with ``mode`` into ``s.busy/start/end`` and ``s.terms``; the flags."""
    if floors is None:
        s.floors[:] = 0
    else:
        s.floors[:] = floors
    return int(
        decode(
            a, order, mode, s.pinned, s.floors, s.busy, s.start, s.end, s.free, s.last,
            s.stock_time, s.stock_delta, s.stock_n, s.levels, s.ticks, s.terms,
        )
    )  # fmt: skip


@njit(cache=True, nogil=True)
def next_working(a: PlantArrays, m: int, t: int) -> int:
    """The first working tick at or after ``t`` on machine ``m``."""
    lo, hi = a.cal_ptr[m], a.cal_ptr[m + 1]
    k = np.searchsorted(a.cal_start[lo:hi], t, side="right") - 1
    if k >= 0 and t < a.cal_end[lo + k]:
        return int(a.cal_end[lo + k])
    return t


@njit(cache=True, nogil=True)
def add_working(a: PlantArrays, m: int, start: int, work: int) -> int:
    """End of ``work`` working ticks started at ``start`` on ``m`` (pausing over windows)."""
    t = next_working(a, m, start)
    left = work
    lo, hi = a.cal_ptr[m], a.cal_ptr[m + 1]
    k = lo + np.searchsorted(a.cal_start[lo:hi], t, side="left")
    while k < hi:
        ws, we = a.cal_start[k], a.cal_end[k]
        if we <= t:
            k += 1
            continue
        if ws >= t + left:
            break
        left -= ws - t
        t = we
        k += 1
    return t + left


@njit(cache=True, nogil=True)
def earliest_draw(
    a: PlantArrays,
    mat: int,
    t: int,
    q: int,
    stock_time: I64,
    stock_delta: I64,
    stock_n: I64,
    levels: I64,
    ticks: I64,
) -> int:
    """Earliest tau >= t such that drawing ``q`` at tau keeps every later level >= 0."""
    base = a.stock_ptr[mat]
    n = stock_n[mat]
    # the level after all events of each distinct tick, then suffix minima of those
    k = -1
    run_level = 0
    for j in range(n):
        tm = stock_time[base + j]
        run_level += stock_delta[base + j]
        if k >= 0 and ticks[k] == tm:
            levels[k] = run_level
        else:
            k += 1
            ticks[k] = tm
            levels[k] = run_level
    count = k + 1
    suffix = FAR
    # levels[] becomes the suffix minimum, walking backwards; ticks stay as they are
    mins = levels  # reuse: mins[k] = min(levels[k:])
    for j in range(count - 1, -1, -1):
        if mins[j] < suffix:
            suffix = mins[j]
        mins[j] = suffix
    # candidate tau = t: the level at t is that of the last tick <= t
    idx = np.searchsorted(ticks[:count], t, side="right") - 1
    if idx >= 0 and mins[idx] >= q:  # (the initial stock is an event before every tick)
        return t
    for j in range(idx + 1, count):
        if mins[j] >= q:
            return int(ticks[j])
    return NONE


@njit(cache=True, nogil=True)
def add_stock(
    a: PlantArrays, mat: int, t: int, delta: int, stock_time: I64, stock_delta: I64, stock_n: I64
) -> None:
    """Insert an event keeping (tick, arrivals before draws) order."""
    base = a.stock_ptr[mat]
    n = stock_n[mat]
    j = n
    while j > 0:
        pt, pd = stock_time[base + j - 1], stock_delta[base + j - 1]
        if pt < t or (pt == t and (pd >= 0 or delta < 0)):
            break
        stock_time[base + j] = pt
        stock_delta[base + j] = pd
        j -= 1
    stock_time[base + j] = t
    stock_delta[base + j] = delta
    stock_n[mat] = n + 1


@njit(cache=True, nogil=True)
def reset_stock(a: PlantArrays, stock_time: I64, stock_delta: I64, stock_n: I64) -> None:
    for mat in range(len(a.mat_initial)):
        stock_n[mat] = 0
        add_stock(a, mat, NONE, a.mat_initial[mat], stock_time, stock_delta, stock_n)
        for r in range(a.rec_ptr[mat], a.rec_ptr[mat + 1]):
            add_stock(a, mat, a.rec_time[r], a.rec_qty[r], stock_time, stock_delta, stock_n)


@njit(cache=True, nogil=True)
def changeover(a: PlantArrays, m: int, last: int, family: int) -> int:
    """Changeover ticks on machine ``m`` from family ``last`` (-1: none ran) to ``family``."""
    mx = a.machine_matrix[m]
    if mx < 0 or family < 0:
        return 0
    f = a.n_families
    if last < 0:
        return int(a.initial[mx * f + family])
    return int(a.changeover[(mx * f + last) * f + family])


@njit(cache=True, nogil=True)
def earliest_slot(
    a: PlantArrays,
    i: int,
    md: int,
    setup: int,
    free: int,
    floor: int,
    stock_time: I64,
    stock_delta: I64,
    stock_n: I64,
    levels: I64,
    ticks: I64,
    with_stock: bool = True,
) -> tuple[int, int, int]:
    """Earliest (setup start, start, end) of operation ``i`` in mode ``md``; NONE if none.

    The setup runs in working time right before the start; a non-interruptible run fits
    inside one window, an interruptible one pauses over the unavailable ones; every draw
    must be coverable at the start (unless ``with_stock`` is False: a lower bound).
    """
    m = a.mode_machine[md]
    duration = a.mode_duration[md]
    interruptible = a.op_interruptible[i] != 0
    lo, hi = a.cal_ptr[m], a.cal_ptr[m + 1]
    t = max(free, floor - setup)
    if duration == 0 and setup == 0 and a.cons_ptr[i + 1] == a.cons_ptr[i]:
        # occupies nothing: it may sit anywhere, in a window too (the validator's rule)
        return (t, t, t) if t <= a.horizon else (NONE, NONE, NONE)
    for _ in range(100_000):
        if t >= a.horizon:
            return NONE, NONE, NONE
        b = next_working(a, m, t)
        k = lo + np.searchsorted(a.cal_start[lo:hi], b, side="left")
        window_end = a.cal_start[k] if k < hi else FAR
        s = b + setup
        need_end = s + duration if not interruptible else s + (1 if duration > 0 else 0)
        if need_end > window_end:
            t = a.cal_end[k] if k < hi else a.horizon
            continue
        if s < floor:
            t = floor - setup
            continue
        ready = s
        for c in range(a.cons_ptr[i], a.cons_ptr[i + 1] if with_stock else a.cons_ptr[i]):
            tau = earliest_draw(
                a, a.cons_mat[c], s, a.cons_qty[c], stock_time, stock_delta, stock_n, levels, ticks
            )
            if tau == NONE:
                return NONE, NONE, NONE
            ready = max(ready, tau)
        if ready > s:
            t = ready - setup
            continue
        e = add_working(a, m, s, duration) if interruptible else s + duration
        if e > a.horizon:
            return NONE, NONE, NONE
        return b, s, e
    return NONE, NONE, NONE


@njit(cache=True, nogil=True)
def _place(
    a: PlantArrays,
    i: int,
    md: int,
    b: int,
    s: int,
    e: int,
    busy: I64,
    start: I64,
    end: I64,
    free: I64,
    last: I64,
    stock_time: I64,
    stock_delta: I64,
    stock_n: I64,
) -> None:
    m = a.mode_machine[md]
    busy[i], start[i], end[i] = b, s, e
    if e >= free[m]:  # the machine's latest operation sets its family
        free[m] = e
        last[m] = a.op_family[i]
    for c in range(a.cons_ptr[i], a.cons_ptr[i + 1]):
        add_stock(a, a.cons_mat[c], s, -a.cons_qty[c], stock_time, stock_delta, stock_n)
    for c in range(a.prod_ptr[i], a.prod_ptr[i + 1]):
        add_stock(a, a.prod_mat[c], e, a.prod_qty[c], stock_time, stock_delta, stock_n)


@njit(cache=True, nogil=True)
def floor_of(a: PlantArrays, i: int, floors: I64, end: I64) -> int:
    """The earliest start the job allows: release, floor, predecessors' ends + min lags;
    NONE when a predecessor is not placed yet."""
    floor = max(a.job_release[a.op_job[i]], floors[i])
    for k in range(a.pred_ptr[i], a.pred_ptr[i + 1]):
        p = a.pred_op[k]
        if end[p] == NONE:
            return NONE
        floor = max(floor, end[p] + a.pred_min[k])
    return floor


@njit(cache=True, nogil=True)
def place_pinned(
    a: PlantArrays,
    pinned: I64,
    busy: I64,
    start: I64,
    end: I64,
    free: I64,
    last: I64,
    stock_time: I64,
    stock_delta: I64,
    stock_n: I64,
) -> None:
    """Reset the state and place the pinned operations (facts precede everything else)."""
    free[:] = 0
    last[:] = -1
    end[:] = NONE
    busy[:] = NONE
    start[:] = NONE
    reset_stock(a, stock_time, stock_delta, stock_n)
    for i in pinned:
        md = a.op_fixed_mode[i]
        _place(a, i, md, a.op_fixed_busy[i], a.op_fixed_start[i], a.op_fixed_end[i],
               busy, start, end, free, last, stock_time, stock_delta, stock_n)  # fmt: skip


@njit(cache=True, nogil=True)
def place_one(
    a: PlantArrays,
    i: int,
    md: int,
    floors: I64,
    busy: I64,
    start: I64,
    end: I64,
    free: I64,
    last: I64,
    stock_time: I64,
    stock_delta: I64,
    stock_n: I64,
    levels: I64,
    ticks: I64,
) -> int:
    """Place operation ``i`` in mode ``md`` at its earliest slot; the flags it raised."""
    floor = floor_of(a, i, floors, end)
    if floor == NONE:
        return BAD_ORDER
    m = a.mode_machine[md]
    setup = a.mode_setup[md] + changeover(a, m, last[m], a.op_family[i])
    b, s, e = earliest_slot(a, i, md, setup, free[m], floor, stock_time, stock_delta, stock_n,
                            levels, ticks)  # fmt: skip
    flags = 0
    if b == NONE:  # no slot: place it anyway so the decode completes, and say so
        flags = NO_SLOT
        b = max(free[m], floor - setup)
        s = b + setup
        e = s + a.mode_duration[md]
    _place(a, i, md, b, s, e, busy, start, end, free, last, stock_time, stock_delta, stock_n)
    return flags


@njit(cache=True, nogil=True)
def _lag_floors(a: PlantArrays, start: I64, end: I64, floors: I64) -> int:
    """Raise floors of predecessors whose maximum lag broke: 1 raised, 2 unrepairable."""
    out = 0
    for s in range(len(a.op_job)):
        for k in range(a.pred_ptr[s], a.pred_ptr[s + 1]):
            hi = a.pred_max[k]
            if hi == FAR:
                continue
            p = a.pred_op[k]
            excess = start[s] - (end[p] + hi)
            if excess <= 0 or (a.op_fixed_mode[p] >= 0 and a.op_fixed_mode[s] >= 0):
                continue
            if a.op_fixed_mode[p] >= 0:
                out |= 2
                continue
            if start[p] + excess > floors[p]:
                floors[p] = start[p] + excess
            out |= 1
    return out


@njit(cache=True, nogil=True)
def stock_ok(a: PlantArrays, stock_time: I64, stock_delta: I64, stock_n: I64) -> bool:
    """Does every material's level stay non-negative? (Pinned draws are facts placed
    without a check; a schedule must still cover them.)"""
    for mat in range(len(a.mat_initial)):
        base = a.stock_ptr[mat]
        level = 0
        for j in range(base, base + stock_n[mat]):
            level += stock_delta[j]
            last_of_tick = j + 1 == base + stock_n[mat] or stock_time[j + 1] != stock_time[j]
            if last_of_tick and level < 0:
                return False
    return True


@njit(cache=True, nogil=True)
def terms_of(a: PlantArrays, mode: I64, busy: I64, start: I64, end: I64, terms: I64) -> int:
    """Objective terms (TERMS order) into ``terms``; DEADLINE when a deadline is missed."""
    flags = 0
    makespan = tardiness = late = flow = setup = stability = 0
    for j in range(len(a.job_ptr) - 1):
        c = NONE
        for i in range(a.job_ptr[j], a.job_ptr[j + 1]):
            if end[i] > c:
                c = end[i]
        if c == NONE:
            continue
        if c > makespan:
            makespan = c
        flow += c - a.job_release[j]
        if a.job_due[j] != NONE and c > a.job_due[j]:
            tardiness += a.job_weight[j] * (c - a.job_due[j])
            late += 1
        if c > a.job_deadline[j]:
            flags |= DEADLINE
    for i in range(len(a.op_job)):
        setup += start[i] - busy[i]
        if a.ref_start[i] != NONE:
            stability += abs(start[i] - a.ref_start[i])
            if mode[i] != a.ref_mode[i]:
                stability += a.machine_change
    terms[0], terms[1], terms[2] = makespan, tardiness, late
    terms[3], terms[4], terms[5] = flow, setup, stability
    return flags


@njit(cache=True, nogil=True)
def decode_once(
    a: PlantArrays,
    order: I64,
    mode: I64,
    pinned: I64,
    floors: I64,
    busy: I64,
    start: I64,
    end: I64,
    free: I64,
    last: I64,
    stock_time: I64,
    stock_delta: I64,
    stock_n: I64,
    levels: I64,
    ticks: I64,
) -> int:
    """One pass over the list (no lag repair); the flags."""
    place_pinned(a, pinned, busy, start, end, free, last, stock_time, stock_delta, stock_n)
    flags = 0
    for i in order:
        flags |= place_one(a, i, mode[i], floors, busy, start, end, free, last,
                           stock_time, stock_delta, stock_n, levels, ticks)  # fmt: skip
        if flags & BAD_ORDER:
            return flags
    return flags


@njit(cache=True, nogil=True)
def decode(
    a: PlantArrays,
    order: I64,
    mode: I64,
    pinned: I64,
    floors: I64,
    busy: I64,
    start: I64,
    end: I64,
    free: I64,
    last: I64,
    stock_time: I64,
    stock_delta: I64,
    stock_n: I64,
    levels: I64,
    ticks: I64,
    terms: I64,
) -> int:
    """Decode with maximum-lag repair rounds; terms into ``terms``; the flags."""
    flags = 0
    rounds = 0
    kept = floors.copy()
    while True:
        flags = decode_once(a, order, mode, pinned, floors, busy, start, end, free, last,
                            stock_time, stock_delta, stock_n, levels, ticks)  # fmt: skip
        if flags & BAD_ORDER:
            return flags
        kept[:] = floors
        raised = _lag_floors(a, start, end, floors)
        rounds += 1
        if raised & 2 or (raised and rounds >= MAX_LAG_ROUNDS):
            floors[:] = kept  # give up: keep the floors these times were placed with
            flags |= MAX_LAG
            break
        if raised == 0:
            break
    if not stock_ok(a, stock_time, stock_delta, stock_n):
        flags |= NO_SLOT
    return flags | terms_of(a, mode, busy, start, end, terms)
