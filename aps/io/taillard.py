"""Taillard's job-shop generator (his LCG and procedure) and its output formats."""

from __future__ import annotations

from aps.model import Job, Machine, Mode, Operation, Problem


class TaillardRandom:
    """Taillard's portable linear congruential generator (Lehmer, Schrage's method)."""

    M, A, B, C = 2147483647, 16807, 127773, 2836

    def __init__(self, seed: int) -> None:
        if not 0 < seed < self.M:
            raise ValueError(f"seed must be in 1..{self.M - 1}")
        self.seed = seed

    def unif(self, low: int, high: int) -> int:
        k = self.seed // self.B
        self.seed = self.A * (self.seed % self.B) - k * self.C
        if self.seed < 0:
            self.seed += self.M
        return low + int(self.seed / self.M * (high - low + 1))


def generate_jssp(
    jobs: int, machines: int, seed: int, machine_seed: int | None = None
) -> list[list[tuple[int, int]]]:
    """Taillard's job-shop generator: per job, (machine, duration) pairs, 0-based.

    Durations are U[1, 99] from ``seed``; each job's machine order is a random
    permutation from ``machine_seed`` (default ``seed + 1``).
    """
    if jobs < 1 or machines < 1:
        raise ValueError("jobs and machines must be at least 1")
    times = TaillardRandom(seed)
    order = TaillardRandom(machine_seed if machine_seed is not None else seed + 1)
    d = [[times.unif(1, 99) for _ in range(machines)] for _ in range(jobs)]
    routes: list[list[int]] = []
    for _ in range(jobs):
        m = list(range(machines))
        for i in range(machines):
            j = order.unif(i, machines - 1)
            m[i], m[j] = m[j], m[i]
        routes.append(m)
    return [[(routes[j][i], d[j][i]) for i in range(machines)] for j in range(jobs)]


def jssp_orlib(instance: list[list[tuple[int, int]]], comment: str | None = None) -> str:
    """OR-Library text: optional comment line, ``n m``, then machine/duration pairs."""
    n, m = len(instance), len(instance[0])
    lines = [comment] if comment else []
    lines.append(f"{n} {m}")
    lines.extend(" ".join(f"{mach} {dur}" for mach, dur in row) for row in instance)
    return "\n".join(lines) + "\n"


def jssp_problem(instance: list[list[tuple[int, int]]], name: str = "jssp") -> Problem:
    """The job shop as a tick-level :class:`~aps.model.Problem` (integer ids)."""
    m = len(instance[0])
    return Problem(
        name=name,
        machines=[Machine(id=k) for k in range(m)],
        jobs=[
            Job(
                id=j,
                operations=[
                    Operation(id=i, modes=[Mode(machine=mach, duration=dur)])
                    for i, (mach, dur) in enumerate(row)
                ],
            )
            for j, row in enumerate(instance)
        ],
    )
