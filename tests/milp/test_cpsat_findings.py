"""CP-SAT model bugs found by the MILP cross-check, minimised, checked by hand and by the
validator. Bugs 1 and 2 were fixed in b31c5e3, bugs 3-8 (pinned operations and the
stability term, introduced in d3ac645) right after they were found; every test here is
now a regression test.

Bug 3 (``CpsatModel._stability``): the deviation ``|s - reference start|`` gets domain
``[0, H]``; a reference start more than ``H`` from every feasible start (a reference
schedule from a longer or earlier plan) makes the model INFEASIBLE or cuts the optimum.
Bug 4 (``CpsatModel._add_fixed`` / ``extract``): when the pinned operation's modes need no
setup, ``b`` is ``s``, so the returned row has no ``setup_start`` although the pin has
one (the interval does block it); the setup-time KPI and the Gantt lose the fact. The
validator does not compare a pinned ``setup_start`` either (``_check_fixed``).
Bug 5 (``_add_circuit`` + ``_add_terms``): a pinned operation on a setup-matrix machine
gets a changeover variable tied to the matrix and counted in ``setup_time``, although its
setup is the fact ``start - setup_start``: the objective and the "proved" bound exceed the
schedule's real value (here 3 against 0).
Bug 6 (``_add_machines``, zero-length filter): a pinned operation with ``end == start`` but
a setup block is treated as zero-length and left out of NoOverlap: another operation is
placed over its setup and ``solve`` raises ``ScheduleInvalidError``. Worse, when the
pinned modes need no setup, bug 4 also drops that setup from the report and the overlap
passes validation unseen (``PINNED_HIDDEN_OVERLAP``).
Bug 5 also covers a pinned ``setup_start`` on a machine without a matrix: CP-SAT counts
nothing for it, the KPI counts ``start - setup_start``.
Bug 8 (``CpsatModel._stability``): references to pinned operations are skipped, but
:func:`aps.kpi.stability` counts them: the reported objective is lower than the schedule's
(a constant offset, so the schedule is still optimal, but objective and bound are wrong).
Bug 7 (``_add_precedences``): the completion variable has domain ``[release, H]``; a job
whose operations are all pinned and end before its release is declared INFEASIBLE.

Bug 1 (``aps/solvers/cpsat/model.py``, ``CpsatModel._add_terms``): the tardiness variable of a
job is created with domain ``[0, H]`` and set to ``max(C - due, 0)``; with a negative due
date (an order already overdue at the plan start, which ``aps/factory/compile.py`` produces for
past due dates) this forces ``C <= H + due``. Too strict: CP-SAT reports INFEASIBLE, or a
worse schedule as OPTIMAL. It affects the ``weighted_tardiness`` and ``late_jobs`` terms
(both create the variable). A domain ``[0, H - min(0, due)]`` would be exact.

Bug 2 (``CpsatModel``, zero-duration operations; low severity): the validator ignores an
operation of zero length (no duration, no setup) for machine overlap and lets a
zero-duration interruptible operation start inside an unavailable window. CP-SAT's model
is stricter on both: its NoOverlap keeps a size-zero interval out of the inside of another
operation's interval and of a window's fixed interval (a wrong INFEASIBLE when a deadline
leaves only window ticks), and the period encoding (``_add_periods``) makes an interruptible
operation start in a working period even when its duration is zero. Both give a worse
schedule reported as OPTIMAL. (Either the model or the validator should change; the
validator is the stated semantics, so the model is the side flagged here.)
"""

from __future__ import annotations

from aps import solve, validate
from aps.model import Problem
from aps.result import SolveStatus

OVERDUE_INFEASIBLE = Problem.model_validate(
    {
        "name": "overdue-infeasible",
        "machines": [{"id": "M1"}],
        "jobs": [
            {
                "id": "A",
                "due": -2,
                "operations": [{"id": 1, "modes": [{"machine": "M1", "duration": 1}]}],
            }
        ],
        "objective": {"terms": [{"term": "weighted_tardiness"}]},
    }
)
# Horizon H = 1 + 1 = 2; A runs [0, 1): C = 1, tardiness 1 - (-2) = 3 > H.

