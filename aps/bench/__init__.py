"""The benchmark harness behind ``aps bench`` (:mod:`.harness`) and its peers (:mod:`.peers`)."""
