"""The whole job for one repository: acquire → graph → Node2Vec → store.

What ``pharos ingest`` runs in one process (embedded default) and what each GPU actor
runs for a task from the queue (edge mode): the same function.

- ``progress(stage, fraction)`` is called as stages advance; stages are ``clone``,
  ``graph``, ``embed``, ``store``. ``should_stop()`` is polled between stages and
  batches so a cancelled job stops early (raises :class:`JobCancelled`).
- The job's budget (:mod:`graph_jobs.job_budget`: ``PHAROS_JOB_TIMEOUT_S``,
  ``PHAROS_JOB_MEMORY_MB``, ``PHAROS_MAX_FILES``) is checked at the same places, and
  at every progress report before the store stage: past it the job fails
  (not retried) with the reason naming the setting. Once the store stage has begun it
  runs to its end, so that a repository's points and rows are never left half written.
- One file that cannot be read or parsed never fails the job: it is in ``skipped``.
- A temporary clone is always removed (``open_repository`` is a context manager).
- Vectors: files with no edge (nothing imports them and they import nothing in the
  repository) have no Node2Vec context. Instead of a random vector they get the mean of
  the trained vectors of the files in their directory (walking up to the root), with
  ``isolated: true`` in the payload; in a repository with no edge at all every file
  gets a deterministic unit vector of its top-level directory, so files still group by
  where they live. This choice is documented in docs/embedding.md.
- The job is ``complete`` only after every batch reached Qdrant and the SQL metadata
  committed; any store failure (after its retries) fails the job with the reason.
- Whatever goes wrong, the start record included, ends in the result (``failed``, with
  ``retryable`` from the error's class) or in :class:`JobCancelled`: nothing else leaves
  ``run_ingest``. ``faults`` is called at each :class:`~graph_jobs.faults.JobStep`
  (tests fault every step through it).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import numpy as np

from graph_jobs.errors import JobCancelled, PharosJobError
from graph_jobs.faults import FaultHook, JobStep, no_faults
from graph_jobs.job_budget import JobBudget
from graph_jobs.job_record import JobRecord
from graph_jobs.models import DependencyGraph, JobStage, JobStatus
from graph_jobs.settings import JobSettings

log = logging.getLogger(__name__)
StageProgress = Callable[[str, float], None]


def repo_key(source: str) -> str:
    """The name a repository is stored under (:class:`~graph_jobs.repository_ref.RepoRef`):
    ``host/owner/repo`` for a URL in any spelling, the absolute path for a directory."""
    from graph_jobs.repository_ref import repo_name

    return repo_name(source)


@dataclass
class Stores:
    vectors: object  # VectorStore
    metadata: object | None  # MetadataStore

    @classmethod
    def open(cls, settings: JobSettings, metadata: bool = True) -> Stores:
        from graph_jobs.stores.metadata_store import MetadataStore
        from graph_jobs.stores.vector_store import VectorStore

        meta = MetadataStore(settings.effective_database_url,
                             migrate=settings.auto_migrate) if metadata else None
        return cls(VectorStore(settings), meta)


def file_vectors(graph: DependencyGraph, vectors: np.ndarray, trained: np.ndarray) -> np.ndarray:
    """Fill untrained (isolated) rows as documented in the module docstring."""
    out = vectors.astype(np.float32, copy=True)
    paths = [f.path for f in graph.files]
    if trained.all():
        return out
    by_dir: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(paths):
        if trained[i]:
            for parent in PurePosixPath(p).parents:
                by_dir[str(parent)].append(i)
    for i in np.flatnonzero(~trained):
        for parent in PurePosixPath(paths[i]).parents:
            rows = by_dir.get(str(parent))
            if rows:
                out[i] = out[rows].mean(0)
                break
        else:
            top = paths[i].split("/", 1)[0] if "/" in paths[i] else "."
            seed = int.from_bytes(hashlib.sha256(top.encode()).digest()[:8], "little")
            v = np.random.default_rng(seed).standard_normal(out.shape[1]).astype(np.float32)
            out[i] = v / np.linalg.norm(v)
        if not np.any(out[i]):  # mean of opposite vectors: fall back to the directory vector
            seed = int.from_bytes(hashlib.sha256(paths[i].encode()).digest()[:8], "little")
            v = np.random.default_rng(seed).standard_normal(out.shape[1]).astype(np.float32)
            out[i] = v / np.linalg.norm(v)
    return out


def graph_arrays(graph: DependencyGraph) -> tuple[np.ndarray, np.ndarray]:
    """Undirected unique edge array over file indices, and each file's degree."""
    idx = {f.path: i for i, f in enumerate(graph.files)}
    pairs = {tuple(sorted((idx[e.source], idx[e.target]))) for e in graph.edges
             if e.source in idx and e.target in idx and e.source != e.target}
    edges = np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)
    degree = np.bincount(edges.ravel(), minlength=len(graph.files))
    return edges, degree


