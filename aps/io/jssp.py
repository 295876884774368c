"""Job-shop instance files: the OR-Library/JSPLIB text format and Taillard's format.

OR-Library: optional ``#`` comment lines, a line ``jobs machines``, then one line per job
of ``machine duration`` pairs with 0-based machines. Taillard: a line ``jobs machines``
(optionally followed by seeds and bounds), a ``Times`` matrix and a ``Machines`` matrix
with 1-based machines; the Taillard benchmark's own header lines are accepted too.
Errors are one line naming the file, the line and the problem.
"""

from __future__ import annotations

import re
from pathlib import Path

from aps.model import Job, Machine, Mode, Operation, Problem


class InstanceFormatError(ValueError):
    """A malformed instance file; the message is ``file:line: problem``."""


def ints(path: Path, lineno: int, text: str) -> list[int]:
    try:
        return [int(tok) for tok in text.split()]
    except ValueError:
        bad = next(tok for tok in text.split() if not re.fullmatch(r"-?\d+", tok))
        raise InstanceFormatError(f"{path}:{lineno}: expected integers, found {bad!r}") from None


def read_lines(path: Path) -> list[tuple[int, str]]:
    """The file's non-blank, non-comment lines with their 1-based numbers (never empty)."""
    try:
        raw = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise InstanceFormatError(f"{path}: cannot read: {reason}") from None
    lines = [
        (i + 1, line.strip())
        for i, line in enumerate(raw.splitlines())
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not lines:
        raise InstanceFormatError(f"{path}:1: empty file, expected 'jobs machines'")
    return lines


def read_jssp(path: str | Path, name: str | None = None) -> Problem:
    """Read an OR-Library or Taillard job-shop file into a :class:`Problem`."""
    path = Path(path)
    lines = read_lines(path)
    if any(re.match(r"(?i)^times\b", text) for _, text in lines):
        return _read_taillard(path, lines, name)
    return _read_orlib(path, lines, name)


def _header(path: Path, lineno: int, text: str) -> tuple[int, int]:
    nums = ints(path, lineno, text)
    if len(nums) < 2 or nums[0] <= 0 or nums[1] <= 0:
        raise InstanceFormatError(
            f"{path}:{lineno}: expected 'jobs machines' (two positive integers)"
        )
    return nums[0], nums[1]


def _build(
    path: Path, name: str | None, n_jobs: int, n_machines: int, routes: list[list[tuple[int, int]]]
) -> Problem:
    return problem_of(name or path.name, n_machines, [[[step] for step in r] for r in routes])


def problem_of(name: str, n_machines: int, routes: list[list[list[tuple[int, int]]]]) -> Problem:
    """A (flexible) job shop: per job, per operation, its ``(machine, duration)`` modes."""
    return Problem(
        name=name,
        machines=[Machine(id=k) for k in range(n_machines)],
        jobs=[
            Job(
                id=j,
                operations=[
                    Operation(id=o, modes=[Mode(machine=m, duration=d) for m, d in modes])
                    for o, modes in enumerate(route)
                ],
            )
            for j, route in enumerate(routes)
        ],
    )


def _read_orlib(path: Path, lines: list[tuple[int, str]], name: str | None) -> Problem:
    lineno, text = lines[0]
    n_jobs, n_machines = _header(path, lineno, text)
    if len(lines) - 1 < n_jobs:
        raise InstanceFormatError(
            f"{path}:{lines[-1][0]}: header announces {n_jobs} jobs, file has {len(lines) - 1}"
        )
    routes = []
    for j in range(n_jobs):
        lineno, text = lines[1 + j]
        nums = ints(path, lineno, text)
        if len(nums) != 2 * n_machines:
            raise InstanceFormatError(
                f"{path}:{lineno}: job {j} has {len(nums)} numbers, expected {2 * n_machines} "
                f"({n_machines} 'machine duration' pairs)"
            )
        route = []
        for k in range(n_machines):
            mach, dur = nums[2 * k], nums[2 * k + 1]
            if not 0 <= mach < n_machines:
                raise InstanceFormatError(
                    f"{path}:{lineno}: job {j} operation {k}: machine {mach} is outside "
                    f"0..{n_machines - 1}"
                )
            if dur < 0:
                raise InstanceFormatError(
                    f"{path}:{lineno}: job {j} operation {k}: negative duration {dur}"
                )
            route.append((mach, dur))
        routes.append(route)
    return _build(path, name, n_jobs, n_machines, routes)


def _read_taillard(path: Path, lines: list[tuple[int, str]], name: str | None) -> Problem:
    idx = 0
    while idx < len(lines) and not re.match(r"^\s*\d", lines[idx][1]):
        idx += 1  # "Nb of jobs, Nb of Machines, ..." caption
    if idx == len(lines):
        raise InstanceFormatError(f"{path}:{lines[0][0]}: expected 'jobs machines'")
    n_jobs, n_machines = _header(path, *lines[idx])
    sections: dict[str, list[tuple[int, str]]] = {}
    current: str | None = None
    for lineno, text in lines[idx + 1 :]:
        low = text.lower()
        if low.startswith("times"):
            current = "times"
        elif low.startswith("machines"):
            current = "machines"
        elif current is not None:
            sections.setdefault(current, []).append((lineno, text))
    for key in ("times", "machines"):
        rows = sections.get(key, [])
        if len(rows) != n_jobs:
            where = rows[-1][0] if rows else lines[-1][0]
            raise InstanceFormatError(
                f"{path}:{where}: the {key.title()} section has {len(rows)} rows, expected {n_jobs}"
            )
    routes = []
    for j in range(n_jobs):
        t_line, m_line = sections["times"][j], sections["machines"][j]
        times, machs = ints(path, *t_line), ints(path, *m_line)
        for (lineno, _), vals in ((t_line, times), (m_line, machs)):
            if len(vals) != n_machines:
                raise InstanceFormatError(
                    f"{path}:{lineno}: job {j} has {len(vals)} values, expected {n_machines}"
                )
        for k, mach in enumerate(machs):
            if not 1 <= mach <= n_machines:
                raise InstanceFormatError(
                    f"{path}:{m_line[0]}: job {j} operation {k}: machine {mach} is outside "
                    f"1..{n_machines} (Taillard machines are 1-based)"
                )
        if any(t < 0 for t in times):
            raise InstanceFormatError(f"{path}:{t_line[0]}: job {j}: negative duration")
        routes.append([(mach - 1, dur) for mach, dur in zip(machs, times, strict=True)])
    return _build(path, name, n_jobs, n_machines, routes)


def write_orlib(problem: Problem) -> str:
    """Write a job shop in OR-Library format (machines renumbered 0-based in list order)."""
    if not problem.is_job_shop():
        raise ValueError("only classic job shops can be written in OR-Library format")
    index = problem.machine_index()
    out = [f"# instance {problem.name}", f"{len(problem.jobs)} {len(problem.machines)}"]
    for job in problem.jobs:
        out.append(
            " ".join(
                f"{index[op.modes[0].machine]} {op.modes[0].duration}" for op in job.operations
            )
        )
    return "\n".join(out) + "\n"
