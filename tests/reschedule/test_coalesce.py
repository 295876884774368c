"""Bursts of shop-floor events coalesce into one reschedule."""

from __future__ import annotations

from aps.reschedule.events import Coalescer, MachineDown, MachineUp, OperationProgress, coalesce


def test_down_then_up_becomes_one_bounded_downtime() -> None:
    """Tests that a down and a later up of the same machine merge; duplicates drop."""
    events = [
        MachineDown(machine="A", start=10),
        MachineDown(machine="A", start=10),  # the MES sent it twice
        MachineDown(machine="B", start=12),
        MachineUp(machine="A", at=40),
    ]
    assert coalesce(events) == [
        MachineDown(machine="A", start=10, until=40),
        MachineDown(machine="B", start=12),
    ]


def test_up_without_a_down_in_the_burst_is_kept() -> None:
    """Tests that an up for a downtime reported earlier stays an event of its own."""
    assert coalesce([MachineUp(machine="A", at=5)]) == [MachineUp(machine="A", at=5)]


def test_latest_progress_per_operation_wins() -> None:
    """Tests that only the latest progress report of an operation is kept."""
    started = OperationProgress(job="J", op="o", machine="A", start=3)
    done = OperationProgress(job="J", op="o", machine="A", start=3, end=9)
    assert coalesce([started, done]) == [done]


def test_coalescer_waits_for_a_quiet_period_or_max_wait() -> None:
    """Tests that the batch is ready after `quiet` seconds of silence or `max_wait` in all."""
    now = [0.0]
    c = Coalescer(quiet=2.0, max_wait=5.0, clock=lambda: now[0])
    assert not c.ready()
    c.add(MachineDown(machine="A", start=1))
    now[0] = 1.5
    c.add(MachineUp(machine="A", at=3))
    now[0] = 3.0
    assert not c.ready()  # 1.5 s since the last event
    now[0] = 3.6
    assert c.ready()
    assert c.take() == [MachineDown(machine="A", start=1, until=3)]
    assert not c.ready() and c.take() == []
    for k in range(6):  # a stream that never pauses is still answered after max_wait
        now[0] = 10.0 + k
        c.add(MachineDown(machine="B", start=k))
        if k < 5:
            assert not c.ready()
    assert c.ready()
