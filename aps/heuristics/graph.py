"""Precedence-graph orders of one job: topological orders and shortest tails."""

from __future__ import annotations

from collections import defaultdict

from aps.model import Job


def topological_order(job: Job) -> list[int]:
    """The job's operations in precedence order, those with a maximum lag last among equals
    (a greedy scheduler places a lagged predecessor as late as its successor allows)."""
    succ: dict[int, list[int]] = defaultdict(list)
    indeg = [0] * len(job.operations)
    for p, s, _ in job.predecessor_lags():
        succ[p].append(s)
        indeg[s] += 1
    stack = [i for i, d in enumerate(indeg) if d == 0]
    out: list[int] = []
    while stack:
        i = stack.pop()
        out.append(i)
        for s in succ[i]:
            indeg[s] -= 1
            if indeg[s] == 0:
                stack.append(s)
    return out


def shortest_tails(job: Job) -> list[int]:
    """Shortest processing from each operation's start to the job's end (no calendars)."""
    succ: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for p, s, lag in job.predecessor_lags():
        succ[p].append((s, lag.min_lag))
    tail = [0] * len(job.operations)
    for i in reversed(topological_order(job)):
        own = min(m.duration for m in job.operations[i].modes)
        tail[i] = own + max((lag + tail[s] for s, lag in succ[i]), default=0)
    return tail


def topological_order_late(job: Job) -> list[int]:
    """Topological order that defers operations with a max lag to their successor."""
    succ: dict[int, list[int]] = defaultdict(list)
    indeg = [0] * len(job.operations)
    has_max = set()
    for p, s, lag in job.predecessor_lags():
        succ[p].append(s)
        indeg[s] += 1
        if lag.max_lag is not None:
            has_max.add(p)
    ready = [i for i, d in enumerate(indeg) if d == 0]
    out: list[int] = []
    while ready:
        ready.sort(key=lambda i: (i in has_max, i))
        i = ready.pop(0)
        out.append(i)
        for s in succ[i]:
            indeg[s] -= 1
            if indeg[s] == 0:
                ready.append(s)
    return out
