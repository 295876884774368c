"""Tests of the MILP backend (Pyomo + HiGHS) and the ``solver="auto"`` rule."""

from __future__ import annotations

import itertools
import random
import threading
from typing import Any

import pytest

from aps import solve, validate
from aps.kpi import objective_value, term_values
from aps.model import ObjectiveTerm, Placement, Problem
from aps.result import Incumbent, Result, SolveStatus
from aps.solvers.auto import BOTH, MAX_MILP_OPERATIONS, choose
from aps.solvers.milp.model import check_supported, serial_horizon

from ..core.factories import op, problem
from ..core.test_solve import CASES


def _milp(p: Problem, **kw: Any) -> Any:
    kw.setdefault("time_limit", 10)
    kw.setdefault("workers", 1)
    return solve(p, solver="milp", **kw)


def _shop(n_jobs: int, n_machines: int, seed: int, **kw: Any) -> Problem:
    """A random flow-time job shop (not a classic one, so no job-shop shortcut applies)."""
    rng = random.Random(seed)
    jobs = []
    for j in range(n_jobs):
        order = rng.sample(range(n_machines), n_machines)
        jobs.append(
            {
                "id": f"J{j}",
                "due": rng.randint(5, 30),
                "operations": [op(k, (f"M{m}", rng.randint(1, 9))) for k, m in enumerate(order)],
            }
        )
    return problem(
        machines=[{"id": f"M{m}"} for m in range(n_machines)],
        jobs=jobs,
        objective=kw.get("objective", {"terms": [{"term": "flow_time"}]}),
    )


@pytest.mark.parametrize(("label", "p", "status", "value"), CASES, ids=[c[0] for c in CASES])
def test_hand_computed_optimum(label: str, p: Problem, status: str, value: int) -> None:
    """Tests that the MILP reproduces every hand-computed optimum of the CP-SAT suite."""
    result = _milp(p)
    assert result.status == status, label
    if status == "OPTIMAL":
        assert result.objective == value
        assert result.bound == value
        assert validate(p, result.schedule) == []


def test_lexicographic_levels_are_both_optimised() -> None:
    """Tests that a lexicographic objective minimises tardiness first, then makespan."""
    p = problem(
        machines=[{"id": "M1"}, {"id": "M2"}],
        jobs=[
            {"id": "A", "due": 3, "operations": [op(1, ("M1", 3)), op(2, ("M2", 4))]},
            {"id": "B", "due": 20, "operations": [op(1, ("M1", 2)), op(2, ("M2", 1))]},
        ],
        objective={
            "kind": "lexicographic",
            "terms": [{"term": "weighted_tardiness"}, {"term": "makespan"}],
        },
    )
    result = _milp(p)
    values = term_values(p, result.schedule)
    assert result.status == SolveStatus.OPTIMAL
    # A first: A ends at 7 (tardiness 4, unavoidable), B's run on M2 fits right after A's
    assert values[ObjectiveTerm.WEIGHTED_TARDINESS] == 4
    assert values[ObjectiveTerm.MAKESPAN] == 8
    assert result.objective == 4
    assert result.parameters["levels"] == 2


def test_simultaneous_draws_wait_for_the_receipt() -> None:
    """Tests that two draws at one tick both count and the receipt releases the second."""
    draw = {"material": "R", "quantity": 1}
    p = problem(
        materials=[{"id": "R", "initial": 1, "receipts": [{"time": 5, "quantity": 1}]}],
        jobs=[
            {"id": "A", "operations": [op(1, ("M1", 2), consumes=[draw])]},
            {"id": "B", "operations": [op(1, ("M2", 2), consumes=[draw])]},
        ],
        objective={"terms": [{"term": "flow_time"}]},
    )
    result = _milp(p)
    assert result.status == SolveStatus.OPTIMAL
    assert result.objective == 2 + 7  # both at 0 would be 4 but needs two units at tick 0
    assert sorted(r.start for r in result.schedule) == [0, 5]


def test_interruptible_setup_stays_in_working_time() -> None:
    """Tests that an interruptible run pauses over a window but its setup does not."""
    p = problem(
        machines=[{"id": "M1", "unavailable": [{"start": 1, "end": 4}]}],
        jobs=[{"id": "A", "operations": [op(1, ("M1", 2, 2), interruptible=True)]}],
    )
    result = _milp(p)
    row = result.schedule[0]
    # setup [0, 2) would cross the window: setup [4, 6), run [6, 8)
    assert (row.busy_from, row.start, row.end) == (4, 6, 8)
    assert result.objective == 8


