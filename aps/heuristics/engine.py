"""Incremental decoding: evaluate a changed list by re-placing only what changed.

A move changes the decoder's list from some position ``P`` on (a jump moves an
operation from ``Q`` up to ``P``; a reassignment changes one mode at ``P = Q``). Decoding
the whole list again per move makes a local search on a plant of thousands of
operations crawl. The engine keeps the current list's times and, every ``C`` list
positions, a checkpoint of the decoder's state (every machine's free tick and last
family, the stock events). A trial restores the checkpoint at or before ``P``, replays
the unchanged operations up to ``P`` with their known times (no slot search), places
the rest anew, and stops early at the first checkpoint past ``Q`` where the state equals
the current list's and no operation that moved has a successor still to place: from
there on the decoder would repeat itself, so the known times are copied. Accepting a
trial rebuilds the checkpoints past its change. Maximum lags are repaired as the full
decoder does (raise the predecessor's floor, decode again from its position). The
result is the schedule a full decode of the changed list gives (the tests check it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit
from numba.experimental import structref

from aps.heuristics.arrays import FAR, I64, PlantArrays
from aps.heuristics.decode import (
    BAD_ORDER,
    MAX_LAG,
    MAX_LAG_ROUNDS,
    NO_SLOT,
    Scratch,
    _place,
    place_one,
    place_pinned,
    stock_ok,
    terms_of,
)
from aps.heuristics.structs import KernelStruct, KernelStructType, define

I64_2D = np.ndarray

#: the checkpoints may hold at most this many integers (about 256 MB)
CHECKPOINT_BUDGET = 32_000_000
#: _forward's mark: it stopped early, the rest repeats the current list
EARLY = 1 << 16


class Engine(KernelStruct):
    """The current list, its times and checkpoints, and the trial's work arrays (a
    :class:`~aps.heuristics.structs.KernelStruct`)."""

    order: I64
    mode: I64
    floors: I64
    pos: I64  # list position of every unpinned operation (-1: pinned)
    pinned: I64
    busy: I64  # current times
    start: I64
    end: I64
    t_busy: I64  # trial times
    t_start: I64
    t_end: I64
    t_floors: I64
    kept_floors: I64  # the trial's floors before the last repair round
    free: I64
    last: I64
    stock_time: I64
    stock_delta: I64
    stock_n: I64
    levels: I64  # the level after each stock event
    ticks: I64  # the lowest level from each stock event on
    dirty: I64  # materials whose events a trial changed
    ck_free: I64_2D
    ck_last: I64_2D
    ck_time: I64_2D
    ck_delta: I64_2D
    ck_n: I64_2D
    ck_level: I64_2D
    ck_min: I64_2D
    # [spacing, a current list exists, current flags, the last trial's first,
    #  current stock never negative, the last trial's stock never negative]
    state: I64
    terms: I64  # the trial's terms
    cur_terms: I64


@structref.register
class EngineType(KernelStructType):
    """Numba's type of :class:`Engine`."""


define(Engine, EngineType)


@njit(cache=True)
def _build(*values: Any) -> Engine:
    return Engine(*values)


Engine.BUILD = _build


