"""Alembic environment: the URL comes from the caller (``run_migrations``) or the settings."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

from graph_jobs.stores.sql_engine import normalize_db_url
from graph_jobs.stores.sql_tables import Base

MIGRATION_LOCK_ID = 0x70686172  # "phar": one advisory lock for every Pharos process

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        from graph_jobs.settings import get_job_settings

        url = get_job_settings().effective_database_url
    return normalize_db_url(url)


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(_url(), poolclass=pool.NullPool)  # one-shot: nothing pooled
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                # Several actors start at once against one fresh database: the first
                # migrates, the others wait here and then find the schema at head.
                connection.execute(text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})"))
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
