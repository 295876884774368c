"""Cross-check the MILP backend against CP-SAT on seeded random problems.

Run the full suite with ``make crosscheck-full`` (``python -m tests.milp.crosscheck``);
``tests/milp/test_crosscheck.py`` runs a short prefix of the same seeds.

Verdicts per problem: ``agree`` (the checks below all hold and both are conclusive),
``inconclusive`` (a limit hit: nothing was contradicted), ``disagree`` (a contradiction),
``known_cpsat_bug`` (a contradiction matching a diagnosed CP-SAT bug, see
:func:`known_cpsat_bug`; counted apart, never as agreement).
Checks: every returned schedule validates (``solve(check=True)``); an INFEASIBLE proof on
one side and a schedule on the other is a contradiction; a proven bound never exceeds the
other side's objective; when both prove optimality their objectives are equal, and for
lexicographic objectives every level's term value is equal.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from aps import solve
from aps.kpi import completion_times, term_values
from aps.model import ObjectiveTerm, Problem
from aps.result import Result, SolveStatus
from aps.solvers.milp import serial_horizon

from .generator import random_problem

CPSAT_LIMIT = 10.0
MILP_LIMIT = 30.0


@dataclass
class Outcome:
    """The two results for one problem and what the comparison concluded."""

    seed: int
    verdict: str
    detail: str
    cpsat: Result | None
    milp: Result | None


def _levels(problem: Problem, result: Result) -> list[int]:
    """The value the objective compares at each level (one level when weighted)."""
    values = term_values(problem, result.schedule)
    if problem.objective.kind == "lexicographic":
        return [values[t.term] for t in problem.objective.terms]
    return [sum(t.weight * values[t.term] for t in problem.objective.terms)]


def _run(problem: Problem, solver: str, limit: float) -> Result | str:
    try:
        return solve(problem, time_limit=limit, workers=1, seed=0, solver=solver, check=True)
    except ValueError as exc:  # ScheduleInvalidError is a ValueError too
        return f"{solver}: {exc}"


def known_cpsat_bug(problem: Problem, cpsat: Result, milp: Result) -> str | None:
    """Name the known CP-SAT bug a disagreement matches, if it does (else ``None``).

    Only when CP-SAT is the weaker side, the MILP's schedule validated and that schedule
    uses what CP-SAT cannot express (see ``test_cpsat_findings.py``):

    1. a job with a negative due date ending after ``H + due`` (CP-SAT's tardiness
       variable has domain ``[0, H]``), with a tardiness or late-jobs term;
    2. a zero-length operation strictly inside another operation's busy interval on its
       machine, or strictly inside one of its machine's unavailable windows.
    """
    if not milp.status.has_schedule or milp.objective is None:
        return None
    weaker = cpsat.status == SolveStatus.INFEASIBLE or (
        cpsat.status.has_schedule
        and _levels(problem, cpsat) > _levels(problem, milp)
        and milp.status == SolveStatus.OPTIMAL
    )
    if not weaker:
        return None
    terms = {t.term for t in problem.objective.terms}
    horizon = serial_horizon(problem)
    done = completion_times(problem, milp.schedule)
    if terms & {ObjectiveTerm.WEIGHTED_TARDINESS, ObjectiveTerm.LATE_JOBS} and any(
        j.due is not None and j.due < 0 and done[j.id] > horizon + j.due for j in problem.jobs
    ):
        return "bug 1: cpsat tardiness domain [0, H] with due < 0"
    if _zero_length_inside(problem, milp):
        return "bug 2: cpsat stricter than the validator on zero-length operations"
    return None


def _zero_length_inside(problem: Problem, result: Result) -> bool:
    windows = {m.id: m.unavailable for m in problem.machines}
    rows = result.schedule
    for r in rows:
        if r.end != r.busy_from:
            continue
        t = r.start
        if any(w.start < t < w.end for w in windows[r.machine]):
            return True
        if any(o.machine == r.machine and o.busy_from < t < o.end for o in rows if o is not r):
            return True
    return False


def compare(problem: Problem, cpsat: Result | str, milp: Result | str) -> tuple[str, str]:
    """Return ``(verdict, detail)`` for one pair of results."""
    verdict, detail = _compare(problem, cpsat, milp)
    if verdict == "disagree" and isinstance(cpsat, Result) and isinstance(milp, Result):
        bug = known_cpsat_bug(problem, cpsat, milp)
        if bug is not None:
            return "known_cpsat_bug", f"{bug}: {detail}"
    return verdict, detail


def _compare(problem: Problem, cpsat: Result | str, milp: Result | str) -> tuple[str, str]:
    if isinstance(cpsat, str) or isinstance(milp, str):
        errors = [r for r in (cpsat, milp) if isinstance(r, str)]
        return "disagree", "; ".join(errors)
    inf = SolveStatus.INFEASIBLE
    for a, b in ((cpsat, milp), (milp, cpsat)):
        if a.status == inf and b.status.has_schedule:
            return "disagree", f"{a.solver} INFEASIBLE, {b.solver} found objective {b.objective}"
        proven = a.bound is not None and a.status.has_schedule
        if proven and b.status.has_schedule and b.objective is not None:
            assert a.bound is not None
            if a.bound > b.objective + 1e-6:
                return "disagree", (
                    f"{a.solver} bound {a.bound} exceeds {b.solver} objective {b.objective}"
                )
    if cpsat.status == inf and milp.status == inf:
        return "agree", "both INFEASIBLE"
    both = (cpsat.status, milp.status) == (SolveStatus.OPTIMAL, SolveStatus.OPTIMAL)
    if both:
        lc, lm = _levels(problem, cpsat), _levels(problem, milp)
        if lc != lm:
            return "disagree", f"both OPTIMAL but cpsat {lc} != milp {lm}"
        return "agree", f"both OPTIMAL {lc}"
    return "inconclusive", f"cpsat {cpsat.status}, milp {milp.status}"


def crosscheck(seed: int) -> Outcome:
    """Solve the problem of ``seed`` with both backends and compare."""
    problem = random_problem(seed)
    cpsat = _run(problem, "cpsat", CPSAT_LIMIT)
    milp = _run(problem, "milp", MILP_LIMIT)
    verdict, detail = compare(problem, cpsat, milp)
    return Outcome(
        seed,
        verdict,
        detail,
        cpsat if isinstance(cpsat, Result) else None,
        milp if isinstance(milp, Result) else None,
    )


def main(argv: list[str] | None = None) -> int:
    """Run seeds ``[start, start + count)``; exit 1 on any disagreement."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=240)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--dump", type=Path, default=Path("results/crosscheck"))
    args = parser.parse_args(argv)
    counts = {"agree": 0, "inconclusive": 0, "disagree": 0, "known_cpsat_bug": 0}
    statuses: dict[str, int] = {}
    started = time.monotonic()
    for seed in range(args.start, args.start + args.count):
        out = crosscheck(seed)
        counts[out.verdict] += 1
        pair = f"{out.cpsat.status if out.cpsat else '-'}/{out.milp.status if out.milp else '-'}"
        statuses[pair] = statuses.get(pair, 0) + 1
        cw = out.cpsat.wall_s if out.cpsat else float("nan")
        mw = out.milp.wall_s if out.milp else float("nan")
        print(
            f"seed {seed:4d} {out.verdict:12s} cpsat {cw:6.2f}s milp {mw:6.2f}s  {out.detail}",
            flush=True,
        )
        if out.verdict in ("disagree", "known_cpsat_bug"):
            args.dump.mkdir(parents=True, exist_ok=True)
            (args.dump / f"seed-{seed}.json").write_text(random_problem(seed).to_json())
    print("status pairs (cpsat/milp): " + json.dumps(statuses, sort_keys=True))
    print(
        f"{args.count} problems, {counts['disagree']} disagreements, "
        f"{counts['agree']} agreements, {counts['inconclusive']} inconclusive, "
        f"{counts['known_cpsat_bug']} known CP-SAT bugs "
        f"({time.monotonic() - started:.0f} s)"
    )
    return 1 if counts["disagree"] else 0


if __name__ == "__main__":
    sys.exit(main())