def new_engine(a: PlantArrays, s: Scratch, order: I64, mode: I64) -> Engine:
    """An engine on ``order``/``mode`` (decoded at once; see :func:`reset`)."""
    n, u = len(a.op_job), len(order)
    n_machines = len(a.cal_ptr) - 1
    room = max(int(a.stock_ptr[-1]) if len(a.stock_ptr) else 0, 1)
    n_mats = max(len(a.mat_initial), 1)
    per = 2 * n_machines + 4 * room + n_mats
    spacing = max(32, -(-u // max(1, CHECKPOINT_BUDGET // per)))
    k = u // spacing + 2
    pos = np.full(n, -1, dtype=np.int64)
    e = Engine(
        order=order.copy(),
        mode=mode.copy(),
        floors=np.zeros(n, dtype=np.int64),
        pos=pos,
        pinned=s.pinned,
        busy=np.zeros(n, dtype=np.int64),
        start=np.zeros(n, dtype=np.int64),
        end=np.zeros(n, dtype=np.int64),
        t_busy=np.zeros(n, dtype=np.int64),
        t_start=np.zeros(n, dtype=np.int64),
        t_end=np.zeros(n, dtype=np.int64),
        t_floors=np.zeros(n, dtype=np.int64),
        kept_floors=np.zeros(n, dtype=np.int64),
        free=np.zeros(n_machines, dtype=np.int64),
        last=np.zeros(n_machines, dtype=np.int64),
        stock_time=np.zeros(room, dtype=np.int64),
        stock_delta=np.zeros(room, dtype=np.int64),
        stock_n=np.zeros(n_mats, dtype=np.int64),
        levels=np.zeros(room, dtype=np.int64),
        ticks=np.zeros(room, dtype=np.int64),
        dirty=np.zeros(n_mats, dtype=np.int64),
        ck_free=np.zeros((k, n_machines), dtype=np.int64),
        ck_last=np.zeros((k, n_machines), dtype=np.int64),
        ck_time=np.zeros((k, room), dtype=np.int64),
        ck_delta=np.zeros((k, room), dtype=np.int64),
        ck_n=np.zeros((k, n_mats), dtype=np.int64),
        ck_level=np.zeros((k, room), dtype=np.int64),
        ck_min=np.zeros((k, room), dtype=np.int64),
        state=np.asarray([spacing, 0, 0, 0, 1, 1], dtype=np.int64),
        terms=np.zeros(6, dtype=np.int64),
        cur_terms=np.zeros(6, dtype=np.int64),
    )
    reset(a, e)
    return e


@njit(cache=True, nogil=True)
def reset(a: PlantArrays, e: Engine, floors: I64 | None = None) -> int:
    """Decode the engine's list from scratch (from ``floors``, else from zero); it becomes
    the current list.

    Floors are part of a solution: the maximum-lag repair raises them, and a move keeps
    the current ones, so the engine's verdict on a list equals a full decode's from the
    same floors.
    """
    if floors is None:
        e.floors[:] = 0
    else:
        e.floors[:] = floors
    e.t_floors[:] = e.floors
    for p in range(len(e.order)):
        e.pos[e.order[p]] = p
    e.state[1] = 0
    place_pinned(a, e.pinned, e.t_busy, e.t_start, e.t_end, e.free, e.last,
                 e.stock_time, e.stock_delta, e.stock_n, e.levels, e.ticks)  # fmt: skip
    _save(e, 0)
    e.busy[:] = e.t_busy
    e.start[:] = e.t_start
    e.end[:] = e.t_end
    flags = trial(a, e, 0, len(e.order) - 1)
    accept(a, e, flags)
    return flags


@njit(cache=True, nogil=True)
def _save(e: Engine, k: int) -> None:
    e.ck_free[k, :] = e.free
    e.ck_last[k, :] = e.last
    e.ck_time[k, :] = e.stock_time
    e.ck_delta[k, :] = e.stock_delta
    e.ck_n[k, :] = e.stock_n
    e.ck_level[k, :] = e.levels
    e.ck_min[k, :] = e.ticks


@njit(cache=True, nogil=True)
def _restore(e: Engine, k: int) -> None:
    e.free[:] = e.ck_free[k]
    e.last[:] = e.ck_last[k]
    e.stock_time[:] = e.ck_time[k]
    e.stock_delta[:] = e.ck_delta[k]
    e.stock_n[:] = e.ck_n[k]
    e.levels[:] = e.ck_level[k]
    e.ticks[:] = e.ck_min[k]


@njit(cache=True, nogil=True)
def _same_as_checkpoint(a: PlantArrays, e: Engine, k: int) -> bool:
    """Is the work state equal to the current list's at checkpoint ``k``?"""
    for m in range(len(e.free)):
        if e.free[m] != e.ck_free[k, m] or e.last[m] != e.ck_last[k, m]:
            return False
    for mat in range(len(a.mat_initial)):
        if e.stock_n[mat] != e.ck_n[k, mat]:
            return False
        if e.dirty[mat] == 0:
            continue
        base = a.stock_ptr[mat]
        for j in range(base, base + e.stock_n[mat]):
            if e.stock_time[j] != e.ck_time[k, j] or e.stock_delta[j] != e.ck_delta[k, j]:
                return False
    return True


@njit(cache=True, nogil=True)
def _replay(a: PlantArrays, e: Engine, i: int) -> None:
    """Place ``i`` at its current times (the state advances; no slot search)."""
    _place(a, i, e.mode[i], e.busy[i], e.start[i], e.end[i], e.t_busy, e.t_start, e.t_end,
           e.free, e.last, e.stock_time, e.stock_delta, e.stock_n, e.levels, e.ticks)  # fmt: skip


@njit(cache=True, nogil=True)
def _checkpoints_from(a: PlantArrays, e: Engine, k: int) -> None:
    """Rebuild checkpoints k.. of the current list, replaying its known times (no slot
    search) from checkpoint ``k`` (``k = 0``: from the pinned operations)."""
    spacing = e.state[0]
    if k == 0:
        place_pinned(a, e.pinned, e.t_busy, e.t_start, e.t_end, e.free, e.last,
                     e.stock_time, e.stock_delta, e.stock_n, e.levels, e.ticks)  # fmt: skip
        _save(e, 0)
    else:
        _restore(e, k)
    for q in range(k * spacing, len(e.order)):
        _replay(a, e, e.order[q])
        if (q + 1) % spacing == 0:
            _save(e, (q + 1) // spacing)


@njit(cache=True, nogil=True)
def _reach(a: PlantArrays, e: Engine, i: int) -> int:
    """The last list position whose placement reads ``i``'s times: its successors (their
    floors), and the other predecessors of a successor bound by a maximum lag (their
    look-ahead reads this one's end)."""
    out = -1
    for k in range(a.succ_ptr[i], a.succ_ptr[i + 1]):
        s = a.succ_op[k]
        out = max(out, e.pos[s])
        bound = False
        for q in range(a.pred_ptr[s], a.pred_ptr[s + 1]):
            bound = bound or a.pred_max[q] != FAR
        if bound:
            for q in range(a.pred_ptr[s], a.pred_ptr[s + 1]):
                out = max(out, e.pos[a.pred_op[q]])
    return out


@njit(cache=True, nogil=True)
def _forward(a: PlantArrays, e: Engine, first: int, last_changed: int) -> int:
    """Decode the trial list from position ``first``; stop early past ``last_changed``."""
    spacing = e.state[0]
    u = len(e.order)
    k = first // spacing
    _restore(e, k)
    e.dirty[:] = 0
    for q in range(k * spacing, first):
        _replay(a, e, e.order[q])
    flags = 0
    reach = -1  # the last list position a moved operation's successors hold
    for q in range(first, u):
        boundary = q % spacing == 0 and q > max(last_changed, reach) and e.state[1] > 0
        if boundary and _same_as_checkpoint(a, e, q // spacing):
            for r in range(q, u):  # the rest repeats the current list
                i = e.order[r]
                e.t_busy[i], e.t_start[i], e.t_end[i] = e.busy[i], e.start[i], e.end[i]
            return flags | EARLY
        i = e.order[q]
        flags |= place_one(a, i, e.mode[i], e.mode, e.t_floors, e.t_busy, e.t_start, e.t_end,
                           e.free, e.last, e.stock_time, e.stock_delta, e.stock_n,
                           e.levels, e.ticks)  # fmt: skip
        if flags & BAD_ORDER:
            return flags
        flows = a.cons_ptr[i + 1] > a.cons_ptr[i] or a.prod_ptr[i + 1] > a.prod_ptr[i]
        shifted = e.t_start[i] != e.start[i] or e.t_end[i] != e.end[i]
        if shifted:
            reach = max(reach, _reach(a, e, i))
        moved = shifted or q <= last_changed
        if flows and moved:  # its stock events differ from the current list's
            for c in range(a.cons_ptr[i], a.cons_ptr[i + 1]):
                e.dirty[a.cons_mat[c]] = 1
            for c in range(a.prod_ptr[i], a.prod_ptr[i + 1]):
                e.dirty[a.prod_mat[c]] = 1
    return flags


@njit(cache=True, nogil=True)
def _broken_lags(a: PlantArrays, e: Engine) -> int:
    """Raise trial floors of predecessors whose maximum lag broke; the earliest list
    position raised (-1: none; -2: a pinned predecessor cannot move)."""
    first = -1
    for s in range(len(a.op_job)):
        for k in range(a.pred_ptr[s], a.pred_ptr[s + 1]):
            hi = a.pred_max[k]
            if hi == FAR:
                continue
            p = a.pred_op[k]
            excess = e.t_start[s] - (e.t_end[p] + hi)
            if excess <= 0 or (a.op_fixed_mode[p] >= 0 and a.op_fixed_mode[s] >= 0):
                continue
            if a.op_fixed_mode[p] >= 0:
                return -2
            e.t_floors[p] = max(e.t_floors[p], e.t_start[p] + excess)
            if first < 0 or e.pos[p] < first:
                first = e.pos[p]
    return first


@njit(cache=True, nogil=True)
def trial(a: PlantArrays, e: Engine, first: int, last_changed: int) -> int:
    """Decode the (already changed) list from ``first``; times in ``t_*``, terms in
    ``terms``; the flags. ``pos`` must hold the changed list's positions."""
    e.t_busy[:] = e.busy
    e.t_start[:] = e.start
    e.t_end[:] = e.end
    e.t_floors[:] = e.floors
    rounds = 0
    while True:
        flags = _forward(a, e, first, last_changed)
        if flags & BAD_ORDER:
            return flags
        e.kept_floors[:] = e.t_floors
        again = _broken_lags(a, e)
        if again == -1:
            break
        rounds += 1
        if again == -2 or rounds >= MAX_LAG_ROUNDS:
            # give up: keep the floors these times were placed with
            e.t_floors[:] = e.kept_floors
            flags |= MAX_LAG
            break
        # no early stop before the last operation whose floor differs from the current
        for i in range(len(a.op_job)):
            if e.t_floors[i] != e.floors[i] and e.pos[i] > last_changed:
                last_changed = e.pos[i]
        first = min(first, again)
    e.state[3] = first  # where the trial's times start to differ
    if flags & EARLY:  # the stock repeats the current list's too
        flags &= ~EARLY
        e.state[5] = e.state[4]
    else:
        e.state[5] = 1 if stock_ok(a, e.stock_n, e.ticks) else 0
    if e.state[5] == 0:
        flags |= NO_SLOT
    return flags | terms_of(a, e.mode, e.t_busy, e.t_start, e.t_end, e.terms)


@njit(cache=True, nogil=True)
def accept(a: PlantArrays, e: Engine, flags: int) -> None:
    """The last trial becomes the current list (checkpoints past its change are stale)."""
    e.busy[:] = e.t_busy
    e.start[:] = e.t_start
    e.end[:] = e.t_end
    e.floors[:] = e.t_floors
    e.cur_terms[:] = e.terms
    e.state[2] = flags
    e.state[4] = e.state[5]
    e.state[1] = 1
    _checkpoints_from(a, e, e.state[3] // e.state[0])
