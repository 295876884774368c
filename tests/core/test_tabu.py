"""Tests for the tabu search and the job-shop portfolio's paths."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import pytest

from aps import solve, validate
from aps.heuristics.dispatch import RULES, best_dispatch, dispatch
from aps.io.jssp import read_jssp
from aps.model import Problem
from aps.params import JobShopOptions, SolveParams
from aps.result import ScheduledOperation
from aps.solvers.jobshop import strategy as jobshop
from aps.solvers.jobshop import tabu
from aps.solvers.jobshop.shops import ClassicShop, shop_of
from aps.solvers.jobshop.tabu import tabu_search
from aps.validate import makespan


def test_dispatch_rules_validate(jssp_dir: Path) -> None:
    """Tests that every dispatching rule yields a valid schedule."""
    p = read_jssp(jssp_dir / "la16")
    for rule in RULES:
        assert validate(p, dispatch(p, rule)) == [], rule


def test_tabu_improves_and_stays_valid(jssp_dir: Path) -> None:
    """Tests that tabu search improves a dispatching schedule and every report validates."""
    p = read_jssp(jssp_dir / "ft10")
    start = best_dispatch(p)
    seen: list[int] = []

    def on_improve(schedule: list, value: int) -> None:  # type: ignore[type-arg]
        assert validate(p, schedule) == []
        assert makespan(schedule) == value
        seen.append(value)

    schedule, value = tabu_search(p, start, time_limit=3, on_improve=on_improve)
    assert validate(p, schedule) == []
    assert value == makespan(schedule) < makespan(start)
    assert seen == sorted(seen, reverse=True) and seen[-1] == value
    assert value >= 930  # ft10's proven optimum


def test_large_shop_path_uses_tabu_only(jssp_dir: Path) -> None:
    """Tests the path for shops too large for one CP-SAT model: tabu threads, valid result."""
    p = read_jssp(jssp_dir / "la16")
    # no CP-SAT model (and no probe) above 10 operations
    options = JobShopOptions(cpsat_max_operations=10, probe_operations=0)
    result = solve(p, time_limit=3, workers=2, jobshop=options)
    rounds = result.parameters["rounds"]
    assert [(r["method"], r["threads"]) for r in rounds] == [("tabu", 2)]
    assert validate(p, result.schedule) == []
    assert result.makespan is not None and result.makespan >= 945  # la16's optimum


def test_small_shop_is_proved_by_the_probe(jssp_dir: Path) -> None:
    """Tests that a small shop is proved optimal by the CP-SAT probe without the tabu phase."""
    p = read_jssp(jssp_dir / "ft06")
    # the probe may use the whole budget, so the verdict does not depend on the machine
    options = JobShopOptions(probe_seconds=60, probe_share=1.0)
    result = solve(p, time_limit=60, workers=2, jobshop=options)
    assert result.status.value == "OPTIMAL" and result.makespan == 55
    assert "probe" in result.parameters and "rounds" not in result.parameters


def test_stalled_tabu_hands_over_to_cpsat(jssp_dir: Path) -> None:
    """Tests the stall rule: tabu search hands a stalled shop to CP-SAT, the methods
    alternate, every round says why it ended, and the result is no worse than dispatch."""
    p = read_jssp(jssp_dir / "la16")
    options = JobShopOptions(probe_operations=0, stall_min_seconds=0.2, stall_share=0.0)
    result = solve(p, time_limit=8, workers=2, jobshop=options)
    rounds = result.parameters["rounds"]
    methods = [r["method"] for r in rounds]
    assert methods[0] == "tabu" and "cpsat" in methods
    assert all(a != b for a, b in itertools.pairwise(methods))  # in turns
    # the first tabu turn ended by the stall rule, not by its share of the time (the
    # second turn on may also end by reaching the lower bound)
    assert rounds[0]["ended"] in ("stall", "done")
    for r in rounds:
        assert r["ended"] in ("stall", "time", "done", "optimal", "stop")
    assert validate(p, result.schedule) == []
    assert result.makespan is not None
    assert 945 <= result.makespan <= makespan(best_dispatch(p))
    if result.status.value == "OPTIMAL":
        assert result.makespan == 945 and result.bound == 945


def test_halt_decides_from_the_last_improvement() -> None:
    """Tests the stall watch's rule: quiet for the window -> stall; an improvement resets
    the window; the outer stop wins (checked at given instants, not by sleeping)."""
    start = time.monotonic()
    one = Problem.model_validate(
        {"machines": [{"id": 0}], "jobs": [{"id": 0, "operations": [
            {"id": 0, "modes": [{"machine": 0, "duration": 100}]}]}]}
    )  # fmt: skip
    best = jobshop.Best(ClassicShop(one), None, start, 0)
    outer = threading.Event()
    halt = jobshop.Halt(best, outer, 1000.0)
    t0 = max(start, best.changed)
    assert halt.check(t0 + 999.0) is None
    assert halt.check(t0 + 1001.0) == "stall"
    best.offer([ScheduledOperation(job=0, op=0, machine=0, start=0, end=100)], 100)
    assert halt.check(best.changed + 999.0) is None  # the improvement restarted the window
    outer.set()
    assert halt.check(best.changed) == "stop"
    assert halt.event.wait(30.0) and halt.reason == "stop"  # the watch thread saw it too
    halt.close()
    never = jobshop.Halt(best, threading.Event(), None)  # no window: only the outer stop
    assert never.check(best.changed + 1e9) is None
    never.close()


def test_tabu_without_order_table_uses_n5(jssp_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests the large-shop kernel (N5 swaps, a ring of forbidden swaps): improves, validates."""
    monkeypatch.setattr(tabu, "ORDER_TABLE_MAX", 0)
    p = read_jssp(jssp_dir / "la21")
    start = best_dispatch(p)
    schedule, value = tabu_search(p, start, time_limit=2)
    assert validate(p, schedule) == []
    assert 1046 <= value == makespan(schedule) < makespan(start)  # la21's optimum is 1,046


