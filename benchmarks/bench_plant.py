"""Plant benchmark (not a test): our solver against the dispatching rules and the greedy witness.

For each plant spec ``ORDERS:LOAD:TIGHTNESS`` (``aps generate plant --orders ORDERS --load
LOAD --tightness TIGHTNESS``), in fresh subprocesses so that peak memory is each method's
own, on the same plant and seed:

* ``rules``: every textbook dispatching rule of the construction portfolio (EDD, ATC and
  ATCS with their usual parameters, minimum slack, setup-grouping variants), each decoded
  into a schedule; the best one under the plant's objective is named (our solver's own
  search over the rules' parameters is not part of this baseline);
* ``greedy``: the greedy witness (orders one at a time, by due date);
* ``ours``: ``aps.solve`` with the default solver, the time limit and the workers given.

Each schedule is checked by the independent validator; weighted tardiness, late orders
and makespan are recomputed from the rows (:mod:`aps.kpi`), not taken from the solver.

    .venv/bin/python benchmarks/bench_plant.py --time-limit 60 600:0.95:0.5
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from typing import Any

from aps.factory.compile import compile_plant
from aps.factory.loaded import generate_loaded_plant
from aps.heuristics.arrays import build_arrays, to_schedule
from aps.heuristics.construct import construct
from aps.heuristics.decode import Scratch, run
from aps.heuristics.witness import witness
from aps.kpi import term_values
from aps.model import ObjectiveTerm, Problem
from aps.params import SolveParams
from aps.result import ScheduledOperation
from aps.solve import solve
from aps.solvers.warmup import warm_up
from aps.validate import validate


def plant(spec: str, seed: int) -> Problem:
    orders, load, tightness = spec.split(":")
    generated = generate_loaded_plant(
        int(orders), seed, load=float(load), tightness=float(tightness)
    )
    return compile_plant(generated)


def kpis(problem: Problem, rows: list[ScheduledOperation] | None) -> dict[str, Any]:
    if rows is None:
        return {"validated": False}
    values = term_values(problem, rows)
    return {
        "weighted_tardiness": values[ObjectiveTerm.WEIGHTED_TARDINESS],
        "late_orders": values[ObjectiveTerm.LATE_JOBS],
        "makespan": values[ObjectiveTerm.MAKESPAN],
        "setup_ticks": values[ObjectiveTerm.SETUP_TIME],
        "validated": not validate(problem, rows),
    }


def method_rules(problem: Problem, time_limit: float, workers: int, seed: int) -> dict[str, Any]:
    arrays = build_arrays(problem)
    scratch = Scratch(arrays, len(problem.machines))
    t0 = time.monotonic()
    candidates = construct(problem, arrays, scratch, SolveParams(time_limit=3600.0))
    best = min(candidates, key=lambda c: c.score)
    run(arrays, scratch, best.order, best.mode)
    rows = to_schedule(problem, arrays, best.mode, scratch.busy, scratch.start, scratch.end)
    return {"rule": best.rule, "rules_tried": len(candidates),
            "wall_s": round(time.monotonic() - t0, 2), **kpis(problem, rows)}  # fmt: skip


def method_greedy(problem: Problem, time_limit: float, workers: int, seed: int) -> dict[str, Any]:
    t0 = time.monotonic()
    rows = witness(problem)
    return {"wall_s": round(time.monotonic() - t0, 2), **kpis(problem, rows)}


def method_ours(problem: Problem, time_limit: float, workers: int, seed: int) -> dict[str, Any]:
    first: list[float] = []
    t0 = time.monotonic()

    def on_progress(_: object) -> None:
        if not first:
            first.append(time.monotonic() - t0)

    result = solve(problem, time_limit=time_limit, workers=workers, seed=seed, check=False,
                   on_progress=on_progress)  # fmt: skip
    wall = time.monotonic() - t0
    rows = result.schedule if result.status.has_schedule else None
    return {"solver": result.solver, "status": result.status.value,
            "first_schedule_s": round(first[0], 2) if first else None,
            "wall_s": round(wall, 2), "bound": result.bound, "gap": result.gap,
            **kpis(problem, rows)}  # fmt: skip


METHODS = {"rules": method_rules, "greedy": method_greedy, "ours": method_ours}


def one(spec: str, method: str, time_limit: float, workers: int, seed: int) -> dict[str, Any]:
    warm_up()
    problem = plant(spec, seed)
    out = METHODS[method](problem, time_limit, workers, seed)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"plant": spec, "seed": seed, "operations": problem.num_operations,
            "method": method, **out, "peak_rss_mb": round(rss, 1)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("specs", nargs="+", help="ORDERS:LOAD:TIGHTNESS, e.g. 600:0.95:0.5")
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--methods", default="rules,greedy,ours")
    ap.add_argument("--one", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.specs[0], args.one, args.time_limit, args.workers, args.seed)))
        return
    for spec in args.specs:
        for method in args.methods.split(","):
            out = subprocess.run(
                [sys.executable, __file__, spec, "--one", method, "--time-limit",
                 str(args.time_limit), "--workers", str(args.workers), "--seed", str(args.seed)],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            text = out.stdout.strip()
            print(
                text.splitlines()[-1]
                if text
                else json.dumps({"plant": spec, "method": method, "error": out.stderr[-400:]}),
                flush=True,
            )


if __name__ == "__main__":
    main()