def test_interruptible_run_spans_two_windows() -> None:
    """Tests that a long interruptible run is stretched by every window it spans."""
    p = problem(
        machines=[{"id": "M1", "unavailable": [{"start": 2, "end": 4}, {"start": 5, "end": 9}]}],
        jobs=[{"id": "A", "operations": [op(1, ("M1", 5), interruptible=True)]}],
    )
    result = _milp(p)
    row = result.schedule[0]
    assert (row.start, row.end) == (0, 11)  # work 0-2, 4-5, 9-11
    assert validate(p, result.schedule) == []


def test_zero_length_operation_on_setup_machine_is_refused() -> None:
    """Tests that a zero-length operation on a setup-matrix machine is refused by name."""
    p = problem(
        machines=[{"id": "M1", "setup_matrix": "S"}],
        setup_matrices={"S": {"changeover": {"a": {"b": 2}}}},
        jobs=[{"id": "A", "family": "a", "operations": [op(1, ("M1", 0))]}],
    )
    with pytest.raises(ValueError, match=r"zero-length operation .* setup matrix"):
        _milp(p)
    with pytest.raises(ValueError, match="zero-length"):
        check_supported(p)


def test_zero_length_operation_elsewhere_is_solved() -> None:
    """Tests that a zero-length operation on a plain machine is placed and validates."""
    p = problem(
        machines=[{"id": "M1", "unavailable": [{"start": 0, "end": 3}]}],
        jobs=[{"id": "A", "operations": [op(1, ("M1", 0)), op(2, ("M1", 2))]}],
    )
    result = _milp(p)
    assert result.status == SolveStatus.OPTIMAL
    assert result.objective == 5
    assert validate(p, result.schedule) == []


def test_serial_horizon_covers_windows_releases_and_work() -> None:
    """Tests that the MILP horizon is the last fixed event plus all the work, plus one."""
    p = problem(
        machines=[{"id": "M1", "unavailable": [{"start": 2, "end": 10}]}, {"id": "M2"}],
        jobs=[
            {"id": "A", "release": 4, "operations": [op(1, ("M1", 3), ("M2", 5))]},
            {"id": "B", "operations": [op(1, ("M2", 2)), op(2, ("M1", 1), predecessors=[])]},
        ],
    )
    assert serial_horizon(p) == 10 + 5 + 2 + 1 + 1


def test_serial_horizon_matches_cpsat() -> None:
    """Tests that both backends use the same horizon, so INFEASIBLE verdicts are comparable."""
    from aps.bounds import horizon_of

    from .generator import random_problem

    for seed in range(60):
        p = random_problem(seed)
        assert serial_horizon(p) == horizon_of(p), seed


def test_time_limit_and_bound_on_a_hard_problem() -> None:
    """Tests that a short limit reaches HiGHS and the reported bound never exceeds the
    objective (proved optimal only with the bound equal to it)."""
    p = _shop(8, 5, seed=3)
    result = _milp(p, time_limit=1.5)
    assert result.status in (SolveStatus.FEASIBLE, SolveStatus.OPTIMAL, SolveStatus.UNKNOWN)
    if result.status.has_schedule:
        assert result.bound is not None and result.objective is not None
        assert result.bound <= result.objective
        assert result.status != SolveStatus.OPTIMAL or result.bound == result.objective
        assert validate(p, result.schedule) == []
    assert result.parameters["threads"] == 1
    assert result.parameters["time_limit"] == 1.5


def test_progress_reports_incumbents() -> None:
    """Tests that on_progress sees improving incumbents ending at the returned objective."""
    p = _shop(4, 3, seed=1)
    seen: list[Incumbent] = []
    result = _milp(p, on_progress=seen.append)
    assert result.status == SolveStatus.OPTIMAL
    assert seen, "no incumbent reported"
    assert seen[-1].objective == pytest.approx(result.objective)
    assert all(a.objective >= b.objective - 1e-6 for a, b in itertools.pairwise(seen))
    assert result.progress == seen


def test_stop_event_ends_the_search_early() -> None:
    """Tests that setting the stop event interrupts HiGHS well before the time limit."""
    p = _shop(10, 6, seed=7)
    stop = threading.Event()
    timer = threading.Timer(1.0, stop.set)
    timer.start()
    limit = 600  # HiGHS cannot close this gap so soon: only the stop ends it early
    try:
        result = _milp(p, time_limit=limit, stop=stop)
    finally:
        timer.cancel()
    assert result.wall_s < limit / 2
    assert result.status != SolveStatus.OPTIMAL or result.bound == result.objective


