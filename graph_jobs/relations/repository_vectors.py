"""A repository's Node2Vec vectors held in the process, for the questions asked inside
one repository (``similar``, ``impact``).

Qdrant finds the nearest vectors of a repository through a payload filter
(``repo_url``). A Qdrant server answers it from its payload index; qdrant-client's
local mode (the embedded default) checks the filter in Python on every point of the
collection, every repository's, on every question: 60% of a ``similar`` answer on a
2,500-file repository (``bench/ranker_latency.py``). The repository's vectors are few
(64 numbers a file) and change only when it is ingested again, so they are read once per
stored job (one scroll) and each question is one matrix-vector product: the same
cosines Qdrant computes (the vectors stored unit length, as Qdrant's
cosine distance stores them), the same answers.

Only for the local directory (no ``QDRANT_URL``; through the Ray cluster's store actor
too, a page a call): a Qdrant server indexes the filter and is asked directly, and
nothing is held. Questions across repositories (``scope`` other than the repository, role
vectors) always go to Qdrant. A snapshot is kept only when every point was written by
the job the metadata store names (an ingest caught half-way, or a job whose metadata
write failed, is used once, never kept; Qdrant answers the next questions until the
stored row changes);
at most :data:`MAX_HELD` repositories of at most :data:`MAX_HELD_FILES` files each. Equal
cosines are ordered by path (Qdrant's order among them is its own).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from graph_jobs.errors import NotFound

MAX_HELD = 8  # repositories held per process (the least recently read one goes first)
MAX_HELD_FILES = 200_000  # a larger repository is searched by Qdrant, as before


@dataclass(slots=True)
class RepositoryVectors:
    paths: list[str]
    index: dict[str, int]
    unit: np.ndarray  # files x dim, float32, unit rows
    language: list[str]
    degree: list[int]
    isolated: np.ndarray  # bool per file

    @classmethod
    def read(cls, vectors, repo_url: str) -> tuple[RepositoryVectors, set[str]]:
        """The repository's vectors, and the jobs that wrote its points."""
        from graph_jobs.stores.vector_store import RELATED

        keys = ("file_path", "language", "degree", "isolated", "job_id")
        if hasattr(vectors, "repository_pages"):
            pages = vectors.repository_pages(repo_url, keys, RELATED)
        else:  # a store with no pages: one call
            pages = [vectors.repository_points(repo_url, with_vectors=True, vector=RELATED)]
        paths, blocks, lang, deg, iso, jobs = [], [], [], [], [], set()
        for page in pages:
            rows = []
            for pt in page:
                pl = pt.payload or {}
                if pt.vector is None or "file_path" not in pl:
                    continue
                paths.append(pl["file_path"])
                rows.append(pt.vector)
                lang.append(pl.get("language", ""))
                deg.append(int(pl.get("degree", 0)))
                iso.append(bool(pl.get("isolated")))
                jobs.add(pl.get("job_id"))
            if rows:  # one page of Python floats at a time, made unit length
                block = np.asarray(rows, dtype=np.float32)
                norm = np.linalg.norm(block, axis=1, keepdims=True)
                blocks.append(block / np.where(norm > 0, norm, 1.0))
        unit = np.concatenate(blocks) if blocks else np.zeros((0, 1), np.float32)
        return cls(paths, {p: i for i, p in enumerate(paths)}, unit, lang, deg,
                   np.asarray(iso, dtype=bool)), jobs

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
        if k <= 0:
            return []
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
_READING = [threading.Lock() for _ in range(16)]  # one reader per repository at a time
_MIXED: set[tuple] = set()  # keys whose points were not all the stored job's


def holds(vectors) -> bool:
    """Whether questions to ``vectors`` are answered from held vectors: a store that says
    it is the local directory (a :class:`VectorStore` without ``QDRANT_URL``, or the Ray
    cluster's proxy of one: ``holds_vectors``); a Qdrant server indexes the filter, and
    anything else is asked as it is."""
    said = getattr(vectors, "holds_vectors", None)
    if said is not None:
        return bool(said)
    settings = getattr(vectors, "settings", None)
    return settings is not None and not getattr(settings, "qdrant_url", None)


def repository_vectors(vectors, metadata, repo_url: str,
                       repo: dict | None = None) -> RepositoryVectors | None:
    """``repo_url``'s vectors, read once per stored job (the key holds the job that wrote
    them, as :func:`ranker_features.import_graph`'s does); ``None`` (ask Qdrant) with a
    Qdrant server, without a metadata store to say which job that is, when the
    repository is not stored, or above :data:`MAX_HELD_FILES` files. ``repo``: its stored
    row, when the caller has read it already."""
    if metadata is None or not holds(vectors):
        return None
    repo = repo if repo is not None else metadata.repository(repo_url)
    if repo is None or (repo.get("files") or 0) > MAX_HELD_FILES:
        return None
    where = (f"{getattr(vectors, 'location', '')}/{getattr(vectors, 'collection', '')}",
             str(getattr(metadata, "url", id(metadata))), repo_url)
    key = (*where, f"{repo.get('last_job_id')}:{repo.get('updated_at')}")
    with _LOCK:
        if key in _MIXED:
            return None
        got = _HELD.pop(key, None)
        if got is not None:
            _HELD[key] = got  # the most recently read last
            return got
    with _READING[hash(where) % len(_READING)]:  # a second asker waits for the first's read
        with _LOCK:
            if key in _MIXED:
                return None
            got = _HELD.get(key)
        if got is not None:
            return got
        got, jobs = RepositoryVectors.read(vectors, repo_url)
        if jobs != {repo.get("last_job_id")}:  # points of another job: not kept
            with _LOCK:
                if len(_MIXED) > 64:
                    _MIXED.clear()
                _MIXED.add(key)
            return got
        with _LOCK:
            for k in [k for k in _HELD if k[:3] == where]:
                del _HELD[k]
            while len(_HELD) >= MAX_HELD:
                _HELD.pop(next(iter(_HELD)))
            _HELD[key] = got
    return got