OVERDUE_WRONG_OPTIMUM = Problem.model_validate(
    {
        "name": "overdue-wrong-optimum",
        "machines": [{"id": "M1"}],
        "jobs": [
            {
                "id": "A",
                "due": -2,
                "operations": [{"id": 1, "modes": [{"machine": "M1", "duration": 1}]}],
            },
            {
                "id": "B",
                "due": 3,
                "weight": 5,
                "operations": [{"id": 1, "modes": [{"machine": "M1", "duration": 3}]}],
            },
        ],
        "objective": {"terms": [{"term": "weighted_tardiness"}]},
    }
)
# H = 1 + 3 + 1 = 5. A then B: 3 + 5 * 1 = 8. B then A: 0 + (4 + 2) = 6, the optimum; but
# CP-SAT needs C_A <= H + due = 3, so only A-then-B remains and it proves 8 "optimal".


def test_milp_solves_the_overdue_problems() -> None:
    """Tests that the reference answers hold: the MILP finds the hand-computed optima."""
    for p, value in ((OVERDUE_INFEASIBLE, 3), (OVERDUE_WRONG_OPTIMUM, 6)):
        r = solve(p, time_limit=10, workers=1, solver="milp")
        assert r.status == SolveStatus.OPTIMAL and r.objective == value
        assert validate(p, r.schedule) == []


def test_cpsat_schedules_an_overdue_job() -> None:
    """Tests that CP-SAT schedules a single job whose due date precedes the plan start."""
    r = solve(OVERDUE_INFEASIBLE, time_limit=10, workers=1, solver="cpsat")
    assert r.status == SolveStatus.OPTIMAL
    assert r.objective == 3


def test_cpsat_optimum_with_an_overdue_job() -> None:
    """Tests that CP-SAT finds the optimum 6 when the best plan finishes an overdue job late."""
    r = solve(OVERDUE_WRONG_OPTIMUM, time_limit=10, workers=1, solver="cpsat")
    assert r.objective == 6


ZERO_INSIDE_BUSY = Problem.model_validate(
    {
        "name": "zero-length-inside-busy",
        "machines": [{"id": "M1"}],
        "jobs": [
            {"id": "A", "operations": [{"id": 1, "modes": [{"machine": "M1", "duration": 5}]}]},
            {
                "id": "B",
                "release": 2,
                "operations": [{"id": 1, "modes": [{"machine": "M1", "duration": 0}]}],
            },
        ],
        "objective": {"terms": [{"term": "flow_time"}]},
    }
)
# A [0, 5), B [2, 2): flow 5 + 0 = 5 and valid; CP-SAT delays A to [2, 7): flow 7.

ZERO_IN_WINDOW = Problem.model_validate(
    {
        "name": "zero-duration-interruptible-in-window",
        "machines": [{"id": "M1", "unavailable": [{"start": 0, "end": 10}]}],
        "jobs": [
            {
                "id": "A",
                "operations": [
                    {
                        "id": 1,
                        "interruptible": True,
                        "modes": [{"machine": "M1", "duration": 0}],
                    }
                ],
            }
        ],
        "objective": {"terms": [{"term": "flow_time"}]},
    }
)
# A [0, 0) is valid (no working tick needed); CP-SAT waits for the window's end: flow 10.

ZERO_IN_WINDOW_DEADLINE = Problem.model_validate(
    {
        "name": "zero-length-in-window-deadline",
        "machines": [{"id": "M1", "unavailable": [{"start": 0, "end": 10}]}],
        "jobs": [
            {
                "id": "A",
                "release": 2,
                "deadline": 3,
                "operations": [{"id": 1, "modes": [{"machine": "M1", "duration": 0}]}],
            }
        ],
    }
)
# A [2, 2) or [3, 3) is valid (a zero-length block never overlaps); CP-SAT says INFEASIBLE.


def test_milp_solves_the_zero_length_problems() -> None:
    """Tests that the reference answers hold: the zero-length problems' hand optima."""
    for p, value in ((ZERO_INSIDE_BUSY, 5), (ZERO_IN_WINDOW, 0), (ZERO_IN_WINDOW_DEADLINE, 2)):
        r = solve(p, time_limit=10, workers=1, solver="milp")
        assert r.status == SolveStatus.OPTIMAL and r.objective == value
        assert validate(p, r.schedule) == []


def test_cpsat_zero_length_inside_another_operation() -> None:
    """Tests that CP-SAT lets a zero-length operation sit inside another one's run."""
    r = solve(ZERO_INSIDE_BUSY, time_limit=10, workers=1, solver="cpsat")
    assert r.objective == 5


