"""Benchmark the rescheduling core on a large generated plant (not a test).

Publishes a schedule of a generated plant (``generate_plant(orders)``: 450 orders are
about 2,000 operations) with the constructive witness (or a short CP-SAT solve), breaks
the busiest machine inside a run and measures:

* the time from ``machine.down`` to the first valid published repair (the greedy phase,
  diff included), and its parts;
* the share of operations that keep their start among those neither on the failed
  machine nor downstream of it. Downstream = reachable from the failed machine's
  operations at or after the failure through job successors (the DAG) and the published
  machine sequences (the next operation on the same machine), transitively;
* what CP-SAT makes of it in ``--improve`` seconds (objective, KPIs, kept share).

Example::

    .venv/bin/python benchmarks/bench_reschedule.py --orders 450 --improve 60 --workers 2
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict, deque
from itertools import pairwise

from aps.factory.compile import compile_plant
from aps.factory.generate import generate_plant
from aps.heuristics.witness import witness
from aps.model import Id, Problem
from aps.reschedule.diff import diff
from aps.reschedule.repair import Publication, machine_down
from aps.result import ScheduledOperation
from aps.validate import validate

Key = tuple[Id, Id]


def downstream(
    problem: Problem, published: list[ScheduledOperation], machine: Id, start: int
) -> set[Key]:
    """Operations reachable from the failed machine's affected ones (see module doc)."""
    succ: dict[Key, list[Key]] = defaultdict(list)
    for job in problem.jobs:
        for p, s, _ in job.predecessor_lags():
            succ[(job.id, job.operations[p].id)].append((job.id, job.operations[s].id))
    by_machine: dict[Id, list[ScheduledOperation]] = defaultdict(list)
    for r in published:
        by_machine[r.machine].append(r)
    for rows in by_machine.values():
        rows.sort(key=lambda r: (r.busy_from, r.end))
        for a, b in pairwise(rows):
            succ[(a.job, a.op)].append((b.job, b.op))
    seeds = [(r.job, r.op) for r in by_machine[machine] if r.end > start]
    seen = set(seeds)
    queue = deque(seeds)
    while queue:
        k = queue.popleft()
        for n in succ[k]:
            if n not in seen:
                seen.add(n)
                queue.append(n)
    return seen


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=450)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--down-hours", type=float, default=8.0, help="0 = open-ended")
    ap.add_argument("--at", type=float, default=0.3, help="failure at this share of the run")
    ap.add_argument("--improve", type=float, default=60.0, help="CP-SAT seconds (0 = none)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--publish-solve", type=float, default=0.0, help="publish by a CP-SAT solve")
    ap.add_argument(
        "--also-hours", default="", help="greedy-only repairs for these downtimes too, e.g. 2,8"
    )
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()

    t0 = time.perf_counter()
    problem = compile_plant(generate_plant(args.orders, seed=args.seed))
    published = witness(problem)
    assert published is not None, "the generated plant has no witness"
    how = "witness"
    if args.publish_solve > 0:
        from aps.solve import solve

        solved = solve(problem, args.publish_solve, args.workers, args.seed, hint=published)
        published, how = solved.schedule, f"cpsat {args.publish_solve}s from the witness"
    assert not validate(problem, published)
    setup_s = time.perf_counter() - t0

    counts: dict[Id, int] = defaultdict(int)
    for r in published:
        counts[r.machine] += 1
    machine = max(sorted(counts, key=str), key=lambda m: counts[m])
    runs = sorted((r for r in published if r.machine == machine), key=lambda r: r.start)
    victim = runs[int(args.at * (len(runs) - 1))]
    start = victim.start + max(1, (victim.end - victim.start) // 2)  # inside its run
    until = None if args.down_hours <= 0 else start + int(args.down_hours * 60)
    cone = downstream(problem, published, machine, start)
    old = {(r.job, r.op): r for r in published}

    stamps: list[tuple[str, float]] = []
    began = time.perf_counter()

    def on_publish(pub: Publication) -> None:
        stamps.append((pub.phase, time.perf_counter() - began))

    res = machine_down(
        problem, published, machine, start, until=until, time_limit=max(args.improve, 0.01),
        workers=args.workers, seed=args.seed, improve=args.improve > 0, on_publish=on_publish,
    )  # fmt: skip
    total_s = time.perf_counter() - began
    greedy = res.publications[0]
    t_valid = time.perf_counter()
    valid = not validate(res.problem, greedy.schedule)
    validate_s = time.perf_counter() - t_valid

    def kept_share(rows: list[ScheduledOperation]) -> tuple[int, int, int, int]:
        new = {(r.job, r.op): r for r in rows}
        others = [k for k, r in old.items() if r.machine != machine and k not in cone]
        kept_o = sum(1 for k in others if k in new and new[k].start == old[k].start)
        every = [k for k in old if k in new]
        kept_a = sum(1 for k in every if new[k].start == old[k].start)
        return kept_o, len(others), kept_a, len(every)

    g = kept_share(greedy.schedule)
    figures: dict[str, object] = {
        "operations": problem.num_operations,
        "machines": len(problem.machines),
        "published_by": how,
        "setup_seconds": round(setup_s, 2),
        "failed_machine": machine,
        "down": [start, until],
        "interrupted": res.interrupted,
        "frozen": len(res.frozen),
        "downstream_ops": len(cone),
        "greedy_published_after_s": round(stamps[0][1], 3),
        "greedy_core_s": res.greedy_seconds,
        "greedy_valid": valid,
        "validate_s": round(validate_s, 3),
        "greedy_kept_others": f"{g[0]}/{g[1]} = {g[0] / max(g[1], 1):.4f}",
        "greedy_kept_all": f"{g[2]}/{g[3]} = {g[2] / max(g[3], 1):.4f}",
        "greedy_reasons": greedy.diff.reasons(),
        "greedy_objective": greedy.objective,
        "kpis_before": greedy.diff.kpis_before,
        "kpis_greedy": greedy.diff.kpis_after,
        "became_late": len(greedy.diff.became_late),
        "relaxations": [r.detail for r in res.relaxations],
        "stranded": len(res.stranded),
        "publications": stamps,
        "solver_message": res.solver_message,
        "total_s": round(total_s, 2),
    }
    if len(res.publications) > 1:
        best = res.publications[-1]
        b = kept_share(best.schedule)
        figures.update(
            improved_objective=best.objective,
            improved_after_s=round(stamps[-1][1], 2),
            kpis_improved=dict(best.diff.kpis_after),
            improved_kept_others=f"{b[0]}/{b[1]} = {b[0] / max(b[1], 1):.4f}",
            improved_kept_all=f"{b[2]}/{b[3]} = {b[2] / max(b[3], 1):.4f}",
            improved_reasons_vs_greedy=diff(
                res.repair_problem, greedy.schedule, best.schedule, now=res.now
            ).reasons(),
            cpsat_rounds=res.rounds,
            cpsat_free_operations=res.neighbourhood,
        )
    extra = []
    for hours in [float(h) for h in args.also_hours.split(",") if h.strip()]:
        t_x = time.perf_counter()
        other = machine_down(problem, published, machine, start, until=start + int(hours * 60),
                             improve=False)  # fmt: skip
        elapsed = time.perf_counter() - t_x
        k = kept_share(other.schedule)
        extra.append(
            {
                "down_hours": hours,
                "greedy_s": round(elapsed, 3),
                "valid": not validate(other.problem, other.schedule),
                "kept_others": f"{k[0]}/{k[1]} = {k[0] / max(k[1], 1):.4f}",
                "kept_all": f"{k[2]}/{k[3]} = {k[2] / max(k[3], 1):.4f}",
                "reasons": other.diff.reasons(),
                "kpis": other.diff.kpis_after,
            }
        )
    if extra:
        figures["greedy_only_other_downtimes"] = extra
    text = json.dumps(figures, indent=2, default=str)
    print(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
