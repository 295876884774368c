"""Plan-then-schedule benchmark (not a test): a generated plant of about 10,000 operations.

One run, one solve after the other with the same time limit and workers:
``solver="plan"`` (bucket plan, then CP-SAT window by window) and ``solver="cpsat"``
(one CP-SAT model; above its model-size limit it returns the greedy schedule and says
so in its message). Each schedule is re-checked by ``aps.validate``; weighted tardiness
and makespan are recomputed from the schedule (``aps.kpi``).

    .venv/bin/python benchmarks/bench_plan.py --orders 2300 --time-limit 240 --workers 2
"""

from __future__ import annotations

import argparse
import json
import time

from aps import solve, validate
from aps.factory.compile import compile_plant
from aps.factory.generate import generate_plant
from aps.kpi import term_values
from aps.model import ObjectiveTerm


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--orders", type=int, default=2300, help="2300 orders: 10,119 operations")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--time-limit", type=float, default=240.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--solvers", default="plan,cpsat")
    args = ap.parse_args()
    t0 = time.monotonic()
    problem = compile_plant(generate_plant(args.orders, args.seed))
    print(json.dumps({
        "plant": problem.name, "orders": len(problem.jobs),
        "operations": problem.num_operations, "machines": len(problem.machines),
        "generate_s": round(time.monotonic() - t0, 1),
    }), flush=True)  # fmt: skip
    rows = []
    for name in args.solvers.split(","):
        t1 = time.monotonic()
        result = solve(problem, time_limit=args.time_limit, workers=args.workers,
                       seed=args.seed, solver=name, check=False)  # fmt: skip
        wall = time.monotonic() - t1
        values = term_values(problem, result.schedule)
        row = {
            "solver": name,
            "answered_by": result.solver,
            "status": str(result.status),
            "weighted_tardiness": values[ObjectiveTerm.WEIGHTED_TARDINESS],
            "makespan": values[ObjectiveTerm.MAKESPAN],
            "objective": result.objective,
            "wall_s": round(wall, 1),
            "validated": not validate(problem, result.schedule),
            "message": result.message,
        }
        if name == "plan":
            row["plan"] = result.parameters.get("plan")
            row["windows"] = len(result.parameters.get("windows", []))
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\n| solver | answered by | weighted tardiness | makespan | objective | wall s | valid |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    keys = ("solver", "answered_by", "weighted_tardiness", "makespan", "objective", "wall_s")
    for r in rows:
        print("| " + " | ".join(str(r[k]) for k in (*keys, "validated")) + " |")


if __name__ == "__main__":
    main()
