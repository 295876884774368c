"""A :class:`~aps.model.Problem` as flat integer arrays, for the compiled schedulers.

The constructive schedulers and the local search run in numba, which wants arrays, not
pydantic objects. :class:`PlantArrays` holds every hard constraint of the problem that
they honour: modes (machine, duration, fixed setup), precedences with minimum and
maximum lags, releases, due dates, deadlines and weights, machine calendars, family
changeovers, material flows and receipts, pinned operations and the stability
reference. Operations are numbered in problem order (job by job), modes in operation
order; ragged lists are CSR pairs (``*_ptr`` with one entry more than rows).

Sentinels: :data:`NONE` for "no due date" or "no such tick", :data:`FAR` for "no
deadline", "no maximum lag" and "no horizon".
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit
from numba.experimental import structref
from numpy.typing import NDArray

from aps.heuristics.structs import KernelStruct, KernelStructType, define
from aps.model import Id, ObjectiveTerm, Problem
from aps.result import ScheduledOperation

I64 = NDArray[np.int64]

#: past every tick a problem may use (ticks are bounded to +-2**40)
FAR = 1 << 62
#: "no value" (no due date, not pinned, not yet placed)
NONE = -(1 << 62)
#: the objective terms in the order the kernels report them
TERMS = (
    ObjectiveTerm.MAKESPAN,
    ObjectiveTerm.WEIGHTED_TARDINESS,
    ObjectiveTerm.LATE_JOBS,
    ObjectiveTerm.FLOW_TIME,
    ObjectiveTerm.SETUP_TIME,
    ObjectiveTerm.STABILITY,
)


class PlantArrays(KernelStruct):
    """The problem in arrays (see the module docstring for the conventions).

    A :class:`~aps.heuristics.structs.KernelStruct`: one pointer in compiled code, plain
    attributes in Python.
    """

    op_job: I64
    op_family: I64  # -1: no family
    op_interruptible: I64
    op_fixed_mode: I64  # the pinned mode's index, -1 when not pinned
    op_fixed_busy: I64
    op_fixed_start: I64
    op_fixed_end: I64
    mode_ptr: I64
    mode_machine: I64
    mode_duration: I64
    mode_setup: I64
    pred_ptr: I64
    pred_op: I64
    pred_min: I64
    pred_max: I64  # FAR: no maximum lag
    succ_ptr: I64
    succ_op: I64
    cons_ptr: I64
    cons_mat: I64
    cons_qty: I64
    prod_ptr: I64
    prod_mat: I64
    prod_qty: I64
    job_ptr: I64  # the job's operations are job_ptr[j] .. job_ptr[j + 1] - 1
    job_release: I64
    job_due: I64  # NONE: no due date
    job_deadline: I64  # FAR: no deadline
    job_weight: I64
    cal_ptr: I64
    cal_start: I64
    cal_end: I64
    machine_matrix: I64  # -1: no setup matrix
    machine_setup_off: I64  # 1: setups may run while the machine is unavailable
    n_families: int
    changeover: I64  # [matrix, from family, to family], flattened
    initial: I64  # [matrix, to family], flattened
    mat_initial: I64
    rec_ptr: I64
    rec_time: I64
    rec_qty: I64
    stock_ptr: I64  # room for every stock event of a material in the scratch arrays
    maker_ptr: I64  # the operations producing each material: maker_op[maker_ptr[m]:...]
    maker_op: I64
    ref_start: I64  # stability reference start, NONE when not referenced
    ref_mode: I64  # the referenced machine's mode index, -1 when not eligible
    machine_change: int
    horizon: int  # FAR: none


@structref.register
class PlantArraysType(KernelStructType):
    """Numba's type of :class:`PlantArrays`."""


define(PlantArrays, PlantArraysType)


@njit(cache=True)
def _build(*values: Any) -> PlantArrays:
    return PlantArrays(*values)


PlantArrays.BUILD = _build


def _arr(values: list[int]) -> I64:
    return np.asarray(values, dtype=np.int64)


def _ptr(counts: list[int]) -> I64:
    return np.concatenate(([0], np.cumsum(np.asarray(counts, dtype=np.int64)))).astype(np.int64)


def build_arrays(problem: Problem) -> PlantArrays:
    """Flatten ``problem`` (linear in its size; no pairwise structures)."""
    machine_index = problem.machine_index()
    material_index = {m.id: i for i, m in enumerate(problem.materials)}
    families = _families(problem)
    ops = _operations(problem, machine_index, families)
    lags = _lags(problem)
    flows = _flows(problem, material_index)
    jobs = _jobs(problem)
    calendars = _calendars(problem)
    setups = _setups(problem, families)
    stock = _stock(problem, flows)
    reference = _reference(problem, machine_index, ops["mode_ptr"], ops["mode_machine"])
    return PlantArrays(
        **ops,
        **lags,
        **flows,
        **jobs,
        **calendars,
        **setups,
        **stock,
        **reference,
        horizon=problem.horizon if problem.horizon is not None else FAR,
    )


