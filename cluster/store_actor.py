"""One owner for a local Qdrant directory inside a Ray cluster.

qdrant-client's local mode locks its directory to one process. When ``QDRANT_URL`` is
unset (development), the pool starts this actor as the directory's only owner and the
workers (and an ingress connected to the same Ray cluster) write and read through it.
With ``QDRANT_URL`` set, everyone talks to the server directly and this is not used.
"""

from __future__ import annotations

import ray

from cluster.queue_settings import QueueSettings

STORE_ACTOR_NAME = "pharos-qdrant-local"


@ray.remote(num_cpus=0, max_restarts=-1)
class VectorStoreActor:
    def __init__(self, settings: QueueSettings) -> None:
        from graph_jobs.stores.vector_store import VectorStore

        self.vs = VectorStore(settings)

    def call(self, method: str, *args, **kwargs):
        kwargs.pop("progress", None)
        return getattr(self.vs, method)(*args, **kwargs)


class VectorStoreProxy:
    """The subset of ``VectorStore`` the pipeline and the ingress use, over a Ray handle."""

    holds_vectors = True  # the local directory's owner: readers hold a repository's vectors

    def __init__(self, handle) -> None:
        self.h = handle

    def _call(self, method: str, *args, **kwargs):
        return ray.get(self.h.call.remote(method, *args, **kwargs))

    def upsert_repository(self, repo_url, commit, job_id, points, progress=None) -> int:
        n = self._call("upsert_repository", repo_url, commit, job_id, list(points))
        if progress:
            progress(1.0)
        return n

    def similar(self, *args, **kwargs):
        return self._call("similar", *args, **kwargs)

    def scores(self, *args, **kwargs):
        return self._call("scores", *args, **kwargs)

    def repository_points(self, *args, **kwargs):
        return self._call("repository_points", *args, **kwargs)

    def repository_pages(self, repo_url, payload, vector="related", page_size: int = 1000):
        """``VectorStore.repository_pages`` a page a call (a generator cannot cross Ray)."""
        offset = None
        while True:
            page, offset = self._call("repository_page", repo_url, list(payload), vector,
                                      offset, page_size)
            yield page
            if offset is None:
                return

    def delete_repository(self, repo_url: str) -> None:
        self._call("delete_repository", repo_url)

    def ping(self) -> None:
        self._call("ping")


def local_store_actor(settings: QueueSettings):
    """Get or create the cluster's single owner of the local Qdrant directory."""
    return VectorStoreActor.options(name=STORE_ACTOR_NAME, get_if_exists=True,
                                    lifetime="detached").remote(settings)
