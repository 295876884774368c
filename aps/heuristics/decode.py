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
#: how a slot treats stock draws (see :func:`earliest_slot`)
IGNORE, STRICT, OPTIMISTIC = 0, 1, 2


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


@njit(cache=True, nogil=True, inline="always")
def bisect(values: I64, lo: int, hi: int, x: int, right: bool) -> int:
    """The first index in ``[lo, hi)`` whose value is > ``x`` (``right``) or >= ``x``;
    ``hi`` when none (a binary search without slicing, which costs a reference count)."""
    while lo < hi:
        mid = (lo + hi) // 2
        if values[mid] < x or (right and values[mid] == x):
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, nogil=True, inline="always")
def next_working(a: PlantArrays, m: int, t: int) -> int:
    """The first working tick at or after ``t`` on machine ``m``."""
    lo, hi = a.cal_ptr[m], a.cal_ptr[m + 1]
    k = bisect(a.cal_start, lo, hi, t, True) - 1
    if k >= lo and t < a.cal_end[k]:
        return int(a.cal_end[k])
    return t


@njit(cache=True, nogil=True, inline="always")
def add_working(a: PlantArrays, m: int, start: int, work: int) -> int:
    """End of ``work`` working ticks started at ``start`` on ``m`` (pausing over windows)."""
    t = next_working(a, m, start)
    left = work
    lo, hi = a.cal_ptr[m], a.cal_ptr[m + 1]
    k = bisect(a.cal_start, lo, hi, t, False)
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


@njit(cache=True, nogil=True, inline="always")
def earliest_draw(
    a: PlantArrays,
    mat: int,
    t: int,
    q: int,
    stock_time: I64,
    stock_delta: I64,
    stock_n: I64,
    levels: I64,
    mins: I64,
) -> int:
    """Earliest tau >= t such that drawing ``q`` at tau keeps every later level >= 0.

    ``levels`` holds the level after each event, ``mins`` the minimum of the levels from
    each event on (both kept by :func:`add_stock`), so this is two binary searches: a
    new draw at tau comes after every event at tau, and lowers every level from there.
    """
    base = a.stock_ptr[mat]
    end = base + stock_n[mat]
    idx = bisect(stock_time, base, end, t, True) - 1  # the last event at or before t
    if idx >= base and mins[idx] >= q:  # (the initial stock is an event before every tick)
        return t
    lo = bisect(mins, idx + 1, end, q, False)  # suffix minima never decrease
    if lo >= end:
        return NONE
    return int(stock_time[lo])


@njit(cache=True, nogil=True, inline="always")
def add_stock(
    a: PlantArrays,
    mat: int,
    t: int,
    delta: int,
    stock_time: I64,
    stock_delta: I64,
    stock_n: I64,
    levels: I64,
    mins: I64,
) -> None:
    """Insert an event keeping (tick, arrivals before draws) order, and the levels and
    suffix minima after it (one pass over the material's events)."""
    base = a.stock_ptr[mat]
    n = stock_n[mat]
    j = n
    while j > 0:
        pt, pd = stock_time[base + j - 1], stock_delta[base + j - 1]
        if pt < t or (pt == t and (pd >= 0 or delta < 0)):
            break
        stock_time[base + j] = pt
        stock_delta[base + j] = pd
        levels[base + j] = levels[base + j - 1] + delta
        j -= 1
    stock_time[base + j] = t
    stock_delta[base + j] = delta
    levels[base + j] = (levels[base + j - 1] if j > 0 else 0) + delta
    stock_n[mat] = n + 1
    low = FAR
    for k in range(base + n, base - 1, -1):
        if levels[k] < low:
            low = levels[k]
        mins[k] = low


@njit(cache=True, nogil=True)
def reset_stock(
    a: PlantArrays, stock_time: I64, stock_delta: I64, stock_n: I64, levels: I64, mins: I64
) -> None:
    for mat in range(len(a.mat_initial)):
        stock_n[mat] = 0
        add_stock(a, mat, NONE, a.mat_initial[mat], stock_time, stock_delta, stock_n, levels, mins)
        for r in range(a.rec_ptr[mat], a.rec_ptr[mat + 1]):
            add_stock(a, mat, a.rec_time[r], a.rec_qty[r], stock_time, stock_delta, stock_n,
                      levels, mins)  # fmt: skip


