"""The ``aps`` command line: one module per command group.

* :mod:`aps.cli.solve`: ``solve``, ``convert``, ``validate``, ``schema``;
* :mod:`aps.cli.bench`: ``bench``;
* :mod:`aps.cli.factory`: ``generate``, ``report``, ``gantt``, ``diagnose``.

Commands of the service packages (``aps serve``, ``aps worker``, ``aps apikey``) are
plugged in through the ``aps.commands`` entry-point group, so the core never imports
them.
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points

from aps.cli import bench, factory, solve
from aps.cli.app import app

__all__ = ["bench", "factory", "main", "solve"]


def _load_plugins() -> None:
    for ep in entry_points(group="aps.commands"):
        try:
            register = ep.load()
        except ImportError:
            continue  # that extra is not installed; its commands are simply absent
        register(app)


def main() -> None:
    """The ``aps`` console script."""
    _load_plugins()
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
