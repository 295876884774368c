"""Alembic environment: the URL comes from the config or APS_DATABASE_URL.

On PostgreSQL an advisory lock serialises concurrent upgrades (API and workers start
together in compose).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

from jobs.settings import Settings
from jobs.tables import Base

config = context.config
target_metadata = Base.metadata
MIGRATION_LOCK = 7_341_219_004  # arbitrary constant for pg_advisory_lock


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or Settings().database_url


def run_migrations_offline() -> None:
    context.configure(
        url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        is_pg = connection.dialect.name == "postgresql"
        if is_pg:
            connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK})
            connection.commit()
        try:
            context.configure(
                connection=connection, target_metadata=target_metadata, render_as_batch=True
            )
            with context.begin_transaction():
                context.run_migrations()
        finally:
            if is_pg:
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK})
                connection.commit()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
