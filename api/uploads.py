"""Compiling an uploaded plant into a problem, with the server's caps checked before the
heavy steps. :func:`compile_files` runs in a child process (:mod:`api.isolate`); what it
returns is plain data (picklable), never an exception.

Caps, each cheap to check before the work it guards:

* the unpacked size of a ``.zip``/``.xlsx`` (read from the archive's directory, before
  anything is extracted): :func:`unpacked_size`, checked by the API process itself;
* the horizon in ticks and the number of operations, from the plant document before it
  is compiled (compiling expands calendars over the whole horizon).
"""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from aps import Problem
from aps.factory.compile import CompileError, compile_plant, plan_end
from aps.factory.model import Plant, is_plant_document
from aps.io.bundle.read import load_plant, read_json_plant
from aps.io.bundle.tables import BundleError
from aps.io.load import load_problem

ARCHIVES = (".zip", ".xlsx", ".xlsm")


@dataclass(frozen=True)
class Caps:
    """The server's caps an upload is compiled under."""

    max_operations: int
    max_horizon_ticks: int


@dataclass(frozen=True)
class Compiled:
    """A compiled upload: the problem as stored JSON, and what the API checks."""

    problem_json: str
    name: str
    num_operations: int
    horizon: int | None


#: An error item in FastAPI's 422 shape.
Item = dict[str, Any]


def unpacked_size(name: str, data: bytes) -> int | None:
    """What an archive unpacks to, from its directory (nothing extracted); None for a
    file that is no archive, or an archive too broken to tell (the compiler says why)."""
    if not name.lower().endswith(ARCHIVES):
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return sum(max(0, info.file_size) for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return None


def compile_files(files: list[tuple[str, bytes]], caps: Caps) -> tuple[str, Any]:
    """Compile uploaded plant files: ``("ok", Compiled)``, ``("invalid", [items])`` or
    ``("limit", [items])`` (a cap was exceeded; the items name it and its setting)."""
    csvs = [f for f in files if f[0].lower().endswith(".csv")]
    loc: list[str | int] = ["body", "file"]
    if csvs and len(csvs) != len(files):
        return "invalid", [_item(loc, "send either .csv tables or one .zip/.xlsx/.json file")]
    if not csvs and len(files) != 1:
        return "invalid", [_item(loc, "send one .zip, .xlsx or .json file (or .csv tables)")]
    with tempfile.TemporaryDirectory(prefix="aps-upload-") as tmp:
        folder = Path(tmp) / "bundle"
        folder.mkdir()
        for name, data in files:
            (folder / name).write_bytes(data)
        target = folder if csvs else folder / files[0][0]
        try:
            plant = _plant(target)
            if plant is not None:
                over = plant_over_caps(plant, caps)
                if over:
                    return "limit", over
                problem = compile_plant(plant)
            else:
                problem = load_problem(target)
        except BundleError as exc:
            return "invalid", [_item(loc, msg, "bundle_error") for msg in exc.errors]
        except CompileError as exc:
            return "invalid", [_item(loc, msg, "compile_error") for msg in exc.issues]
        except ValidationError as exc:
            return "invalid", [
                _item([*loc, *e["loc"]], e["msg"], e["type"])
                for e in exc.errors(include_url=False, include_context=False, include_input=False)
            ]
    over = problem_over_caps(problem, caps, loc)
    if over:
        return "limit", over
    text = problem.model_dump_json(exclude_defaults=True)
    if "\\u0000" in text:  # PostgreSQL cannot store U+0000: name where it is
        where = nul_path(json.loads(text)) or []
        return "invalid", [_item([*loc, *where], "must not contain U+0000 (NUL)")]
    return "ok", Compiled(text, problem.name, problem.num_operations, problem.horizon)


def nul_path(value: Any, path: tuple[str | int, ...] = ()) -> list[str | int] | None:
    """Where the first string with U+0000 is in a parsed JSON value."""
    if isinstance(value, str):
        return list(path) if "\x00" in value else None
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        found = nul_path(item, (*path, key))
        if found is not None:
            return found
    return None


def _plant(target: Path) -> Plant | None:
    """The plant document of a bundle or plant JSON; None for a tick-level problem."""
    if target.is_dir() or target.suffix.lower() in ARCHIVES:
        return load_plant(target)
    if target.suffix.lower() == ".json":
        try:
            data = json.loads(target.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None  # load_problem names the error
        if is_plant_document(data):
            return read_json_plant(target, data)
    return None


def plant_over_caps(plant: Plant, caps: Caps) -> list[Item]:
    """The caps a plant document exceeds, checked before it is compiled."""
    loc: list[str | int] = ["body", "file"]
    try:
        span = plan_end(plant) - plant.horizon.start
        ticks = int(span.total_seconds() // plant.horizon.tick_seconds)
    except (ValueError, OverflowError):
        ticks = caps.max_horizon_ticks + 1
    if ticks > caps.max_horizon_ticks:
        return [
            _item(
                [*loc, "horizon"],
                f"the horizon spans {ticks} ticks; the limit is {caps.max_horizon_ticks} "
                "(APS_MAX_HORIZON_TICKS)",
                "limit_exceeded",
            )
        ]
    routings = {p.id: len(p.routing) for p in plant.products}
    operations = sum(routings.get(o.product, 0) for o in plant.orders)
    if operations > caps.max_operations:
        return [
            _item(
                loc,
                f"the plant has {operations} operations; the limit is {caps.max_operations} "
                "per job (APS_MAX_OPERATIONS)",
                "limit_exceeded",
            )
        ]
    return []


def problem_over_caps(problem: Problem, caps: Caps, loc: list[str | int]) -> list[Item]:
    """The caps a tick-level problem exceeds (operations, horizon), and U+0000 in it."""
    if problem.num_operations > caps.max_operations:
        return [
            _item(
                loc,
                f"the problem has {problem.num_operations} operations; the limit is "
                f"{caps.max_operations} per job (APS_MAX_OPERATIONS)",
                "limit_exceeded",
            )
        ]
    if problem.horizon is not None and problem.horizon > caps.max_horizon_ticks:
        return [
            _item(
                [*loc, "horizon"],
                f"the horizon spans {problem.horizon} ticks; the limit is "
                f"{caps.max_horizon_ticks} (APS_MAX_HORIZON_TICKS)",
                "limit_exceeded",
            )
        ]
    return []


def _item(loc: list[str | int], msg: str, kind: str = "value_error") -> Item:
    return {"loc": loc, "msg": msg, "type": kind}
