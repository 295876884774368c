"""Due-date- and setup-aware construction: dispatching rules that build the decoder's list.

Each rule runs a Giffler-Thompson schedule generation scheme with the decoder's
placement (:mod:`aps.heuristics.decode`): among the operations whose predecessors are
placed, the one that can complete earliest on some machine fixes that machine ``m*``
and its completion ``c*``; the operations that could start on ``m*`` before
``est + delta * (c* - est)`` (``est`` the earliest start on ``m*``; ``delta`` 1 gives
active schedules, 0 non-delay ones) form the conflict set, and the rule's priority picks
one of them for ``m*``. Calendars, setups and changeovers, releases, minimum lags and
stock are honoured as the decoder honours them; maximum lags are repaired afterwards by
the decoder's rounds. Rules (``w`` weight, ``p`` the operation's processing time, ``d``
the job's due date or deadline, ``r`` the longest remaining processing after it,
``t`` the decision time, ``s`` the changeover from ``m*``'s last family):

* ``edd``: earliest due date; ``odd``: earliest operation due date ``d - r`` (minimum
  slack);
* ``atc``: apparent tardiness cost, ``w/p * exp(-max(0, d - p - r - t) / (k1 * p_mean))``
  (Vepsalainen & Morton 1987, operation slack as in Pinedo ch. 14);
* ``atcs``: ATC times ``exp(-s / (k2 * s_mean))`` (Lee, Bhaskaran & Pinedo 1997), which
  groups families on setup-heavy machines;
* ``mwkr``, ``spt``: for makespan.

Every rule's list is decoded and scored under the problem's own objective; the caller
keeps the best (:func:`construct`). Cached earliest slots are recomputed only for
operations on the machine just loaded (or that draw stock), so a rule costs about the
number of operations times the ready-set size in cheap comparisons.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from numba import njit

from aps.heuristics.arrays import FAR, I64, NONE, TERMS, PlantArrays
from aps.heuristics.decode import (
    IGNORE,
    NO_SLOT,
    STRICT,
    Scratch,
    _place,
    changeover,
    earliest_slot,
    floor_of,
    normalize,
    place_pinned,
    run,
)
from aps.model import Objective, ObjectiveTerm, Problem
from aps.params import SolveParams

F64 = np.ndarray

#: rules that read the slack (their parameters are refined)
SLACK_RULES = ("odd", "atc", "atcs")
#: the parameter grids the refinement steps on
DELTAS = (0.0, 0.1, 0.25, 0.4, 0.5, 0.75, 1.0)
K1S = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
K2S = (0.25, 0.5, 1.0, 2.0, 4.0)

RULE_CODES = {"edd": 0, "odd": 1, "atc": 2, "atcs": 3, "mwkr": 4, "spt": 5}


@dataclass(frozen=True)
class Rule:
    """One dispatching rule with its parameters."""

    name: str
    k1: float = 2.0
    k2: float = 1.0
    delta: float = 1.0

    def __str__(self) -> str:
        if self.name in ("atc", "atcs"):
            extra = f" k1={self.k1:g}" + (f" k2={self.k2:g}" if self.name == "atcs" else "")
        else:
            extra = ""
        return f"{self.name}{extra} delta={self.delta:g}"


def portfolio(due_dates: bool, setups: bool) -> list[Rule]:
    """The rules worth running on a problem (its objective and its features)."""
    rules = [Rule("mwkr"), Rule("mwkr", delta=0.0)]
    if due_dates:
        rules = [
            Rule("edd"),
            Rule("odd"),
            Rule("atc", k1=1.0),
            Rule("atc", k1=2.0),
            Rule("atc", k1=4.0),
            Rule("odd", delta=0.5),
            Rule("atc", k1=2.0, delta=0.5),
            *rules,
        ]
        if setups:
            rules += [
                Rule("atcs", k1=2.0, k2=0.5),
                Rule("atcs", k1=2.0, k2=2.0),
                Rule("atcs", k1=4.0, k2=1.0),
            ]
    elif setups:
        rules.append(Rule("atcs", k1=2.0, k2=1.0))
    return rules


def remaining_work(a: PlantArrays) -> I64:
    """Longest processing (shortest mode, plus minimum lags) from after each operation to
    its job's end."""
    n = len(a.op_job)
    shortest = np.asarray(
        [int(a.mode_duration[a.mode_ptr[i] : a.mode_ptr[i + 1]].min()) for i in range(n)],
        dtype=np.int64,
    )
    rest = np.zeros(n, dtype=np.int64)
    order = _topological(a)
    for i in order[::-1]:
        best = 0
        for k in range(int(a.succ_ptr[i]), int(a.succ_ptr[i + 1])):
            s = int(a.succ_op[k])
            lag = _min_lag(a, i, s)
            best = max(best, lag + int(shortest[s]) + int(rest[s]))
        rest[i] = best
    return rest


