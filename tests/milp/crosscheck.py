"""Cross-check the MILP backend against CP-SAT on seeded random problems.

Run the full suite with ``make crosscheck-full`` (``python -m tests.milp.crosscheck``);
``tests/milp/test_crosscheck.py`` runs a short prefix of the same seeds.

Verdicts per problem: ``agree`` (the checks below all hold and both are conclusive),
``inconclusive`` (a limit hit: nothing was contradicted), ``disagree`` (a contradiction,
including any return of the CP-SAT bugs in ``test_cpsat_findings.py``), ``refused``.
Checks: every returned schedule validates; an OPTIMAL result reports the objective its own
schedule has (recomputed by :mod:`aps.kpi`); an INFEASIBLE proof on one side and a
schedule on the other is a contradiction; a proven bound never exceeds the other side's
objective; when both prove optimality their objectives are equal, and for lexicographic
objectives every level's term value is equal. A MILP refusal (a ``ValueError`` naming an
unsupported feature) is counted as ``refused``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from aps import solve
from aps.kpi import objective_value, term_values
from aps.model import Problem
from aps.result import Result, SolveStatus
from aps.validate import validate

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
    """Solve without the built-in check; an invalid schedule keeps its violations in
    ``message`` (prefixed ``INVALID``), which the comparison reports."""
    try:
        result = solve(problem, time_limit=limit, workers=1, seed=0, solver=solver, check=False)
    except ValueError as exc:
        return f"{solver}: {exc}"
    if result.status.has_schedule:
        violations = validate(problem, result.schedule)
        if violations:
            text = "; ".join(str(v) for v in violations[:3])
            return result.model_copy(update={"message": f"INVALID {text}"})
    return result


def _invalid(r: Result) -> bool:
    return (r.message or "").startswith("INVALID")


def _reported(problem: Problem, result: Result) -> float:
    """The objective a result should report: recomputed from its own schedule."""
    return float(objective_value(problem.objective, term_values(problem, result.schedule)))


def compare(problem: Problem, cpsat: Result | str, milp: Result | str) -> tuple[str, str]:
    """Return ``(verdict, detail)`` for one pair of results."""
    if isinstance(cpsat, str) or isinstance(milp, str):
        errors = [r for r in (cpsat, milp) if isinstance(r, str)]
        return "disagree", "; ".join(errors)
    for r in (cpsat, milp):
        if _invalid(r):
            return "disagree", f"{r.solver}: {r.message}"
        if r.status == SolveStatus.OPTIMAL and r.objective != _reported(problem, r):
            return "disagree", (
                f"{r.solver} reports objective {r.objective}, its schedule has "
                f"{_reported(problem, r)}"
            )
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


def crosscheck(seed: int, size: int = 1) -> Outcome:
    """Solve the problem of ``seed`` with both backends and compare."""
    problem = random_problem(seed, size)
    cpsat = _run(problem, "cpsat", CPSAT_LIMIT)
    milp = _run(problem, "milp", MILP_LIMIT)
    verdict, detail = compare(problem, cpsat, milp)
    if isinstance(milp, str) and "not supported" in milp and isinstance(cpsat, Result):
        verdict, detail = "refused", milp
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
    parser.add_argument("--size", type=int, default=1, help="problem size factor (1: <= 9 ops)")
    args = parser.parse_args(argv)
    counts = {"agree": 0, "inconclusive": 0, "disagree": 0, "refused": 0}
    statuses: dict[str, int] = {}
    started = time.monotonic()
    for seed in range(args.start, args.start + args.count):
        out = crosscheck(seed, args.size)
        counts[out.verdict] += 1
        pair = f"{out.cpsat.status if out.cpsat else '-'}/{out.milp.status if out.milp else '-'}"
        statuses[pair] = statuses.get(pair, 0) + 1
        cw = out.cpsat.wall_s if out.cpsat else float("nan")
        mw = out.milp.wall_s if out.milp else float("nan")
        print(
            f"seed {seed:4d} {out.verdict:12s} cpsat {cw:6.2f}s milp {mw:6.2f}s  {out.detail}",
            flush=True,
        )
        if out.verdict == "disagree":
            args.dump.mkdir(parents=True, exist_ok=True)
            (args.dump / f"seed-{seed}.json").write_text(random_problem(seed, args.size).to_json())
    print("status pairs (cpsat/milp): " + json.dumps(statuses, sort_keys=True))
    print(
        f"{args.count} problems, {counts['disagree']} disagreements, "
        f"{counts['agree']} agreements, {counts['inconclusive']} inconclusive, "
        f"{counts['refused']} refused by the MILP "
        f"({time.monotonic() - started:.0f} s)"
    )
    return 1 if counts["disagree"] else 0


if __name__ == "__main__":
    sys.exit(main())
