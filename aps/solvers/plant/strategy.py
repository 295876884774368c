"""Our search for plants: construction portfolio, CP-SAT where one model fits, local search.

1. **Construction.** The caller's valid hint and every dispatching rule of
   :func:`aps.heuristics.construct.portfolio` (due-date and setup aware), each decoded and
   scored under the problem's own objective; the best feasible one is the incumbent and
   is reported at once. Rules run while they fit in :data:`CONSTRUCT_SHARE` of the time
   (the first always runs). When no rule honours every deadline, maximum lag and stock
   receipt, the greedy witness tries (it places order by order and repairs lags).
2. **One CP-SAT model**, for plants small enough (:data:`MODEL_OPERATIONS` operations and
   a model estimated under :data:`aps.solvers.cpsat.size.MAX_MODEL_SIZE` literals),
   hinted with the incumbent, for :data:`CPSAT_SHARE` of what is left: it proves small
   plants optimal and its bound is exact.
3. **Local search** (:mod:`aps.heuristics.search`) on the incumbent's list, evaluated
   incrementally (:mod:`aps.heuristics.engine`), in turns with **CP-SAT neighbourhoods**
   (:mod:`aps.solvers.plant.lns`) for the rest.

The deadline and the stop event end every phase; the best schedule so far is returned.
The reported bound is the larger of CP-SAT's and the path bounds of
:mod:`aps.solvers.bounds`, for makespan, tardiness and the other terms alike.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from aps.bounds import horizon_of
from aps.heuristics.arrays import TERMS, PlantArrays, build_arrays, from_schedule, to_schedule
from aps.heuristics.construct import Candidate, construct, evaluate
from aps.heuristics.decode import Scratch, normalize, run
from aps.heuristics.engine import new_engine, reset
from aps.heuristics.search import search, value_of
from aps.heuristics.witness import witness
from aps.kpi import objective_value, term_values
from aps.model import Objective, ObjectiveTerm, Problem
from aps.params import SolveParams
from aps.result import Incumbent, Result, ScheduledOperation, SolveStatus, relative_gap
from aps.solvers.bounds import TermBounds, term_bounds
from aps.solvers.cpsat.runtime import SOLVER_VERSION
from aps.solvers.cpsat.size import MAX_MODEL_SIZE, model_size
from aps.solvers.cpsat.solve import solve_cpsat
from aps.solvers.plant.lns import KINDS as lns_kinds
from aps.solvers.plant.lns import ListState, lns_round
from aps.validate import validate

#: construction may use this share of the time limit (the first rule always runs)
CONSTRUCT_SHARE = 0.3
#: plants up to this many operations also get one CP-SAT model of the whole problem
MODEL_OPERATIONS = 400
#: share of the time left after construction that the CP-SAT model gets
CPSAT_SHARE = 0.7
#: the local search stops this many seconds before the deadline (to decode and report)
MARGIN = 0.05
#: a neighbourhood round follows this many seconds without a local-search improvement
#: (doubled after each round that fails, reset by one that improves)
LNS_STALL = 1.0
#: the best list is validated and reported at most this often while the search runs
OFFER_SECONDS = 2.0
#: a CP-SAT neighbourhood round gets at most this long
LNS_SECONDS = 2.0
#: neighbourhood sizes (operations): the first, the smallest and the largest
LNS_SIZE, LNS_MIN, LNS_MAX = 80, 20, 400


@dataclass
class _Best:
    """The incumbent: a schedule, its objective value and how it was found.

    Schedules compare by ``key``: the weighted sum, or a lexicographic objective's levels
    in order (its ``value``, the primary level, alone would call a schedule with a worse
    second level as good). ``floor`` is the key's lower bound, level by level.
    """

    params: SolveParams
    floor: tuple[int, ...]
    schedule: list[ScheduledOperation] | None = None
    value: int | None = None
    key: tuple[int, ...] | None = None
    source: str = ""
    history: list[Incumbent] = field(default_factory=list)

    @property
    def bound(self) -> int:
        """The lower bound of ``value``."""
        return self.floor[0]

    def offer(self, problem: Problem, rows: list[ScheduledOperation], source: str) -> bool:
        """Keep ``rows`` when valid and better; report it."""
        values = term_values(problem, rows)
        key = objective_key(problem.objective, values)
        if self.key is not None and key >= self.key:
            return False
        if validate(problem, rows):
            return False
        self.schedule, self.key, self.source = rows, key, source
        self.value = objective_value(problem.objective, values)
        self.history.append(self.params.report(self.value, self.bound))
        return True

    def beaten_by(self, key: tuple[int, ...]) -> bool:
        """Whether a schedule of this key would improve on the incumbent."""
        return self.key is None or key < self.key

    @property
    def proven(self) -> bool:
        """The incumbent meets the lower bound on every level: nothing better exists."""
        return self.key is not None and all(
            k <= f for k, f in zip(self.key, self.floor, strict=True)
        )


def objective_key(objective: Objective, values: dict[ObjectiveTerm, int]) -> tuple[int, ...]:
    """What schedules compare by: (weighted sum,) or the lexicographic levels in order."""
    if objective.kind == "lexicographic":
        return tuple(values[t.term] for t in objective.terms)
    return (objective_value(objective, values),)


def _floor(problem: Problem, bounds: TermBounds) -> tuple[int, ...]:
    if problem.objective.kind == "lexicographic":
        return tuple(bounds.terms[t.term] for t in problem.objective.terms)
    return (bounds.objective(problem.objective),)


def solve_plant(
    problem: Problem, params: SolveParams, hint: Sequence[ScheduledOperation] | None = None
) -> Result:
    """Solve a plant (anything beyond the classic job shop); see the module docstring."""
    a = build_arrays(problem)
    s = Scratch(a, len(problem.machines))
    bounds = term_bounds(problem)
    best = _Best(params, _floor(problem, bounds))
    notes: dict[str, object] = {}
    start = _construct(problem, a, s, params, hint, best, notes)
    cpsat: Result | None = None
    if _fits_one_model(problem) and not params.expired(MARGIN) and not best.proven:
        cpsat = _one_model(problem, params, best, notes)
        if cpsat.status == SolveStatus.OPTIMAL or (
            cpsat.status == SolveStatus.INFEASIBLE and best.schedule is None
        ):
            # CP-SAT proved it: its answer (and its explanation of an infeasible plant)
            cpsat.parameters = {**cpsat.parameters, **notes}
            cpsat.wall_s = round(params.elapsed(), 3)
            return cpsat
    if start is not None and len(start.order) and not params.expired(MARGIN):
        notes["local_search"] = _Improver(problem, a, s, params, start, best).run()
    if best.schedule is None:
        # nothing feasible found: CP-SAT's verdict, or its refusal to build a model too
        # large, says why
        return cpsat if cpsat is not None else solve_cpsat(problem, params, hint)
    return _result(problem, params, best, notes, bounds, cpsat)


def _construct(
    problem: Problem,
    a: PlantArrays,
    s: Scratch,
    params: SolveParams,
    hint: Sequence[ScheduledOperation] | None,
    best: _Best,
    notes: dict[str, object],
) -> Candidate | None:
    """Rules (and the hint, and maybe the witness); the best feasible candidate. Each
    candidate that improves on the incumbent is offered as soon as it is decoded, so the
    first schedule does not wait for the whole portfolio."""
    found: list[Candidate] = []

    def offer(c: Candidate) -> None:
        if c.flags == 0 and best.beaten_by(c.score[1:]):
            run(a, s, c.order, c.mode)
            best.offer(problem, to_schedule(problem, a, c.mode, s.busy, s.start, s.end), c.rule)

    if hint and not validate(problem, hint):
        best.offer(problem, list(hint), "hint")
        order, mode = from_schedule(problem, a, list(hint))
        found.append(evaluate(a, s, problem.objective, "hint", normalize(a, order), mode))
    budget = params.phase(CONSTRUCT_SHARE * params.time_limit)
    found += construct(problem, a, s, budget, on_candidate=offer, refine=True)
    if not any(c.flags == 0 for c in found) and not params.expired(MARGIN):
        rows = witness(problem)
        if rows is not None:
            best.offer(problem, rows, "witness")
            order, mode = from_schedule(problem, a, rows)
            found.append(evaluate(a, s, problem.objective, "witness", normalize(a, order), mode))
    notes["construction"] = {
        c.rule: None if c.flags else int(c.score[1]) for c in found
    }  # the rules' objective values (None: infeasible)
    feasible = [c for c in found if c.flags == 0]
    return min(feasible, key=lambda c: c.score) if feasible else None


def _fits_one_model(problem: Problem) -> bool:
    if problem.num_operations > MODEL_OPERATIONS:
        return False
    return model_size(problem, horizon_of(problem)) <= MAX_MODEL_SIZE


def _one_model(
    problem: Problem, params: SolveParams, best: _Best, notes: dict[str, object]
) -> Result:
    """CP-SAT on the whole problem, hinted with the incumbent."""
    share = params.phase(CPSAT_SHARE * params.remaining(), on_progress=None)
    t0 = time.monotonic()
    result = solve_cpsat(problem, share, best.schedule)
    notes["cpsat"] = {"status": str(result.status), "seconds": round(time.monotonic() - t0, 3)}
    if result.status.has_schedule and result.schedule:
        best.offer(problem, result.schedule, "cpsat")
    return result


class _Improver:
    """Local search and CP-SAT neighbourhoods in turns, on one engine, until the deadline.

    The local search runs until it has not improved for ``patience`` seconds; then a
    neighbourhood round re-sequences about ``size`` operations of the best list with
    CP-SAT for at most :data:`LNS_SECONDS`, and the merged list is decoded and kept when
    it beats the best. A round that fails leaves the local search's walk where it was and
    doubles ``patience`` (neighbourhoods that do not pay get less of the time); one that
    improves resets it. The size grows while CP-SAT proves its neighbourhoods and shrinks
    while it does not; a neighbourhood kind that improves is drawn more often. The best
    list is validated and reported at most every :data:`OFFER_SECONDS`, and at the end.
    """

    def __init__(self, problem: Problem, a: PlantArrays, s: Scratch, params: SolveParams,
                 start: Candidate, best: _Best) -> None:  # fmt: skip
        self.problem, self.a, self.s, self.params, self.best = problem, a, s, params, best
        self.weights = _weights(problem)
        self.engine = new_engine(a, s, start.order, start.mode)
        self.best_order, self.best_mode = self.engine.order.copy(), self.engine.mode.copy()
        self.best_floors = self.engine.floors.copy()
        self.stats = np.asarray([np.nan, 0, 0, 0, 0], dtype=np.float64)
        self.chunk, self.round = 50, 0
        self.rng = random.Random(params.seed)
        self.size = LNS_SIZE
        self.patience = LNS_STALL
        self.unreported: str | None = None  # the source of a better list not yet offered
        self.offered_at, self.offer_cost = time.monotonic(), 0.0
        self.wins = dict.fromkeys(lns_kinds, 1.0)
        self.lns = {"rounds": 0, "improvements": 0, "solved_optimal": 0}

    def run(self) -> dict[str, object]:
        while not self._ending() and not self.best.proven:
            self.search()
            if self._ending(0.5) or self.best.proven:
                break
            self.neighbourhood()
        self._offer()
        return {
            "moves_tried": int(self.stats[3]),
            "moves_accepted": int(self.stats[2]),
            "improvements": int(self.stats[4]),
            "neighbourhoods": self.lns,
            "neighbourhood_size": self.size,
        }

    def _ending(self, extra: float = 0.0) -> bool:
        """Whether the time left is only what reporting the best list needs."""
        return self.params.expired(MARGIN + self.offer_cost + extra)

    def search(self) -> None:
        """Local search until it has not improved for ``patience`` seconds."""
        gained = time.monotonic()
        while not self._ending():
            t0 = time.monotonic()
            before = self.stats[0]
            seed = self.params.seed + self.round
            search(self.a, self.engine, self.weights, self.chunk, seed, 0.002, self.best_order,
                   self.best_mode, self.best_floors, self.stats)  # fmt: skip
            self.round += 1
            now = time.monotonic()
            took = now - t0
            if self.stats[0] != before:
                gained = now
                self._improved("local search")
            if took < 0.1:
                self.chunk *= 2
            elif took > 0.5 and self.chunk > 10:
                self.chunk //= 2
            if now - gained >= self.patience or self.params.remaining() < took:
                return

    def neighbourhood(self) -> None:
        """One CP-SAT neighbourhood round on the best list."""
        run(self.a, self.s, self.best_order, self.best_mode, self.best_floors)
        inc = ListState(self.best_order, self.best_mode, self.s.busy.copy(), self.s.start.copy(),
                        self.s.end.copy())  # fmt: skip
        kinds = list(self.wins)
        kind = self.rng.choices(kinds, weights=[self.wins[k] for k in kinds])[0]
        seconds = min(LNS_SECONDS, 0.25 * self.params.remaining())
        phase = self.params.phase(seconds, on_progress=None, workers=self.params.workers)
        self.lns["rounds"] += 1
        got = lns_round(self.problem, self.a, inc, kind, self.size, phase, self.rng)
        if got is None:
            self.size = max(LNS_MIN, int(self.size * 0.8))
            self._failed()
            return
        order, mode, status = got
        self.size = (min(LNS_MAX, int(self.size * 1.2)) if status == "OPTIMAL"
                     else max(LNS_MIN, int(self.size * 0.8)))  # fmt: skip
        self.lns["solved_optimal"] += status == "OPTIMAL"
        order = normalize(self.a, order)
        flags = run(self.a, self.s, order, mode)
        if flags != 0 or value_of(flags, self.s.terms, self.weights) >= self.stats[0]:
            self._failed()
            return
        self.engine.order[:] = order
        self.engine.mode[:] = mode
        flags = reset(self.a, self.engine)
        self.stats[0] = value_of(flags, self.engine.cur_terms, self.weights)
        self.best_order[:] = self.engine.order
        self.best_mode[:] = self.engine.mode
        self.best_floors[:] = self.engine.floors
        self.lns["improvements"] += 1
        self.wins[kind] += 1.0
        self.patience = LNS_STALL
        self._improved(f"neighbourhood ({kind})")

    def _failed(self) -> None:
        """A neighbourhood that did not improve: the local search gets longer turns."""
        self.patience = min(2.0 * self.patience, max(LNS_STALL, 0.25 * self.params.time_limit))

    def _improved(self, source: str) -> None:
        self.unreported = source
        if time.monotonic() - self.offered_at >= OFFER_SECONDS:
            self._offer()

    def _offer(self) -> None:
        """Validate and report the best list, when it changed since the last report."""
        if self.unreported is None:
            return
        t0 = time.monotonic()
        run(self.a, self.s, self.best_order, self.best_mode, self.best_floors)
        rows = to_schedule(self.problem, self.a, self.best_mode, self.s.busy, self.s.start,
                           self.s.end)  # fmt: skip
        self.best.offer(self.problem, rows, self.unreported)
        self.unreported = None
        self.offered_at = time.monotonic()
        self.offer_cost = max(self.offer_cost, self.offered_at - t0)


def _weights(problem: Problem) -> np.ndarray:
    """The objective as weights of the kernels' terms (lexicographic: by orders of
    magnitude, the search's guide only; results compare exactly)."""
    given = {t.term: float(t.weight) for t in problem.objective.terms}
    if problem.objective.kind == "lexicographic":
        given = {t.term: 1e6 ** (len(problem.objective.terms) - k - 1)
                 for k, t in enumerate(problem.objective.terms)}  # fmt: skip
    return np.asarray([given.get(t, 0.0) for t in TERMS], dtype=np.float64)


