"""What the ingress talks to, opened lazily (importing the app connects to nothing)."""

from __future__ import annotations

import threading

from graph_jobs.settings import Settings


class IngressServices:
    def __init__(self, settings: Settings, *, queue=None, metadata=None, vectors=None) -> None:
        self.settings = settings
        self._queue, self._metadata, self._vectors = queue, metadata, vectors
        self._lock = threading.Lock()

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

    def check(self) -> dict[str, str]:
        """Ping each service; 'connected' or 'error: ...'."""
        out = {}
        for name, fn in (("redis", lambda: self.queue.t.ping()),
                         ("database", lambda: self.metadata.ping()),
                         ("qdrant", lambda: self.vectors.ping())):
            try:
                fn()
                out[name] = "connected"
            except Exception as exc:  # report, never raise: this is the health check
                out[name] = f"error: {type(exc).__name__}: {str(exc)[:200]}"
        return out