def test_the_result_holds_one_incumbent_when_a_thread_offers_meanwhile(jssp_dir: Path) -> None:
    """Tests the result of a stopped job-shop solve while a search thread still offers:
    its makespan and its schedule come from the same incumbent (a cancelled job once
    reported 1112 beside a schedule of 1110). Here a better solution arrives the second
    time the result reads the incumbent under its lock."""
    problem = read_jssp(jssp_dir / "ft06")
    shop = shop_of(problem)
    best = jobshop.Best(shop, None, time.monotonic(), 0)
    worse = best_dispatch(problem)
    better, _ = tabu_search(problem, worse, time_limit=0.5, seed=0)
    assert makespan(better) < makespan(worse)
    best.offer(worse)
    late = (shop.from_rows(better), makespan(better))
    real = best.lock
    entries = []

    class OfferOnSecondEntry:
        def __enter__(self) -> None:
            real.acquire()
            entries.append(1)
            if len(entries) == 2:  # as a search thread's offer between two reads would
                best.solution, best.value = late

        def __exit__(self, *exc: object) -> None:
            real.release()

    best.lock = OfferOnSecondEntry()  # type: ignore[assignment]
    result = jobshop._result(problem, best, False, SolveParams(time_limit=5), {})
    assert result.makespan == makespan(result.schedule)
    assert validate(problem, result.schedule) == []


@pytest.mark.parametrize("flexible", [False, True])
def test_an_offered_schedule_with_idle_gaps_keeps_its_rows_makespan(
    jssp_dir: Path, flexible: bool
) -> None:
    """Tests that an incumbent's value is the makespan of its rows when the offered
    schedule (as CP-SAT's intermediate solutions may) leaves idle time: a cancelled job
    once reported 1124 beside rows ending at 1123."""
    problem = read_jssp(jssp_dir / "ft06")
    if flexible:  # a second eligible machine makes it a flexible shop
        op = problem.jobs[0].operations[0]
        spare = {"machine": (op.modes[0].machine + 1) % 6, "duration": 99}
        problem = problem.model_copy(deep=True)
        problem.jobs[0].operations[0].modes.append(type(op.modes[0]).model_validate(spare))
    gapped = [r.model_copy(update={"start": r.start + 7, "end": r.end + 7})
              for r in best_dispatch(problem)]  # fmt: skip
    assert validate(problem, gapped) == []
    best = jobshop.Best(shop_of(problem), None, time.monotonic(), 0)
    assert best.offer(gapped)
    got = best.snapshot()
    assert got is not None
    value, rows = got
    assert value == makespan(rows) == makespan(gapped) - 7