def test_cpsat_zero_duration_interruptible_in_window() -> None:
    """Tests that CP-SAT starts a zero-duration interruptible operation inside a window."""
    r = solve(ZERO_IN_WINDOW, time_limit=10, workers=1, solver="cpsat")
    assert r.objective == 0


def test_cpsat_zero_length_inside_a_window() -> None:
    """Tests that CP-SAT does not call a zero-length operation inside a window infeasible."""
    r = solve(ZERO_IN_WINDOW_DEADLINE, time_limit=10, workers=1, solver="cpsat")
    assert r.status == SolveStatus.OPTIMAL


# -- pinned operations and the stability term ----------------------------------------------

STABILITY_BEYOND_H = Problem.model_validate(
    {
        "name": "stability-reference-beyond-horizon",
        "machines": [{"id": "M1"}],
        "jobs": [
            {"id": "A", "operations": [{"id": 1, "modes": [{"machine": "M1", "duration": 1}]}]}
        ],
        "stability": {"reference": [{"job": "A", "op": 1, "machine": "M1", "start": 5}]},
        "objective": {"terms": [{"term": "stability"}]},
    }
)
# H = 1 + 1 = 2, so A starts at 0 or 1; the best deviation is |1 - 5| = 4 > H.

PINNED_SETUP_START = Problem.model_validate(
    {
        "name": "pinned-setup-start",
        "machines": [{"id": "M1"}],
        "jobs": [
            {
                "id": "A",
                "operations": [
                    {
                        "id": 1,
                        "modes": [{"machine": "M1", "duration": 2}],
                        "fixed": {"machine": "M1", "start": 2, "setup_start": 0},
                    }
                ],
            }
        ],
        "objective": {"terms": [{"term": "setup_time"}]},
    }
)
# The pinned fact is a setup over [0, 2): the schedule must say so (setup time 2).

PINNED_CHANGEOVER = Problem.model_validate(
    {
        "name": "pinned-changeover-counted",
        "machines": [{"id": "M1", "setup_matrix": "S"}],
        "setup_matrices": {"S": {"initial": {"a": 3}}},
        "jobs": [
            {
                "id": "A",
                "family": "a",
                "operations": [
                    {
                        "id": 1,
                        "modes": [{"machine": "M1", "duration": 2}],
                        "fixed": {"machine": "M1", "start": 0},
                    }
                ],
            }
        ],
        "objective": {"terms": [{"term": "setup_time"}]},
    }
)
# The only schedule has no setup (pinned at 0, no setup_start): objective 0, not 3.

PINNED_ZERO_RUN = Problem.model_validate(
    {
        "name": "pinned-zero-run-with-setup",
        "machines": [{"id": "M1"}],
        "jobs": [
            {
                "id": "A",
                "operations": [
                    {
                        "id": 1,
                        "modes": [{"machine": "M1", "duration": 1, "setup": 2}],
                        "fixed": {"machine": "M1", "start": 2, "end": 2, "setup_start": 0},
                    }
                ],
            },
            {"id": "B", "operations": [{"id": 1, "modes": [{"machine": "M1", "duration": 2}]}]},
        ],
        "objective": {"terms": [{"term": "flow_time"}]},
    }
)
# A's setup keeps M1 busy over [0, 2): B runs [2, 4), flow 2 + 4 = 6.

PINNED_BEFORE_RELEASE = Problem.model_validate(
    {
        "name": "pinned-job-ends-before-release",
        "machines": [{"id": "M1"}],
        "jobs": [
            {
                "id": "A",
                "release": 3,
                "operations": [
                    {
                        "id": 1,
                        "modes": [{"machine": "M1", "duration": 1}],
                        "fixed": {"machine": "M1", "start": 0},
                    }
                ],
            }
        ],
    }
)
# A fact ran [0, 1) (the validator does not re-judge its release): makespan 1.


PINNED_STABILITY = Problem.model_validate(
    {
        "name": "pinned-stability",
        "machines": [{"id": "M1"}],
        "jobs": [
            {
                "id": "A",
                "operations": [
                    {
                        "id": 1,
                        "modes": [{"machine": "M1", "duration": 1}],
                        "fixed": {"machine": "M1", "start": 0},
                    }
                ],
            }
        ],
        "stability": {"reference": [{"job": "A", "op": 1, "machine": "M1", "start": 5}]},
        "objective": {"terms": [{"term": "stability"}]},
    }
)
# The pinned start is 0 against a reference 5: the KPI is 5 for the only schedule.


