"""``solver="auto"``: pick CP-SAT or the MILP per problem, and say why.

The rule (first match wins; the reason is recorded as ``parameters["auto_reason"]``,
the backend as ``parameters["auto_choice"]`` and in ``Result.solver``):

1. a classic job shop -> ``cpsat`` (the specialised job-shop path; disjunctive big-M
   MILPs are known to be far weaker there);
2. the ``milp`` extra (Pyomo, highspy) is not installed, or a feature the MILP refuses
   (:func:`aps.solvers.milp.check_supported`) -> ``cpsat``;
3. more than :data:`MAX_MILP_OPERATIONS` operations, or an estimated MILP with more than
   :data:`MAX_MILP_BINARIES` binaries -> ``cpsat`` (big-M LP bounds degrade quickly with
   size; CP-SAT's propagation and LNS scale far better);
4. otherwise (small problems) -> ``milp``: HiGHS proves these optimal in well under a
   second and its LP bound is a second, independent certificate.

The thresholds come from the cross-check suite (``tests/milp``): on its small problems
both backends prove optimality quickly; the MILP's solve time grows with the number of
binaries, roughly with the square of the operations per machine.
"""

from __future__ import annotations

from importlib.util import find_spec

from aps.model import Id, Problem

#: Above this many operations the MILP is not chosen.
MAX_MILP_OPERATIONS = 12
#: Above this many (estimated) binaries the MILP is not chosen.
MAX_MILP_BINARIES = 400


def estimated_binaries(problem: Problem) -> int:
    """A cheap upper estimate of the MILP's binaries (no model is built)."""
    per_machine: dict[Id, int] = {}
    count = 0
    for job in problem.jobs:
        for op in job.operations:
            if len(op.modes) > 1:
                count += len(op.modes)
            for md in op.modes:
                per_machine[md.machine] = per_machine.get(md.machine, 0) + 1
    machines = {m.id: m for m in problem.machines}
    for mid, n in per_machine.items():
        machine = machines[mid]
        if machine.setup_matrix is not None:
            count += n * n + n  # arcs plus first/last
        else:
            count += n * (n - 1) // 2
        count += n * (len(machine.unavailable) + 1)  # period choices (spans counted once)
    consumers = [
        flow.material for job in problem.jobs for op in job.operations for flow in op.consumes
    ]
    producers = [
        flow.material for job in problem.jobs for op in job.operations for flow in op.produces
    ]
    for mat in problem.materials:
        c = consumers.count(mat.id)
        count += c * (c - 1 + producers.count(mat.id) + len(mat.receipts))
    count += 2 * len(problem.jobs)  # late-job indicators, generously
    return count


def choose(problem: Problem) -> tuple[str, str]:
    """Return ``(backend, reason)`` for ``problem`` following the module's rule."""
    from aps.solvers.milp import check_supported

    if problem.is_job_shop():
        return "cpsat", "classic job shop"
    if find_spec("pyomo") is None or find_spec("highspy") is None:
        return "cpsat", "the milp extra (pyomo, highspy) is not installed"
    try:
        check_supported(problem)
    except ValueError as exc:
        return "cpsat", f"milp refuses the problem: {exc}"
    n = problem.num_operations
    if n > MAX_MILP_OPERATIONS:
        return "cpsat", f"{n} operations > {MAX_MILP_OPERATIONS}"
    b = estimated_binaries(problem)
    if b > MAX_MILP_BINARIES:
        return "cpsat", f"about {b} MILP binaries > {MAX_MILP_BINARIES}"
    return "milp", f"small problem: {n} operations, about {b} MILP binaries"
