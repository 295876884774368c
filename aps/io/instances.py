"""Finding benchmark instances by name and their best-known bounds.

The standard instances are read from a folder given by ``--instances DIR`` or the
``APS_JSSP_DIR`` setting (either the ``jssp`` folder holding ``instances/`` and
``bounds.csv``, or the instance folder itself); by default ``../shared/jssp`` next to the
working directory or next to the checkout. They are never copied into the project.
"""

from __future__ import annotations

import csv
import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path

ENV = "APS_JSSP_DIR"


@dataclass(frozen=True)
class Bounds:
    """Best-known makespan bounds of a benchmark instance and where they come from."""

    name: str
    jobs: int
    machines: int
    lb: int
    ub: int
    optimal: bool
    source: str


def _candidates(explicit: str | Path | None) -> list[Path]:
    if explicit is not None:
        return [Path(explicit)]
    env = os.environ.get(ENV)
    if env:
        return [Path(env)]
    here = Path(__file__).resolve()
    return [Path.cwd() / ".." / "shared" / "jssp", here.parents[2] / ".." / "shared" / "jssp"]


def instance_dir(explicit: str | Path | None = None) -> Path:
    """The folder holding the instance files (raises with the places it looked)."""
    tried = []
    for base in _candidates(explicit):
        for folder in (base / "instances", base):
            tried.append(str(folder))
            if folder.is_dir() and any(folder.iterdir()):
                return folder.resolve()
    raise FileNotFoundError(
        f"no JSSP instance folder found (looked in {', '.join(tried)}); "
        f"pass --instances DIR or set {ENV}"
    )


def bounds_file(explicit: str | Path | None = None) -> Path | None:
    folder = instance_dir(explicit)
    for candidate in (folder / "bounds.csv", folder.parent / "bounds.csv"):
        if candidate.is_file():
            return candidate
    return None


def load_bounds(explicit: str | Path | None = None) -> dict[str, Bounds]:
    """Best-known bounds by instance name (empty when no ``bounds.csv`` is found)."""
    path = bounds_file(explicit)
    if path is None:
        return {}
    out: dict[str, Bounds] = {}
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            out[row["name"]] = Bounds(
                name=row["name"],
                jobs=int(row["jobs"]),
                machines=int(row["machines"]),
                lb=int(row["lb"]),
                ub=int(row["ub"]),
                optimal=row["optimal"].strip() in ("1", "true", "True"),
                source=row.get("source", ""),
            )
    return out


def resolve(patterns: list[str], explicit: str | Path | None = None) -> list[Path]:
    """Instance files matching names or shell globs (``la0*``), in natural order."""
    folder = instance_dir(explicit)
    names = sorted(
        (p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")),
        key=_natural,
    )
    out: list[Path] = []
    for pattern in patterns:
        matched = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
        if not matched:
            raise FileNotFoundError(f"no instance matches {pattern!r} in {folder}")
        out.extend(folder / n for n in matched if folder / n not in out)
    return out


def _natural(name: str) -> tuple[str, int]:
    head = name.rstrip("0123456789")
    tail = name[len(head) :]
    return head, int(tail) if tail else -1