def _min_lag(a: PlantArrays, p: int, s: int) -> int:
    for k in range(int(a.pred_ptr[s]), int(a.pred_ptr[s + 1])):
        if int(a.pred_op[k]) == p:
            return max(0, int(a.pred_min[k]))
    return 0


def _topological(a: PlantArrays) -> list[int]:
    n = len(a.op_job)
    indeg = np.diff(a.pred_ptr).astype(np.int64)
    stack = [i for i in range(n) if indeg[i] == 0]
    out: list[int] = []
    while stack:
        i = stack.pop()
        out.append(i)
        for k in range(int(a.succ_ptr[i]), int(a.succ_ptr[i + 1])):
            s = int(a.succ_op[k])
            indeg[s] -= 1
            if indeg[s] == 0:
                stack.append(s)
    return out


def job_due(a: PlantArrays) -> I64:
    """The date each job is measured against: its due date, else its deadline, else FAR."""
    due = a.job_due.copy()
    none = due == NONE
    due[none] = a.job_deadline[none]
    return due


def dispatch_rule(
    a: PlantArrays, s: Scratch, rule: Rule, rest: I64, due: I64
) -> tuple[I64, I64, int]:
    """(list order, modes, flags) of one rule's schedule (times left in ``s``)."""
    n = len(a.op_job)
    order = np.zeros(n, dtype=np.int64)
    mode = np.full(n, -1, dtype=np.int64)
    p_mean, s_mean = _means(a)
    flags = _dispatch(
        a, RULE_CODES[rule.name], rule.k1 * p_mean, rule.k2 * s_mean, rule.delta, rest, due,
        s.pinned, s.floors, s.busy, s.start, s.end, s.free, s.last, s.stock_time,
        s.stock_delta, s.stock_n, s.levels, s.ticks, order, mode,
    )  # fmt: skip
    count = int(flags >> 8)
    return order[:count], mode, int(flags & 0xFF)


def _means(a: PlantArrays) -> tuple[float, float]:
    """Mean processing time, and mean positive changeover (1 when there is none)."""
    p_mean = float(np.mean(a.mode_duration)) if len(a.mode_duration) else 1.0
    positive = a.changeover[a.changeover > 0]
    s_mean = float(np.mean(positive)) if len(positive) else 1.0
    return max(p_mean, 1.0), max(s_mean, 1.0)


@njit(cache=True, nogil=True)
def _priority(
    a: PlantArrays,
    code: int,
    k1: float,
    k2: float,
    i: int,
    md: int,
    m: int,
    t: int,
    rest: I64,
    due: I64,
    last: I64,
) -> float:
    """Higher is placed first."""
    j = a.op_job[i]
    p = max(1, a.mode_duration[md])
    d = due[j]
    if code == 0:  # edd
        return -float(d)
    if code == 1:  # odd
        return -float(d - rest[i])
    if code == 4:  # mwkr
        return float(rest[i] + p)
    if code == 5:  # spt
        return -float(p)
    w = float(max(a.job_weight[j], 1)) if d < FAR else 1e-6
    slack = float(d - p - rest[i] - t) if d < FAR else 1e18
    value = w / p * math.exp(-max(0.0, slack) / k1) if slack < 1e17 else w / p * 1e-12
    if code == 3:  # atcs
        value *= math.exp(-changeover(a, m, last[m], a.op_family[i]) / k2)
    return value


