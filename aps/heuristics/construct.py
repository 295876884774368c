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
    lo_b = np.zeros(n_modes, dtype=np.int64)  # slot without stock
    lo_s = np.zeros(n_modes, dtype=np.int64)
    lo_e = np.zeros(n_modes, dtype=np.int64)
    lo_mv = np.full(n_modes, -1, dtype=np.int64)
    c_b = np.zeros(n_modes, dtype=np.int64)  # slot with stock
    c_s = np.zeros(n_modes, dtype=np.int64)
    c_e = np.zeros(n_modes, dtype=np.int64)
    c_mv = np.full(n_modes, -1, dtype=np.int64)
    c_sv = np.full(n_modes, -1, dtype=np.int64)
    m_version = np.zeros(len(free), dtype=np.int64)
    mat_version = np.zeros(max(len(a.mat_initial), 1), dtype=np.int64)
    flags = 0
    count = 0
    while n_ready > 0:
        # refresh stale lower bounds
        for r in range(n_ready):
            i = ready[r]
            for md in range(a.mode_ptr[i], a.mode_ptr[i + 1]):
                m = a.mode_machine[md]
                if lo_mv[md] != m_version[m]:
                    floor = floor_of(a, i, floors, end)
                    setup = a.mode_setup[md] + changeover(a, m, last[m], a.op_family[i])
                    b, s, e = earliest_slot(a, i, md, setup, free[m], floor, stock_time,
                                            stock_delta, stock_n, levels, ticks,
                                            IGNORE)  # fmt: skip
                    lo_b[md], lo_s[md], lo_e[md], lo_mv[md] = b, s, e, m_version[m]
        # the earliest completion c*, checking stock where it decides
        m_star = -1
        best_e = FAR
        for _ in range(n_modes + 1):
            best_e, best_s, best_md, exact = FAR, FAR, -1, False
            for r in range(n_ready):
                i = ready[r]
                stamp = _stamp(a, i, mat_version)
                for md in range(a.mode_ptr[i], a.mode_ptr[i + 1]):
                    m = a.mode_machine[md]
                    known = c_mv[md] == m_version[m] and c_sv[md] == stamp
                    b, s, e = (
                        (c_b[md], c_s[md], c_e[md]) if known else (lo_b[md], lo_s[md], lo_e[md])
                    )
                    if b == NONE:
                        continue
                    if e < best_e or (e == best_e and s < best_s):
                        best_e, best_s, best_md, exact = e, s, md, known
            if best_md < 0 or exact:
                break
            i = _owner(a, best_md)
            _check_stock(a, i, best_md, floors, end, free, last, stock_time, stock_delta,
                         stock_n, levels, ticks, c_b, c_s, c_e, c_mv, c_sv, m_version,
                         _stamp(a, i, mat_version))  # fmt: skip
        if best_md >= 0:
            m_star = a.mode_machine[best_md]
        if m_star < 0:
            # nothing fits (stock that never comes, or the horizon): force the first one
            i = ready[0]
            md = a.mode_ptr[i]
            m = a.mode_machine[md]
            floor = floor_of(a, i, floors, end)
            setup = a.mode_setup[md] + changeover(a, m, last[m], a.op_family[i])
            b = max(free[m], floor - setup)
            c_b[md], c_s[md], c_e[md] = b, b + setup, b + setup + a.mode_duration[md]
            flags |= NO_SLOT
            chosen, chosen_md, r_chosen = i, md, 0
        else:
            chosen, chosen_md, r_chosen = _conflict_choice(
                a, code, k1, k2, delta, rest, due, ready, n_ready, m_star, best_e, best_md,
                floors, end,
                free, last, stock_time, stock_delta, stock_n, levels, ticks, lo_b, lo_s, c_b,
                c_s, c_e, c_mv, c_sv, m_version, mat_version,
            )  # fmt: skip
        m = a.mode_machine[chosen_md]
        _place(a, chosen, chosen_md, c_b[chosen_md], c_s[chosen_md], c_e[chosen_md],
               busy, start, end, free, last, stock_time, stock_delta, stock_n, levels,
               ticks)  # fmt: skip
        mode[chosen] = chosen_md
        order[count] = chosen
        count += 1
        m_version[m] += 1
        for c in range(a.cons_ptr[chosen], a.cons_ptr[chosen + 1]):
            mat_version[a.cons_mat[c]] += 1
        for c in range(a.prod_ptr[chosen], a.prod_ptr[chosen + 1]):
            mat_version[a.prod_mat[c]] += 1
        n_ready -= 1
        ready[r_chosen] = ready[n_ready]
        for k in range(a.succ_ptr[chosen], a.succ_ptr[chosen + 1]):
            succ = a.succ_op[k]
            if a.op_fixed_mode[succ] >= 0:
                continue
            left[succ] -= 1
            if left[succ] == 0:
                ready[n_ready] = succ
                n_ready += 1
                # its floor depends on all predecessors: invalidate its cached slots
                for md in range(a.mode_ptr[succ], a.mode_ptr[succ + 1]):
                    lo_mv[md] = -1
                    c_mv[md] = -1
    return (count << 8) | flags


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
    c_b: I64,
    c_s: I64,
    c_e: I64,
    c_mv: I64,
    c_sv: I64,
    m_version: I64,
    stamp: int,
) -> None:
    """The stock-aware slot of ``md`` into the cache."""
    m = a.mode_machine[md]
    floor = floor_of(a, i, floors, end)
    setup = a.mode_setup[md] + changeover(a, m, last[m], a.op_family[i])
    b, s, e = earliest_slot(a, i, md, setup, free[m], floor, stock_time, stock_delta,
                            stock_n, levels, ticks, STRICT)  # fmt: skip
    c_b[md], c_s[md], c_e[md], c_mv[md], c_sv[md] = b, s, e, m_version[m], stamp