@njit(cache=True, nogil=True, inline="always")
def changeover(a: PlantArrays, m: int, last: int, family: int) -> int:
    """Changeover ticks on machine ``m`` from family ``last`` (-1: none ran) to ``family``."""
    mx = a.machine_matrix[m]
    if mx < 0 or family < 0:
        return 0
    f = a.n_families
    if last < 0:
        return int(a.initial[mx * f + family])
    return int(a.changeover[(mx * f + last) * f + family])


@njit(cache=True, nogil=True, inline="always")
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
    stock: int = OPTIMISTIC,
) -> tuple[int, int, int]:
    """Earliest (setup start, start, end) of operation ``i`` in mode ``md``; NONE if none.

    The setup runs in working time right before the start (on a machine whose setups may
    run off shift, in any time after the machine is free); a non-interruptible run fits
    inside one window, an interruptible one pauses over the unavailable ones. Draws:
    ``STRICT``, each must be coverable at the start by the stock known so far (NONE
    when it never is); ``OPTIMISTIC``, as strict, except that a draw the known stock can
    never cover is assumed covered by production placed later in the list (the final
    stock check judges it); ``IGNORE``, no stock (a lower bound).
    """
    m = a.mode_machine[md]
    duration = a.mode_duration[md]
    interruptible = a.op_interruptible[i] != 0
    lo, hi = a.cal_ptr[m], a.cal_ptr[m + 1]
    t = max(free, floor - setup)
    if duration == 0 and setup == 0 and a.cons_ptr[i + 1] == a.cons_ptr[i]:
        # occupies nothing: it may sit anywhere, in a window too (the validator's rule)
        return (t, t, t) if t <= a.horizon else (NONE, NONE, NONE)
    off_shift = a.machine_setup_off[m] != 0
    if off_shift:
        t = max(free + setup, floor)  # here ``t`` is the run's start, the setup right before
    for _ in range(100_000):
        if t >= a.horizon:
            return NONE, NONE, NONE
        b = next_working(a, m, t)
        k = bisect(a.cal_start, lo, hi, b, False)
        window_end = a.cal_start[k] if k < hi else FAR
        s = b if off_shift else b + setup
        need_end = s + duration if not interruptible else s + (1 if duration > 0 else 0)
        if need_end > window_end:
            t = a.cal_end[k] if k < hi else a.horizon
            continue
        if s < floor:
            t = floor if off_shift else floor - setup
            continue
        ready = _stock_ready(a, i, s, stock, stock_time, stock_delta, stock_n, levels, ticks)
        if ready == NONE:
            return NONE, NONE, NONE
        if ready > s:
            t = ready if off_shift else ready - setup
            continue
        e = add_working(a, m, s, duration) if interruptible else s + duration
        if e > a.horizon:
            return NONE, NONE, NONE
        return (s - setup if off_shift else b), s, e
    return NONE, NONE, NONE


@njit(cache=True, nogil=True, inline="always")
def _stock_ready(
    a: PlantArrays,
    i: int,
    s: int,
    stock: int,
    stock_time: I64,
    stock_delta: I64,
    stock_n: I64,
    levels: I64,
    ticks: I64,
) -> int:
    """When every draw of ``i`` starting at ``s`` or later is covered (``s`` when all are now;
    NONE when one never is under ``STRICT``); see :func:`earliest_slot`."""
    ready = s
    for c in range(a.cons_ptr[i], a.cons_ptr[i + 1] if stock != IGNORE else a.cons_ptr[i]):
        tau = earliest_draw(
            a, a.cons_mat[c], s, a.cons_qty[c], stock_time, stock_delta, stock_n, levels, ticks
        )
        if tau == NONE:
            if stock == OPTIMISTIC:
                continue
            return NONE
        ready = max(ready, tau)
    return ready


