"""Minimal-disruption rescheduling after machine failures.

A published schedule is wrong the moment a machine breaks.
:func:`~aps.reschedule.repair.reschedule` turns the problem, the published schedule and
the shop-floor events into a *derived* problem and repairs the schedule in two phases:

1. a greedy right-shift repair (:mod:`aps.heuristics.repair`), valid and published at
   once (``on_publish``), then
2. CP-SAT warm-started from it, minimising ``efficiency_weight`` x the problem's own
   (weighted) objective plus the ``stability`` term against the published schedule;
   published when it is strictly better.

Each publication carries a :class:`~aps.reschedule.diff.ScheduleDiff` against the previous one.

The derived problem
-------------------
* Downtime: each ``machine.down`` adds an unavailable window ``[start, until)`` to the
  machine (open-ended: up to the horizon, or past any schedule that does not use the
  machine); ``machine.up`` ends it early (or cancels one that had not begun).
* ``now`` (default: the latest event tick) adds a window ``[0, now)`` to *every*
  machine, so nothing unpinned starts or sets up in the past; pinned operations may sit
  in windows (they are facts).
* Frozen: an operation whose setup or run started before ``now`` is pinned at its actual
  times (``Operation.fixed``) unless a downtime of its machine starts inside its run
  (interrupted), it was on a down machine when it should have started (it never did), or
  a job predecessor or a stock producer it depends on is not done (it cannot have
  started either). ``operation.progress`` events give actual times and override the
  published ones.
* Interrupted operations *restart* (the partial run is lost, all modes stay open) or
  *resume*: the part that ran is pinned on the failed machine and ends at the failure,
  and a new operation ``"<op>~rest"`` carries the remaining work (the remaining ticks on
  the same machine, without a new fixed setup, or a full restart on an alternative
  machine), the products and the successors; the consumption stays with the part that
  ran. A restart moves the whole operation, its consumption included (scrap of the
  first attempt is not modelled). By default interruptible operations resume and the others restart
  (``resume=`` overrides it per operation).
* Late events: a pin made from the published plan (no progress report) is *assumed*
  and listed in the metadata (``assumed``). A later event older than that repair's
  ``now`` (a ``machine.down`` reported late) classifies assumed pins again like
  unpinned operations: work the breakdown prevented, and what depends on it, is freed
  or interrupted; a resumed split it contradicts becomes one operation again. Reported
  progress and pins of the input are facts and stay.
* What the breakdown made impossible is relaxed and reported: a deadline the greedy
  repair misses, the horizon, a maximum lag after an operation that is already done.

All state needed to apply later events (the calendars before any downtime, the
downtimes, the remainders) travels in ``problem.metadata["aps.reschedule"]``: pass
``result.problem`` and ``result.schedule`` to the next call.

Why a weighted objective and not a lexicographic one: lexicographic [original, stability]
accepts moving hundreds of operations for one tick of tardiness, which is exactly the
nervousness a repair must avoid; [stability, original] forbids every improvement beyond
the greedy repair. A weight states the exchange rate ("one tick of the objective is worth
``efficiency_weight`` ticks of total start deviation") and the whole time budget goes to
one search (the core splits it between lexicographic levels). A lexicographic problem
objective is kept lexicographic with stability appended as the last level.
"""