def test_milp_solves_the_pinned_and_stability_problems() -> None:
    """Tests the hand-computed answers on the MILP, each schedule validated."""
    cases = (
        (STABILITY_BEYOND_H, 4),
        (PINNED_SETUP_START, 2),
        (PINNED_CHANGEOVER, 0),
        (PINNED_ZERO_RUN, 6),
        (PINNED_BEFORE_RELEASE, 1),
        (PINNED_STABILITY, 5),
    )
    for p, value in cases:
        r = solve(p, time_limit=10, workers=1, solver="milp")
        assert r.status == SolveStatus.OPTIMAL and r.objective == value, p.name
        assert validate(p, r.schedule) == []


def test_cpsat_stability_reference_beyond_horizon() -> None:
    """Tests that CP-SAT accepts a reference start more than H from any feasible start."""
    r = solve(STABILITY_BEYOND_H, time_limit=10, workers=1, solver="cpsat")
    assert r.status == SolveStatus.OPTIMAL and r.objective == 4


def test_cpsat_keeps_a_pinned_setup_start() -> None:
    """Tests that CP-SAT reports a pinned operation's setup_start (a fact) as pinned."""
    r = solve(PINNED_SETUP_START, time_limit=10, workers=1, solver="cpsat")
    assert r.schedule[0].busy_from == 0
    assert r.objective == 2


def test_cpsat_objective_with_a_pinned_operation_on_a_setup_machine() -> None:
    """Tests that CP-SAT's objective for a pinned op on a matrix machine is its real setup."""
    r = solve(PINNED_CHANGEOVER, time_limit=10, workers=1, solver="cpsat")
    assert r.objective == 0 and r.bound == 0


def test_cpsat_respects_a_pinned_zero_run_setup_block() -> None:
    """Tests that CP-SAT keeps other operations out of a pinned zero-run op's setup block."""
    r = solve(PINNED_ZERO_RUN, time_limit=10, workers=1, solver="cpsat", check=False)
    assert validate(PINNED_ZERO_RUN, r.schedule) == []
    assert r.objective == 6


def test_cpsat_pinned_job_ending_before_its_release() -> None:
    """Tests that CP-SAT schedules a job whose pinned operations all end before its release."""
    r = solve(PINNED_BEFORE_RELEASE, time_limit=10, workers=1, solver="cpsat")
    assert r.status == SolveStatus.OPTIMAL and r.objective == 1


def test_cpsat_stability_counts_pinned_operations() -> None:
    """Tests that CP-SAT's stability objective equals the KPI when a pinned op has a reference."""
    r = solve(PINNED_STABILITY, time_limit=10, workers=1, solver="cpsat")
    assert r.objective == 5


PINNED_HIDDEN_OVERLAP = Problem.model_validate(
    {
        "name": "pinned-zero-run-setup-hidden",
        "machines": [{"id": "M1"}],
        "jobs": [
            {
                "id": "A",
                "operations": [
                    {
                        "id": 1,
                        "modes": [{"machine": "M1", "duration": 0}],
                        "fixed": {"machine": "M1", "start": 2, "setup_start": 0},
                    }
                ],
            },
            {"id": "B", "operations": [{"id": 1, "modes": [{"machine": "M1", "duration": 2}]}]},
        ],
        "objective": {"terms": [{"term": "flow_time"}]},
    }
)
# M1 is busy with A's pinned setup over [0, 2): B runs [2, 4), flow 2 + 4 = 6. CP-SAT puts
# B over [0, 2) (bug 6) and reports A without its setup (bug 4), so the validator, which
# does not compare a pinned setup_start, sees nothing wrong.


def test_milp_keeps_the_hidden_pinned_setup() -> None:
    """Tests that the MILP keeps B off A's pinned setup block and reports that setup."""
    r = solve(PINNED_HIDDEN_OVERLAP, time_limit=10, workers=1, solver="milp")
    assert r.objective == 6
    assert {x.job: x.busy_from for x in r.schedule}["A"] == 0


def test_cpsat_keeps_off_a_hidden_pinned_setup() -> None:
    """Tests that CP-SAT keeps other operations off a pinned setup it does not report."""
    r = solve(PINNED_HIDDEN_OVERLAP, time_limit=10, workers=1, solver="cpsat")
    assert r.objective == 6