@njit(cache=True, nogil=True)
def _conflict_choice(
    a: PlantArrays,
    code: int,
    k1: float,
    k2: float,
    delta: float,
    rest: I64,
    due: I64,
    ready: I64,
    n_ready: int,
    m_star: int,
    best_e: int,
    best_md: int,
    floors: I64,
    end: I64,
    free: I64,
    last: I64,
    stock_time: I64,
    stock_delta: I64,
    stock_n: I64,
    levels: I64,
    ticks: I64,
    lo_b: I64,
    lo_s: I64,
    c_b: I64,
    c_s: I64,
    c_e: I64,
    c_mv: I64,
    c_sv: I64,
    m_version: I64,
    mat_version: I64,
) -> tuple[int, int, int]:
    """The rule's pick among the operations that could start on ``m*`` before the limit."""
    est = FAR
    for r in range(n_ready):
        i = ready[r]
        for md in range(a.mode_ptr[i], a.mode_ptr[i + 1]):
            if a.mode_machine[md] == m_star and lo_b[md] != NONE and lo_s[md] < est:
                est = lo_s[md]
    limit = est + delta * (best_e - est)
    chosen, chosen_md, r_chosen = -1, -1, -1
    best_value = -1e300
    for r in range(n_ready):
        i = ready[r]
        stamp = _stamp(a, i, mat_version)
        for md in range(a.mode_ptr[i], a.mode_ptr[i + 1]):
            if a.mode_machine[md] != m_star or lo_b[md] == NONE or lo_s[md] > limit:
                continue
            if not (c_mv[md] == m_version[m_star] and c_sv[md] == stamp):
                _check_stock(a, i, md, floors, end, free, last, stock_time, stock_delta,
                             stock_n, levels, ticks, c_b, c_s, c_e, c_mv, c_sv, m_version,
                             stamp)  # fmt: skip
            if c_b[md] == NONE or c_s[md] > limit:
                continue
            value = _priority(a, code, k1, k2, i, md, m_star, est, rest, due, last)
            if value > best_value:
                best_value, chosen, chosen_md, r_chosen = value, i, md, r
    if chosen < 0:  # stock pushed every candidate past the limit: the earliest completion
        chosen, chosen_md = _owner(a, best_md), best_md
        for r in range(n_ready):
            if ready[r] == chosen:
                r_chosen = r
    return chosen, chosen_md, r_chosen


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
