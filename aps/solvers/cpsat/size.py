"""How large one CP-SAT model of a problem would be, estimated before building it."""

from __future__ import annotations

from aps.model import Id, Problem
from aps.worktime import Periods

#: Above this many operations the horizon may be cut to a margin past a known schedule.
LARGE_OPERATIONS = 200


#: Above this many period and arc literals one CP-SAT model takes too long to build.
MAX_MODEL_SIZE = 400_000


def model_size(problem: Problem, horizon: int) -> int:
    """Estimated period-choice and circuit-arc literals of the model (its costly part)."""
    machines = {m.id: m for m in problem.machines}
    mixed = {
        md.machine
        for job in problem.jobs
        for op in job.operations
        if op.interruptible
        for md in op.modes
        if machines[md.machine].unavailable
    }
    periods = {mid: len(Periods(machines[mid].unavailable, horizon).periods) for mid in mixed}
    nodes: dict[Id, int] = {}
    literals = 0
    for job in problem.jobs:
        for op in job.operations:
            for md in op.modes:
                if md.machine in periods:
                    literals += periods[md.machine] * (2 if op.interruptible else 1)
                if machines[md.machine].setup_matrix is not None:
                    nodes[md.machine] = nodes.get(md.machine, 0) + 1
    return literals + sum(n * n for n in nodes.values())
