"""The bucket plan: capacity, precedence, release and stock hold per bucket."""

from __future__ import annotations

from collections import defaultdict

from aps.factory.compile import compile_plant
from aps.factory.generate import generate_plant
from aps.model import Job, Machine, Material, Mode, Operation, Problem, Receipt
from aps.model import MaterialFlow as Flow
from aps.solvers.plan.buckets import bucket_ticks, make_plan


def _job(jid: str, durations: list[int], machines: list[str], due: int = 0, **kw: object) -> Job:
    ops = [
        Operation(id=f"o{i}", modes=[Mode(machine=m, duration=d) for m in machines])
        for i, d in enumerate(durations)
    ]
    return Job.model_validate({"id": jid, "operations": ops, "due": due, **kw})


def test_bucket_capacity_is_never_exceeded() -> None:
    # two machines, 7 jobs of 700 ticks, all due at once: a day (2 x 1440 ticks at 85 %)
    # holds three of them, so the plan must spread them over three days
    problem = Problem(
        machines=[Machine(id="a"), Machine(id="b")],
        jobs=[_job(f"j{k}", [700], ["a", "b"]) for k in range(7)],
    )
    plan = make_plan(problem, "day", time_limit=20)
    per_bucket: dict[int, int] = defaultdict(int)
    for b in plan.op_bucket.values():
        per_bucket[b] += 700
    for b, load in per_bucket.items():
        assert load <= 0.85 * 2 * 1440, (b, load, plan.summary())
    assert len(per_bucket) == 3
    assert plan.overload == 0


def test_successors_never_in_an_earlier_bucket_and_lags_add_buckets() -> None:
    ops = [
        Operation(id="cut", modes=[Mode(machine="a", duration=600)]),
        Operation(
            id="dry",
            modes=[Mode(machine="a", duration=60)],
            predecessors=[{"op": "cut", "min_lag": 3000}],  # two days of drying
        ),
        Operation(id="pack", modes=[Mode(machine="a", duration=60)]),
    ]
    problem = Problem(
        machines=[Machine(id="a")],
        jobs=[Job(id="j", operations=ops, due=0, release=1500)],
    )
    plan = make_plan(problem, "day", time_limit=10)
    cut, dry, pack = (plan.op_bucket[("j", o)] for o in ("cut", "dry", "pack"))
    assert plan.starts[cut] + plan.length > 1500  # not before the release's bucket
    assert dry >= cut + 2
    assert pack >= dry


def test_no_consumption_before_the_stock_arrives() -> None:
    # stock 0, 10 units arrive on day 3: the consumer may not be planned earlier
    problem = Problem(
        machines=[Machine(id="a")],
        jobs=[
            Job(
                id="j",
                operations=[
                    Operation(
                        id="o",
                        modes=[Mode(machine="a", duration=60)],
                        consumes=[Flow(material="m", quantity=10)],
                    )
                ],
                due=0,
            )
        ],
        materials=[Material(id="m", receipts=[Receipt(time=3 * 1440 + 100, quantity=10)])],
    )
    plan = make_plan(problem, "day", time_limit=10)
    assert plan.op_bucket[("j", "o")] == 3, plan.summary()
    assert plan.shortage == 0


def test_an_intermediate_made_and_used_in_one_bucket_is_no_shortage() -> None:
    # stock 0: the order's first operation makes the sub-assembly its second one uses,
    # the same morning; the plan may not count it as missing until the next day
    make = Operation(id="make", modes=[Mode(machine="a", duration=60)],
                     produces=[Flow(material="sub", quantity=5)])  # fmt: skip
    use = Operation(id="use", modes=[Mode(machine="b", duration=60)],
                    consumes=[Flow(material="sub", quantity=5)],
                    predecessors=[{"op": "make"}])  # fmt: skip
    problem = Problem(
        machines=[Machine(id="a"), Machine(id="b")],
        jobs=[Job(id="j", operations=[make, use], due=0)],
        materials=[Material(id="sub")],
    )
    plan = make_plan(problem, "day", time_limit=10)
    assert plan.op_bucket[("j", "make")] == plan.op_bucket[("j", "use")] == 0, plan.summary()
    assert plan.shortage == 0


def test_generated_plant_plan_keeps_precedence_and_capacity() -> None:
    problem = compile_plant(generate_plant(40, 2))
    plan = make_plan(problem, time_limit=20)
    assert bucket_ticks(problem, None) == ("day", 1440)
    for job in problem.jobs:
        for p, s, _ in job.predecessor_lags():
            bp = plan.op_bucket[(job.id, job.operations[p].id)]
            bs = plan.op_bucket[(job.id, job.operations[s].id)]
            assert bs >= bp, (job.id, p, s)
    for key, load in plan.load.items():
        assert load <= plan.capacity[key] + 1e-6, (key, load, plan.capacity[key])
    assert plan.overload == 0