def _families(problem: Problem) -> dict[str, int]:
    names: dict[str, int] = {}
    for job in problem.jobs:
        for op in job.operations:
            family = op.family if op.family is not None else job.family
            if family is not None and family not in names:
                names[family] = len(names)
    for mx in problem.setup_matrices.values():
        for name in [*mx.changeover, *(b for row in mx.changeover.values() for b in row)]:
            names.setdefault(name, len(names))
        for name in mx.initial:
            names.setdefault(name, len(names))
    return names


def _operations(
    problem: Problem, machine_index: dict[Id, int], families: dict[str, int]
) -> dict[str, Any]:
    job: list[int] = []
    family: list[int] = []
    interruptible: list[int] = []
    counts: list[int] = []
    fixed_mode: list[int] = []
    fixed_busy: list[int] = []
    fixed_start: list[int] = []
    fixed_end: list[int] = []
    machine: list[int] = []
    duration: list[int] = []
    setup: list[int] = []
    for j, jb in enumerate(problem.jobs):
        for op in jb.operations:
            name = op.family if op.family is not None else jb.family
            job.append(j)
            family.append(families[name] if name is not None else -1)
            interruptible.append(int(op.interruptible))
            counts.append(len(op.modes))
            first = len(machine)
            for md in op.modes:
                machine.append(machine_index[md.machine])
                duration.append(md.duration)
                setup.append(md.setup)
            f = op.fixed
            if f is None:
                fixed_mode.append(-1)
                fixed_busy.append(NONE)
                fixed_start.append(NONE)
                fixed_end.append(NONE)
            else:
                k = next(i for i, md in enumerate(op.modes) if md.machine == f.machine)
                end = op.fixed_end()
                assert end is not None
                fixed_mode.append(first + k)
                fixed_busy.append(f.start if f.setup_start is None else f.setup_start)
                fixed_start.append(f.start)
                fixed_end.append(end)
    return {
        "op_job": _arr(job),
        "op_family": _arr(family),
        "op_interruptible": _arr(interruptible),
        "op_fixed_mode": _arr(fixed_mode),
        "op_fixed_busy": _arr(fixed_busy),
        "op_fixed_start": _arr(fixed_start),
        "op_fixed_end": _arr(fixed_end),
        "mode_ptr": _ptr(counts),
        "mode_machine": _arr(machine),
        "mode_duration": _arr(duration),
        "mode_setup": _arr(setup),
    }


def _lags(problem: Problem) -> dict[str, Any]:
    n = problem.num_operations
    preds: list[list[tuple[int, int, int]]] = [[] for _ in range(n)]
    succs: list[list[int]] = [[] for _ in range(n)]
    base = 0
    for job in problem.jobs:
        for p, s, lag in job.predecessor_lags():
            high = FAR if lag.max_lag is None else lag.max_lag
            preds[base + s].append((base + p, lag.min_lag, high))
            succs[base + p].append(base + s)
        base += len(job.operations)
    return {
        "pred_ptr": _ptr([len(x) for x in preds]),
        "pred_op": _arr([p for x in preds for p, _, _ in x]),
        "pred_min": _arr([lo for x in preds for _, lo, _ in x]),
        "pred_max": _arr([hi for x in preds for _, _, hi in x]),
        "succ_ptr": _ptr([len(x) for x in succs]),
        "succ_op": _arr([s for x in succs for s in x]),
    }


def _flows(problem: Problem, material_index: dict[Id, int]) -> dict[str, Any]:
    cons: list[list[tuple[int, int]]] = []
    prod: list[list[tuple[int, int]]] = []
    for job in problem.jobs:
        for op in job.operations:
            cons.append([(material_index[f.material], f.quantity) for f in op.consumes])
            prod.append([(material_index[f.material], f.quantity) for f in op.produces])
    return {
        "cons_ptr": _ptr([len(x) for x in cons]),
        "cons_mat": _arr([m for x in cons for m, _ in x]),
        "cons_qty": _arr([q for x in cons for _, q in x]),
        "prod_ptr": _ptr([len(x) for x in prod]),
        "prod_mat": _arr([m for x in prod for m, _ in x]),
        "prod_qty": _arr([q for x in prod for _, q in x]),
    }


def _jobs(problem: Problem) -> dict[str, Any]:
    return {
        "job_ptr": _ptr([len(j.operations) for j in problem.jobs]),
        "job_release": _arr([j.release for j in problem.jobs]),
        "job_due": _arr([NONE if j.due is None else j.due for j in problem.jobs]),
        "job_deadline": _arr([FAR if j.deadline is None else j.deadline for j in problem.jobs]),
        "job_weight": _arr([j.weight for j in problem.jobs]),
    }


def _calendars(problem: Problem) -> dict[str, Any]:
    return {
        "cal_ptr": _ptr([len(m.unavailable) for m in problem.machines]),
        "cal_start": _arr([w.start for m in problem.machines for w in m.unavailable]),
        "cal_end": _arr([w.end for m in problem.machines for w in m.unavailable]),
    }


