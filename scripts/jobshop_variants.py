"""Compare job-shop strategy settings side by side (a development probe, not a test).

    .venv/bin/python scripts/jobshop_variants.py share0.7 10 ft10 la24 ta01 ta41
    .venv/bin/python scripts/jobshop_variants.py seq0.8 10 ft10 la24 ta01 ta41

``shareX``: tabu beside CP-SAT for X of the time; ``seqX``: tabu on every worker for X,
then CP-SAT; ``tabuonly``: no CP-SAT. Gaps are to the best-known upper bounds.
"""

from __future__ import annotations

import sys

from aps import solve
from aps.io.instances import instance_dir, load_bounds
from aps.io.jssp import read_jssp
from aps.solvers import jobshop
from aps.solvers.tabu import warm_up


def main() -> None:
    variant, limit, names = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
    if variant == "tabuonly":
        jobshop.CPSAT_MAX_OPERATIONS = 0
    elif variant.startswith("seq"):
        jobshop.CPSAT_BESIDE_TABU, jobshop.TABU_SHARE = False, float(variant[3:])
    elif variant.startswith("share"):
        jobshop.CPSAT_BESIDE_TABU, jobshop.TABU_SHARE = True, float(variant[5:])
    warm_up()
    bounds, folder = load_bounds(), instance_dir()
    gaps = []
    for name in names:
        result = solve(read_jssp(folder / name), time_limit=limit, workers=2, seed=0)
        assert result.makespan is not None
        gap = 100 * (result.makespan - bounds[name].ub) / bounds[name].ub
        gaps.append(gap)
        print(variant, name, result.makespan, f"{gap:.2f}%", result.status.value, flush=True)
    print(variant, "mean", f"{sum(gaps) / len(gaps):.2f}%")


if __name__ == "__main__":
    main()