def test_infeasible_max_lag_with_window() -> None:
    """Tests that a max lag that no window placement can meet is proved infeasible."""
    p = problem(
        machines=[{"id": "M1"}, {"id": "M2", "unavailable": [{"start": 0, "end": 50}]}],
        horizon=40,
        jobs=[
            {
                "id": "A",
                "operations": [
                    op(1, ("M1", 2)),
                    op(2, ("M2", 2), predecessors=[{"op": 1, "max_lag": 3}]),
                ],
            }
        ],
    )
    assert _milp(p).status == SolveStatus.INFEASIBLE


def test_auto_certifies_a_pinned_problem() -> None:
    """Tests that auto, with no known CP-SAT weakness left, has the MILP agree on a pinned case."""
    from .test_cpsat_findings import PINNED_CHANGEOVER

    result = solve(PINNED_CHANGEOVER, time_limit=10, workers=1, solver="auto")
    assert result.parameters["auto_choice"] == BOTH
    assert result.parameters["auto_check"].startswith("agree")
    assert result.solver != "milp" and result.objective == 0  # our answer, the MILP agreed


def test_auto_certifies_small_problems() -> None:
    """Tests that auto answers a small problem with CP-SAT and records the MILP's agreement."""
    plain = CASES[3][1]  # setups group the families
    result = solve(plain, time_limit=10, workers=1, solver="auto")
    assert result.parameters["auto_choice"] == BOTH
    assert result.parameters["auto_check"] == f"agree: both OPTIMAL at {CASES[3][3]}"
    assert result.solver != "milp" and result.objective == CASES[3][3]
    assert result.parameters["auto_other"]["solver"] == "milp"
    assert result.parameters["auto_other"]["objective"] == CASES[3][3]


