"""Render the JSON lines of ``bench_scale.py`` / ``bench_plant.py`` as one Markdown table.

.venv/bin/python benchmarks/jsonl_table.py results/plant-600.jsonl [--columns a,b,c]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    cols = columns or list(dict.fromkeys(k for r in rows for k in r))
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        out.append("| " + " | ".join(_cell(r.get(c)) for c in cols) + " |")
    return "\n".join(out) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1 else f"{value:,.2f}".rstrip("0").rstrip(".")
    return str(value).replace("|", "\\|")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--columns", default="")
    args = ap.parse_args()
    rows = [json.loads(line) for f in args.files for line in f.read_text().splitlines() if line]
    print(table(rows, args.columns.split(",") if args.columns else None), end="")


if __name__ == "__main__":
    main()
