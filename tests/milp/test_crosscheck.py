"""Cross-check tests: MILP and CP-SAT agree on seeded random problems (short subset).

The full suite (240 seeds) is ``make crosscheck-full``; here the first
``APS_CROSSCHECK_SEEDS`` seeds (default 24) run with the normal tests.
"""

from __future__ import annotations

import os

import pytest

from aps.kpi import objective_value, term_values
from aps.model import ObjectiveTerm
from aps.result import Result, SolveStatus

from .crosscheck import compare, crosscheck
from .generator import random_problem

SEEDS = range(int(os.environ.get("APS_CROSSCHECK_SEEDS", "24")))
#: lexicographic seeds where the plant search once called a schedule optimal because
#: its first level met the bound, though a later level was still improvable
LEXICOGRAPHIC = (122, 199, 211, 223)


@pytest.mark.parametrize("seed", SEEDS)
def test_backends_agree(seed: int) -> None:
    """Tests that both backends validate and agree on optimum or infeasibility for one seed."""
    out = crosscheck(seed)
    assert out.verdict == "agree", f"seed {seed}: {out.detail}"


@pytest.mark.parametrize("seed", LEXICOGRAPHIC)
def test_backends_agree_on_later_lexicographic_levels(seed: int) -> None:
    """Tests that an OPTIMAL plant answer is optimal on every lexicographic level."""
    assert random_problem(seed).objective.kind == "lexicographic"
    out = crosscheck(seed)
    assert out.verdict == "agree", f"seed {seed}: {out.detail}"


def test_subset_covers_every_feature() -> None:
    """Tests that the seeds run here exercise every feature, term and objective kind."""
    seen: set[str] = set()
    for seed in SEEDS:
        p = random_problem(seed)
        seen.add(f"primary:{p.objective.terms[0].term}")
        seen.add(f"kind:{p.objective.kind}")
        if p.horizon is not None:
            seen.add("horizon")
        if p.stability is not None and p.stability.reference:
            seen.add("stability_reference")
        if p.setup_matrices:
            seen.add("setup_matrix")
        if any(m.unavailable for m in p.machines):
            seen.add("windows")
        for mat in p.materials:
            seen.add("materials")
            if mat.receipts:
                seen.add("receipts")
        for job in p.jobs:
            if job.release:
                seen.add("release")
            if job.due is not None:
                seen.add("due")
            if job.deadline is not None:
                seen.add("deadline")
            for o in job.operations:
                if len(o.modes) > 1:
                    seen.add("alternative_modes")
                if o.interruptible:
                    seen.add("interruptible")
                if o.fixed is not None:
                    seen.add("pinned")
                if any(md.duration == 0 for md in o.modes):
                    seen.add("zero_duration")
                if any(md.setup for md in o.modes):
                    seen.add("fixed_setup")
                if o.produces:
                    seen.add("production")
                for lag in o.predecessors or ():
                    seen.add("explicit_lags")
                    if lag.max_lag is not None:
                        seen.add("max_lag")
    wanted = {f"primary:{t}" for t in ObjectiveTerm} | {
        "kind:weighted",
        "kind:lexicographic",
        "horizon",
        "setup_matrix",
        "windows",
        "materials",
        "receipts",
        "release",
        "due",
        "deadline",
        "alternative_modes",
        "interruptible",
        "fixed_setup",
        "production",
        "explicit_lags",
        "max_lag",
        "pinned",
        "stability_reference",
        "zero_duration",
    }
    assert wanted <= seen, sorted(wanted - seen)


def test_subset_has_both_feasible_and_infeasible_problems() -> None:
    """Tests that the subset is not degenerate: some problems are infeasible, most are not."""
    outcomes = [crosscheck(seed) for seed in range(8, 16)]
    statuses = {o.cpsat.status for o in outcomes if o.cpsat is not None}
    assert SolveStatus.OPTIMAL in statuses
    assert SolveStatus.INFEASIBLE in statuses


def _pair(seed: int) -> tuple[Result, Result]:
    out = crosscheck(seed)
    assert out.cpsat is not None and out.milp is not None
    return out.cpsat, out.milp


def test_compare_flags_contradictions() -> None:
    """Tests that compare reports a different optimum, a false infeasibility and a bad bound."""
    seed = next(s for s in range(40) if crosscheck(s).detail.startswith("both OPTIMAL"))
    p = random_problem(seed)
    cpsat, milp = _pair(seed)
    assert compare(p, cpsat, milp)[0] == "agree"
    infeasible = milp.model_copy(update={"status": SolveStatus.INFEASIBLE, "schedule": []})
    assert compare(p, cpsat, infeasible)[0] == "disagree"
    high = milp.model_copy(update={"bound": (cpsat.objective or 0) + 1})
    assert compare(p, cpsat, high)[0] == "disagree"
    shifted = milp.model_copy(
        update={
            "schedule": [
                r.model_copy(update={"start": r.start + 100, "end": r.end + 100})
                for r in milp.schedule
            ]
        }
    )
    verdict, detail = compare(p, cpsat, shifted)
    assert verdict == "disagree" and "its schedule has" in detail  # objective not updated
    value = float(objective_value(p.objective, term_values(p, shifted.schedule)))
    consistent = shifted.model_copy(update={"objective": value, "bound": None})
    verdict, detail = compare(p, cpsat, consistent)
    assert verdict == "disagree" and "!=" in detail
    assert compare(p, "cpsat: schedule violates 1 constraint(s)", milp)[0] == "disagree"
