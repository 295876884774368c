"""The live plant's rules: shop-floor and ERP events, checked and applied to a problem.

A live plant is a problem that keeps changing: machines break and come back, operations
start and finish, orders arrive, change and are cancelled, material is received and
calendars change. This package holds what those events *mean*, with no database and no
HTTP:

* :mod:`aps.live.events` - the inbound event types (one model per type), their strict
  parsing, and the *normalized* form each is stored in (ticks and ids);
* :mod:`aps.live.normalize` - checking an event against the plant and its history
  (unknown machines and orders, staleness of out-of-order delivery, re-quantified
  orders), one handler per event type;
* :mod:`aps.live.apply` - what a batch of normalized events does to the problem: order,
  material and calendar edits, and the machine and progress events the rescheduler
  (:mod:`aps.reschedule`) takes.

The service (``jobs.plant``) stores events and runs reschedules; it asks these modules
what to do.
"""
