"""Readers and writers at the edge of the core (instance files, bounds, problem JSON)."""
