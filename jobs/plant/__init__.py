"""The live plant, persisted: its state, the webhook inbox, reschedule runs, callbacks.

Each tenant holds one plant: the current problem (after every repair, the *derived*
problem of :mod:`aps.reschedule`, whose metadata carries downtimes and calendars) and
a history of published schedules (``plant_schedules``, one row per version, each with
its diff against the previous version). What events mean is decided by the pure rules
of :mod:`aps.live`; this package stores them and runs the reschedules.

* :mod:`jobs.plant.options` - how a plant is solved, and the secrets of its inbound
  webhooks;
* :mod:`jobs.plant.store` - the queries: load or replace the plant, read its versions
  and inbox, accept events, ask for a run;
* :mod:`jobs.plant.runner` - a run: claim the plant, solve or reschedule until nothing is
  pending, recover runs whose worker died;
* :mod:`jobs.plant.publish` - a new version, published by compare-and-set, with its
  callbacks.

Why an inbox and a single runner per plant
------------------------------------------
Webhook events are validated and stored (``plant_events``, unique per ``webhook-id``) in
the request; they change nothing else. A *run* (Celery task ``aps.plant.run`` or the
embedded pool, staged through the outbox like solves) takes every pending event, applies
them to the problem in occurrence order and reschedules once: a burst of events within
``APS_PLANT_COALESCE_SECONDS`` is one reschedule (the core's
:func:`aps.reschedule.events.coalesce` merges the batch); a ``machine.down`` stages its run
without that delay (:data:`aps.live.events.URGENT`), and whatever else is pending joins
it (a run already staged or running picks it up). One run per plant holds a
lease (``APS_LEASE_SECONDS``, renewed by a heartbeat); publications are compare-and-set
on ``plants.state`` *and* the lease owner, in one UPDATE, so a plant replaced by
``PUT /v1/plant`` mid-run is never overwritten by a stale repair, nor a newer run's work
by a worker that lost its lease. The reaper (:func:`jobs.plant.runner.reap_plants`, in the
relay) retries a run whose worker died once its lease expires, and fails the pending
events after ``APS_MAX_ATTEMPTS`` lost runs in a row.

Out-of-order delivery: every event carries its occurrence time. A ``machine.down`` older
than the last repair's ``now`` re-opens what that repair only assumed had run (see
:func:`aps.reschedule.derive`); the staleness rules are :mod:`aps.live.normalize`'s.

Callbacks: each publication stages ``schedule.published`` and one ``order.late`` per
order late in the new version but not in the previous one (the diff's ``became_late``
compares both schedules against the *new* due dates, so a due date moved earlier would
not count); ``job.succeeded``/``job.failed`` for plant solves and ordinary jobs.
"""