def _result(
    problem: Problem,
    params: SolveParams,
    best: _Best,
    notes: dict[str, object],
    bounds: TermBounds,
    cpsat: Result | None,
) -> Result:
    assert best.schedule is not None and best.value is not None
    bound = float(best.bound)
    if cpsat is not None and cpsat.bound is not None and problem.objective.kind == "weighted":
        bound = max(bound, cpsat.bound)
    optimal = best.proven or (problem.objective.kind == "weighted" and best.value <= bound)
    values = term_values(problem, best.schedule)
    notes["found_by"] = best.source
    notes["term_bounds"] = {str(t): v for t, v in bounds.terms.items()}
    notes["structurally_late"] = len(bounds.structurally_late(problem))
    return Result(
        name=problem.name,
        status=SolveStatus.OPTIMAL if optimal else SolveStatus.FEASIBLE,
        objective=float(best.value),
        bound=float(best.value) if optimal else bound,
        gap=0.0 if optimal else relative_gap(best.value, bound),
        makespan=values[TERMS[0]],
        wall_s=round(params.elapsed(), 3),
        solver="cpsat+search",
        solver_version=SOLVER_VERSION,
        parameters={
            "time_limit": params.time_limit,
            "num_workers": params.workers,
            "random_seed": params.seed,
            **notes,
        },
        seed=params.seed,
        schedule=best.schedule,
        progress=best.history,
        kpis={str(t): float(v) for t, v in values.items()},
    )
