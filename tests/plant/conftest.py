"""Fixtures: the service in embedded mode on a temp SQLite file, with inbound secrets."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from tests.plant.support import OLD_SECRET, SECRET
from tests.service.conftest import make_settings

ClientFactory = Callable[..., TestClient]


@pytest.fixture
def client_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ClientFactory]:
    """Started TestClients; ``APS_WEBHOOK_SECRETS`` holds two secrets (a rotation)."""
    monkeypatch.setenv("APS_WEBHOOK_SECRETS", f"{OLD_SECRET},{SECRET}")
    monkeypatch.setenv("APS_PLANT_COALESCE_SECONDS", "0.3")
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        url = overrides.pop("database_url", f"sqlite:///{tmp_path / 'aps.db'}")
        background = overrides.pop("background", True)  # False: no relay, no pool
        client = TestClient(create_app(make_settings(url, **overrides), background=background))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in reversed(clients):
        client.__exit__(None, None, None)


@pytest.fixture
def client(client_factory: ClientFactory) -> TestClient:
    return client_factory(allow_private_callbacks=True)
