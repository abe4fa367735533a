"""What the ingress talks to, opened lazily (importing the app connects to nothing).

The stores are handed to the routes behind :class:`GuardedStore`: a database or a Qdrant
that cannot be reached becomes the store's own error (``StoreError``, a 503 with
``Retry-After``), never a raw driver exception and a 500 with a traceback (issue 25).

The ingress only reads the database. With ``PHAROS_AUTO_MIGRATE`` on (the default), the
schema is brought up to date before the first read as before, but in a short-lived child
interpreter (:func:`migrate_in_child`): Alembic, Mako and Pygments, ~10 MB once imported,
never load into the long-lived ingress.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from contextlib import contextmanager
from types import GeneratorType

from graph_jobs.errors import MetadataStoreError, StoreError, VectorStoreError
from serve_app.ingress_settings import IngressSettings

log = logging.getLogger("pharos.ingress")


def _unreachable_database(exc: BaseException) -> bool:
    from sqlalchemy.exc import TimeoutError as PoolTimeout  # loaded with the store

    from graph_jobs.stores.metadata_store import is_transient

    return is_transient(exc) or isinstance(exc, PoolTimeout | ConnectionError)


def _unreachable_qdrant(exc: BaseException) -> bool:
    try:
        from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse
    except ImportError:  # a store of another kind (a Ray actor's proxy in tests)
        return isinstance(exc, ConnectionError | TimeoutError)
    if isinstance(exc, UnexpectedResponse):
        return exc.status_code >= 500
    import httpx

    return isinstance(exc, ResponseHandlingException | httpx.TransportError | ConnectionError
                      | TimeoutError)


MIGRATE = ("import sys\n"
           "from graph_jobs.stores.metadata_store import MetadataStore\n"
           "MetadataStore(sys.stdin.read()).dispose()\n")


def migrate_in_child(url: str, timeout_s: float = 300) -> None:
    """What ``MetadataStore(url)`` does first (``alembic upgrade head``, retried on
    transient errors), run in a child interpreter with this one's import path. The URL
    goes on stdin, not the command line (which other users can read). Failure:
    :class:`MetadataStoreError` with the child's last line."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    try:
        done = subprocess.run([sys.executable, "-c", MIGRATE], input=url, text=True,
                              capture_output=True, env=env, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise MetadataStoreError(f"migrate: not done after {timeout_s:.0f} s") from exc
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit code {done.returncode}"]
        raise MetadataStoreError(f"migrate: {lines[-1]}")


class GuardedStore:
    """``store``'s methods, with "cannot reach the server" raised as ``error`` (a
    ``StoreError``); everything else (``NotFound``, a bug) passes unchanged. A method that
    returns a generator (``repository_pages``) is guarded while it is iterated too."""

    def __init__(self, store, error: type[StoreError],
                 unreachable: Callable[[BaseException], bool]) -> None:
        self._store, self._error, self._unreachable = store, error, unreachable

    def __getattr__(self, name: str):
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr

        @contextmanager
        def translating():
            try:
                yield
            except StoreError:
                raise
            except Exception as exc:
                if not self._unreachable(exc):
                    raise
                raise self._error(f"{name}: {type(exc).__name__}: {exc}") from exc

        def pages(gen):
            with translating():
                yield from gen

        def guarded(*args, **kwargs):
            with translating():
                result = attr(*args, **kwargs)
            return pages(result) if isinstance(result, GeneratorType) else result

        return guarded


class IngressServices:
    def __init__(self, settings: IngressSettings, *, queue=None, metadata=None, vectors=None) -> None:
        self.settings = settings
        self._queue = queue
        self._metadata = metadata if metadata is None else GuardedStore(
            metadata, MetadataStoreError, _unreachable_database)
        self._vectors = vectors if vectors is None else GuardedStore(
            vectors, VectorStoreError, _unreachable_qdrant)
        self._lock = threading.Lock()
        self._probes: dict[str, Callable[[], None]] | None = None
        # stores handed in (tests) are checked through themselves
        self._given = {"database": metadata is not None, "qdrant": vectors is not None}

    @property
    def queue(self):
        with self._lock:
            if self._queue is None:
                from cluster.job_queue import JobQueue

                self._queue = JobQueue.from_settings(self.settings)
            return self._queue

    @property
    def metadata(self):
        with self._lock:
            if self._metadata is None:
                from graph_jobs.stores.metadata_store import MetadataStore

                url = self.settings.effective_database_url
                if self.settings.auto_migrate:
                    migrate_in_child(url)
                self._metadata = GuardedStore(MetadataStore(url, migrate=False),
                                              MetadataStoreError, _unreachable_database)
            return self._metadata

    @property
    def vectors(self):
        with self._lock:
            if self._vectors is None:
                from graph_jobs.stores.vector_store import VectorStore

                self._vectors = GuardedStore(VectorStore(self.settings), VectorStoreError,
                                             _unreachable_qdrant)
            return self._vectors

    def probes(self) -> dict[str, Callable[[], None]]:
        """One check per service; the light ones of serve_app.health_probes where they apply."""
        with self._lock:
            if self._probes is None:
                from serve_app import health_probes as hp

                s = self.settings
                self._probes = {
                    "redis": lambda: self.queue.t.ping(),
                    "database": (lambda: self.metadata.ping()) if self._given["database"]
                    else hp.database_probe(s.effective_database_url,
                                           lambda: self.metadata.ping()),
                    "qdrant": (lambda: self.vectors.ping()) if self._given["qdrant"]
                    else hp.qdrant_probe(s.qdrant_url, s.qdrant_api_key,
                                         lambda: self.vectors.ping()),
                }
            return self._probes

    def check(self) -> dict[str, str]:
        """Ping each service: 'connected' or 'error: <exception type>'. Anyone may call
        /health, so the answer names no address (the messages of the drivers hold the
        host, port or URL): the whole message goes to the log."""
        out = {}
        for name, fn in self.probes().items():
            try:
                fn()
                out[name] = "connected"
            except Exception as exc:  # report, never raise: this is the health check
                out[name] = f"error: {type(exc).__name__}"
                log.warning("health: %s is down: %s: %s", name, type(exc).__name__,
                            str(exc)[:300])
        return out
