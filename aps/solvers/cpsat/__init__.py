"""Our CP-SAT model of the full problem.

Variables per operation: run start ``s``, run end ``e`` and, when setups exist, the
busy-from tick ``b``; per mode a presence literal and an optional interval on its
machine. Calendars: fixed intervals in the machine's NoOverlap, or, on machines that run
interruptible operations, one literal per (start period, end period) pair. Setups: a
circuit per machine with a setup matrix. Materials: one reservoir per material.

The package splits the backend: :mod:`.model` builds the variables, constraints and
objective terms, :mod:`.solve` runs it (hint, horizon, size guard, objective levels),
:mod:`.explain` names a conflicting set after INFEASIBLE, :mod:`.size` estimates a model
before it is built and :mod:`.runtime` holds what every CP-SAT backend shares.
"""
