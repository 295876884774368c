"""``solver="auto"``: pick CP-SAT, the MILP or both (CP-SAT checked by the MILP) per problem.

Measured on the 240 cross-check problems (``make crosscheck-full``, one worker each, at
most 9 operations): CP-SAT needed 10.7 s in total, the MILP 20.1 s (2.2 s at most); the
MILP was faster on 52 of them, all where CP-SAT needed at most 0.34 s. On the
263-operation example plant the MILP (80 000 binaries) spends about 15 s just building
the model and finds nothing in 20 s, where CP-SAT returns a plan. Speed never favours the
MILP where it matters; its value is a second, independent answer. So ``auto`` lets
CP-SAT answer and, on problems small enough for HiGHS, has the MILP check that answer.
The rule, first match wins (recorded as ``parameters["auto_choice"]`` and
``parameters["auto_reason"]``; ``Result.solver`` names the backend whose answer is
returned):

1. the ``milp`` extra (Pyomo, highspy) is not installed -> ``cpsat``;
1a. more than :data:`PLAN_OPERATIONS` operations and one CP-SAT model estimated above
   :data:`aps.solvers.cpsat.size.MAX_MODEL_SIZE` literals (where ``cpsat`` would return its
   greedy schedule) -> ``plan`` (:mod:`aps.solvers.plan`: a bucket plan, then CP-SAT
   window by window; never worse than the greedy schedule);
2. the MILP refuses a feature (:func:`aps.solvers.milp.model.check_supported`) -> ``cpsat``;
3. more than :data:`MAX_MILP_OPERATIONS` operations or, estimated, more than
   :data:`MAX_MILP_BINARIES` binaries -> ``cpsat`` (a big-M MILP's LP bound degrades
   quickly with size and building it costs seconds);
4. otherwise -> ``cpsat+milp`` (:func:`solve_auto`): CP-SAT with half the time limit,
   then the MILP with the rest; ``parameters["auto_check"]`` records the verdict
   ("agree: ...", "partial: ...", or "DISAGREE: ..." -- a solver bug, also logged) and
   ``parameters["auto_other"]`` the other backend's status, objective and bound. The
   larger of the two proven bounds is reported, so two non-optimal answers can still
   prove a weighted objective optimal.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from importlib.util import find_spec
from typing import Any

from aps.bounds import horizon_of
from aps.model import Id, Problem
from aps.params import SolveParams
from aps.result import Result, ScheduledOperation, SolveStatus, relative_gap
from aps.solvers.cpsat.size import MAX_MODEL_SIZE, model_size
from aps.solvers.default import solve_default
from aps.solvers.milp.model import check_supported
from aps.solvers.milp.solve import solve_milp
from aps.solvers.plan.windows import solve_plan
from aps.validate import ScheduleInvalidError, validate

#: Above this many operations the MILP is not chosen.
MAX_MILP_OPERATIONS = 15
#: Above this many (estimated) binaries the MILP is not chosen.
MAX_MILP_BINARIES = 600
#: Above this many operations ``plan`` is chosen when one CP-SAT model is too large.
PLAN_OPERATIONS = 1000


def estimated_binaries(problem: Problem) -> int:
    """A cheap upper estimate of the MILP's binaries (no model is built)."""
    per_machine: dict[Id, int] = {}
    count = 0
    for job in problem.jobs:
        for op in job.operations:
            if len(op.modes) > 1:
                count += len(op.modes)
            for md in op.modes:
                per_machine[md.machine] = per_machine.get(md.machine, 0) + 1
    machines = {m.id: m for m in problem.machines}
    for mid, n in per_machine.items():
        machine = machines[mid]
        if machine.setup_matrix is not None:
            count += n * n + n  # arcs plus first/last
        else:
            count += n * (n - 1) // 2
        count += n * (len(machine.unavailable) + 1)  # period choices (spans counted once)
    consumers = [
        flow.material for job in problem.jobs for op in job.operations for flow in op.consumes
    ]
    producers = [
        flow.material for job in problem.jobs for op in job.operations for flow in op.produces
    ]
    for mat in problem.materials:
        c = consumers.count(mat.id)
        count += c * (c - 1 + producers.count(mat.id) + len(mat.receipts))
    count += len(problem.jobs)  # late-job indicators
    return count


#: The choice that runs CP-SAT, then certifies its answer with the MILP.
BOTH = "cpsat+milp"


def choose(problem: Problem) -> tuple[str, str]:
    """Return ``(backend, reason)`` for ``problem`` following the module's rule."""

    if find_spec("pyomo") is None or find_spec("highspy") is None:
        return "cpsat", "the milp extra (pyomo, highspy) is not installed"
    n = problem.num_operations
    if n > PLAN_OPERATIONS:
        size = model_size(problem, horizon_of(problem))
        if size > MAX_MODEL_SIZE:
            return "plan", f"{n} operations, one CP-SAT model about {size:,} literals"
    try:
        check_supported(problem)
    except ValueError as exc:
        return "cpsat", f"milp refuses the problem: {exc}"
    n = problem.num_operations
    if n > MAX_MILP_OPERATIONS:
        return "cpsat", f"{n} operations > {MAX_MILP_OPERATIONS}"
    b = estimated_binaries(problem)
    if b > MAX_MILP_BINARIES:
        return "cpsat", f"about {b} MILP binaries > {MAX_MILP_BINARIES}"
    return BOTH, f"small problem ({n} operations, about {b} MILP binaries): CP-SAT, MILP checks"


