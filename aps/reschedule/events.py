"""Shop-floor events the rescheduler applies (machine down/up, operation progress),
and the coalescing of a burst of them into one reschedule."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from aps.model import (
    Id,
    MaterialFlow,
)


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MachineDown(_Event):
    """The MES reports a breakdown: ``machine`` is down from ``start`` until ``until``."""

    kind: Literal["machine.down"] = "machine.down"
    machine: Id
    start: int
    until: int | None = None

    @property
    def time(self) -> int:
        return self.start


class MachineUp(_Event):
    """``machine`` works again from ``at`` (ends or cancels its downtime)."""

    kind: Literal["machine.up"] = "machine.up"
    machine: Id
    at: int

    @property
    def time(self) -> int:
        return self.at


class OperationProgress(_Event):
    """Actual progress of an operation: started (``end`` None) or completed.

    ``remaining`` is the work left on a running operation (ticks) and ``produced`` the
    actual output of a completed one (replaces the planned quantities: yield and scrap).
    """

    kind: Literal["operation.progress"] = "operation.progress"
    job: Id
    op: Id
    machine: Id
    start: int
    end: int | None = None
    setup_start: int | None = None
    remaining: int | None = Field(default=None, ge=0)
    produced: list[MaterialFlow] | None = None

    @property
    def time(self) -> int:
        return self.start if self.end is None else self.end


class Coalescer:
    """Collects a burst of events into one reschedule.

    The batch is ready when ``quiet`` seconds passed without a new event, or ``max_wait``
    seconds after its first event (a stream that never pauses still gets answers).
    ``clock`` is injectable for tests.
    """

    def __init__(
        self,
        quiet: float = 2.0,
        max_wait: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.quiet = quiet
        self.max_wait = max_wait
        self.clock = clock
        self._events: list[MachineDown | MachineUp | OperationProgress] = []
        self._first: float | None = None
        self._last: float | None = None

    def add(self, event: MachineDown | MachineUp | OperationProgress) -> None:
        now = self.clock()
        if self._first is None:
            self._first = now
        self._last = now
        self._events.append(event)

    def ready(self) -> bool:
        if self._first is None or self._last is None:
            return False
        now = self.clock()
        return now - self._last >= self.quiet or now - self._first >= self.max_wait

    def take(self) -> list[MachineDown | MachineUp | OperationProgress]:
        """The coalesced batch (see :func:`coalesce`); empties the buffer."""
        out = coalesce(self._events)
        self._events, self._first, self._last = [], None, None
        return out


def coalesce(
    events: Iterable[MachineDown | MachineUp | OperationProgress],
) -> list[MachineDown | MachineUp | OperationProgress]:
    """One equivalent event list: duplicates dropped, a down followed by an up on the same
    machine becomes one bounded downtime, the latest progress per operation kept."""
    out: list[MachineDown | MachineUp | OperationProgress] = []
    seen: set[str] = set()
    for ev in sorted(events, key=lambda e: (e.time, e.kind)):
        tag = ev.model_dump_json()
        if tag in seen:
            continue
        seen.add(tag)
        if isinstance(ev, MachineUp):
            for i in range(len(out) - 1, -1, -1):
                d = out[i]
                if (
                    isinstance(d, MachineDown)
                    and d.machine == ev.machine
                    and d.start < ev.at
                    and (d.until is None or d.until > ev.at)
                ):
                    out[i] = d.model_copy(update={"until": ev.at})
                    break
            else:
                out.append(ev)
        elif isinstance(ev, OperationProgress):
            out = [
                e for e in out
                if not (isinstance(e, OperationProgress) and (e.job, e.op) == (ev.job, ev.op))
            ]  # fmt: skip
            out.append(ev)
        else:
            out.append(ev)
    return out


Event = Annotated[MachineDown | MachineUp | OperationProgress, Field(discriminator="kind")]
