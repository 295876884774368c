"""The ``aps`` Typer application and the one-line error every command uses."""

from __future__ import annotations

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
