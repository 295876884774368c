"""Tests for the due-date- and setup-aware construction and the plant search around it."""

from __future__ import annotations

from aps import solve
from aps.factory.compile import compile_plant
from aps.factory.loaded import generate_loaded_plant
from aps.heuristics.arrays import build_arrays, to_schedule
from aps.heuristics.construct import DELTAS, SLACK_RULES, construct, portfolio
from aps.heuristics.decode import Scratch, run
from aps.kpi import objective_value, term_values
from aps.params import SolveParams
from aps.validate import validate
from tests.heuristics.support import tight_plant


def test_every_rule_gives_a_valid_schedule_or_says_why() -> None:
    """Tests that each rule's decoded list validates when the decoder calls it feasible."""
    problem = tight_plant(orders=40)
    a = build_arrays(problem)
    s = Scratch(a, len(problem.machines))
    candidates = construct(problem, a, s, SolveParams(time_limit=600))
    assert len(candidates) > 5
    feasible = 0
    for c in candidates:
        assert run(a, s, c.order, c.mode) == c.flags
        if c.flags == 0:
            feasible += 1
            rows = to_schedule(problem, a, c.mode, s.busy, s.start, s.end)
            assert validate(problem, rows) == [], c.rule
            assert objective_value(problem.objective, term_values(problem, rows)) == c.score[1]
    assert feasible > 0


def test_the_portfolio_fits_the_objective() -> None:
    """Tests that due dates bring the due-date rules (EDD, operation due date, ATC with
    several look-aheads) and setups the setup-grouping ATCS variants, and that a
    makespan-only problem without setups gets the makespan rules alone."""
    names = {r.name for r in portfolio(due_dates=True, setups=True)}
    assert {"edd", "odd", "atc", "atcs", "mwkr"} <= names
    assert len({r.k1 for r in portfolio(due_dates=True, setups=False) if r.name == "atc"}) >= 3
    assert {r.name for r in portfolio(due_dates=False, setups=False)} == {"mwkr"}


def test_solve_is_never_worse_than_the_best_rule() -> None:
    """Tests that a plant solve returns a valid schedule no worse than every rule's."""
    problem = tight_plant(orders=40)
    a = build_arrays(problem)
    s = Scratch(a, len(problem.machines))
    values = {c.rule: c.score[1] for c in construct(problem, a, s, SolveParams(time_limit=600))
              if not c.flags}  # fmt: skip
    result = solve(problem, time_limit=10, workers=2)
    assert validate(problem, result.schedule) == []
    ran = {k: v for k, v in result.parameters["construction"].items() if v is not None}
    assert set(values) <= set(ran)  # every rule ran (and the refinement added more)
    assert all(ran[k] == v for k, v in values.items())  # the same rules, the same values
    assert result.objective is not None and result.objective <= min(ran.values())


def test_refining_a_rules_parameters_never_loses_and_tries_every_look_ahead() -> None:
    """Tests the parameter search after the portfolio: it keeps the portfolio's
    candidates, tries the best slack rule at every look-ahead of the grid, and its best
    is no worse than the portfolio's."""
    problem = compile_plant(generate_loaded_plant(40, 2, load=0.95, tightness=0.5))
    a = build_arrays(problem)
    s = Scratch(a, len(problem.machines))
    plain = construct(problem, a, s, SolveParams(time_limit=600))
    refined = construct(problem, a, s, SolveParams(time_limit=600), refine=True)
    assert [c.rule for c in refined[: len(plain)]] == [c.rule for c in plain]
    assert len(refined) > len(plain)
    assert min(c.score for c in refined) <= min(c.score for c in plain)
    best = min((c for c in plain if c.rule.split()[0] in SLACK_RULES), key=lambda c: c.score)
    stem = best.rule.rsplit(" delta=", 1)[0]
    tried = {float(c.rule.rsplit("=", 1)[1]) for c in refined if c.rule.startswith(stem + " ")}
    assert tried >= set(DELTAS)
