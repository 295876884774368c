"""Small hand-built plants and published schedules for the rescheduling tests."""

from __future__ import annotations

from typing import Any

from aps.model import Id, Problem
from aps.result import ScheduledOperation


def op(id: Id, *modes: tuple[Id, int], **kw: Any) -> dict[str, Any]:
    return {"id": id, "modes": [{"machine": m, "duration": d} for m, d in modes], **kw}


def row(job: Id, op: Id, machine: Id, start: int, end: int) -> ScheduledOperation:
    return ScheduledOperation(job=job, op=op, machine=machine, start=start, end=end)


def three_machines(**jobs_kw: Any) -> Problem:
    """Machines A, B, C; J1 = A then B, J2 on B, J3 on C or A (the diff examples)."""
    data: dict[str, Any] = {
        "name": "small",
        "machines": [{"id": "A"}, {"id": "B"}, {"id": "C"}],
        "jobs": [
            {"id": "J1", "operations": [op("o1", ("A", 10)), op("o2", ("B", 10))], "due": 100},
            {"id": "J2", "operations": [op("o1", ("B", 10))], "due": 40},
            {"id": "J3", "operations": [op("o1", ("C", 10), ("A", 10))], "due": 15},
        ],
    }
    data.update(jobs_kw)
    return Problem.model_validate(data)


PUBLISHED = [
    row("J1", "o1", "A", 0, 10),
    row("J1", "o2", "B", 10, 20),
    row("J2", "o1", "B", 20, 30),
    row("J3", "o1", "C", 10, 20),
]


def by_key(rows: list[ScheduledOperation]) -> dict[tuple[Id, Id], ScheduledOperation]:
    return {(r.job, r.op): r for r in rows}
