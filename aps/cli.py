"""The ``aps`` command line: solve, convert, validate and benchmark.

Commands of other packages (``aps serve``, ``aps worker``, factory tools) are plugged in
through the ``aps.commands`` entry-point group, so the core never imports them.
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points

import typer

app = typer.Typer(
    name="aps",
    help="Advanced planning & scheduling: finite-capacity schedules on CP-SAT.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print a one-line error (no stack trace) and return the exit to raise."""
    typer.echo(f"aps: error: {message}", err=True)
    return typer.Exit(code)


def _load_plugins() -> None:
    for ep in entry_points(group="aps.commands"):
        try:
            register = ep.load()
        except ImportError:
            continue  # that extra is not installed; its commands are simply absent
        register(app)


def main() -> None:
    from aps import commands  # noqa: F401  (registers the core commands)

    _load_plugins()
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