@njit(cache=True, nogil=True)
def _init_ready(a: PlantArrays, left: I64, ready: I64) -> int:
    """Count unplaced predecessors; fill ``ready`` with the operations that have none."""
    n_ready = 0
    for i in range(len(a.op_job)):
        if a.op_fixed_mode[i] >= 0:
            continue
        for k in range(a.pred_ptr[i], a.pred_ptr[i + 1]):
            if a.op_fixed_mode[a.pred_op[k]] < 0:
                left[i] += 1
        if left[i] == 0:
            ready[n_ready] = i
            n_ready += 1
    return n_ready


@njit(cache=True, nogil=True)
def _stamp(a: PlantArrays, i: int, mat_version: I64) -> int:
    """Changes whenever the stock of a material that ``i`` draws changes."""
    stamp = 0
    for c in range(a.cons_ptr[i], a.cons_ptr[i + 1]):
        stamp += mat_version[a.cons_mat[c]]
    return stamp


@njit(cache=True, nogil=True)
def _csr(keys: I64, n_keys: int) -> tuple[I64, I64]:
    """Row pointers and the positions of ``keys`` grouped by key (stable)."""
    ptr = np.zeros(n_keys + 1, dtype=np.int64)
    for k in keys:
        ptr[k + 1] += 1
    for k in range(n_keys):
        ptr[k + 1] += ptr[k]
    fill = ptr[:-1].copy()
    out = np.empty(len(keys), dtype=np.int64)
    for x in range(len(keys)):
        out[fill[keys[x]]] = x
        fill[keys[x]] += 1
    return ptr, out


