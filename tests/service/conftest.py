"""Fixtures: service settings on a temp SQLite file or a PostgreSQL schema, and clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from jobs import migrate
from jobs.db import Database
from jobs.settings import Settings
from tests.service.support import API_KEYS, postgres_schema


def make_settings(database_url: str, **overrides: Any) -> Settings:
    """Fast leases and relay so tests see recovery within seconds."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "broker_url": None,
        "api_keys": API_KEYS,
        "lease_seconds": 3.0,
        "heartbeat_seconds": 0.5,
        "relay_interval_seconds": 0.05,
        "reaper_interval_seconds": 0.5,
        "max_time_limit": 60.0,
        "rate_limit_per_minute": 6000,
        "rate_limit_burst": 1000,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'aps.db'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The job store on both supported databases."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'aps.db'}"
    else:
        with postgres_schema() as url:
            yield url


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    migrate.upgrade(db_url)
    db = Database(db_url)
    yield db
    db.dispose()


ClientFactory = Callable[..., TestClient]


@pytest.fixture
def client_factory(sqlite_url: str) -> Iterator[ClientFactory]:
    """Build started TestClients (closed at teardown); kwargs override settings."""
    clients: list[TestClient] = []

    def make(
        *, background: bool = True, database_url: str | None = None, **overrides: Any
    ) -> TestClient:
        settings = make_settings(database_url or sqlite_url, **overrides)
        client = TestClient(create_app(settings, background=background))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in reversed(clients):
        client.__exit__(None, None, None)


@pytest.fixture
def client(client_factory: ClientFactory) -> TestClient:
    """Embedded mode: API plus in-process pool on SQLite."""
    return client_factory()


@pytest.fixture
def idle_client(client_factory: ClientFactory) -> TestClient:
    """The API without relay or pool: jobs stay queued (limits, auth, idempotency)."""
    return client_factory(background=False)


@pytest.fixture
def odd_client(client_factory: ClientFactory, db_url: str) -> TestClient:
    """The API without relay or pool, on SQLite and on PostgreSQL."""
    return client_factory(background=False, database_url=db_url)
