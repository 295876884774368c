"""``aps serve``, ``aps worker`` and ``aps apikey``: registered on the ``aps`` CLI through
the ``aps.commands`` entry point, so the core never imports the service."""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
import signal
import sys
import threading
from typing import Annotated, Any

import typer

from api.main import create_app
from api.service import Service
from jobs import migrate, repo
from jobs.broker import CeleryPublisher
from jobs.db import Database
from jobs.outbox import QUEUES
from jobs.relay import Relay
from jobs.settings import (
    DEV_API_KEY,
    Settings,
    get_settings,
    mask_secrets_in_logs,
    mask_url,
)


def _settings() -> Settings:
    from pydantic import ValidationError

    try:
        return get_settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "".join(f" APS_{str(part).upper()}" for part in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        typer.echo(f"aps: error: bad setting{where}: {message}", err=True)
        raise typer.Exit(2) from None


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    timeout_keep_alive: Annotated[
        int, typer.Option(help="Seconds an idle keep-alive connection stays open.")
    ] = 5,
    workers: Annotated[
        int | None,
        typer.Option(help="API processes (default APS_API_WORKERS; 1 in embedded mode)."),
    ] = None,
) -> None:
    """Run the API. Without APS_BROKER_URL it also solves, in an in-process pool."""
    import uvicorn

    settings = _settings()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    mask_secrets_in_logs()
    keys = settings.bootstrap_keys()
    dev = any(key == DEV_API_KEY for _, key in keys)
    if dev and not _loopback(host):
        typer.echo(
            f"aps: error: the development key {DEV_API_KEY} is only served on a loopback "
            f"address; set APS_API_KEYS (random keys, e.g. from `aps apikey create`) to "
            f"bind {host}",
            err=True,
        )
        raise typer.Exit(2)
    if not keys:
        typer.echo(
            "aps serve: APS_API_KEYS is not set: only keys made by `aps apikey create` work "
            "(the development key works only on the embedded SQLite default)",
            err=True,
        )
    processes = workers or settings.api_workers
    if settings.embedded and processes > 1:
        typer.echo("aps serve: embedded mode runs one API process (it also solves)", err=True)
        processes = 1
    mode = (
        "embedded: SQLite/DB + in-process worker pool, no broker"
        if settings.embedded
        else f"API only; solves go to Celery workers via {mask_url(settings.broker_url or '')}"
    )
    typer.echo(f"aps serve: {mode}; database {mask_url(settings.database_url)}", err=True)
    if dev:
        typer.echo(
            f"aps serve: development API key (tenant 'dev'): X-API-Key: {DEV_API_KEY} "
            "(set APS_API_KEYS for real keys)",
            err=True,
        )
    common: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "timeout_keep_alive": timeout_keep_alive,
        # SIGTERM: in-flight requests get this long, then the process exits regardless
        "timeout_graceful_shutdown": max(1, round(settings.shutdown_grace_seconds)),
    }
    if processes > 1:
        # migrate and install keys once, here; each process then builds its own app from
        # the same environment without racing the others to do it
        once = Service(settings, background=False)
        once.bootstrap()
        once.db.dispose()
        os.environ["APS_BOOTSTRAP"] = "false"
        uvicorn.run("api.main:create_app", factory=True, workers=processes, **common)
    else:
        uvicorn.run(create_app(settings), **common)


def worker(
    concurrency: Annotated[
        int | None, typer.Option(help="Pool processes (default APS_WORKER_CONCURRENCY).")
    ] = None,
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
    pool: Annotated[str, typer.Option(help="Celery pool: prefork or solo.")] = "prefork",
    hostname: Annotated[str | None, typer.Option(help="Worker node name.")] = None,
    queues: Annotated[
        str, typer.Option(help="Queues to consume: solve, plant, notify (comma-separated).")
    ] = ",".join(QUEUES),
) -> None:
    """Run a Celery worker that solves jobs from APS_BROKER_URL."""
    settings = _settings()
    if settings.embedded:
        typer.echo(
            "aps: error: APS_BROKER_URL is not set; `aps worker` needs a broker "
            "(e.g. redis://127.0.0.1:6379/0). `aps serve` alone solves in-process.",
            err=True,
        )
        raise typer.Exit(2)
    # Exec Celery's own CLI on the worker app by name: the API package never imports
    # the worker package, and the worker keeps this process's PID.
    argv = [
        sys.executable,
        "-m",
        "celery",
        "--app",
        "worker.celery_app",
        "worker",
        "--queues",
        queues,
        "--loglevel",
        loglevel,
        "--pool",
        pool,
        "--concurrency",
        str(concurrency or settings.worker_concurrency),
        "--without-gossip",
        "--without-mingle",
    ]
    if hostname:
        argv += ["--hostname", hostname]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)


def relay() -> None:
    """Run the outbox relay and the lease reaper (broker mode: its own process; run one
    or two, they cooperate by compare-and-set)."""
    settings = _settings()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    mask_secrets_in_logs()
    if settings.embedded:
        typer.echo(
            "aps: error: APS_BROKER_URL is not set; the embedded default relays inside `aps serve`",
            err=True,
        )
        raise typer.Exit(2)
    if settings.auto_migrate:
        migrate.upgrade(settings.database_url)
    db = Database(settings.database_url, pool_size=2, max_overflow=2)
    publisher = CeleryPublisher(settings)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    loop = Relay(db, settings, publisher.publish)
    loop.start()
    typer.echo(f"aps relay: publishing to {mask_url(settings.broker_url or '')}", err=True)
    stop.wait()
    loop.stop()
    publisher.close()
    db.dispose()


def migrate_command() -> None:
    """Upgrade the database to the latest schema (a one-shot deployment step)."""
    settings = _settings()
    migrate.upgrade(settings.database_url)
    typer.echo(f"aps migrate: {mask_url(settings.database_url)} is at the latest schema", err=True)


apikey_app = typer.Typer(help="Manage API keys (only hashes are stored).", no_args_is_help=True)


@apikey_app.command("create")
def apikey_create(
    tenant: Annotated[str, typer.Option(help="Tenant id (created if new).")],
    label: Annotated[str | None, typer.Option(help="A note to find the key later.")] = None,
) -> None:
    """Create a random key for a tenant and print it once."""

    settings = _settings()
    if settings.auto_migrate:
        migrate.upgrade(settings.database_url)
    key = "aps_" + secrets.token_urlsafe(32)
    db = Database(settings.database_url)
    with db.write() as session:
        repo.ensure_key(session, tenant, key, label=label)
    db.dispose()
    sys.stdout.write(key + "\n")


@apikey_app.command("revoke")
def apikey_revoke(key: Annotated[str, typer.Argument(help="The key to revoke.")]) -> None:
    """Revoke a key; requests with it get 401 from then on."""

    settings = _settings()
    db = Database(settings.database_url)
    with db.write() as session:
        found = repo.revoke_key(session, key)
    db.dispose()
    if not found:
        typer.echo("aps: error: no such live key", err=True)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Entry point ``aps.commands:service``."""
    app.command("serve")(serve)
    app.command("worker")(worker)
    app.command("relay")(relay)
    app.command("migrate")(migrate_command)
    app.add_typer(apikey_app, name="apikey")