@njit(cache=True, nogil=True)
def _dispatch(
    a: PlantArrays,
    code: int,
    k1: float,
    k2: float,
    delta: float,
    rest: I64,
    due: I64,
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
    order: I64,
    mode: I64,
) -> int:
    """Run one rule; returns (placed count << 8) | flags.

    Two caches per mode: its slot without stock (valid while its machine is unchanged:
    a lower bound) and its slot with stock (valid while the machine and the stock of
    what it draws are unchanged). Selection works on the lower bounds and checks stock
    only where it decides (the earliest completion, the conflict set), so a plant where
    most operations draw stock does not re-check every draw after every placement.

    Each ready operation keeps its earliest mode (:func:`_op_best`), recomputed only
    when it is *dirty*: one of its machines took an operation, the stock it draws
    changed, or its stock-aware slot was checked. The conflict set is read from the
    modes of the chosen machine. Ties break as a scan of the ready list in order would,
    so the schedule does not depend on this bookkeeping; on plants whose operations have
    tens of eligible machines it spares a scan of every mode of every ready operation.
    """
    n = len(a.op_job)
    n_modes = len(a.mode_machine)
    place_pinned(a, pinned, busy, start, end, free, last, stock_time, stock_delta, stock_n,
                 levels, ticks)  # fmt: skip
    floors[:] = 0
    for i in pinned:
        mode[i] = a.op_fixed_mode[i]
    left = np.zeros(n, dtype=np.int64)
    ready = np.zeros(n, dtype=np.int64)
    n_ready = _init_ready(a, left, ready)
    pos = np.full(n, -1, dtype=np.int64)  # place in ``ready``, -1 when not ready
    for r in range(n_ready):
        pos[ready[r]] = r
    mode_op = np.empty(n_modes, dtype=np.int64)
    for i in range(n):
        mode_op[a.mode_ptr[i] : a.mode_ptr[i + 1]] = i
    mach_ptr, mach_modes = _csr(a.mode_machine, len(free))
    n_mats = max(len(a.mat_initial), 1)
    mat_ptr, mat_cons = _csr(a.cons_mat, n_mats)  # consumption rows by material
    cons_op = np.empty(len(a.cons_mat), dtype=np.int64)
    for i in range(n):
        cons_op[a.cons_ptr[i] : a.cons_ptr[i + 1]] = i
    lo = np.zeros((4, n_modes), dtype=np.int64)  # slot without stock: b, s, e, m_version
    lo[3] = -1
    c = np.zeros((5, n_modes), dtype=np.int64)  # slot with stock: b, s, e, m_version, stamp
    c[3] = -1
    c[4] = -1
    best = np.zeros((4, n), dtype=np.int64)  # each ready operation's earliest: e, s, md, exact
    dirty = np.ones(n, dtype=np.bool_)
    m_version = np.zeros(len(free), dtype=np.int64)
    mat_version = np.zeros(n_mats, dtype=np.int64)
    flags = 0
    count = 0
    while n_ready > 0:
        best_md = _earliest(a, ready, n_ready, dirty, best, lo, c, floors, end, free, last,
                            stock_time, stock_delta, stock_n, levels, ticks, m_version,
                            mat_version)  # fmt: skip
        if best_md < 0:
            # nothing fits (stock that never comes, or the horizon): force the first one
            i = ready[0]
            md = a.mode_ptr[i]
            m = a.mode_machine[md]
            floor = floor_of(a, i, floors, end)
            setup = a.mode_setup[md] + changeover(a, m, last[m], a.op_family[i])
            b = max(free[m], floor - setup)
            c[0, md], c[1, md], c[2, md] = b, b + setup, b + setup + a.mode_duration[md]
            flags |= NO_SLOT
            chosen, chosen_md = i, md
        else:
            chosen, chosen_md = _conflict_choice(
                a, code, k1, k2, delta, rest, due, pos, mach_ptr, mach_modes, mode_op,
                a.mode_machine[best_md], best[0, mode_op[best_md]], best_md, dirty, lo, c,
                floors, end, free, last, stock_time, stock_delta, stock_n, levels, ticks,
                m_version, mat_version,
            )  # fmt: skip
        m = a.mode_machine[chosen_md]
        _place(a, chosen, chosen_md, c[0, chosen_md], c[1, chosen_md], c[2, chosen_md],
               busy, start, end, free, last, stock_time, stock_delta, stock_n, levels,
               ticks)  # fmt: skip
        mode[chosen] = chosen_md
        order[count] = chosen
        count += 1
        # what changed: the machine, the stock of what it drew and made, the ready list
        m_version[m] += 1
        for k in range(mach_ptr[m], mach_ptr[m + 1]):
            dirty[mode_op[mach_modes[k]]] = True
        for k in range(a.cons_ptr[chosen], a.cons_ptr[chosen + 1]):
            _stock_changed(a.cons_mat[k], mat_version, mat_ptr, mat_cons, cons_op, dirty)
        for k in range(a.prod_ptr[chosen], a.prod_ptr[chosen + 1]):
            _stock_changed(a.prod_mat[k], mat_version, mat_ptr, mat_cons, cons_op, dirty)
        n_ready -= 1
        moved = ready[n_ready]
        ready[pos[chosen]] = moved
        pos[moved] = pos[chosen]
        pos[chosen] = -1
        for k in range(a.succ_ptr[chosen], a.succ_ptr[chosen + 1]):
            succ = a.succ_op[k]
            if a.op_fixed_mode[succ] >= 0:
                continue
            left[succ] -= 1
            if left[succ] == 0:
                ready[n_ready] = succ
                pos[succ] = n_ready
                n_ready += 1
                dirty[succ] = True
                # its floor depends on all predecessors: invalidate its cached slots
                for md in range(a.mode_ptr[succ], a.mode_ptr[succ + 1]):
                    lo[3, md] = -1
                    c[3, md] = -1
    return (count << 8) | flags


