"""The MILP models off-shift setups (``Machine.off_shift_setup``) and agrees with CP-SAT."""

from __future__ import annotations

import pytest

from aps.model import Problem

from .crosscheck import CPSAT_LIMIT, MILP_LIMIT, _run, compare
from .generator import random_problem


def _off_shift(seed: int) -> Problem | None:
    """The cross-check problem of ``seed`` with every machine setting up off shift, when
    it has windows and setups (else None)."""
    p = random_problem(seed)
    setups = bool(p.setup_matrices) or any(
        md.setup for j in p.jobs for o in j.operations for md in o.modes
    )
    if not setups or not any(m.unavailable for m in p.machines):
        return None
    machines = [m.model_copy(update={"off_shift_setup": True}) for m in p.machines]
    return p.model_copy(update={"machines": machines})


SEEDS = [s for s in range(80) if _off_shift(s) is not None][:8]


@pytest.mark.parametrize("seed", SEEDS)
def test_backends_agree_with_off_shift_setups(seed: int) -> None:
    """Tests that both backends validate and agree on the optimum or infeasibility of
    cross-check problems whose machines set up off shift."""
    problem = _off_shift(seed)
    assert problem is not None
    verdict, detail = compare(
        problem, _run(problem, "cpsat", CPSAT_LIMIT), _run(problem, "milp", MILP_LIMIT)
    )
    assert verdict == "agree", f"seed {seed}: {detail}"
