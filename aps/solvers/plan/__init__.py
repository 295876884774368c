"""``solver="plan"``: a bucket plan (:mod:`.buckets`, a MILP), then CP-SAT window by window
(:mod:`.windows`)."""