@njit(cache=True, nogil=True)
def _stock_changed(
    mat: int, mat_version: I64, mat_ptr: I64, mat_cons: I64, cons_op: I64, dirty: np.ndarray
) -> None:
    """A material's stock changed: the operations that draw it must look again."""
    mat_version[mat] += 1
    for k in range(mat_ptr[mat], mat_ptr[mat + 1]):
        dirty[cons_op[mat_cons[k]]] = True


@njit(cache=True, nogil=True)
def _op_best(
    a: PlantArrays,
    i: int,
    best: I64,
    lo: I64,
    c: I64,
    floors: I64,
    end: I64,
    free: I64,
    last: I64,
    stock_time: I64,
    stock_delta: I64,
    stock_n: I64,
    levels: I64,
    ticks: I64,
    m_version: I64,
    mat_version: I64,
) -> None:
    """Refresh the stale lower bounds of ``i``'s modes; its earliest (end, start) mode,
    the stock-aware slot where that is current, else the lower bound."""
    stamp = _stamp(a, i, mat_version)
    best_e, best_s, best_md, exact = FAR, FAR, -1, 0
    for md in range(a.mode_ptr[i], a.mode_ptr[i + 1]):
        m = a.mode_machine[md]
        if lo[3, md] != m_version[m]:
            floor = floor_of(a, i, floors, end)
            setup = a.mode_setup[md] + changeover(a, m, last[m], a.op_family[i])
            b, s, e = earliest_slot(a, i, md, setup, free[m], floor, stock_time, stock_delta,
                                    stock_n, levels, ticks, IGNORE)  # fmt: skip
            lo[0, md], lo[1, md], lo[2, md], lo[3, md] = b, s, e, m_version[m]
        known = c[3, md] == m_version[m] and c[4, md] == stamp
        src = c if known else lo
        if src[0, md] == NONE:
            continue
        e, s = src[2, md], src[1, md]
        if e < best_e or (e == best_e and s < best_s):
            best_e, best_s, best_md, exact = e, s, md, 1 if known else 0
    best[0, i], best[1, i], best[2, i], best[3, i] = best_e, best_s, best_md, exact


@njit(cache=True, nogil=True)
def _earliest(
    a: PlantArrays,
    ready: I64,
    n_ready: int,
    dirty: np.ndarray,
    best: I64,
    lo: I64,
    c: I64,
    floors: I64,
    end: I64,
    free: I64,
    last: I64,
    stock_time: I64,
    stock_delta: I64,
    stock_n: I64,
    levels: I64,
    ticks: I64,
    m_version: I64,
    mat_version: I64,
) -> int:
    """The mode of the earliest completion c* (-1: none fits), checking stock where it
    decides; every ready operation is clean afterwards."""
    best_md = -1
    for _ in range(len(a.mode_machine) + 1):
        best_e, best_s, best_md, exact = FAR, FAR, -1, 0
        for r in range(n_ready):
            i = ready[r]
            if dirty[i]:
                _op_best(a, i, best, lo, c, floors, end, free, last, stock_time, stock_delta,
                         stock_n, levels, ticks, m_version, mat_version)  # fmt: skip
                dirty[i] = False
            if best[2, i] < 0:
                continue
            e, s = best[0, i], best[1, i]
            if e < best_e or (e == best_e and s < best_s):
                best_e, best_s, best_md, exact = e, s, best[2, i], best[3, i]
        if best_md < 0 or exact:
            break
        i = _owner(a, best_md)
        _check_stock(a, i, best_md, floors, end, free, last, stock_time, stock_delta, stock_n,
                     levels, ticks, c, m_version, _stamp(a, i, mat_version))  # fmt: skip
        dirty[i] = True
    return best_md


@njit(cache=True, nogil=True)
def _owner(a: PlantArrays, md: int) -> int:
    """The operation a mode belongs to."""
    return int(np.searchsorted(a.mode_ptr, md, side="right") - 1)