def _setups(problem: Problem, families: dict[str, int]) -> dict[str, Any]:
    names = list(problem.setup_matrices)
    index = {name: i for i, name in enumerate(names)}
    f = max(1, len(families))
    changeover = np.zeros(len(names) * f * f, dtype=np.int64)
    initial = np.zeros(len(names) * f, dtype=np.int64)
    for k, name in enumerate(names):
        mx = problem.setup_matrices[name]
        for a, row in mx.changeover.items():
            for b, ticks in row.items():
                changeover[(k * f + families[a]) * f + families[b]] = ticks
        for b, ticks in mx.initial.items():
            initial[k * f + families[b]] = ticks
    return {
        "machine_matrix": _arr(
            [index[m.setup_matrix] if m.setup_matrix is not None else -1 for m in problem.machines]
        ),
        "machine_setup_off": _arr([int(m.off_shift_setup) for m in problem.machines]),
        "n_families": f,
        "changeover": changeover,
        "initial": initial,
    }


def _stock(problem: Problem, flows: dict[str, I64]) -> dict[str, Any]:
    mats = problem.materials
    room = [1 + len(m.receipts) for m in mats]
    for m in flows["cons_mat"]:
        room[int(m)] += 1
    for m in flows["prod_mat"]:
        room[int(m)] += 1
    makers: list[list[int]] = [[] for _ in mats]
    for i in range(len(flows["prod_ptr"]) - 1):
        for c in range(int(flows["prod_ptr"][i]), int(flows["prod_ptr"][i + 1])):
            makers[int(flows["prod_mat"][c])].append(i)
    return {
        "maker_ptr": _ptr([len(x) for x in makers]),
        "maker_op": _arr([i for x in makers for i in x]),
        "mat_initial": _arr([m.initial for m in mats]),
        "rec_ptr": _ptr([len(m.receipts) for m in mats]),
        "rec_time": _arr([r.time for m in mats for r in m.receipts]),
        "rec_qty": _arr([r.quantity for m in mats for r in m.receipts]),
        "stock_ptr": _ptr(room),
    }


def _reference(
    problem: Problem, machine_index: dict[Id, int], mode_ptr: I64, mode_machine: I64
) -> dict[str, Any]:
    n = problem.num_operations
    start = np.full(n, NONE, dtype=np.int64)
    mode = np.full(n, -1, dtype=np.int64)
    change = 0
    if problem.stability is not None:
        change = problem.stability.machine_change
        position = {}
        i = 0
        for job in problem.jobs:
            for op in job.operations:
                position[(job.id, op.id)] = i
                i += 1
        for ref in problem.stability.reference:
            i = position.get((ref.job, ref.op), -1)
            if i < 0:
                continue
            start[i] = ref.start
            m = machine_index.get(ref.machine, -1)
            for k in range(int(mode_ptr[i]), int(mode_ptr[i + 1])):
                if mode_machine[k] == m:
                    mode[i] = k
    return {"ref_start": start, "ref_mode": mode, "machine_change": change}


def operation_keys(problem: Problem) -> list[tuple[Id, Id]]:
    """(job id, operation id) of every operation, in array order."""
    return [(job.id, op.id) for job in problem.jobs for op in job.operations]


def to_schedule(
    problem: Problem, arrays: PlantArrays, mode: I64, busy: I64, start: I64, end: I64
) -> list[ScheduledOperation]:
    """The kernels' times as schedule rows (``setup_start`` only when a setup is run)."""
    machines = [m.id for m in problem.machines]
    rows = []
    for i, (job, op) in enumerate(operation_keys(problem)):
        b, s = int(busy[i]), int(start[i])
        rows.append(
            ScheduledOperation(
                job=job,
                op=op,
                machine=machines[int(arrays.mode_machine[mode[i]])],
                start=s,
                end=int(end[i]),
                setup_start=b if b < s else None,
            )
        )
    return rows


def from_schedule(
    problem: Problem, arrays: PlantArrays, schedule: list[ScheduledOperation]
) -> tuple[I64, I64]:
    """(list order by busy-from, mode per operation) of a schedule, for the decoder."""
    index = {key: i for i, key in enumerate(operation_keys(problem))}
    machine_index = problem.machine_index()
    n = len(index)
    mode = np.full(n, -1, dtype=np.int64)
    keyed = []
    for r in schedule:
        i = index[(r.job, r.op)]
        m = machine_index[r.machine]
        for k in range(int(arrays.mode_ptr[i]), int(arrays.mode_ptr[i + 1])):
            if arrays.mode_machine[k] == m:
                mode[i] = k
        keyed.append((r.busy_from, r.start, r.end, i))
    keyed.sort()
    order = _arr([i for _, _, _, i in keyed if arrays.op_fixed_mode[i] < 0])
    return order, mode
