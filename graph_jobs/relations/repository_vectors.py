"""A repository's Node2Vec vectors held in the process, for the questions asked inside
one repository (``similar``, ``impact``).

Qdrant finds the nearest vectors of a repository through a payload filter
(``repo_url``). A Qdrant server answers it from its payload index; qdrant-client's
local mode (the embedded default) checks the filter in Python on every point of the
collection, every repository's, on every question: 60% of a ``similar`` answer on a
2,500-file repository (``bench/ranker_latency.py``). The repository's vectors are few
(64 numbers a file) and change only when it is ingested again, so they are read once per
stored job (one scroll, the same on either path) and each question is one matrix-vector
product: the same cosines Qdrant computes (the vectors stored unit length, as Qdrant's
cosine distance stores them), the same answers.

Questions across repositories (``scope`` other than the repository, role vectors) still
go to Qdrant: that is what its index is for.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from graph_jobs.errors import NotFound

MAX_HELD = 8  # repositories held per process (the least recently read one goes first)


@dataclass(slots=True)
class RepositoryVectors:
    paths: list[str]
    index: dict[str, int]
    unit: np.ndarray  # files x dim, float32, unit rows
    language: list[str]
    degree: list[int]
    isolated: np.ndarray  # bool per file

    @classmethod
    def read(cls, vectors, repo_url: str) -> RepositoryVectors:
        from graph_jobs.stores.vector_store import RELATED

        paths, rows, lang, deg, iso = [], [], [], [], []
        for page in vectors.repository_pages(
                repo_url, ("file_path", "language", "degree", "isolated"), RELATED):
            for pt in page:
                pl = pt.payload or {}
                if pt.vector is None or "file_path" not in pl:
                    continue
                paths.append(pl["file_path"])
                rows.append(pt.vector)
                lang.append(pl.get("language", ""))
                deg.append(int(pl.get("degree", 0)))
                iso.append(bool(pl.get("isolated")))
        unit = np.asarray(rows, dtype=np.float32).reshape(len(rows), -1)
        if len(unit):
            norm = np.linalg.norm(unit, axis=1, keepdims=True)
            unit = unit / np.where(norm > 0, norm, 1.0)
        return cls(paths, {p: i for i, p in enumerate(paths)}, unit, lang, deg,
                   np.asarray(iso, dtype=bool))

    def _query(self, repo_url: str, file_path: str) -> int:
        i = self.index.get(file_path)
        if i is None:
            raise NotFound(f"no vector for {file_path!r} in {repo_url!r}")
        return i

    def nearest(self, repo_url: str, file_path: str, k: int,
                include_isolated: bool = False) -> list[tuple[str, float, str, int]]:
        """The ``k`` files nearest to ``file_path`` by cosine, ``(path, cosine, language,
        degree)``, best first (equal cosines by path); as Qdrant's filtered search
        answers (:meth:`VectorStore.similar`, ``scope="repo"``)."""
        qi = self._query(repo_url, file_path)
        cos = self.unit @ self.unit[qi]
        ok = np.ones(len(cos), dtype=bool) if include_isolated else ~self.isolated
        ok[qi] = False
        idx = np.flatnonzero(ok)
        if len(idx) > k:
            part = np.argpartition(-cos[idx], k - 1)[:k]
            cut = cos[idx[part]].min()
            idx = idx[cos[idx] >= cut]  # every file tied with the k-th, then ordered
        order = sorted(idx.tolist(), key=lambda i: (-float(cos[i]), self.paths[i]))[:k]
        return [(self.paths[i], float(cos[i]), self.language[i], self.degree[i])
                for i in order]

    def scores(self, repo_url: str, file_path: str, others,
               include_isolated: bool = False) -> list[tuple[str, float, str, int]]:
        """The cosine of ``file_path`` with each of ``others`` that has a vector (as
        :meth:`VectorStore.scores`)."""
        qi = self._query(repo_url, file_path)
        q = self.unit[qi]
        out = []
        for o in dict.fromkeys(others):
            i = self.index.get(o)
            if i is None or i == qi or (self.isolated[i] and not include_isolated):
                continue
            out.append((o, float(self.unit[i] @ q), self.language[i], self.degree[i]))
        return out


_HELD: dict[tuple, RepositoryVectors] = {}
_LOCK = threading.Lock()


def repository_vectors(vectors, metadata, repo_url: str) -> RepositoryVectors | None:
    """``repo_url``'s vectors, read once per stored job (the key holds the job that wrote
    them, as :func:`ranker_features.import_graph`'s does); ``None`` without a metadata
    store to say which job that is, or when the repository is not stored."""
    if metadata is None:
        return None
    repo = metadata.repository(repo_url)
    if repo is None:
        return None
    key = (f"{getattr(vectors, 'location', id(vectors))}/{getattr(vectors, 'collection', '')}",
           str(getattr(metadata, "url", id(metadata))), repo_url,
           f"{repo.get('last_job_id')}:{repo.get('updated_at')}")
    with _LOCK:
        got = _HELD.pop(key, None)
        if got is not None:
            _HELD[key] = got  # the most recently read last
            return got
    got = RepositoryVectors.read(vectors, repo_url)
    with _LOCK:
        for k in [k for k in _HELD if k[:3] == key[:3]]:
            del _HELD[k]
        while len(_HELD) >= MAX_HELD:
            _HELD.pop(next(iter(_HELD)))
        _HELD[key] = got
    return got
