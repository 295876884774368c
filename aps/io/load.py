"""One entry point that turns any input the product accepts into a :class:`~aps.model.Problem`.

* ``*.json``: the tick-level problem (top-level ``"jobs"``) or a factory plant
  (``"orders"``), which is compiled to ticks;
* a folder, ``.zip``, ``.xlsx`` or ``.xlsm``: a plant CSV/Excel bundle, compiled;
* anything else: a job-shop instance file (OR-Library or Taillard format) or a flexible
  job-shop file, detected or named by ``fmt`` (:mod:`aps.io.formats`);
* a bare name that is no file: a benchmark instance looked up in the instance folders
  (:func:`aps.io.instances.resolve_any`).
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from aps.factory.compile import compile_plant
from aps.factory.model import is_plant_document
from aps.io.bundle.read import load_plant, read_json_plant
from aps.io.bundle.tables import BundleError
from aps.io.formats import check_format, read_instance
from aps.io.instances import resolve_any
from aps.model import Objective, Problem

BUNDLE_SUFFIXES = (".zip", ".xlsx", ".xlsm")


def load_problem(
    path_or_name: str | Path,
    instances: str | Path | None = None,
    objective: Objective | None = None,
    fmt: str = "auto",
) -> Problem:
    """Load a problem from a path or, failing that, a benchmark instance name.

    Raises
    ------
    BundleError
        A bad file, row or reference in plant input (names file/sheet, row, column and
        reason), or an invalid tick-level problem (names the field).
    aps.factory.compile.CompileError
        A well-formed plant that cannot be expressed in ticks.
    FileNotFoundError, ValueError
        No such file or instance; a malformed instance file (``file:line``).
    """
    path = _locate(path_or_name, instances, check_format(fmt))
    if path.is_dir() or path.suffix.lower() in BUNDLE_SUFFIXES:
        problem = compile_plant(load_plant(path))
    elif path.suffix.lower() == ".json":
        problem = _load_json(path)
    else:
        problem = read_instance(path, fmt)
    if objective is not None:
        problem = problem.model_copy(update={"objective": objective})
    return problem


def _locate(path_or_name: str | Path, instances: str | Path | None, fmt: str) -> Path:
    path = Path(path_or_name)
    if path.exists():
        return path
    if path.parent == Path(".") or str(path.parent) == "":
        return resolve_any([str(path_or_name)], instances, fmt)[0]
    raise FileNotFoundError(f"{path}: no such file")


def _load_json(path: Path) -> Problem:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BundleError([f"{path.name}:{exc.lineno}: not valid JSON: {exc.msg}"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BundleError([f"{path.name}: cannot read JSON: {exc}"]) from None
    if is_plant_document(data):
        return compile_plant(read_json_plant(path, data))
    try:
        return Problem.model_validate(data)
    except ValidationError as exc:
        raise BundleError(
            [f"{path.name}: invalid problem at {_loc(e['loc'])}: {e['msg']}" for e in exc.errors()]
        ) from None


def _loc(loc: tuple[str | int, ...]) -> str:
    return ".".join(str(x) for x in loc) or "top level"
