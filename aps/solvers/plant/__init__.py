"""Plants (anything beyond the classic job shop): construction portfolio, one CP-SAT model
where it fits, local search (:mod:`.strategy`)."""
