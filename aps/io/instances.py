"""Finding benchmark instances by name and their best-known bounds.

Two collections: job shops (``jssp``) and flexible job shops (``fjsp``). Each is read from
a folder given by ``--instances DIR`` or its setting (``APS_JSSP_DIR``, ``APS_FJSP_DIR``):
either the folder holding ``instances/`` and ``bounds.csv``, or the instance folder
itself; by default ``../shared/jssp`` (``../shared/fjsp``) next to the working directory or
next to the checkout. Instance files may sit in sub-folders (the flexible collection has
one per family) and are found by file name or by stem (``mt10c1`` for ``mt10c1.txt``).
They are never copied into the project.
"""

from __future__ import annotations

import csv
import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path

ENV = "APS_JSSP_DIR"
SETTINGS = {"jssp": ENV, "fjsp": "APS_FJSP_DIR"}


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
    family: str = ""


def _candidates(explicit: str | Path | None, collection: str) -> list[Path]:
    if explicit is not None:
        return [Path(explicit)]
    env = os.environ.get(SETTINGS[collection])
    if env:
        return [Path(env)]
    here = Path(__file__).resolve()
    return [
        Path.cwd() / ".." / "shared" / collection,
        here.parents[2] / ".." / "shared" / collection,
    ]


def instance_dir(explicit: str | Path | None = None, collection: str = "jssp") -> Path:
    """The folder holding the instance files (raises with the places it looked)."""
    tried = []
    for base in _candidates(explicit, collection):
        for folder in (base / "instances", base):
            tried.append(str(folder))
            if folder.is_dir() and any(folder.iterdir()):
                return folder.resolve()
    raise FileNotFoundError(
        f"no {collection.upper()} instance folder found (looked in {', '.join(tried)}); "
        f"pass --instances DIR or set {SETTINGS[collection]}"
    )


def bounds_file(explicit: str | Path | None = None, collection: str = "jssp") -> Path | None:
    folder = instance_dir(explicit, collection)
    for candidate in (folder / "bounds.csv", folder.parent / "bounds.csv"):
        if candidate.is_file():
            return candidate
    return None


def load_bounds(explicit: str | Path | None = None, collection: str = "jssp") -> dict[str, Bounds]:
    """Best-known bounds by instance name (empty when no ``bounds.csv`` is found)."""
    path = bounds_file(explicit, collection)
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
                source=row.get("source") or "",
                family=row.get("family") or "",
            )
    return out


def all_bounds(explicit: str | Path | None = None) -> dict[str, Bounds]:
    """The bounds of every collection found (only ``explicit``'s when a folder is given)."""
    out: dict[str, Bounds] = {}
    for collection in SETTINGS:
        try:
            out.update(load_bounds(explicit, collection))
        except FileNotFoundError:
            continue
        if explicit is not None:
            break
    return out


def resolve(
    patterns: list[str], explicit: str | Path | None = None, collection: str = "jssp"
) -> list[Path]:
    """Instance files matching names or shell globs (``la0*``), in natural order."""
    folder = instance_dir(explicit, collection)
    files = sorted(
        (p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")),
        key=lambda p: _natural(p.stem),
    )
    files = [p for p in files if p.name not in ("bounds.csv", "README.md", "LICENSE")]
    out: list[Path] = []
    for pattern in patterns:
        matched = [
            p for p in files
            if fnmatch.fnmatchcase(p.name, pattern) or fnmatch.fnmatchcase(p.stem, pattern)
        ]  # fmt: skip
        if not matched:
            raise FileNotFoundError(f"no instance matches {pattern!r} in {folder}")
        out.extend(p for p in matched if p not in out)
    return out


def resolve_any(
    patterns: list[str], explicit: str | Path | None = None, fmt: str = "auto"
) -> list[Path]:
    """Like :func:`resolve`, in the collection ``fmt`` names, or (``auto``) in the job-shop
    collection first and the flexible one for patterns it does not match."""
    if fmt != "auto" or explicit is not None:
        return resolve(patterns, explicit, "jssp" if fmt == "auto" else fmt)
    out: list[Path] = []
    for pattern in patterns:
        errors = []
        for collection in SETTINGS:
            try:
                found = resolve([pattern], None, collection)
            except FileNotFoundError as exc:
                errors.append(str(exc))
                continue
            out.extend(p for p in found if p not in out)
            break
        else:
            raise FileNotFoundError("; ".join(errors))
    return out


def _natural(name: str) -> tuple[str, int]:
    head = name.rstrip("0123456789")
    tail = name[len(head) :]
    return head, int(tail) if tail else -1