def run_ingest(source: str, settings: JobSettings, *, ref: str | None = None,
               job_id: str | None = None, stores: Stores | None = None,
               progress: StageProgress | None = None,
               should_stop: Callable[[], bool] | None = None,
               repo_url: str | None = None, worker: str | None = None,
               params=None, embed_lock=None, relations: str | None = None,
               relation_weights=None, faults: FaultHook = no_faults,
               url_policy=None) -> JobRecord:
    """Run the whole job; returns the result (status ``complete`` or ``failed``).

    Raises nothing for job failures (they are in the result, and in the metadata
    store); raises :class:`JobCancelled` when ``should_stop`` asks to stop.

    ``url_policy`` (the edge worker's): ``source`` must pass it, and must name
    ``repo_url``; git is held to what was checked. Without one (the CLI on the user's
    own machine) any source the user typed is opened.
    """
    job = _Job(source, settings, stores or Stores.open(settings), ref=ref,
               job_id=job_id or uuid.uuid4().hex, repo_url=repo_url or repo_key(source),
               worker=worker, report=progress or (lambda stage, frac: None),
               should_stop=should_stop, params=params, embed_lock=embed_lock,
               relations=relations or settings.relations, relation_weights=relation_weights,
               faults=faults, url_policy=url_policy)
    return job.run()


@dataclass
class _Staged:
    """What one stage hands the next."""

    graph: DependencyGraph
    edges: np.ndarray
    degree: np.ndarray
    history: object = None  # CoChange, or None (structure alone)
    relation_graph: object = None
    shared: object = None  # SharedTerms: files that use the same words
    vectors: np.ndarray | None = None
    trained: np.ndarray | None = None


