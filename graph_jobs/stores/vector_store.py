"""Qdrant vector store: one collection of per-file vectors, local directory or server.

``QDRANT_URL`` unset → qdrant-client's local mode in ``PHAROS_DATA_DIR/qdrant``;
set → that server or Qdrant Cloud (with ``QDRANT_API_KEY``). The code is the same.

Point ids are UUID5 of (repository, file path), so re-ingesting a repository overwrites
its points; points of files that disappeared are deleted after the new ones are in.
Uploads go in batches (``PHAROS_QDRANT_BATCH_SIZE``, 100), each retried with exponential
backoff (``PHAROS_QDRANT_RETRIES``, 3 attempts) before the job fails with the reason.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import threading
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tenacity import RetryError, Retrying, stop_after_attempt, wait_exponential

from graph_jobs.errors import NotFound, VectorStoreError
from graph_jobs.settings import JobSettings

log = logging.getLogger(__name__)
POINT_NAMESPACE = uuid.UUID("6f1d7c1e-5a5e-4f0e-9d7a-7068617230fe")
_local_clients: dict[str, object] = {}
_local_lock = threading.Lock()


def point_id(repo_url: str, file_path: str) -> str:
    return str(uuid.uuid5(POINT_NAMESPACE, f"{repo_url}\0{file_path}"))


RELATED = "related"  # the Node2Vec vector (64-d, cosine): related files, one repository
ROLE = "role"  # the structural role vector (graph_jobs.roles, Euclidean): across repositories
ROLE_SPACE = "role_space"  # payload: which weights made the role vector (role_weights.space)
ROLE_ASK = "role_ask"  # payload: how a question asks with it (RoleModel.ask); none: as stored


@dataclass(slots=True)
class FilePoint:
    file_path: str
    language: str
    vector: Sequence[float]
    degree: int
    isolated: bool = False
    role: Sequence[float] | None = None
    facts: dict[str, int] | None = None  # what it declares (graph_jobs.roles.role_why)


@dataclass(slots=True)
class Neighbour:
    repo_url: str
    file_path: str
    language: str
    score: float
    degree: int
    why: list[str] = field(default_factory=list)  # role answers: what made it similar


def _client(settings: JobSettings):
    from qdrant_client import QdrantClient

    if settings.qdrant_url:
        return QdrantClient(url=settings.qdrant_url, api_key=settings.qdrant_api_key or None,
                            timeout=30)
    # local mode takes a file lock on its directory: one client per path per process,
    # opened per lease so that other processes (console, CLI) take turns (local_qdrant)
    path = str(settings.qdrant_path)
    with _local_lock:
        client = _local_clients.get(path)
        if client is None:
            from graph_jobs.stores.local_qdrant import SharedLocalQdrant

            Path(path).mkdir(parents=True, exist_ok=True)
            client = SharedLocalQdrant(path)
            if not _local_clients:
                atexit.register(close_local_clients)
            _local_clients[path] = client
        return client


def close_local_clients() -> None:
    with _local_lock:
        for c in _local_clients.values():
            with contextlib.suppress(Exception):
                c.close()
        _local_clients.clear()


class VectorStore:
    def __init__(self, settings: JobSettings, client=None, dim: int = 64) -> None:
        self.settings = settings
        self.collection = settings.qdrant_collection
        self.batch_size = settings.qdrant_batch_size
        self.retries = settings.qdrant_retries
        self.dim = dim
        self.client = client if client is not None else _client(settings)
        self._ready = False
        self.retry_wait = wait_exponential(multiplier=0.5, min=0.5, max=8)

    @property
    def location(self) -> str:
        return self.settings.qdrant_url or str(self.settings.qdrant_path)

    # --- plumbing --------------------------------------------------------------------
    def _retry(self, what: str, fn: Callable[[], object]):
        try:
            for attempt in Retrying(stop=stop_after_attempt(self.retries), wait=self.retry_wait,
                                    reraise=False):
                with attempt:
                    return fn()
        except RetryError as exc:
            last = exc.last_attempt.exception()
            raise VectorStoreError(
                f"Qdrant {what} failed after {self.retries} attempts at {self.location}: "
                f"{type(last).__name__}: {last}"
            ) from last

    def _named_config(self):
        from qdrant_client import models

        from graph_jobs.roles.role_features import DIM

        return {RELATED: models.VectorParams(size=self.dim, distance=models.Distance.COSINE),
                ROLE: models.VectorParams(size=DIM, distance=models.Distance.EUCLID)}

    def ensure_collection(self) -> None:
        """Create the collection (named vectors ``related`` and ``role``), or migrate one
        made before the role vector (a single unnamed vector): see :meth:`_migrate`."""
        if self._ready:
            return
        from qdrant_client import models

        def make():
            spare = f"{self.collection}__migrating"
            if not self.client.collection_exists(self.collection):
                self.client.create_collection(self.collection,
                                              vectors_config=self._named_config())
                if self.client.collection_exists(spare):  # a migration stopped half-way
                    self._copy(spare, self.collection, rename_unnamed=False)
                    self.client.delete_collection(spare)
            elif not isinstance(self.client.get_collection(self.collection)
                                .config.params.vectors, dict):
                self._migrate(spare)
            with warnings.catch_warnings():  # local mode: indexes are a no-op, it warns
                warnings.simplefilter("ignore")
                for field in ("repo_url", "file_path", ROLE_SPACE):
                    self.client.create_payload_index(self.collection, field,
                                                     models.PayloadSchemaType.KEYWORD)
                self.client.create_payload_index(self.collection, "isolated",
                                                 models.PayloadSchemaType.BOOL)

        self._retry("create collection", make)
        self._ready = True

    def _migrate(self, spare: str) -> None:
        """A collection of the single unnamed vector (before the role vector): copy every
        point into ``spare`` with its vector named ``related``, recreate the collection
        with both named vectors, copy back, drop ``spare``. Old points keep answering
        related-file questions; a re-ingest adds their role vector. If the process stops
        between the drop and the copy back, the next start finishes from ``spare``."""
        log.warning("Qdrant collection %s predates role vectors: migrating it to named "
                    "vectors (%s, %s)", self.collection, RELATED, ROLE)
        if self.client.collection_exists(spare):
            self.client.delete_collection(spare)
        self.client.create_collection(spare, vectors_config=self._named_config())
        self._copy(self.collection, spare, rename_unnamed=True)
        self.client.delete_collection(self.collection)
        self.client.create_collection(self.collection, vectors_config=self._named_config())
        self._copy(spare, self.collection, rename_unnamed=False)
        self.client.delete_collection(spare)

    def _copy(self, src: str, dst: str, *, rename_unnamed: bool) -> None:
        from qdrant_client import models

        offset = None
        while True:
            page, offset = self.client.scroll(src, limit=500, offset=offset, with_vectors=True,
                                              with_payload=True)
            if page:
                self.client.upsert(dst, wait=True, points=[
                    models.PointStruct(id=r.id, payload=r.payload,
                                       vector={RELATED: r.vector} if rename_unnamed
                                       else r.vector) for r in page])
            if offset is None:
                return

    def ping(self) -> None:
        self.client.get_collections()

    # --- writes ----------------------------------------------------------------------
    def upsert_repository(self, repo_url: str, commit: str | None, job_id: str,
                          points: Iterable[FilePoint],
                          progress: Callable[[float], None] | None = None) -> int:
        """Write every file's point in batches; then delete the repository's stale points."""
        from qdrant_client import models

        from graph_jobs.roles.role_weights import model as role_model
        from graph_jobs.roles.role_weights import space as role_space

        self.ensure_collection()
        points = list(points)
        ask = role_model().ask() if any(p.role is not None for p in points) else None
        pts = [
            models.PointStruct(
                id=point_id(repo_url, p.file_path),
                vector={RELATED: [float(x) for x in p.vector],
                        **({ROLE: [float(x) for x in p.role]} if p.role is not None else {})},
                payload={"repo_url": repo_url, "file_path": p.file_path,
                         "language": p.language, "commit": commit, "job_id": job_id,
                         "degree": int(p.degree), "isolated": bool(p.isolated),
                         **({"facts": p.facts} if p.facts else {}),
                         **({ROLE_SPACE: role_space()} if p.role is not None else {}),
                         **({ROLE_ASK: ask} if p.role is not None and ask else {})},
            )
            for p in points
        ]
        for start in range(0, len(pts), self.batch_size):
            batch = pts[start:start + self.batch_size]
            self._retry(f"upsert of batch {start // self.batch_size + 1}",
                        lambda b=batch: self.client.upsert(self.collection, points=b, wait=True))
            if progress:
                progress(min(1.0, (start + len(batch)) / max(1, len(pts))))
        # stale points: this repository's points not written by this job
        flt = models.Filter(
            must=[models.FieldCondition(key="repo_url", match=models.MatchValue(value=repo_url))],
            must_not=[models.FieldCondition(key="job_id", match=models.MatchValue(value=job_id))],
        )
        self._retry("delete of stale points", lambda: self.client.delete(
            self.collection, points_selector=models.FilterSelector(filter=flt), wait=True))
        return len(pts)

    def delete_repository(self, repo_url: str) -> None:
        from qdrant_client import models

        self.ensure_collection()
        flt = models.Filter(must=[models.FieldCondition(
            key="repo_url", match=models.MatchValue(value=repo_url))])
        self._retry("delete", lambda: self.client.delete(
            self.collection, points_selector=models.FilterSelector(filter=flt), wait=True))

    # --- reads -----------------------------------------------------------------------
    def repository_points(self, repo_url: str, with_vectors: bool = True,
                          vector: str = RELATED) -> list:
        """Every point of a repository; ``.vector`` is its ``vector`` (named) vector, or
        None where the point has none."""
        from qdrant_client import models

        self.ensure_collection()
        flt = models.Filter(must=[models.FieldCondition(
            key="repo_url", match=models.MatchValue(value=repo_url))])
        out, offset = [], None
        while True:
            page, offset = self.client.scroll(self.collection, scroll_filter=flt, limit=1000,
                                              offset=offset, with_vectors=with_vectors,
                                              with_payload=True)
            for r in page:
                if isinstance(r.vector, dict):
                    r.vector = r.vector.get(vector)
            out.extend(page)
            if offset is None:
                return out

    def repository_pages(self, repo_url: str, payload: Sequence[str], vector: str = RELATED,
                         page_size: int = 1000) -> Iterator[list]:
        """A repository's points a page at a time, each holding only its ``vector`` (named)
        vector as ``.vector`` and the ``payload`` keys asked for: for a reader that must
        not hold every point of a large repository at once (the ingress's map)."""
        offset = None
        while True:
            page, offset = self.repository_page(repo_url, payload, vector, offset, page_size)
            yield page
            if offset is None:
                return

    def repository_page(self, repo_url: str, payload: Sequence[str], vector: str = RELATED,
                        offset=None, limit: int = 1000) -> tuple[list, object]:
        """One page of :meth:`repository_pages` and the offset of the next (``None``: the
        last): what a caller across a process boundary pages with (a generator cannot
        cross a Ray call)."""
        from qdrant_client import models

        self.ensure_collection()
        flt = models.Filter(must=[models.FieldCondition(
            key="repo_url", match=models.MatchValue(value=repo_url))])
        page, nxt = self._retry("scroll", lambda: self.client.scroll(
            self.collection, scroll_filter=flt, limit=limit, offset=offset,
            with_vectors=[vector], with_payload=list(payload)))
        for r in page:
            if isinstance(r.vector, dict):
                r.vector = r.vector.get(vector)
        return page, nxt

    def similar(self, repo_url: str, file_path: str, k: int = 10,
                scope: str = "repo", include_isolated: bool = False,
                by: str = RELATED) -> list[Neighbour]:
        """The k files nearest to ``file_path`` of ``repo_url``.

        ``by="related"``: cosine of the Node2Vec vectors (meaningful within one
        repository). ``by="role"``: Euclidean distance of the role vectors, which mean the
        same in every repository; a vector stored with ``role_ask`` (the weights that
        made it say how to ask: :meth:`~graph_jobs.roles.role_weights.RoleModel.ask`,
        whatever weights this reader ships) is asked with it, so its nearest are the files
        likeliest to play the asked file's role, ordered and scored by that chance;
        otherwise ``score`` is ``1 / (1 + distance)``; each
        answer says what it shares with the file asked (``why``: :mod:`graph_jobs.roles.role_why`).
        ``scope="repo"`` searches that repository only, ``"all"`` every repository,
        ``"others"`` every other repository.
        Files with no edge (``isolated``: their Node2Vec vector is their directory's mean,
        not learned structure) are left out of related answers unless ``include_isolated``.
        Raises :class:`~graph_jobs.errors.NotFound` when the file has no such vector.
        """
        from qdrant_client import models

        self.ensure_collection()
        pid = point_id(repo_url, file_path)
        got = self.client.retrieve(self.collection, ids=[pid], with_vectors=[by],
                                   with_payload=by == ROLE)
        if not got:
            raise NotFound(f"no vector for {file_path!r} in {repo_url!r}")
        query = _named(got[0].vector or {}, by)
        if query is None:
            raise NotFound(f"no {by} vector for {file_path!r} in {repo_url!r}: it was "
                           "stored before role vectors; ingest the repository again")
        must, must_not = [], []
        same_repo = models.FieldCondition(key="repo_url", match=models.MatchValue(value=repo_url))
        if scope == "repo":
            must.append(same_repo)
        elif scope == "others":
            must_not.append(same_repo)
        asked = got[0].payload or {}
        ask = None  # how the weights that made the asked file's vector ask (its payload)
        if by == ROLE:  # only vectors made by the same weights compare
            from graph_jobs.roles.role_weights import ask_with, same_role_chance
            from graph_jobs.roles.role_why import why

            must.append(_same_role_space(models, asked.get(ROLE_SPACE), repo_url))
            ask = asked.get(ROLE_ASK)
            if ask:
                query = [float(x) for x in ask_with(query, ask)]
        if not include_isolated and by == RELATED:
            must_not.append(models.FieldCondition(key="isolated",
                                                  match=models.MatchValue(value=True)))
        flt = models.Filter(must=must or None, must_not=must_not or None) \
            if must or must_not else None
        res = self.client.query_points(self.collection, query=query, using=by, limit=k + 1,
                                       query_filter=flt, with_payload=True,
                                       with_vectors=[ROLE] if ask else False).points
        out = []
        for hit in res:
            if str(hit.id) == pid:
                continue
            pl = hit.payload or {}
            if by == RELATED:
                score = float(hit.score)
            elif ask:  # the model's chance of the same role
                score = same_role_chance(query, _named(hit.vector, ROLE), ask)
            else:
                score = 1.0 / (1.0 + float(hit.score))
            out.append(Neighbour(pl.get("repo_url", ""), pl.get("file_path", ""),
                                 pl.get("language", ""), score, int(pl.get("degree", 0))))
            if by == ROLE:
                out[-1].why = why(asked.get("facts"), pl.get("facts"),
                                  int(asked.get("degree", 0)), out[-1].degree)
        out = out[:k]  # the k nearest: the set bench/roles_bench.py judges
        if ask:
            # the structural tail separates files of equal chance, and shifts the order
            # a little beyond; shown best chance first, as the score says
            out.sort(key=lambda n: -n.score)
        return out

    def scores(self, repo_url: str, file_path: str, others: Iterable[str],
               include_isolated: bool = False) -> list[Neighbour]:
        """The cosine of ``file_path``'s vector with each of ``others`` (same repository):
        the files an exact tie names that the nearest-neighbour search did not return."""
        import numpy as np

        others = [o for o in dict.fromkeys(others) if o != file_path]
        if not others:
            return []
        self.ensure_collection()
        got = self.client.retrieve(self.collection, ids=[point_id(repo_url, file_path)],
                                   with_vectors=[RELATED])
        if not got:
            raise NotFound(f"no vector for {file_path!r} in {repo_url!r}")
        q = np.asarray(_named(got[0].vector, RELATED), dtype=np.float64)
        q /= np.linalg.norm(q) or 1.0
        pts = self.client.retrieve(self.collection, ids=[point_id(repo_url, o) for o in others],
                                   with_vectors=[RELATED], with_payload=True)
        out = []
        for pt in pts:
            pl = pt.payload or {}
            if pl.get("isolated") and not include_isolated:
                continue
            v = np.asarray(_named(pt.vector, RELATED), dtype=np.float64)
            out.append(Neighbour(pl.get("repo_url", ""), pl.get("file_path", ""),
                                 pl.get("language", ""),
                                 float(q @ v / (np.linalg.norm(v) or 1.0)),
                                 int(pl.get("degree", 0))))
        return out


def _named(vector, name: str):
    return vector.get(name) if isinstance(vector, dict) else vector


def _same_role_space(models, asked: str | None, repo_url: str):
    """The filter of a role search: the role vectors made by the weights that made the
    asked file's (vectors stored before spaces were recorded form one space of their own).
    A file asked from an older space gets a warning: its answers are the repositories
    ingested with those weights, and a re-ingest moves it to the shipped ones."""
    from graph_jobs.roles.role_weights import space

    if asked is None:
        log.warning("%s's role vectors were stored before their weights were recorded: "
                    "ingest it again to compare it with repositories ingested since", repo_url)
        return models.IsEmptyCondition(is_empty=models.PayloadField(key=ROLE_SPACE))
    if asked != space():
        log.warning("%s's role vectors were made by other role weights (%s, shipped: %s): "
                    "ingest it again to compare it with repositories ingested since",
                    repo_url, asked, space())
    return models.FieldCondition(key=ROLE_SPACE, match=models.MatchValue(value=asked))
