"""Pieces every CP-SAT backend shares: status mapping, progress and stop plumbing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

from ortools.sat.python import cp_model

from aps.result import Incumbent, SolveStatus

STATUS = {
    cp_model.OPTIMAL: SolveStatus.OPTIMAL,
    cp_model.FEASIBLE: SolveStatus.FEASIBLE,
    cp_model.INFEASIBLE: SolveStatus.INFEASIBLE,
    cp_model.MODEL_INVALID: SolveStatus.MODEL_INVALID,
    cp_model.UNKNOWN: SolveStatus.UNKNOWN,
}

SOLVER_VERSION = f"ortools {version('ortools')}"


class ProgressCallback(cp_model.CpSolverSolutionCallback):
    """Reports each improving incumbent and records them for the result."""

    def __init__(
        self,
        on_progress: Callable[[Incumbent], None] | None,
        offset: float = 0.0,
        started: float | None = None,
    ) -> None:
        super().__init__()
        self.on_progress = on_progress
        self.offset = offset
        self.started = time.monotonic() if started is None else started
        self.history: list[Incumbent] = []

    def on_solution_callback(self) -> None:
        inc = Incumbent(
            objective=float(self.objective_value) + self.offset,
            bound=float(self.best_objective_bound) + self.offset,
            elapsed=round(time.monotonic() - self.started, 4),
        )
        self.history.append(inc)
        if self.on_progress is not None:
            self.on_progress(inc)


def parameters(
    solver: cp_model.CpSolver, time_limit: float, workers: int, seed: int, **extra: Any
) -> dict[str, Any]:
    """Set the common parameters and return them as recorded in the result."""
    solver.parameters.max_time_in_seconds = float(time_limit)
    solver.parameters.num_workers = int(workers)
    solver.parameters.random_seed = int(seed)
    for key, value in extra.items():
        setattr(solver.parameters, key, value)
    return {
        "max_time_in_seconds": float(time_limit),
        "num_workers": int(workers),
        "random_seed": int(seed),
        **extra,
    }


class StopWatcher:
    """Stops a running CP-SAT search when ``event`` is set (cancel keeps the incumbent)."""

    def __init__(self, solver: cp_model.CpSolver, event: threading.Event | None) -> None:
        self.solver = solver
        self.event = event
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> StopWatcher:
        if self.event is not None:
            self._thread = threading.Thread(target=self._watch, daemon=True)
            self._thread.start()
        return self

    def _watch(self) -> None:
        assert self.event is not None
        while not self._done.is_set():
            if self.event.wait(0.05):
                # keep asking: a stop that lands before the search starts is ignored
                self.solver.stop_search()
                self._done.wait(0.05)

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()
