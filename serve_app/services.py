"""What the ingress talks to, opened lazily (importing the app connects to nothing)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from serve_app.ingress_settings import IngressSettings


class IngressServices:
    def __init__(self, settings: IngressSettings, *, queue=None, metadata=None, vectors=None) -> None:
        self.settings = settings
        self._queue, self._metadata, self._vectors = queue, metadata, vectors
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

                self._metadata = MetadataStore(self.settings.effective_database_url,
                                               migrate=self.settings.auto_migrate)
            return self._metadata

    @property
    def vectors(self):
        with self._lock:
            if self._vectors is None:
                from graph_jobs.stores.vector_store import VectorStore

                self._vectors = VectorStore(self.settings)
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
        """Ping each service; 'connected' or 'error: ...'."""
        out = {}
        for name, fn in self.probes().items():
            try:
                fn()
                out[name] = "connected"
            except Exception as exc:  # report, never raise: this is the health check
                out[name] = f"error: {type(exc).__name__}: {str(exc)[:200]}"
        return out
