"""Flexible job-shop instance files (the Brandimarte/Hurink text format).

A line ``jobs machines`` (often followed by the mean number of machines per operation),
then one line per job: the number of operations, then for each operation the number of
eligible machines ``k`` followed by ``k`` pairs ``machine duration``. Machines are
numbered from 0. Errors are one line naming the file, the line and the problem.
"""

from __future__ import annotations

from pathlib import Path

from aps.io.jssp import InstanceFormatError, ints, problem_of, read_lines
from aps.model import Problem


def read_fjsp(path: str | Path, name: str | None = None) -> Problem:
    """Read a flexible job-shop file into a :class:`Problem` (one mode per eligible machine)."""
    path = Path(path)
    lines = read_lines(path)
    n_jobs, n_machines = _header(path, *lines[0])
    if len(lines) - 1 < n_jobs:
        raise InstanceFormatError(
            f"{path}:{lines[-1][0]}: header announces {n_jobs} jobs, file has {len(lines) - 1}"
        )
    routes = [_job(path, *lines[1 + j], j, n_machines) for j in range(n_jobs)]
    return problem_of(name or path.stem, n_machines, routes)


def _header(path: Path, lineno: int, text: str) -> tuple[int, int]:
    nums = text.split()
    try:
        n_jobs, n_machines = int(nums[0]), int(nums[1])
    except (IndexError, ValueError):
        n_jobs = n_machines = 0
    if n_jobs <= 0 or n_machines <= 0:
        raise InstanceFormatError(
            f"{path}:{lineno}: expected 'jobs machines [mean machines per operation]'"
        )
    return n_jobs, n_machines


def _job(
    path: Path, lineno: int, text: str, j: int, n_machines: int
) -> list[list[tuple[int, int]]]:
    nums = ints(path, lineno, text)
    where = f"{path}:{lineno}: job {j}"
    if not nums or nums[0] <= 0:
        raise InstanceFormatError(f"{where}: expected the number of operations first")
    pos, route = 1, []
    for o in range(nums[0]):
        if pos >= len(nums) or nums[pos] <= 0:
            raise InstanceFormatError(
                f"{where} operation {o}: expected the number of eligible machines"
            )
        k, pos = nums[pos], pos + 1
        pairs = nums[pos : pos + 2 * k]
        if len(pairs) < 2 * k:
            raise InstanceFormatError(
                f"{where} operation {o}: announces {k} machines, the line ends after "
                f"{len(pairs) // 2}"
            )
        pos += 2 * k
        modes = list(zip(pairs[0::2], pairs[1::2], strict=True))
        route.append(_checked(where, o, modes, n_machines))
    if pos != len(nums):
        raise InstanceFormatError(
            f"{where}: {len(nums) - pos} numbers left after its {nums[0]} operations"
        )
    return route


def _checked(
    where: str, o: int, modes: list[tuple[int, int]], n_machines: int
) -> list[tuple[int, int]]:
    seen: set[int] = set()
    for m, d in modes:
        if not 0 <= m < n_machines:
            raise InstanceFormatError(
                f"{where} operation {o}: machine {m} is outside 0..{n_machines - 1}"
            )
        if d < 0:
            raise InstanceFormatError(f"{where} operation {o}: negative duration {d}")
        if m in seen:
            raise InstanceFormatError(f"{where} operation {o}: machine {m} is listed twice")
        seen.add(m)
    return modes


def looks_like_fjsp(path: str | Path) -> bool:
    """Whether a file reads as a flexible job shop and not as an OR-Library job shop.

    An OR-Library job line holds exactly ``2 * machines`` numbers; a flexible one starts
    with its operation count and is consumed exactly by the ``k`` + pairs grammar. The
    first job line decides; files that fit both (rare, and equal as job shops only when
    every ``k`` is 1) are read as OR-Library files.
    """
    try:
        lines = read_lines(Path(path))
        _, n_machines = _header(Path(path), *lines[0])
        if len(lines) < 2 or any(w.lower().startswith("times") for _, w in lines):
            return False
        nums = lines[1][1].split()
        if len(nums) == 2 * n_machines and len(lines[0][1].split()) == 2:
            return False
        _job(Path(path), *lines[1], 0, n_machines)
    except (InstanceFormatError, ValueError):
        return False
    return True
