"""The plant model a production planner writes, and its compiler to ticks.

Planners think in orders with due dates, routings whose steps run on several machines
at different speeds, changeovers between product families, two-shift calendars with
weekends and maintenance, and components that must be in stock. :mod:`.model` holds that
model (pydantic v2, ISO 8601 datetimes *with* UTC offsets at every edge, ISO 8601
durations such as ``"PT1M30S"``), :mod:`.calendar` the shift calendars, :mod:`.compile`
the compiler to the solver's :class:`aps.Problem` in integer ticks (order ids become job
ids, routing operation ids become operation ids, so every result maps straight back)
and :mod:`.generate` seeded example plants.
"""
