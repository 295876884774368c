"""Seeded random small problems that exercise every feature, for the MILP/CP-SAT cross-check.

Seed ``n`` forces feature ``FEATURES[n % 11]`` and primary objective term
``TERMS[n % 6]`` (11 and 6 are coprime, so 66 consecutive seeds cover every pair); every
other feature is switched on with probability one half, so combinations appear too.
Problems stay small (at most 9 operations) so both exact solvers prove them quickly.
Due dates may be negative (orders already overdue at the plan start, as the factory
compiler produces them).
"""

from __future__ import annotations

import random
from typing import Any

from aps.model import ObjectiveTerm, Problem

FEATURES = (
    "modes",
    "windows",
    "interruptible",
    "setups",
    "lags",
    "dates",
    "materials",
    "horizon",
    "zero_length",
    "pinned",
    "stability",
)
TERMS = tuple(ObjectiveTerm)
FAMILIES = ("a", "b", "c")


def machines_of(modes: list[dict[str, Any]], machines: list[dict[str, Any]]) -> list[Any]:
    """The machine record of each mode."""
    by_id = {m["id"]: m for m in machines}
    return [by_id[md["machine"]] for md in modes]


def random_problem(seed: int, size: int = 1) -> Problem:
    """The problem of ``seed``: same seed, same problem, on every machine and run.

    ``size`` scales the number of jobs and the operation budget (1: at most 9 operations;
    the exploratory ``--size 2`` run of the cross-check has at most 18).
    """
    rng = random.Random(seed)
    forced = FEATURES[seed % len(FEATURES)]
    on = {f for f in FEATURES if f == forced or rng.random() < 0.5}
    if forced != "horizon" and "horizon" in on and rng.random() < 0.6:
        on.discard("horizon")  # a tight horizon makes most problems infeasible
    n_machines = rng.randint(2, 3)
    machines: list[dict[str, Any]] = [{"id": f"M{i}"} for i in range(n_machines)]
    if "windows" in on or "interruptible" in on:
        for m in machines:
            windows = []
            for _ in range(rng.randint(0, 2)):
                start = rng.randint(1, 18)
                windows.append({"start": start, "end": start + rng.randint(1, 5)})
            m["unavailable"] = windows
        if not any(m["unavailable"] for m in machines):
            machines[0]["unavailable"] = [{"start": 3, "end": 6}]
    matrices: dict[str, Any] = {}
    if "setups" in on:
        matrices["S"] = {
            "changeover": {
                a: {b: rng.randint(0, 4) for b in FAMILIES if b != a and rng.random() < 0.8}
                for a in FAMILIES
            },
            "initial": {f: rng.randint(0, 3) for f in FAMILIES if rng.random() < 0.5},
        }
        for m in rng.sample(machines, rng.randint(1, n_machines)):
            m["setup_matrix"] = "S"

    n_jobs = rng.randint(2, 4) * size
    budget = 9 * size
    jobs: list[dict[str, Any]] = []
    for j in range(n_jobs):
        n_ops = min(rng.randint(1, 3), budget - (n_jobs - j - 1))
        budget -= n_ops
        ops = []
        for o in range(n_ops):
            k = rng.randint(1, 2) if "modes" in on else 1
            modes = [
                {
                    "machine": m["id"],
                    "duration": rng.randint(1, 6),
                    "setup": rng.choice((0, 0, 1, 2)) if "setups" in on else 0,
                }
                for m in rng.sample(machines, k)
            ]
            if "zero_length" in on:
                for md, m in zip(modes, machines_of(modes, machines), strict=True):
                    if rng.random() < 0.2 and (md["setup"] or "setup_matrix" not in m):
                        md["duration"] = 0  # a milestone; the MILP refuses it on setup machines
            op: dict[str, Any] = {"id": o, "modes": modes}
            if "interruptible" in on and rng.random() < 0.5:
                op["interruptible"] = True
            if "setups" in on and rng.random() < 0.3:
                op["family"] = rng.choice(FAMILIES)
            if "lags" in on and o > 0:
                preds = rng.sample(range(o), rng.randint(0, min(2, o)))
                lags = []
                for p in preds:
                    lo = rng.choice((-1, 0, 0, 1, 2, 3))
                    lag: dict[str, Any] = {"op": p, "min_lag": lo}
                    if rng.random() < 0.5:
                        lag["max_lag"] = lo + rng.randint(0, 3)
                    lags.append(lag)
                op["predecessors"] = lags
            ops.append(op)
        job: dict[str, Any] = {"id": f"J{j}", "operations": ops}
        if "setups" in on:
            job["family"] = rng.choice(FAMILIES)
        if "dates" in on:
            job["release"] = rng.randint(0, 6)
            job["weight"] = rng.randint(1, 4)
            if rng.random() < 0.3:
                work = sum(min(md["duration"] for md in op["modes"]) for op in ops)
                job["deadline"] = job["release"] + work + rng.randint(0, 20)
        if "dates" in on or rng.random() < 0.5:
            job["due"] = job.get("release", 0) + rng.randint(2, 15)
        if "dates" in on and rng.random() < 0.15:
            job["due"] = -rng.randint(1, 30)  # an order already overdue when the plan starts
        jobs.append(job)

    materials: list[dict[str, Any]] = []
    if "materials" in on:
        all_ops = [(job, op) for job in jobs for op in job["operations"]]
        for i in range(rng.randint(1, 2)):
            mid = f"R{i}"
            materials.append(
                {
                    "id": mid,
                    "initial": rng.randint(0, 2),
                    "receipts": [
                        {"time": rng.randint(0, 15), "quantity": rng.randint(1, 3)}
                        for _ in range(rng.randint(0, 2))
                    ],
                }
            )
            for _, op in rng.sample(all_ops, min(len(all_ops), rng.randint(1, 3))):
                op.setdefault("consumes", []).append(
                    {"material": mid, "quantity": rng.randint(1, 2)}
                )
            for _, op in rng.sample(all_ops, min(len(all_ops), rng.randint(0, 2))):
                op.setdefault("produces", []).append(
                    {"material": mid, "quantity": rng.randint(1, 2)}
                )
            need = sum(
                f["quantity"]
                for _, op in all_ops
                for f in op.get("consumes", ())
                if f["material"] == mid
            )
            have = materials[-1]["initial"] + sum(r["quantity"] for r in materials[-1]["receipts"])
            if have < need and rng.random() < 0.7:  # mostly feasible: timing is the puzzle
                extra = rng.randint(0, need - have)
                materials[-1]["initial"] += extra
                if need - have - extra > 0:
                    materials[-1]["receipts"].append(
                        {"time": rng.randint(0, 20), "quantity": need - have - extra}
                    )

    if "pinned" in on:
        busy: dict[str, list[tuple[int, int]]] = {}
        for job in rng.sample(jobs, rng.randint(1, min(2, len(jobs)))):
            first = job["operations"][0]
            md = rng.choice(first["modes"])
            start = rng.randint(0, 6)
            end = start + max(0, md["duration"] + rng.choice((0, 0, 1, -1)))
            setup_start = start - rng.choice((0, 0, 1, 2)) if start >= 2 else start
            if end == setup_start and "setup_matrix" in machines_of([md], machines)[0]:
                end += 1  # the MILP refuses zero-length blocks on setup-matrix machines
            lo = min(setup_start, start)
            if end > lo and any(a < end and lo < b for a, b in busy.get(md["machine"], [])):
                continue
            busy.setdefault(md["machine"], []).append((lo, end))
            pin: dict[str, Any] = {"machine": md["machine"], "start": start}
            if end != start + md["duration"]:
                pin["end"] = end
            if setup_start != start:
                pin["setup_start"] = setup_start
            first["fixed"] = pin

    primary = TERMS[seed % len(TERMS)]
    others = [t for t in TERMS if t != primary]
    terms = [primary, *rng.sample(others, rng.randint(0, 2))]
    kind = "lexicographic" if len(terms) > 1 and rng.random() < 0.4 else "weighted"
    data: dict[str, Any] = {
        "name": f"cross-{seed}",
        "machines": machines,
        "jobs": jobs,
        "materials": materials,
        "setup_matrices": matrices,
        "objective": {
            "kind": kind,
            "terms": [{"term": str(t), "weight": rng.randint(1, 3)} for t in terms],
        },
    }
    if "stability" in on or ObjectiveTerm.STABILITY in terms:
        refs = []
        for job in jobs:
            for op in job["operations"]:
                if rng.random() < 0.6:
                    refs.append(
                        {
                            "job": job["id"],
                            "op": op["id"],
                            "machine": rng.choice(machines)["id"],
                            "start": rng.randint(-3, 25),
                        }
                    )
        data["stability"] = {"reference": refs, "machine_change": rng.randint(0, 4)}
    if "horizon" in on:
        total = sum(
            min(md["duration"] for md in op["modes"]) for j in jobs for op in j["operations"]
        )
        data["horizon"] = max(4, total // n_machines + rng.randint(4, 20))
    return Problem.model_validate(data)
