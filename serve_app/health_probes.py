"""``/health``'s checks of the database and of a Qdrant server, without their big clients.

Render calls ``/health`` every few seconds. Checked through the stores, the first call
would load SQLAlchemy (~17 MB with the store's models) and qdrant-client (~29 MB) into
every ingress process and keep them there. Measured in the Ray Serve replica:
``bench/ingress_bench.py`` reports the memory after ``/health``. These probes ask the same
questions with what the ingress has loaded anyway:

- PostgreSQL: ``SELECT 1`` over one kept psycopg2 connection (reopened after a failure);
- a Qdrant server (``QDRANT_URL``): ``GET /collections`` with the API key, as
  ``QdrantClient.get_collections()`` does (port 6333 when the URL names none, as there).

Anything else (SQLite and Qdrant's local mode of the embedded default, another database
driver) goes through the stores, as before. Searching for similar files still loads
qdrant-client: only the health check is kept light.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

QDRANT_DEFAULT_PORT = 6333
TIMEOUT_S = 5.0


def postgres_dsn(url: str) -> str | None:
    """libpq URI for a SQLAlchemy PostgreSQL URL (``postgresql+psycopg2://`` too), else None."""
    scheme, sep, rest = url.partition("://")
    dialect, _, driver = scheme.partition("+")
    if not sep or dialect not in ("postgresql", "postgres") or driver not in ("", "psycopg2"):
        return None  # not PostgreSQL, or another driver: let SQLAlchemy speak it
    return f"postgresql://{rest}"


class PostgresProbe:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._conn = None
        self._lock = threading.Lock()

    def __call__(self) -> None:
        import psycopg2

        with self._lock:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = psycopg2.connect(self.dsn, connect_timeout=int(TIMEOUT_S))
                    self._conn.autocommit = True
                with self._conn.cursor() as cur:
                    cur.execute("SELECT 1")
                    cur.fetchone()
            except Exception:
                self.close()
                raise

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


def qdrant_collections_url(qdrant_url: str) -> str:
    parts = urlsplit(qdrant_url)
    netloc = parts.netloc
    if parts.port is None:
        netloc = f"{netloc}:{QDRANT_DEFAULT_PORT}"
    path = parts.path.rstrip("/") + "/collections"
    return urlunsplit((parts.scheme or "http", netloc, path, "", ""))


class QdrantProbe:
    def __init__(self, qdrant_url: str, api_key: str = "") -> None:
        import httpx

        self.url = qdrant_collections_url(qdrant_url)
        self._client = httpx.Client(timeout=TIMEOUT_S,
                                    headers={"api-key": api_key} if api_key else {})

    def __call__(self) -> None:
        r = self._client.get(self.url)
        if r.status_code != 200:
            raise RuntimeError(f"GET {self.url} answered {r.status_code}: {r.text[:120]}")


def database_probe(url: str, fallback: Callable[[], None]) -> Callable[[], None]:
    if (dsn := postgres_dsn(url)) is not None:
        return PostgresProbe(dsn)
    return fallback


def qdrant_probe(qdrant_url: str, api_key: str,
                 fallback: Callable[[], None]) -> Callable[[], None]:
    return QdrantProbe(qdrant_url, api_key) if qdrant_url else fallback