@njit(cache=True, nogil=True)
def _check_stock(
    a: PlantArrays,
    i: int,
    md: int,
    floors: I64,
    end: I64,
    free: I64,
    last: I64,
    stock_time: I64,
    stock_delta: I64,
    stock_n: I64,
    levels: I64,
    ticks: I64,
    c: I64,
    m_version: I64,
    stamp: int,
) -> None:
    """The stock-aware slot of ``md`` into the cache."""
    m = a.mode_machine[md]
    floor = floor_of(a, i, floors, end)
    setup = a.mode_setup[md] + changeover(a, m, last[m], a.op_family[i])
    b, s, e = earliest_slot(a, i, md, setup, free[m], floor, stock_time, stock_delta,
                            stock_n, levels, ticks, STRICT)  # fmt: skip
    c[0, md], c[1, md], c[2, md], c[3, md], c[4, md] = b, s, e, m_version[m], stamp


@njit(cache=True, nogil=True)
def _conflict_choice(
    a: PlantArrays,
    code: int,
    k1: float,
    k2: float,
    delta: float,
    rest: I64,
    due: I64,
    pos: I64,
    mach_ptr: I64,
    mach_modes: I64,
    mode_op: I64,
    m_star: int,
    best_e: int,
    best_md: int,
    dirty: np.ndarray,
    lo: I64,
    c: I64,
    floors: I64,
    end: I64,
    free: I64,
    last: I64,
    stock_time: I64,
    stock_delta: I64,
    stock_n: I64,
    levels: I64,
    ticks: I64,
    m_version: I64,
    mat_version: I64,
) -> tuple[int, int]:
    """The rule's pick among the ready operations that could start on ``m*`` before the
    limit; ties go to the earlier place in the ready list, then the earlier mode."""
    est = FAR
    for k in range(mach_ptr[m_star], mach_ptr[m_star + 1]):
        md = mach_modes[k]
        if pos[mode_op[md]] >= 0 and lo[0, md] != NONE and lo[1, md] < est:
            est = lo[1, md]
    limit = est + delta * (best_e - est)
    chosen, chosen_md, chosen_pos = -1, -1, -1
    best_value = -1e300
    for k in range(mach_ptr[m_star], mach_ptr[m_star + 1]):
        md = mach_modes[k]
        i = mode_op[md]
        if pos[i] < 0 or lo[0, md] == NONE or lo[1, md] > limit:
            continue
        stamp = _stamp(a, i, mat_version)
        if not (c[3, md] == m_version[m_star] and c[4, md] == stamp):
            _check_stock(a, i, md, floors, end, free, last, stock_time, stock_delta,
                         stock_n, levels, ticks, c, m_version, stamp)  # fmt: skip
            dirty[i] = True
        if c[0, md] == NONE or c[1, md] > limit:
            continue
        value = _priority(a, code, k1, k2, i, md, m_star, est, rest, due, last)
        if value > best_value or (
            value == best_value
            and (pos[i] < chosen_pos or (pos[i] == chosen_pos and md < chosen_md))
        ):
            best_value, chosen, chosen_md, chosen_pos = value, i, md, pos[i]
    if chosen < 0:  # stock pushed every candidate past the limit: the earliest completion
        chosen, chosen_md = mode_op[best_md], best_md
    return chosen, chosen_md


@dataclass
class Candidate:
    """A decoded list: its order, modes, flags, objective terms and score."""

    rule: str
    order: I64
    mode: I64
    flags: int
    terms: I64
    score: tuple[int, ...]


def score_of(objective: Objective, flags: int, terms: I64) -> tuple[int, ...]:
    """Lower is better: feasible first, then the problem's own objective (lexicographic
    objectives compare level by level)."""
    values = {term: int(terms[k]) for k, term in enumerate(TERMS)}
    if objective.kind == "lexicographic":
        levels = tuple(values[t.term] for t in objective.terms)
    else:
        levels = (sum(t.weight * values[t.term] for t in objective.terms),)
    return (int(flags != 0), *levels)