@njit(cache=True, nogil=True, inline="always")
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
    levels: I64,
    mins: I64,
) -> None:
    m = a.mode_machine[md]
    busy[i], start[i], end[i] = b, s, e
    if e >= free[m]:  # the machine's latest operation sets its family
        free[m] = e
        last[m] = a.op_family[i]
    for c in range(a.cons_ptr[i], a.cons_ptr[i + 1]):
        add_stock(a, a.cons_mat[c], s, -a.cons_qty[c], stock_time, stock_delta, stock_n, levels,
                  mins)  # fmt: skip
    for c in range(a.prod_ptr[i], a.prod_ptr[i + 1]):
        add_stock(a, a.prod_mat[c], e, a.prod_qty[c], stock_time, stock_delta, stock_n, levels,
                  mins)  # fmt: skip


@njit(cache=True, nogil=True, inline="always")
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
    levels: I64,
    mins: I64,
) -> None:
    """Reset the state and place the pinned operations (facts precede everything else)."""
    free[:] = 0
    last[:] = -1
    end[:] = NONE
    busy[:] = NONE
    start[:] = NONE
    reset_stock(a, stock_time, stock_delta, stock_n, levels, mins)
    for i in pinned:
        md = a.op_fixed_mode[i]
        _place(a, i, md, a.op_fixed_busy[i], a.op_fixed_start[i], a.op_fixed_end[i],
               busy, start, end, free, last, stock_time, stock_delta, stock_n, levels,
               mins)  # fmt: skip


@njit(cache=True, nogil=True, inline="always")
def _lag_lookahead(
    a: PlantArrays,
    i: int,
    m: int,
    e: int,
    mode: I64,
    end: I64,
    free: I64,
    last: I64,
    stock_time: I64,
    stock_delta: I64,
    stock_n: I64,
    levels: I64,
    ticks: I64,
) -> int:
    """How much later ``i`` (ending at ``e`` on ``m``) must end for its maximum-lag
    successors to start in time, judged from their machines as they are now; 0: none."""
    need = 0
    for k in range(a.succ_ptr[i], a.succ_ptr[i + 1]):
        s_op = a.succ_op[k]
        if a.op_fixed_mode[s_op] >= 0 or mode[s_op] < 0:
            continue  # (in a valid list a successor is never placed before this one)
        lo, hi, floor = 0, FAR, a.job_release[a.op_job[s_op]]
        for q in range(a.pred_ptr[s_op], a.pred_ptr[s_op + 1]):
            p = a.pred_op[q]
            if p == i:
                lo, hi = a.pred_min[q], a.pred_max[q]
                floor = max(floor, e + lo)
            elif end[p] != NONE:
                floor = max(floor, end[p] + a.pred_min[q])
        if hi == FAR:
            continue
        sm = mode[s_op]
        ms = a.mode_machine[sm]
        m_free = e if ms == m else free[ms]
        m_last = a.op_family[i] if ms == m else last[ms]
        setup = a.mode_setup[sm] + changeover(a, ms, m_last, a.op_family[s_op])
        _, s_start, _ = earliest_slot(a, s_op, sm, setup, m_free, floor, stock_time,
                                      stock_delta, stock_n, levels, ticks)  # fmt: skip
        if s_start != NONE and s_start - (e + hi) > need:
            need = s_start - (e + hi)
    return need


