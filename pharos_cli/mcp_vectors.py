"""A warm `pharos mcp`'s nearest related vectors of a repository, from memory.

qdrant-client's local mode (the embedded default's vector store) evaluates a search's
payload filter in Python, point by point, over every stored repository: about 60 ms of
each related-files question at 2,600 stored points here (bench/mcp_bench.py), and more
with every repository stored beside it. A long-lived server can do better: it keeps the
Node2Vec vectors of each repository it was asked about in one numpy matrix, and answers
``similar(scope="repo", by="related")`` from it the way the store does (cosine, best
first; the file itself, and isolated files unless asked for, left out). Every other call
goes to the store unchanged. A repository's matrix is rebuilt when its stored row says a
later job wrote it, so an ingest by this server or by `pharos ingest` is seen at once.

Only for the local directory: a Qdrant server indexes the filter, and is asked directly.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from graph_jobs.errors import NotFound
from graph_jobs.stores.vector_store import RELATED, Neighbour


@dataclass(frozen=True, slots=True)
class RepoMatrix:
    paths: list[str]
    languages: list[str]
    degrees: list[int]
    isolated: np.ndarray  # bool per row
    unit: np.ndarray  # float64, one unit-length related vector per row
    index: dict[str, int]

    @classmethod
    def of(cls, points: list) -> RepoMatrix:
        rows = [p for p in points if p.vector is not None]
        pl = [p.payload or {} for p in rows]
        vecs = np.asarray([p.vector for p in rows], dtype=np.float64)
        if not rows:
            vecs = np.zeros((0, 1))
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        paths = [x.get("file_path", "") for x in pl]
        return cls(paths, [x.get("language", "") for x in pl],
                   [int(x.get("degree", 0)) for x in pl],
                   np.asarray([bool(x.get("isolated")) for x in pl], dtype=bool),
                   vecs / np.where(norms > 0, norms, 1.0), {p: i for i, p in enumerate(paths)})


class MatrixCache:
    """The last ``size`` repositories' matrices, each tagged with the job that wrote it."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._by_repo: OrderedDict[str, tuple[tuple, RepoMatrix]] = OrderedDict()

    def get(self, store, metadata, repo_url: str) -> RepoMatrix | None:
        """None: the metadata store has no such repository (the store is asked instead)."""
        row = metadata.repository(repo_url)
        if row is None:
            return None
        tag = (row["last_job_id"], row["updated_at"], row["files"])
        with self._lock:
            got = self._by_repo.get(repo_url)
            if got is not None and got[0] == tag:
                self._by_repo.move_to_end(repo_url)
                return got[1]
        matrix = RepoMatrix.of(store.repository_points(repo_url, with_vectors=True,
                                                       vector=RELATED))
        with self._lock:
            self._by_repo[repo_url] = (tag, matrix)
            while len(self._by_repo) > self.size:
                self._by_repo.popitem(last=False)
        return matrix


class CachedVectors:
    """``store`` (a :class:`~graph_jobs.stores.vector_store.VectorStore`) with its
    related-files search within one repository answered from ``cache``."""

    def __init__(self, store, metadata, cache: MatrixCache) -> None:
        self._store, self._metadata, self._cache = store, metadata, cache

    def __getattr__(self, name: str):
        return getattr(self._store, name)

    def similar(self, repo_url: str, file_path: str, k: int = 10, scope: str = "repo",
                include_isolated: bool = False, by: str = RELATED) -> list[Neighbour]:
        if scope != "repo" or by != RELATED:
            return self._store.similar(repo_url, file_path, k, scope, include_isolated, by)
        m = self._cache.get(self._store, self._metadata, repo_url)
        if m is None:
            return self._store.similar(repo_url, file_path, k, scope, include_isolated, by)
        i = m.index.get(file_path)
        if i is None:
            raise NotFound(f"no vector for {file_path!r} in {repo_url!r}")
        scores = m.unit @ m.unit[i]
        keep = np.ones(len(m.paths), dtype=bool) if include_isolated else ~m.isolated
        keep[i] = False
        rows = np.flatnonzero(keep)
        best = rows[np.argsort(-scores[rows], kind="stable")[:k]]
        return [Neighbour(repo_url, m.paths[j], m.languages[j], float(scores[j]),
                          m.degrees[j]) for j in best]
