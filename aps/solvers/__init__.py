"""Solver backends; each turns a :class:`~aps.model.Problem` into a :class:`~aps.result.Result`."""
