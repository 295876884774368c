"""Instance file formats: job shops (OR-Library, Taillard) and flexible job shops.

``auto`` tells them apart from the file itself (:func:`aps.io.fjsp.looks_like_fjsp`);
``jssp`` and ``fjsp`` force a reader, for the rare file that fits both grammars.
"""

from __future__ import annotations

from pathlib import Path

from aps.io.fjsp import looks_like_fjsp, read_fjsp
from aps.io.jssp import read_jssp
from aps.model import Problem

INSTANCE_FORMATS = ("auto", "jssp", "fjsp")


def check_format(fmt: str) -> str:
    """``fmt`` if it names an instance format, else a ValueError naming the choices."""
    if fmt not in INSTANCE_FORMATS:
        raise ValueError(
            f"unknown instance format {fmt!r}; choose from {', '.join(INSTANCE_FORMATS)}"
        )
    return fmt


def read_instance(path: str | Path, fmt: str = "auto", name: str | None = None) -> Problem:
    """Read a job-shop or flexible job-shop file; ``fmt`` picks the reader or detects it."""
    if check_format(fmt) == "fjsp" or (fmt == "auto" and looks_like_fjsp(path)):
        return read_fjsp(path, name)
    return read_jssp(path, name)
