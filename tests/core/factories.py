"""Small problem builders for the core tests."""

from __future__ import annotations

from typing import Any

from aps.model import Problem


def problem(**kw: Any) -> Problem:
    """A Problem from plain dicts (as a JSON client would send it)."""
    base: dict[str, Any] = {"name": "t", "machines": [{"id": "M1"}, {"id": "M2"}]}
    base.update(kw)
    return Problem.model_validate(base)


def op(id: Any, *modes: tuple[Any, int] | tuple[Any, int, int], **kw: Any) -> dict[str, Any]:
    return {
        "id": id,
        "modes": [
            {"machine": m[0], "duration": m[1], **({"setup": m[2]} if len(m) > 2 else {})}
            for m in modes
        ],
        **kw,
    }
