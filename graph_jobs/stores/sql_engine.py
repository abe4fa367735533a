"""The SQL engine: URLs, connection pools, migrations and retries on transient errors.

SQLite file under ``PHAROS_DATA_DIR`` by default; Postgres (Neon) through
``DATABASE_URL`` / ``NEON_DATABASE_URL`` with psycopg2. ``postgres://`` URLs are
accepted; query parameters such as ``sslmode=require`` pass through to libpq.
``pool_pre_ping`` + ``pool_recycle`` let connections survive Neon scaling to zero and a
server restart. An operation that meets a connection error (the server away, restarting
or shutting down) is tried again with exponential backoff (:class:`SqlRetry`, like the
vector store), then raises :class:`MetadataStoreError`, which the queue retries.
The schema is owned by Alembic (``graph_jobs/stores/migrations``): ``pharos db upgrade``,
or on start-up when ``PHAROS_AUTO_MIGRATE`` is on.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from graph_jobs.errors import MetadataStoreError

MIGRATIONS = Path(__file__).with_name("migrations")
T = TypeVar("T")


def normalize_db_url(url: str) -> str:
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg2://" + url[len("postgresql://"):]
    return url


def _ensure_sqlite_dir(url: str) -> None:
    u = make_url(url)
    if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:":
        Path(u.database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def make_engine(url: str) -> Engine:
    url = normalize_db_url(url)
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        _ensure_sqlite_dir(url)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(conn, _):  # pragma: no cover - trivial
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    # Neon scales to zero and drops idle connections: test each checkout, recycle often.
    return create_engine(url, pool_pre_ping=True, pool_recycle=240, pool_size=5,
                         max_overflow=5, connect_args={"connect_timeout": 10})


def run_migrations(url: str, revision: str = "head") -> None:
    """``alembic upgrade head`` against ``url`` (also what ``pharos db upgrade`` runs)."""
    from alembic import command
    from alembic.config import Config

    url = normalize_db_url(url)
    _ensure_sqlite_dir(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["url"] = url
    try:
        command.upgrade(cfg, revision)
    except SQLAlchemyError as exc:
        raise MetadataStoreError(f"migrations failed on {make_url(url).render_as_string()}: "
                                 f"{exc.orig if hasattr(exc, 'orig') else exc}") from exc


def is_transient(exc: BaseException) -> bool:
    """A connection-level error that another attempt may not meet (server away,
    restarting, shutting down, a dropped connection); not a constraint or a bad query."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


class SqlRetry:
    """Runs an operation, tried again on transient errors; any failure comes out as
    :class:`MetadataStoreError` naming what failed and where."""

    def __init__(self, url: str, retries: int = 5, wait=None) -> None:
        self.url = url
        self.retries = max(1, retries)
        self.wait = wait or wait_exponential(multiplier=0.5, min=0.5, max=8)

    def __call__(self, what: str, fn: Callable[[], T]) -> T:
        def transient(exc: BaseException) -> bool:
            if isinstance(exc, MetadataStoreError):  # from run_migrations
                exc = exc.__cause__ or exc
            return is_transient(exc)

        try:
            for attempt in Retrying(stop=stop_after_attempt(self.retries), wait=self.wait,
                                    retry=retry_if_exception(transient), reraise=True):
                with attempt:
                    return fn()
        except MetadataStoreError:
            raise
        except SQLAlchemyError as exc:
            where = make_url(self.url).render_as_string()
            raise MetadataStoreError(f"{what} failed at {where}: {type(exc).__name__}: "
                                     f"{getattr(exc, 'orig', None) or exc}") from exc
        raise AssertionError("unreachable")  # pragma: no cover