@dataclass
class _Job:
    """One run of the job: its inputs, and one method per stage (graph, embed, store)
    that ``run`` chains; whatever goes wrong is decided in ``run``."""

    source: str
    settings: JobSettings
    stores: Stores
    ref: str | None
    job_id: str
    repo_url: str
    worker: str | None
    report: StageProgress
    should_stop: Callable[[], bool] | None
    params: object
    embed_lock: object
    relations: str
    relation_weights: object
    faults: FaultHook
    url_policy: object
    timings: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.result = JobRecord(self.job_id, self.repo_url, JobStatus.RUNNING)
        self.t_start = time.perf_counter()
        self.budget = JobBudget.from_settings(self.settings)

    def record(self, **fields) -> None:
        if self.stores.metadata is not None:
            self.stores.metadata.upsert_job(self.job_id, **fields)

    def check_stop(self, where: str = "") -> None:
        """Cancelled, past the deadline or over the memory ceiling: stop here."""
        if self.should_stop is not None and self.should_stop():
            raise JobCancelled(f"job {self.job_id} cancelled")
        self.budget.check(where)

    def progress(self, stage: str, frac: float) -> None:
        """Report progress; before the store stage, also stop if asked or out of budget
        (the graph and embedding stages report inside their long loops)."""
        if stage != JobStage.STORE:
            self.check_stop(f"{stage} at {frac:.0%}")
        self.report(stage, frac)

    def run(self) -> JobRecord:
        result = self.result
        try:
            self.check_source()
            self.faults(JobStep.START)
            from graph_jobs.stores.metadata_store import utcnow

            self.record(repo_url=self.repo_url, status=JobStatus.RUNNING, stage=JobStage.CLONE,
                        progress=0.0, ref=self.ref, started_at=utcnow(), worker=self.worker)
            staged = self.graph_stage()
            self.check_stop("after the graph stage")
            self.record(stage=JobStage.EMBED, progress=0.4, commit=staged.graph.commit)
            self.embed_stage(staged)
            self.check_stop("after the embedding stage")
            self.record(stage=JobStage.STORE, progress=0.8)
            self.store_stage(staged)
            result.status = JobStatus.COMPLETE
        except JobCancelled:
            result.status, result.error = JobStatus.CANCELLED, "cancelled"
            _finish(self.record, result, self.timings, self.t_start, self.faults)
            raise
        except PharosJobError as exc:
            result.status, result.error = JobStatus.FAILED, f"{type(exc).__name__}: {exc}"
            result.retryable = exc.retryable
        except Exception as exc:  # a bug or an unexpected library error: fail this job only
            log.exception("job %s failed", self.job_id)
            result.status, result.error = JobStatus.FAILED, f"{type(exc).__name__}: {exc}"
        _finish(self.record, result, self.timings, self.t_start, self.faults)
        return result

    @property
    def want_words(self) -> bool:
        """Shared words are read with the relation graph (not for `--relations imports`,
        pure structure) unless PHAROS_WORDS is off."""
        return self.relations == "all" and self.settings.words

    def check_source(self) -> None:
        if self.url_policy is None:
            return
        from graph_jobs.errors import UnsafeRepositoryURL

        named = self.url_policy.check(self.source, resolve=False).ref.name
        if named != self.repo_url:
            raise UnsafeRepositoryURL(f"the task names {self.repo_url!r} but its source is "
                                      f"{named!r}")

    def graph_stage(self) -> _Staged:
        """Clone or open, discover, parse, resolve; mine the history on the same tree."""
        from graph_jobs.graph.graph_job import graph_and_history_for

        self.progress(JobStage.CLONE, 0.0)
        t = time.perf_counter()
        meta, result, timings = self.stores.metadata, self.result, self.timings
        want_history = self.settings.history and self.relations == "all"
        stored = meta.load_history(self.repo_url) if want_history and meta is not None \
            else None
        graph, mined = graph_and_history_for(
            self.source, self.settings, self.ref,
            progress=lambda stage, frac: self.progress(JobStage.GRAPH, frac),
            history=want_history, stored_history=stored, faults=self.faults,
            url_policy=self.url_policy, words=self.want_words)
        timings["graph"] = (time.perf_counter() - t - graph.timings.get("history", 0.0)
                            - graph.timings.get("words", 0.0))
        for k in ("clone", "discover", "parse", "resolve"):
            if k in graph.timings:
                timings[f"graph.{k}"] = graph.timings[k]
        for k in ("history", "words"):
            if k in graph.timings:
                timings[k] = graph.timings[k]
        result.commit = graph.commit
        result.files_processed = len(graph.files)
        result.skipped_files = len(graph.skipped)
        edges, degree = graph_arrays(graph)
        result.edges = len(edges)
        result.history = (f"{mined.status}: {mined.note}" if mined is not None
                          else "off: related files come from structure alone")
        history = mined.cochange if mined is not None and mined.status != "none" else None
        from graph_jobs.relations.shared_terms import SharedTerms, shared_terms

        staged = _Staged(graph, edges, degree, history, shared=SharedTerms())
        if self.want_words and len(graph.files) > self.settings.words_max_files:
            log.warning("%s: %d files, over PHAROS_WORDS_MAX_FILES (%d): no shared words",
                        self.repo_url, len(graph.files), self.settings.words_max_files)
        elif self.want_words:
            t = time.perf_counter()
            staged.shared = shared_terms([f.path for f in graph.files], graph.terms)
            timings["words"] = timings.get("words", 0.0) + time.perf_counter() - t
        graph.terms = {}  # the counts are not needed past this point
        return staged

    def embed_stage(self, staged: _Staged) -> None:
        """The relation graph, then Node2Vec on the device (one job at a time on it)."""
        from graph_jobs.embedding.engine import embed_graph
        from graph_jobs.relations.relation_graph import build_relation_graph
        from graph_jobs.relations.walk_settings import relation_params

        self.progress(JobStage.EMBED, 0.0)
        self.faults(JobStep.EMBED)
        t = time.perf_counter()
        graph, result = staged.graph, self.result
        rg = build_relation_graph(graph, staged.history, self.relation_weights, self.relations,
                                  shared=staged.shared)
        staged.relation_graph = rg
        result.relations = {k: int(v) for k, v in rg.kinds.items()}
        if self.relations == "all":
            n2v = relation_params(rg.num_nodes, self.params)
        else:  # the import graph alone, with the settings from before the relation graph
            from graph_jobs.embedding.params import Node2VecParams

            n2v = self.params or Node2VecParams()
        backend = self.settings.embedding_backend
        if n2v.weighted and backend == "pyg":  # PyG's Node2Vec walks ignore weights
            log.warning("backend 'pyg' ignores edge weights; the relation graph uses 'pharos'")
            backend = "pharos"
        # one job at a time on the device; clone/parse of other jobs overlap with it
        t_ask = time.perf_counter()
        with self.embed_lock or contextlib.nullcontext():
            t_lock = time.perf_counter()
            emb = embed_graph(rg.num_nodes, rg.edges, n2v, weights=rg.weights,
                              device=self.settings.device, backend=backend,
                              progress=lambda stage, f: self.progress(JobStage.EMBED, f))
        self.timings["embed.wait"] = t_lock - t
        self.budget.pause(t_lock - t_ask)  # waiting for another job's embedding is not ours
        for key in ("threads", "chunks"):  # how the engine ran: CPU threads, walk chunks
            if key in emb.timings:
                self.timings[f"embed.{key}"] = emb.timings[key]
        nf = len(graph.files)
        trained = emb.trained[:nf]  # folder nodes get no vector
        staged.vectors = file_vectors(graph, emb.vectors[:nf], trained)
        staged.trained = trained
        result.device = emb.device
        result.isolated_files = int((~trained).sum())
        self.timings["embed"] = time.perf_counter() - t

    def store_stage(self, staged: _Staged) -> None:
        """Role vectors and the repository descriptor; then Qdrant, then SQL."""
        from graph_jobs.roles.repo_descriptor import heat_trace
        from graph_jobs.roles.role_features import graph_role_vectors
        from graph_jobs.stores.vector_store import FilePoint

        graph, degree, trained = staged.graph, staged.degree, staged.trained
        t = time.perf_counter()
        check = lambda: self.check_stop("roles")  # noqa: E731
        roles = graph_role_vectors(graph, check=check)
        descriptor = heat_trace(len(graph.files), staged.edges, check=check)
        self.timings["roles"] = time.perf_counter() - t
        self.check_stop("before the store stage")  # from here on it runs to its end

        self.report(JobStage.STORE, 0.0)
        t = time.perf_counter()
        self.faults(JobStep.VECTOR_UPSERT)
        points = [FilePoint(f.path, f.language, staged.vectors[i], int(degree[i]),
                            not bool(trained[i]), roles[i]) for i, f in enumerate(graph.files)]
        self.result.embeddings_generated = self.stores.vectors.upsert_repository(
            self.repo_url, graph.commit, self.job_id, points,
            progress=lambda f: self.report(JobStage.STORE, 0.9 * f))
        self.faults(JobStep.METADATA_WRITE)
        if self.stores.metadata is not None:
            self.stores.metadata.replace_repository(
                self.repo_url, graph.commit, self.job_id,
                [{"path": f.path, "language": f.language, "size": f.size,
                  "degree": int(degree[i]), "isolated": not bool(trained[i]),
                  "terms": " ".join(staged.shared.top_terms.get(f.path, ())) or None}
                 for i, f in enumerate(graph.files)],
                [{"source_path": e.source, "target_path": e.target, "kind": e.kind,
                  "line": e.line} for e in graph.edges],
                history=staged.history, history_status=self.result.history,
                tests=staged.relation_graph.tests, descriptor=descriptor,
                term_pairs=staged.shared.pairs,
            )
        _drop_legacy_names(self.stores, self.repo_url, self.source)
        self.timings["store"] = time.perf_counter() - t
        self.report(JobStage.STORE, 1.0)


