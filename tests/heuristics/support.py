"""Problems and random lists for the compiled heuristics' tests."""

from __future__ import annotations

import random

import numpy as np

from aps.factory.compile import compile_plant
from aps.factory.generate import generate_plant
from aps.heuristics.arrays import I64, PlantArrays
from aps.model import Problem


def random_list(a: PlantArrays, seed: int) -> tuple[I64, I64]:
    """A random list order that keeps every job precedence, and random modes."""
    rng = random.Random(seed)
    n = len(a.op_job)
    left = [
        sum(1 for k in range(a.pred_ptr[i], a.pred_ptr[i + 1]) if a.op_fixed_mode[a.pred_op[k]] < 0)
        for i in range(n)
    ]
    ready = [i for i in range(n) if left[i] == 0 and a.op_fixed_mode[i] < 0]
    order: list[int] = []
    while ready:
        i = ready.pop(rng.randrange(len(ready)))
        order.append(i)
        for k in range(a.succ_ptr[i], a.succ_ptr[i + 1]):
            s = int(a.succ_op[k])
            if a.op_fixed_mode[s] >= 0:
                continue
            left[s] -= 1
            if left[s] == 0:
                ready.append(s)
    mode = np.asarray(
        [
            a.op_fixed_mode[i]
            if a.op_fixed_mode[i] >= 0
            else rng.randrange(a.mode_ptr[i], a.mode_ptr[i + 1])
            for i in range(n)
        ],
        dtype=np.int64,
    )
    return np.asarray(order, dtype=np.int64), mode


def tight_plant(orders: int = 40, seed: int = 3, factor: float = 0.3) -> Problem:
    """A generated plant whose due dates are pulled in, so that orders compete to be on time."""
    problem = compile_plant(generate_plant(orders, seed))
    jobs = []
    for job in problem.jobs:
        if job.due is not None:
            job = job.model_copy(
                update={"due": job.release + int((job.due - job.release) * factor)}
            )
        jobs.append(job)
    return problem.model_copy(update={"jobs": jobs})
