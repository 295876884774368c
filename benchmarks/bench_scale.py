"""Scale benchmark (not a test): very large job shops and plants on 2 workers.

For each size, in a fresh subprocess (so peak memory is that solve's own): generate a
seeded Taillard-like job shop (or a plant), solve it for the time limit, and report the
time to the first validated schedule, the final makespan against the simple machine/job
lower bound, and the peak resident memory.

    .venv/bin/python benchmarks/bench_scale.py --time-limit 60 1000x20 2000x50
    .venv/bin/python benchmarks/bench_scale.py --time-limit 60 plant:600
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

from aps.factory.compile import compile_plant


def run_one(spec: str, time_limit: float, workers: int, seed: int) -> dict[str, object]:
    from aps import solve, validate
    from aps.bounds import simple_lower_bound
    from aps.factory.generate import generate_plant
    from aps.io.taillard import generate_jssp, jssp_problem

    t0 = time.monotonic()
    if spec.startswith("plant:"):
        problem = compile_plant(generate_plant(int(spec.split(":")[1]), seed))
    else:
        n, m = (int(x) for x in spec.split("x"))
        problem = jssp_problem(generate_jssp(n, m, seed), name=f"gen-{spec}-{seed}")
    built = time.monotonic() - t0
    first: list[float] = []

    def on_progress(inc: object) -> None:
        if not first:
            first.append(time.monotonic() - t0)

    t1 = time.monotonic()
    result = solve(problem, time_limit=time_limit, workers=workers, seed=seed,
                   on_progress=on_progress, check=False)  # fmt: skip
    wall = time.monotonic() - t1
    violations = validate(problem, result.schedule)
    lb = simple_lower_bound(problem)
    return {
        "instance": spec,
        "operations": problem.num_operations,
        "generate_s": round(built, 2),
        "first_schedule_s": round(first[0], 2) if first else None,
        "solve_wall_s": round(wall, 2),
        "status": result.status.value,
        "makespan": result.makespan,
        "simple_lb": lb,
        "gap_to_simple_lb_pct": round(100 * ((result.makespan or 0) - lb) / lb, 2),
        "validated": not violations,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "solver": result.solver,
        "message": result.message,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("specs", nargs="+", help="NxM job shops or plant:ORDERS")
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(args.specs[0], args.time_limit, args.workers, args.seed)))
        return
    for spec in args.specs:
        out = subprocess.run(
            [sys.executable, __file__, "--one", spec, "--time-limit", str(args.time_limit),
             "--workers", str(args.workers), "--seed", str(args.seed)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr[-500:]
        print(line, flush=True)


if __name__ == "__main__":
    main()
