"""Celery settings shared by the publisher (API/relay) and the workers.

They live here, not in ``worker/``, because the API publishes by task name without
importing the worker package, and both sides must agree on queues and the Redis
visibility timeout (the shortest value among clients wins).
"""

from __future__ import annotations

from typing import Any

from kombu import Exchange, Queue  # type: ignore[attr-defined]

from jobs.outbox import NOTIFY_TASK, QUEUES, ROUTES, SOLVE_QUEUE, Message
from jobs.settings import Settings


def _queue(name: str) -> Any:
    """A queue on its own direct exchange, so solve messages never reach ``notify``."""
    return Queue(name, Exchange(name, type="direct"), routing_key=name)  # type: ignore[no-untyped-call]


def celery_config(settings: Settings) -> dict[str, Any]:
    """At-least-once delivery: late acks, a lost worker's message redelivered, one message
    prefetched, soft and hard time limits, JSON only, declared queues."""
    transport = {"visibility_timeout": settings.visibility_timeout}
    return {
        "broker_url": settings.broker_url,
        "broker_transport_options": transport,
        "result_backend_transport_options": transport,
        "visibility_timeout": settings.visibility_timeout,
        "broker_connection_retry_on_startup": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_soft_time_limit": settings.max_time_limit + settings.soft_time_limit_margin,
        "task_time_limit": settings.hard_time_limit,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "worker_soft_shutdown_timeout": 30.0,
        "worker_max_memory_per_child": 2_000_000,  # KiB; CP-SAT memory can grow
        "task_ignore_result": True,
        "result_backend": None,
        "result_expires": 3600,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_create_missing_queues": False,
        "task_queues": tuple(_queue(name) for name in QUEUES),
        "task_default_queue": SOLVE_QUEUE,
        "task_default_exchange": SOLVE_QUEUE,
        "task_default_routing_key": SOLVE_QUEUE,
        "task_routes": {task: {"queue": queue} for task, queue in ROUTES.items()},
        "worker_hijack_root_logger": False,
        "broker_connection_timeout": 3.0,
    }


class CeleryPublisher:
    """Publishes solve messages by task name (job id only), with per-job time limits."""

    def __init__(self, settings: Settings) -> None:
        from celery import Celery

        self.app = Celery("aps-publisher")
        self.soft_margin = settings.soft_time_limit_margin
        self.hard_margin = settings.hard_time_limit_margin
        config = celery_config(settings)
        # Fail fast when Redis is down (kombu retries connecting forever by default): the
        # relay marks the row and tries again later, and keeps reaping meanwhile.
        config["broker_transport_options"] = {
            **config["broker_transport_options"],
            "max_retries": 1,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.5,
        }
        self.app.conf.update(config)

    def publish(self, message: Message) -> None:
        queue = ROUTES[message.task]  # a task without a route is a bug: KeyError
        if message.task == NOTIFY_TASK:
            self.app.send_task(
                NOTIFY_TASK,
                args=[message.payload],
                queue=queue,
                soft_time_limit=60.0,
                time_limit=90.0,
                retry=False,
            )
            return
        time_limit = float(message.payload.get("time_limit", 10.0))
        self.app.send_task(
            message.task,
            args=[message.job_id],
            queue=queue,
            soft_time_limit=time_limit + self.soft_margin,
            time_limit=time_limit + self.hard_margin,
            retry=False,
        )

    def close(self) -> None:
        self.app.close()


def queue_depth(settings: Settings) -> int | None:
    """Messages waiting in the Redis ``solve`` list (the one the reaper's lost-message
    check is about), or None without a reachable broker."""
    if not settings.broker_url:
        return None
    import redis

    client = redis.Redis.from_url(
        settings.broker_url, socket_timeout=1.0, socket_connect_timeout=1.0
    )
    try:
        return int(client.llen(SOLVE_QUEUE))
    except redis.RedisError:
        return None
    finally:
        client.close()


def broker_ping(settings: Settings) -> str | None:
    """None when the broker answers, else the reason (for /readyz)."""
    if not settings.broker_url:
        return None
    import redis

    client = redis.Redis.from_url(
        settings.broker_url, socket_timeout=1.0, socket_connect_timeout=1.0
    )
    try:
        client.ping()
        return None
    except redis.RedisError as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        client.close()