def solve_auto(
    problem: Problem,
    params: SolveParams,
    hint: Sequence[ScheduledOperation] | None = None,
    *,
    check: bool = True,
) -> Result:
    """Solve with the backend :func:`choose` picks; for ``cpsat+milp``, certify.

    CP-SAT gets half the time limit, the MILP the rest. The returned result is CP-SAT's
    unless the MILP contradicts it (then the better validated answer: a schedule beats an
    INFEASIBLE claim, a lower objective beats a higher one) or CP-SAT's schedule failed
    validation. Both bounds are proven, so the larger one is reported (and can prove
    optimality). ``parameters["auto_check"]`` says what happened; a contradiction is also
    logged as a warning: it is a solver bug to report.
    """
    choice, reason = choose(problem)
    notes: dict[str, Any] = {"auto_choice": choice, "auto_reason": reason}
    if choice != BOTH:
        result = _run(choice, problem, params, hint, check)
        result.parameters = {**result.parameters, **notes}
        return result
    try:
        first: Result | None = _run(
            "cpsat", problem, params.phase(params.time_limit / 2), hint, check
        )
        failed = None
    except ScheduleInvalidError as exc:
        first, failed = None, str(exc)
    if first is not None and params.stopped():
        first.parameters = {**first.parameters, **notes, "auto_check": "not checked: stopped"}
        return first
    milp_params = params.phase(max(0.1, params.remaining()), on_progress=None)
    try:
        second = _run("milp", problem, milp_params, hint, check)
    except Exception as exc:  # the check is optional: never lose CP-SAT's answer to it
        if first is None:
            raise
        logging.getLogger(__name__).warning("%s: MILP check failed", problem.name, exc_info=True)
        first.parameters = {**first.parameters, **notes, "auto_check": _failed_check(exc)}
        return first
    best = _settle(problem, first, failed, second, notes)
    best.wall_s = round(params.elapsed(), 3)
    return best


def _failed_check(exc: Exception) -> str:
    if isinstance(exc, ScheduleInvalidError):
        return f"DISAGREE: milp failed ({exc})"
    return f"not checked: milp failed ({type(exc).__name__}: {exc})"


def _settle(
    problem: Problem,
    first: Result | None,
    failed: str | None,
    second: Result,
    notes: dict[str, Any],
) -> Result:
    """Keep the better answer and record the verdict and the other backend's answer."""
    if first is None:
        verdict, best = f"DISAGREE: cpsat schedule invalid ({failed})", second
    else:
        verdict, best = _certify(first, second, problem.objective.kind == "weighted")
    if verdict.startswith("DISAGREE"):
        logging.getLogger(__name__).warning("%s: %s", problem.name, verdict)
    other = second if best is first else first
    notes["auto_check"] = verdict
    if other is not None:
        notes["auto_other"] = {
            "solver": other.solver,
            "status": str(other.status),
            "objective": other.objective,
            "bound": other.bound,
            "wall_s": other.wall_s,
        }
    best.parameters = {**best.parameters, **notes}
    return best


def _run(
    choice: str,
    problem: Problem,
    params: SolveParams,
    hint: Sequence[ScheduledOperation] | None,
    check: bool,
) -> Result:
    """Run one backend by name; validate its schedule when ``check`` (raise if invalid)."""
    if choice == "milp":
        result = solve_milp(problem, params, hint)
    elif choice == "plan":
        result = solve_plan(problem, params, hint)
    else:
        result = solve_default(problem, params, hint)
    if check and result.status.has_schedule:
        violations = validate(problem, result.schedule)
        if violations:
            raise ScheduleInvalidError(violations)
    return result


def _certify(cpsat: Result, milp: Result, weighted: bool) -> tuple[str, Result]:
    """Compare CP-SAT's answer with the MILP's; return the verdict and the answer to keep.

    Two bounds only prove a weighted objective: a lexicographic result's bound is about
    its first level.
    """
    inf = SolveStatus.INFEASIBLE
    if cpsat.status == inf and milp.status.has_schedule:
        return f"DISAGREE: cpsat INFEASIBLE, milp found {milp.objective}", milp
    if milp.status == inf and cpsat.status.has_schedule:
        return f"DISAGREE: milp INFEASIBLE, cpsat found {cpsat.objective}", cpsat
    if cpsat.status == inf and milp.status == inf:
        return "agree: both INFEASIBLE", cpsat
    if not (cpsat.status.has_schedule and milp.status.has_schedule):
        keep = cpsat if cpsat.status.has_schedule else milp
        return f"partial: cpsat {cpsat.status}, milp {milp.status}", keep
    assert cpsat.objective is not None and milp.objective is not None
    keep = cpsat if cpsat.objective <= milp.objective else milp
    value = cpsat.objective if keep is cpsat else milp.objective
    for a, b in ((cpsat, milp), (milp, cpsat)):
        if a.bound is not None and b.objective is not None and a.bound > b.objective + 1e-6:
            return f"DISAGREE: {a.solver} bound {a.bound} exceeds {b.solver} objective " + (
                f"{b.objective}"
            ), keep
    if cpsat.status == milp.status == SolveStatus.OPTIMAL:
        return f"agree: both OPTIMAL at {value:g}", keep
    if not weighted:
        return f"partial: cpsat {cpsat.status}, milp {milp.status}", keep
    bounds = [r.bound for r in (cpsat, milp) if r.bound is not None]
    bound = max(bounds) if bounds else None
    if bound is not None and bound >= value - 1e-6:
        keep.status, keep.bound, keep.gap = SolveStatus.OPTIMAL, value, 0.0
        return f"agree: proved OPTIMAL by the two bounds at {value:g}", keep
    keep.bound, keep.gap = bound, relative_gap(value, bound)
    return f"partial: objective {value}, best bound {bound}", keep
