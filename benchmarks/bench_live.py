#!/usr/bin/env python
"""Live-plant latency benchmark (not a test): a real ``aps serve``, a breakdown, a clock.

For each plant size, against the embedded default (SQLite, in-process pool) on loopback:

1. ``PUT /v1/plant`` with a generated plant (``generate_plant(orders, seed)``) and
   ``time_limit`` T: seconds until its 202 (upload, compile in a child process, store),
   then until version 1 is published (the solve's time limit applies to this part).
2. A signed ``machine.down`` for the busiest machine, from a third of its published work
   for ``--down-hours``: seconds from sending the event until version 2 (the greedy
   repair) is published, polled every 20 ms. This includes the coalescing window
   (``APS_PLANT_COALESCE_SECONDS``, reported), the outbox, loading the plant and the
   repair itself.
3. Then, within ``reschedule_time_limit``: whether an ``improved`` version followed,
   when, and the weighted tardiness of each version (recomputed from the rows).

Every published version is validated against the problem it was published with.

    .venv/bin/python benchmarks/bench_live.py 450 1400 --time-limit 30 --reschedule 10
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from bench_service import APS, KEYS, SECRET, Procs, env_for, free_port, wait_ready
from standardwebhooks import Webhook

from aps import Problem, validate
from aps.factory.generate import generate_plant
from aps.kpi import term_values
from aps.model import ObjectiveTerm
from aps.result import ScheduledOperation

POLL = 0.02


def rows_of(body: dict[str, Any]) -> list[ScheduledOperation]:
    keys = ("job", "op", "machine", "start", "end", "setup_start")
    return [ScheduledOperation.model_validate({k: o[k] for k in keys}) for o in body["operations"]]


def version(client: httpx.Client, v: int) -> tuple[dict[str, Any], Problem, list[Any]]:
    body = client.get("/v1/plant/schedule", params={"version": v}).json()
    problem = Problem.model_validate_json(
        client.get("/v1/plant/problem", params={"version": v}).content
    )
    return body, problem, rows_of(body)


def wait_for(client: httpx.Client, version_at_least: int, timeout: float) -> float | None:
    """Seconds until the plant publishes ``version_at_least`` (None on timeout/failure)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        state = client.get("/v1/plant").json()
        if state.get("version", 0) >= version_at_least:
            return time.monotonic() - started
        if state.get("status") == "failed":
            raise RuntimeError(f"plant failed: {state.get('message')}")
        time.sleep(POLL)
    return None