def evaluate(
    a: PlantArrays, s: Scratch, objective: Objective, rule: str, order: I64, mode: I64
) -> Candidate:
    """Decode ``order`` with lag repair and score it."""
    flags = run(a, s, order, mode)
    terms = s.terms.copy()
    return Candidate(rule, order, mode, flags, terms, score_of(objective, flags, terms))


def construct(
    problem: Problem,
    a: PlantArrays,
    s: Scratch,
    params: SolveParams,
    rules: list[Rule] | None = None,
    on_candidate: Callable[[Candidate], None] | None = None,
    refine: bool = False,
) -> list[Candidate]:
    """Every rule's decoded schedule, in the order run, while the time lasts (the first
    rule always runs); ``on_candidate`` sees each one as soon as it is decoded. With
    ``refine``, the best slack rule's parameters are then searched (:func:`_refine`). The
    best is ``min(candidates, key=lambda c: c.score)``."""
    tardy = (ObjectiveTerm.WEIGHTED_TARDINESS, ObjectiveTerm.LATE_JOBS)
    due_dates = any(t.term in tardy for t in problem.objective.terms)
    due_dates = due_dates or bool((a.job_deadline < FAR).any())
    setups = bool(len(a.changeover)) and bool((a.changeover > 0).any() or (a.initial > 0).any())
    rules = rules if rules is not None else portfolio(due_dates, setups)
    rest, due = remaining_work(a), job_due(a)
    out: list[Candidate] = []
    ran: dict[Rule, Candidate] = {}

    def attempt(rule: Rule) -> Candidate:
        order, mode, _ = dispatch_rule(a, s, rule, rest, due)
        c = evaluate(a, s, problem.objective, str(rule), normalize(a, order), mode)
        out.append(c)
        ran[rule] = c
        if on_candidate is not None:
            on_candidate(c)
        return c

    for rule in rules:
        if out and params.expired():
            break
        attempt(rule)
    slack = {r: c for r, c in ran.items() if r.name in SLACK_RULES}
    if refine and slack:
        _refine(min(slack, key=lambda r: slack[r].score), ran, attempt, params, setups)
    return out


def _refine(
    rule: Rule,
    ran: dict[Rule, Candidate],
    attempt: Callable[[Rule], Candidate],
    params: SolveParams,
    setups: bool,
) -> None:
    """Coordinate descent over a slack rule's parameters from ``rule``, while time lasts.

    The look-ahead ``delta`` first, over its whole range: on a loaded plant it matters
    most (an active schedule, 1, idles machines for urgent work that is not there yet; a
    non-delay one, 0, never waits for it), and which value wins depends on the plant.
    Then one step at a time on ``k1``, ``k2`` and ATC against ATCS, moving to any
    neighbour that scores better, until none does.
    """
    best = rule

    def better(candidate: Rule) -> bool:
        nonlocal best
        if candidate in ran or params.expired():
            return False
        if attempt(candidate).score < ran[best].score:
            best = candidate
            return True
        return False

    for delta in DELTAS:
        better(replace(rule, delta=delta))
    moved = True
    while moved and not params.expired():
        moved = False
        for name, values in _coordinates(best, setups):
            here = min(range(len(values)), key=lambda k: abs(values[k] - getattr(best, name)))
            for k in (here - 1, here + 1):
                if 0 <= k < len(values) and better(_step(best, name, values[k])):
                    moved = True
                    break
        if setups and best.name in ("atc", "atcs"):
            moved = better(replace(best, name="atcs" if best.name == "atc" else "atc")) or moved


def _step(rule: Rule, name: str, value: float) -> Rule:
    if name == "k1":
        return replace(rule, k1=value)
    if name == "k2":
        return replace(rule, k2=value)
    return replace(rule, delta=value)


def _coordinates(rule: Rule, setups: bool) -> list[tuple[str, tuple[float, ...]]]:
    """The parameters of ``rule`` worth a step, with their grids."""
    if rule.name == "odd":
        return [("delta", DELTAS)]
    out = [("k1", K1S), ("delta", DELTAS)]
    if rule.name == "atcs" and setups:
        out.append(("k2", K2S))
    return out
