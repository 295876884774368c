"""Compile the numba kernels once per machine, before any timed solve needs them.

numba compiles a kernel on its first call and caches the machine code on disk, so the
first solve on a fresh installation would spend seconds (a minute for all of them) in
the compiler, against its time limit. Workers call :func:`warm_up` when they start, the
benchmark harness before its first run and ``make install`` once.
"""

from __future__ import annotations

import numpy as np

from aps.heuristics.arrays import build_arrays
from aps.heuristics.construct import Rule, construct
from aps.heuristics.decode import Scratch, run
from aps.heuristics.engine import new_engine, trial
from aps.heuristics.search import search
from aps.kernels import prune
from aps.model import Problem
from aps.params import SolveParams
from aps.solvers.jobshop.shops import warm_up as warm_up_shops
from aps.solvers.jobshop.tabu import warm_up as warm_up_tabu

#: every feature the plant kernels read: calendars, setups, stock, lags
_PLANT = {
    "machines": [
        {"id": "A", "setup_matrix": "S", "unavailable": [{"start": 5, "end": 7}]},
        {"id": "B"},
    ],
    "setup_matrices": {"S": {"changeover": {"x": {"y": 1}}, "initial": {"x": 1}}},
    "materials": [{"id": "m", "initial": 1, "receipts": [{"time": 3, "quantity": 2}]}],
    "jobs": [
        {"id": "J", "due": 6, "family": "x", "operations": [
            {"id": 0, "modes": [{"machine": "A", "duration": 2}, {"machine": "B", "duration": 3}],
             "produces": [{"material": "m", "quantity": 1}]},
            {"id": 1, "modes": [{"machine": "B", "duration": 1}], "interruptible": True,
             "predecessors": [{"op": 0, "max_lag": 4}]},
        ]},
        {"id": "K", "due": 5, "family": "y", "operations": [
            {"id": 0, "modes": [{"machine": "A", "duration": 1}],
             "consumes": [{"material": "m", "quantity": 2}]},
        ]},
    ],
}  # fmt: skip


def warm_up() -> None:
    """Run every kernel once on tiny problems (cached on disk afterwards); drop the caches
    of other kernel versions (:mod:`aps.kernels`)."""
    prune()
    warm_up_tabu()
    warm_up_shops()
    problem = Problem.model_validate(_PLANT)
    a = build_arrays(problem)
    s = Scratch(a, len(problem.machines))
    start = construct(problem, a, s, SolveParams(time_limit=60), rules=[Rule("atcs")])[0]
    run(a, s, start.order, start.mode)
    e = new_engine(a, s, start.order, start.mode)
    trial(a, e, 0, len(e.order) - 1)
    weights = np.ones(6, dtype=np.float64)
    stats = np.asarray([np.nan, 0, 0, 0, 0], dtype=np.float64)
    search(a, e, weights, 5, 0, 0.0, e.order.copy(), e.mode.copy(), e.floors.copy(), stats)