def machine_down(problem: Problem, rows: list[Any], hours: float) -> dict[str, Any]:
    """A signed-event body: the busiest machine, down from a third of its published work."""
    assert problem.time is not None
    machine = Counter(str(r.machine) for r in rows).most_common(1)[0][0]
    mine = sorted((r for r in rows if str(r.machine) == machine), key=lambda r: r.start)
    tick = (mine[len(mine) // 3].start + mine[len(mine) // 3].end) // 2
    until = tick + round(hours * 3600 / problem.time.tick_seconds)

    def at(t: int) -> str:
        assert problem.time is not None
        return (problem.time.origin + timedelta(seconds=t * problem.time.tick_seconds)).isoformat()

    return {
        "type": "machine.down",
        "timestamp": at(tick),
        "data": {"machine": machine, "from": at(tick), "until": at(until)},
    }


def post_signed(client: httpx.Client, event: dict[str, Any]) -> httpx.Response:
    body = json.dumps(event)
    msg_id, now = f"msg_{uuid.uuid4().hex}", datetime.now(UTC)
    headers = {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(SECRET).sign(msg_id, now, body),
    }
    return client.post("/v1/webhooks/erp", content=body, headers=headers)


def tardiness(problem: Problem, rows: list[Any]) -> int:
    return round(term_values(problem, rows)[ObjectiveTerm.WEIGHTED_TARDINESS])


def one_plant(url: str, orders: int, args: argparse.Namespace) -> dict[str, Any]:
    generated = generate_plant(orders, args.seed, load=args.load, tightness=args.tightness)
    plant = generated.model_dump(mode="json")
    options = {"time_limit": args.time_limit, "reschedule_time_limit": args.reschedule,
               "workers": args.workers}  # fmt: skip
    headers = {"X-API-Key": KEYS["bench"]}
    with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
        before = client.get("/v1/plant").json().get("version", 0)
        put_sent = time.monotonic()
        put = client.put("/v1/plant", json={"plant": plant, "options": options})
        put.raise_for_status()
        accepted = time.monotonic()  # the 202: the plant is compiled and stored
        assert wait_for(client, before + 1, 10 * args.time_limit + 120) is not None
        first = time.monotonic() - accepted
        v1 = client.get("/v1/plant").json()["version"]
        _, problem1, rows1 = version(client, v1)
        assert validate(problem1, rows1) == [], "version 1 is invalid"
        event = machine_down(problem1, rows1, args.down_hours)
        sent = time.monotonic()
        answer = post_signed(client, event)
        assert answer.status_code == 202, answer.text
        assert wait_for(client, v1 + 1, 120) is not None, "no repair published"
        repair = time.monotonic() - sent
        body2, problem2, rows2 = version(client, v1 + 1)
        assert validate(problem2, rows2) == [], "the repair is invalid"
        # the improvement, if any, within the reschedule limit (plus a little to see it)
        deadline = sent + args.reschedule + 5
        improved: float | None = None
        while time.monotonic() < deadline:
            state = client.get("/v1/plant").json()
            if state["version"] > v1 + 1:
                improved = time.monotonic() - sent
                break
            if state["pending_events"] == 0 and not state["running"]:
                break
            time.sleep(0.1)
        last = client.get("/v1/plant").json()["version"]
        body3, problem3, rows3 = version(client, last)
        assert validate(problem3, rows3) == [], "the last version is invalid"
        return {
            "orders": orders,
            "operations": problem1.num_operations,
            "time_limit": args.time_limit,
            "put_s": round(accepted - put_sent, 2),
            "first_published_s": round(first, 2),
            "repair_published_s": round(repair, 2),
            "repair_phase": body2["phase"],
            "improved_published_s": None if improved is None else round(improved, 2),
            "last_phase": body3["phase"],
            "wt_before": tardiness(problem1, rows1),
            "wt_repair": tardiness(problem2, rows2),
            "wt_last": tardiness(problem3, rows3),
        }


def markdown(rows: list[dict[str, Any]], coalesce: str) -> str:
    head = ("| orders | operations | `PUT /v1/plant` (s) | then version 1 (s, limit) | "
            "`machine.down` to repair (s) | improved version (s) | weighted tardiness: v1 / "
            "repair / last |")  # fmt: skip
    lines = [head, "| " + " | ".join(["---"] * 7) + " |"]
    for r in rows:
        improved = "none" if r["improved_published_s"] is None else r["improved_published_s"]
        lines.append(
            f"| {r['orders']} | {r['operations']:,} | {r['put_s']} | {r['first_published_s']} "
            f"({r['time_limit']:g}) | {r['repair_published_s']} | {improved} | "
            f"{r['wt_before']:,} / {r['wt_repair']:,} / {r['wt_last']:,} |"
        )
    lines.append(f"\nCoalescing window `APS_PLANT_COALESCE_SECONDS` = {coalesce} s.")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("orders", type=int, nargs="+", help="plant sizes (orders)")
    ap.add_argument("--time-limit", type=float, default=30.0)
    ap.add_argument("--reschedule", type=float, default=10.0, help="reschedule_time_limit")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--down-hours", type=float, default=8.0)
    ap.add_argument("--load", type=float, help="a loaded plant: bottleneck utilisation")
    ap.add_argument("--tightness", type=float, help="a loaded plant: due-date tightness")
    ap.add_argument("--coalesce", default="0.5", help="APS_PLANT_COALESCE_SECONDS")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        procs = Procs(Path(tmp))
        port = free_port()
        env = env_for(f"sqlite:///{tmp}/aps.db", None, APS_PLANT_COALESCE_SECONDS=args.coalesce,
                      APS_MAX_TIME_LIMIT=str(max(60.0, args.time_limit)))  # fmt: skip
        api = procs.start("api", [APS, "serve", "--port", str(port), "--log-level", "warning"],
                          env)  # fmt: skip
        try:
            wait_ready(f"http://127.0.0.1:{port}", api)
            results = []
            for orders in args.orders:
                got = one_plant(f"http://127.0.0.1:{port}", orders, args)
                print(json.dumps(got), flush=True)
                results.append(got)
        finally:
            procs.stop_all()
    print(markdown(results, args.coalesce))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