def test_auto_returns_the_milp_answer_on_a_contradiction(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Tests that a false CP-SAT INFEASIBLE is overruled by the MILP's schedule and logged."""
    import aps.solvers.default as cpsat_module

    def wrong(problem: Problem, *args: Any, **kw: Any) -> Result:
        return Result(name=problem.name, status=SolveStatus.INFEASIBLE, wall_s=0.0,
                      solver="cpsat", solver_version="fake")  # fmt: skip

    monkeypatch.setattr(cpsat_module, "solve_plant", wrong)
    p = CASES[3][1]
    with caplog.at_level("WARNING", logger="aps.solvers.auto"):
        result = solve(p, time_limit=10, workers=1, solver="auto")
    assert result.solver == "milp" and result.objective == CASES[3][3]
    assert result.parameters["auto_check"].startswith("DISAGREE: cpsat INFEASIBLE")
    assert result.parameters["auto_other"]["status"] == "INFEASIBLE"
    assert any("DISAGREE" in r.getMessage() for r in caplog.records)


def test_two_bounds_can_prove_optimality() -> None:
    """Tests that the larger of two bounds proves a weighted optimum but not a lexicographic one."""
    from aps.solvers.auto import _certify

    def res(solver: str, objective: float, bound: float) -> Result:
        return Result(name="p", status=SolveStatus.FEASIBLE, objective=objective, bound=bound,
                      wall_s=0.0, solver=solver, solver_version="x")  # fmt: skip

    verdict, kept = _certify(res("cpsat", 10, 7), res("milp", 11, 10), True)
    assert verdict == "agree: proved OPTIMAL by the two bounds at 10"
    assert kept.solver == "cpsat" and kept.status == SolveStatus.OPTIMAL and kept.bound == 10
    verdict, kept = _certify(res("cpsat", 10, 7), res("milp", 11, 10), False)
    assert verdict.startswith("partial") and kept.status == SolveStatus.FEASIBLE
    verdict, kept = _certify(res("cpsat", 10, 7), res("milp", 12, 11), True)
    assert verdict.startswith("DISAGREE: milp bound 11") and kept.solver == "cpsat"


def test_auto_picks_cpsat_for_large_or_refused_problems() -> None:
    """Tests that auto uses CP-SAT alone for large or MILP-refused problems."""
    big = _shop(6, 3, seed=0)
    first = big.jobs[0].operations[0]
    pin = {"machine": first.modes[0].machine, "start": 0}
    pinned_op = first.model_copy(update={"fixed": Placement(**pin)})
    job0 = big.jobs[0].model_copy(update={"operations": [pinned_op, *big.jobs[0].operations[1:]]})
    big = big.model_copy(update={"jobs": [job0, *big.jobs[1:]]})
    assert big.num_operations > MAX_MILP_OPERATIONS
    choice, reason = choose(big)
    assert choice == "cpsat" and f"> {MAX_MILP_OPERATIONS}" in reason
    assert choose(big.model_copy(update={"jobs": big.jobs[:2]}))[0] == BOTH
    refused = problem(
        machines=[{"id": "M1", "setup_matrix": "S"}],
        setup_matrices={"S": {}},
        jobs=[{"id": "A", "operations": [op(1, ("M1", 0))]}],
    )
    choice, reason = choose(refused)
    assert choice == "cpsat" and "zero-length" in reason
    result = solve(refused, time_limit=5, workers=1, solver="auto")
    assert result.solver != "milp" and result.parameters["auto_choice"] == "cpsat"


def test_thread_counts_can_change_between_and_during_solves() -> None:
    """Tests that HiGHS's per-process scheduler does not fail solves with other workers."""
    p = _shop(3, 3, seed=2)
    values = {_milp(p, workers=w).objective for w in (1, 2, 1)}
    assert len(values) == 1 and None not in values
    results: list[Any] = []
    threads = [
        threading.Thread(target=lambda w=w: results.append(_milp(p, workers=w))) for w in (1, 2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status for r in results] == [SolveStatus.OPTIMAL] * 2
    assert {r.objective for r in results} == values


def test_infeasible_result_says_why() -> None:
    """Tests that an INFEASIBLE result has no schedule, no bound and HiGHS's status text."""
    p = CASES[10][1]  # deadline too tight is infeasible
    result = _milp(p)
    assert result.status == SolveStatus.INFEASIBLE
    assert result.schedule == [] and result.bound is None and result.objective is None
    assert result.message is not None and "nfeasible" in result.message


def test_hint_cuts_the_makespan_horizon() -> None:
    """Tests that a valid hint bounds the makespan horizon and the answer is never worse."""
    from aps.heuristics.dispatch import dispatch

    p = _shop(6, 4, seed=7, objective={"terms": [{"term": "makespan"}]})
    hint = dispatch(p, "spt")
    assert validate(p, hint) == []
    result = _milp(p, time_limit=30, hint=hint)  # optimal in well under a second when idle
    assert result.parameters["horizon"] <= max(r.end for r in hint)
    assert result.parameters["horizon_from"] in ("hint", "dispatch")
    assert result.objective is not None and result.objective <= max(r.end for r in hint)


def test_reported_objective_matches_the_schedule() -> None:
    """Tests that the returned schedule has the optimum HiGHS reports (cross-check seed 5285)."""
    from .generator import random_problem

    p = random_problem(5285)
    result = _milp(p)
    assert result.status == SolveStatus.OPTIMAL
    assert result.objective == 16
    assert objective_value(p.objective, term_values(p, result.schedule)) == 16


def test_precedence_fixes_the_machine_order() -> None:
    """Tests that precedences fix machine orders (no binary) and expose setup/max-lag clashes."""
    chain = problem(
        machines=[{"id": "M1"}],
        jobs=[{"id": "J", "operations": [op(0, ("M1", 4)), op(1, ("M1", 4, 2))]}],
    )
    result = _milp(chain)
    assert result.objective == 10 and result.parameters["binaries"] == 0
    clash = problem(
        machines=[{"id": "M1"}],
        jobs=[
            {
                "id": "J",
                "operations": [
                    op(0, ("M1", 4)),
                    op(1, ("M1", 4, 2), predecessors=[{"op": 0, "max_lag": 1}]),
                ],
            }
        ],
    )
    assert _milp(clash).status == SolveStatus.INFEASIBLE


def test_auto_keeps_cpsat_when_the_milp_check_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests that a crashing MILP check leaves CP-SAT's answer and says it was not checked."""
    import aps.solvers.auto as milp_module

    def broken(*args: Any, **kw: Any) -> Result:
        raise RuntimeError("HiGHS went away")

    monkeypatch.setattr(milp_module, "solve_milp", broken)
    p = CASES[3][1]
    result = solve(p, time_limit=10, workers=1, solver="auto")
    assert result.solver != "milp" and result.objective == CASES[3][3]
    assert (
        result.parameters["auto_check"]
        == "not checked: milp failed (RuntimeError: HiGHS went away)"
    )