@njit(cache=True, nogil=True, inline="always")
def place_one(
    a: PlantArrays,
    i: int,
    md: int,
    mode: I64,
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
    """Place operation ``i`` in mode ``md`` at its earliest slot; the flags it raised.

    An operation with a maximum lag to a successor looks ahead first: when the
    successor (in its mode, on its machine as it is now) could not start within the lag
    of this end, this one starts later, so the pair fits without a repair round.
    """
    floor = floor_of(a, i, floors, end)
    if floor == NONE:
        return BAD_ORDER
    m = a.mode_machine[md]
    setup = a.mode_setup[md] + changeover(a, m, last[m], a.op_family[i])
    b, s, e = earliest_slot(a, i, md, setup, free[m], floor, stock_time, stock_delta, stock_n,
                            levels, ticks)  # fmt: skip
    for _ in range(3):
        if b == NONE:
            break
        later = _lag_lookahead(a, i, m, e, mode, end, free, last, stock_time, stock_delta,
                               stock_n, levels, ticks)  # fmt: skip
        if later <= 0:
            break
        floor = s + later
        b, s, e = earliest_slot(a, i, md, setup, free[m], floor, stock_time, stock_delta,
                                stock_n, levels, ticks)  # fmt: skip
    flags = 0
    if b == NONE:  # no slot: place it anyway so the decode completes, and say so
        flags = NO_SLOT
        b = max(free[m], floor - setup)
        s = b + setup
        e = s + a.mode_duration[md]
    _place(a, i, md, b, s, e, busy, start, end, free, last, stock_time, stock_delta, stock_n,
           levels, ticks)  # fmt: skip
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
def stock_ok(a: PlantArrays, stock_n: I64, mins: I64) -> bool:
    """Does every material's level stay non-negative? (Pinned draws are facts placed
    without a check; a schedule must still cover them.) The suffix minimum of a
    material's first event is its lowest level."""
    for mat in range(len(a.mat_initial)):
        if stock_n[mat] > 0 and mins[a.stock_ptr[mat]] < 0:
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
    place_pinned(a, pinned, busy, start, end, free, last, stock_time, stock_delta, stock_n,
                 levels, ticks)  # fmt: skip
    flags = 0
    for i in order:
        flags |= place_one(a, i, mode[i], mode, floors, busy, start, end, free, last,
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
    if not stock_ok(a, stock_n, ticks):
        flags |= NO_SLOT
    return flags | terms_of(a, mode, busy, start, end, terms)


@njit(cache=True, nogil=True, inline="always")
def lag_pred(a: PlantArrays, p: int, s: int) -> bool:
    """Is ``p`` a predecessor of ``s`` with a maximum lag?"""
    for k in range(a.pred_ptr[s], a.pred_ptr[s + 1]):
        if a.pred_op[k] == p and a.pred_max[k] < FAR:
            return True
    return False


@njit(cache=True, nogil=True)
def _deferred(a: PlantArrays, i: int) -> bool:
    """Does ``i`` wait, in a normalized list, until right before its successors? (All of
    its successors are unpinned and follow it within a maximum lag.)"""
    if a.op_fixed_mode[i] >= 0 or a.succ_ptr[i + 1] == a.succ_ptr[i]:
        return False
    for k in range(a.succ_ptr[i], a.succ_ptr[i + 1]):
        s = a.succ_op[k]
        if a.op_fixed_mode[s] >= 0 or not lag_pred(a, i, s):
            return False
    return True


@njit(cache=True, nogil=True)
def normalize(a: PlantArrays, order: I64) -> I64:
    """The list with every operation that has only maximum-lag successors moved to right
    before the first of them (chains too): a lag pair is then placed together, when the
    successor's turn comes, instead of the predecessor running early and the successor
    missing its lag behind what the list put on its machine in between."""
    n = len(a.op_job)
    listed = np.zeros(n, dtype=np.int64)
    deferred = np.zeros(n, dtype=np.int64)
    for i in range(n):
        if a.op_fixed_mode[i] >= 0:
            listed[i] = 1
        elif _deferred(a, i):
            deferred[i] = 1
    out = np.empty(len(order), dtype=np.int64)
    stack = np.empty(len(order) + 1, dtype=np.int64)
    count = 0
    for pass_ in range(2):  # the second pass lists what waited for nothing (safety)
        for x in order:
            if listed[x] or (deferred[x] and pass_ == 0):
                continue
            top = 0
            stack[0] = x
            while top >= 0:  # depth first: waiting predecessors, then the operation
                y = stack[top]
                pushed = False
                for k in range(a.pred_ptr[y], a.pred_ptr[y + 1]):
                    p = a.pred_op[k]
                    if deferred[p] and not listed[p]:
                        top += 1
                        stack[top] = p
                        pushed = True
                        break
                if not pushed:
                    top -= 1
                    if not listed[y]:
                        listed[y] = 1
                        out[count] = y
                        count += 1
    return out[:count]
