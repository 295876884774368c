"""Compare job-shop strategy settings side by side (a development probe, not a test).

    .venv/bin/python benchmarks/jobshop_variants.py alt 60 ta01 ta02 ta21 ta41
    .venv/bin/python benchmarks/jobshop_variants.py nostall 60 ta01 ta02 ta21 ta41

``alt``: as shipped (tabu and CP-SAT in turns on stalls); ``once``: one hand-over, CP-SAT
keeps the rest; ``nostall``: tabu for ``JobShopOptions.tabu_share`` of the time, then
CP-SAT (no stall rule); ``seqX``: ``nostall`` with ``tabu_share`` X; ``tabuonly``: no
CP-SAT; ``plain``: the textbook CP-SAT model. Settings joined with ``+`` apply together.
Gaps are to the best-known upper bounds.
"""

from __future__ import annotations

import sys

from aps import solve
from aps.io.instances import instance_dir, load_bounds
from aps.io.jssp import read_jssp
from aps.params import JobShopOptions
from aps.solvers.warmup import warm_up


def main() -> None:
    variant, limit, names = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
    settings: dict[str, object] = {}
    for part in variant.split("+"):
        if part == "tabuonly":
            settings["cpsat_max_operations"] = 0
        elif part == "once":
            settings["alternate"] = False
        elif part == "nostall":
            settings["stall_share"] = 10.0  # a window longer than any budget
        elif part.startswith("seq"):
            settings["stall_share"], settings["tabu_share"] = 10.0, float(part[3:])
        elif part not in ("alt", "plain"):
            raise SystemExit(f"unknown variant {part!r}")
    options = JobShopOptions(**settings)  # type: ignore[arg-type]
    warm_up()
    bounds, folder = load_bounds(), instance_dir()
    gaps = []
    for name in names:
        solver = "plain" if "plain" in variant.split("+") else "cpsat"
        result = solve(read_jssp(folder / name), time_limit=limit, workers=2, seed=0,
                       solver=solver, jobshop=options)  # fmt: skip
        assert result.makespan is not None
        gap = 100 * (result.makespan - bounds[name].ub) / bounds[name].ub
        gaps.append(gap)
        rounds = [f"{r['method']}:{r['seconds']}" for r in result.parameters.get("rounds", [])]
        print(variant, name, result.makespan, f"{gap:.2f}%", result.status.value,
              " ".join(rounds), flush=True)  # fmt: skip
    print(variant, "mean", f"{sum(gaps) / len(gaps):.2f}%")


if __name__ == "__main__":
    main()
