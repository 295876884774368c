"""Print the fixed stratified sample of flexible job-shop instances that ``make bench-fjsp`` runs.

Rule: group the collection's ``bounds.csv`` by family (Hurink's split into edata, rdata and
vdata); in each group take the first instance (natural name order) of every size class
(jobs x machines); order the classes by operation count and keep at most ten, evenly
spaced from the smallest to the largest. The rule reads only sizes and names, never
results. Usage: ``python benchmarks/fjsp_sample.py [FJSP_DIR]``.
"""

from __future__ import annotations

import sys

from aps.io.instances import Bounds, load_bounds

PER_GROUP = 10


def group(b: Bounds) -> str:
    return f"hurink {b.name.split('-', 1)[0]}" if b.family == "hurink" else b.family


def natural(name: str) -> tuple[str, int]:
    head = name.rstrip("0123456789")
    return head, int(name[len(head) :] or -1)


def sample(bounds: dict[str, Bounds]) -> list[str]:
    groups: dict[str, dict[tuple[int, int], str]] = {}
    for b in sorted(bounds.values(), key=lambda b: natural(b.name)):
        groups.setdefault(group(b), {}).setdefault((b.jobs, b.machines), b.name)
    out: list[str] = []
    for classes in groups.values():
        names = [classes[k] for k in sorted(classes, key=lambda jm: (jm[0] * jm[1], jm))]
        if len(names) > PER_GROUP:
            step = (len(names) - 1) / (PER_GROUP - 1)
            names = [names[round(i * step)] for i in range(PER_GROUP)]
        out.extend(names)
    return out


if __name__ == "__main__":
    print(" ".join(sample(load_bounds(sys.argv[1] if len(sys.argv) > 1 else None, "fjsp"))))
