"""Classic job shops: the tabu search kernel (:mod:`.tabu`) and the portfolio that runs it
in turns with CP-SAT (:mod:`.strategy`)."""

from aps.kernels import configure

configure()