def _drop_legacy_names(stores: Stores, repo_url: str, source: str) -> None:
    """Re-key on ingest: earlier versions stored a repository under the URL as typed
    (``https://github.com/o/r``); now that it is stored under its one name, data left
    under those spellings is removed."""
    from graph_jobs.repository_ref import RepoRef

    try:
        legacy = RepoRef.parse(source).legacy_names
    except PharosJobError:
        return
    for old in legacy:
        if old == repo_url:
            continue
        if stores.metadata is not None and stores.metadata.delete_repository(old):
            log.info("re-keyed %s: removed what was stored as %s", repo_url, old)
        stores.vectors.delete_repository(old)


def _finish(record, result: JobRecord, timings: dict, t_start: float,
            faults: FaultHook) -> None:
    """Record the outcome. If that fails, a complete job becomes a retryable failure (its
    data is in the stores; another attempt rewrites the same rows and points)."""
    from graph_jobs.stores.metadata_store import utcnow

    result.duration_seconds = time.perf_counter() - t_start
    result.timings = timings
    extra = {"progress": 1.0} if result.status == JobStatus.COMPLETE else {}
    try:
        faults(JobStep.FINISH)
        record(status=result.status, stage=None, **extra, finished_at=utcnow(),
               duration_seconds=result.duration_seconds,
               files_processed=result.files_processed,
               embeddings_generated=result.embeddings_generated, edges=result.edges,
               timings={k: round(v, 4) for k, v in timings.items()}, error=result.error,
               commit=result.commit)
    except Exception as exc:  # noqa: BLE001 - the outcome decides; it must not escape
        log.error("job %s: could not record its outcome: %s", result.job_id, exc)
        if result.status == JobStatus.COMPLETE:
            result.status, result.retryable = JobStatus.FAILED, True
            result.error = f"{type(exc).__name__}: {exc}"
