"""The worker process's database handle: one per process, reset after fork."""

from __future__ import annotations

from jobs.db import Database
from jobs.settings import get_settings

_db: Database | None = None


def database() -> Database:
    global _db
    if _db is None:
        _db = Database(get_settings().database_url)
    return _db


def reset_database() -> None:
    global _db
    _db = None
