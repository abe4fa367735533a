"""The whole job for one repository: acquire → graph → Node2Vec → store.

What ``pharos ingest`` runs in one process (embedded default) and what each GPU actor
runs for a task from the queue (edge mode): the same function.

- The job is a chain of stages (:class:`~graph_jobs.lifecycle.Stage`): ``clone`` (the
  URL policy again, then the clone), ``graph`` (parse, resolve, the files' words),
  ``history`` (co-change, on the same clone before it is removed), ``embed``, ``store``;
  ``progress(stage, fraction)`` is called as they advance.
- ``should_stop()`` is polled between stages and between training batches (and every
  200 parsed files). It answers a :class:`~graph_jobs.lifecycle.StopSignal` (True reads
  as a cancel), and the job stops with that signal's :class:`JobStopped`: a cancel is
  recorded ``cancelled``; a released job (a draining worker let go) ``pending`` again,
  and only while its row is still this worker's; a lost lease records nothing (another
  worker runs the job).
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
  ``retryable`` from the error's class) or in :class:`JobStopped`: nothing else leaves
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

from graph_jobs.errors import JobStopped, PharosJobError
from graph_jobs.faults import FaultHook, JobStep, no_faults
from graph_jobs.job_budget import JobBudget
from graph_jobs.job_record import JobRecord
from graph_jobs.lifecycle import JobStatus, Stage, StopSignal
from graph_jobs.models import DependencyGraph
from graph_jobs.repository_ref import RepoRef
from graph_jobs.settings import JobSettings

log = logging.getLogger(__name__)
StageProgress = Callable[[str, float], None]
StopCheck = Callable[[], "StopSignal | bool | None"]


def repo_key(source: str) -> str:
    """The name a repository is stored under (:class:`~graph_jobs.repository_ref.RepoRef`):
    ``host/owner/repo`` for a URL in any spelling, the absolute path for a directory."""
    return RepoRef.parse(source).name


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


def run_ingest(repo: RepoRef | str, settings: JobSettings, *, ref: str | None = None,
               job_id: str | None = None, stores: Stores | None = None,
               progress: StageProgress | None = None,
               should_stop: StopCheck | None = None,
               name: str | None = None, worker: str | None = None,
               params=None, embed_lock=None, relations: str | None = None,
               relation_weights=None, faults: FaultHook = no_faults,
               url_policy=None) -> JobRecord:
    """Run the whole job for ``repo`` (a :class:`RepoRef`; a string is parsed here,
    once); returns the result (status ``complete`` or ``failed``).

    Raises nothing for job failures (they are in the result, and in the metadata
    store); raises :class:`JobStopped` when ``should_stop`` asks to stop.

    ``url_policy`` (the edge worker's) is applied again right before the clone, and git
    is held to what it checked; without one (the CLI on the user's own machine) the
    user's policy (:meth:`~graph_jobs.url_policy.UrlPolicy.for_user`). ``name``: store
    under another name than ``repo.name`` (tests of re-keying only).
    """
    if not isinstance(repo, RepoRef) and name is None:
        repo = RepoRef.parse(repo)
    job = _Job(repo, settings, stores or Stores.open(settings), ref=ref,
               job_id=job_id or uuid.uuid4().hex, name=name or repo.name,
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
    """One run of the job: its inputs, and one method per stage (clone, graph, history,
    embed, store) that ``run`` chains; whatever goes wrong is decided in ``run``."""

    repo: RepoRef | str  # a string only from a queue task: parsed in ``check_source``
    settings: JobSettings
    stores: Stores
    ref: str | None
    job_id: str
    name: str  # the name it is stored under (the repository's, but in tests of re-keying)
    worker: str | None
    report: StageProgress
    should_stop: StopCheck | None
    params: object
    embed_lock: object
    relations: str
    relation_weights: object
    faults: FaultHook
    url_policy: object
    timings: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.result = JobRecord(self.job_id, self.name, JobStatus.RUNNING)
        self.t_start = time.perf_counter()
        self.budget = JobBudget.from_settings(self.settings)

    def record(self, **fields) -> None:
        if self.stores.metadata is not None:
            self.stores.metadata.upsert_job(self.job_id, **fields)

    def check_stop(self, where: str = "") -> None:
        """Asked to stop (cancel, lease lost, released), past the deadline or over the
        memory ceiling: stop here."""
        asked = self.should_stop() if self.should_stop is not None else None
        if asked:
            signal = StopSignal.CANCEL if asked is True else StopSignal(asked)
            raise JobStopped.for_signal(signal, f"job {self.job_id}: {signal} ({where})")
        self.budget.check(where)

    def progress(self, stage: Stage, frac: float) -> None:
        """Report progress; before the store stage, also stop if asked or out of budget
        (the graph and embedding stages report inside their long loops: every 200 parsed
        files, every training batch)."""
        if stage != Stage.STORE:
            self.check_stop(f"{stage} at {frac:.0%}")
        self.report(stage, frac)

    def run(self) -> JobRecord:
        result = self.result
        try:
            self.check_source()
            self.faults(JobStep.START)
            from graph_jobs.stores.metadata_store import utcnow

            self.record(repo_url=self.name, status=JobStatus.RUNNING, stage=Stage.CLONE,
                        progress=0.0, ref=self.ref, started_at=utcnow(), worker=self.worker)
            with self.clone_stage() as opened:  # the clone is removed when this ends
                staged = self.graph_stage(opened)
                self.check_stop("after the graph stage")
                self.history_stage(opened, staged)
            self.check_stop("after the history stage")
            self.record(stage=Stage.EMBED, progress=0.4, commit=staged.graph.commit)
            self.embed_stage(staged)
            self.check_stop("after the embedding stage")
            self.record(stage=Stage.STORE, progress=0.8)
            self.store_stage(staged)
            result.status = JobStatus.COMPLETE
        except JobStopped as stop:
            self.stopped(stop.signal)
            raise
        except PharosJobError as exc:
            result.status, result.error = JobStatus.FAILED, f"{type(exc).__name__}: {exc}"
            result.retryable = exc.retryable
        except Exception as exc:  # a bug or an unexpected library error: fail this job only
            log.exception("job %s failed", self.job_id)
            result.status, result.error = JobStatus.FAILED, f"{type(exc).__name__}: {exc}"
        _finish(self.record, result, self.timings, self.t_start, self.faults)
        return result

    def stopped(self, signal: StopSignal) -> None:
        """Record a stop as its signal says (:attr:`StopSignal.recorded_as`)."""
        result = self.result
        status = signal.recorded_as
        if status is JobStatus.CANCELLED:
            result.status, result.error = JobStatus.CANCELLED, "cancelled"
            _finish(self.record, result, self.timings, self.t_start, self.faults)
        elif status is JobStatus.PENDING:  # queued again; the next worker's row from here
            result.status, result.error = JobStatus.PENDING, "released by a draining worker"
            if self.stores.metadata is not None:
                try:
                    self.stores.metadata.release_job(self.job_id, self.worker)
                except Exception as exc:  # noqa: BLE001 - the queue has it back either way
                    log.warning("job %s: could not record its release: %s", self.job_id, exc)
        # lease lost: another worker runs the job and writes its row; nothing here

    @property
    def want_words(self) -> bool:
        """Shared words are read with the relation graph (not for `--relations imports`,
        pure structure) unless PHAROS_WORDS is off."""
        return self.relations == "all" and self.settings.words

    def check_source(self) -> None:
        """A queue task's source is parsed here, once, under the worker's URL policy (a
        refusal is this job's failure, recorded); its name and source must be one
        repository (a task written straight into Redis may lie)."""
        if self.url_policy is None:
            if not isinstance(self.repo, RepoRef):
                self.repo = RepoRef.parse(self.repo)
            return
        from graph_jobs.errors import UnsafeRepositoryURL

        self.repo = self.url_policy.check(self.repo, resolve=False).ref
        if self.repo.name != self.name:
            raise UnsafeRepositoryURL(f"the task names {self.name!r} but its source is "
                                      f"{self.repo.name!r}")

    def clone_stage(self):
        """The URL policy again, right before the clone; then clone (or open in place).
        A context manager: the clone is removed when it ends."""
        from graph_jobs.graph.repo_source import open_repository

        self.progress(Stage.CLONE, 0.0)
        self.faults(JobStep.CLONE)
        want_history = self.settings.history and self.relations == "all"
        self.t_clone = time.perf_counter()
        return open_repository(
            self.repo, self.ref, timeout_s=self.settings.clone_timeout_s,
            max_bytes=self.settings.clone_max_bytes,
            history_depth=self.settings.history_max_commits if want_history else 0,
            policy=self.url_policy)

    def graph_stage(self, opened) -> _Staged:
        """Discover, parse, resolve; the files' words (the words cap is checked here,
        once)."""
        from graph_jobs.graph.graph_job import read_graph
        from graph_jobs.relations.shared_terms import SharedTerms, shared_terms

        timings, result = self.timings, self.result
        timings["graph.clone"] = time.perf_counter() - self.t_clone
        t = time.perf_counter()
        self.faults(JobStep.PARSE)
        graph = read_graph(opened, self.settings,
                           progress=lambda stage, frac: self.progress(Stage.GRAPH, frac))
        timings["graph"] = time.perf_counter() - t + timings["graph.clone"]
        for k in ("discover", "parse", "resolve"):
            if k in graph.timings:
                timings[f"graph.{k}"] = graph.timings[k]
        result.commit = graph.commit
        result.files_processed = len(graph.files)
        result.skipped_files = len(graph.skipped)
        edges, degree = graph_arrays(graph)
        result.edges = len(edges)
        staged = _Staged(graph, edges, degree, shared=SharedTerms())
        words = self.want_words
        if words and len(graph.files) > self.settings.words_max_files:
            log.warning("%s: %d files, over PHAROS_WORDS_MAX_FILES (%d): no shared words",
                        self.name, len(graph.files), self.settings.words_max_files)
        elif words:
            from graph_jobs.graph.file_words import read_words

            t = time.perf_counter()
            terms = read_words(opened.root, graph.files, max_bytes=self.settings.max_file_bytes,
                               cache_path=self.settings.parse_cache_path
                               if self.settings.parse_cache else None,
                               workers=self.settings.parse_workers)
            staged.shared = shared_terms([f.path for f in graph.files], terms)
            timings["words"] = time.perf_counter() - t
        return staged

    def history_stage(self, opened, staged: _Staged) -> None:
        """Co-change from the repository's commits, on the clone the graph was read from
        (or its history clone), merged into what is stored. No history is not a failure."""
        result = self.result
        if not (self.settings.history and self.relations == "all"):
            result.history = "off: related files come from structure alone"
            return
        from graph_jobs.errors import RepositoryError
        from graph_jobs.history.cochange import CoChangeParams
        from graph_jobs.history.history_stage import HistoryResult, mine_history

        self.progress(Stage.HISTORY, 0.0)
        t = time.perf_counter()
        settings, graph = self.settings, staged.graph
        meta = self.stores.metadata
        stored = meta.load_history(self.name) if meta is not None else None
        try:
            history_root = opened.history_root()  # waits for the history clone
        except RepositoryError as exc:  # no history is not a failed job
            history_root = None
            mined = HistoryResult(None, "none", f"the history clone failed ({exc}): "
                                  "related files come from structure alone")
        if history_root is not None:
            mined = mine_history(
                history_root, {f.path for f in graph.files}, head=opened.commit or None,
                params=CoChangeParams(max_commit_files=settings.history_max_commit_files,
                                      half_life_days=settings.history_half_life_days,
                                      session_hours=settings.history_session_hours),
                stored=stored, max_commits=settings.history_max_commits,
                max_age_days=settings.history_max_days)
        self.timings["history"] = time.perf_counter() - t
        result.history = f"{mined.status}: {mined.note}"
        staged.history = mined.cochange if mined.status != "none" else None
        self.progress(Stage.HISTORY, 1.0)

    def embed_stage(self, staged: _Staged) -> None:
        """The relation graph, then Node2Vec on the device (one job at a time on it)."""
        from graph_jobs.embedding.engine import embed_graph
        from graph_jobs.relations.relation_graph import build_relation_graph
        from graph_jobs.relations.walk_settings import relation_params

        self.progress(Stage.EMBED, 0.0)
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
                              progress=lambda stage, f: self.progress(Stage.EMBED, f))
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
        from graph_jobs.roles.role_why import role_facts
        from graph_jobs.stores.vector_store import FilePoint

        graph, degree, trained = staged.graph, staged.degree, staged.trained
        t = time.perf_counter()
        check = lambda: self.check_stop("roles")  # noqa: E731
        roles = graph_role_vectors(graph, check=check)
        descriptor = heat_trace(len(graph.files), staged.edges, check=check)
        self.timings["roles"] = time.perf_counter() - t
        self.check_stop("before the store stage")  # from here on it runs to its end

        self.report(Stage.STORE, 0.0)
        t = time.perf_counter()
        self.faults(JobStep.VECTOR_UPSERT)
        points = [FilePoint(f.path, f.language, staged.vectors[i], int(degree[i]),
                            not bool(trained[i]), roles[i],
                            role_facts(graph.declarations.get(f.path)))
                  for i, f in enumerate(graph.files)]
        self.result.embeddings_generated = self.stores.vectors.upsert_repository(
            self.name, graph.commit, self.job_id, points,
            progress=lambda f: self.report(Stage.STORE, 0.9 * f))
        self.faults(JobStep.METADATA_WRITE)
        if self.stores.metadata is not None:
            self.stores.metadata.replace_repository(
                self.name, graph.commit, self.job_id,
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
        _drop_legacy_names(self.stores, self.name, self.repo)
        self.timings["store"] = time.perf_counter() - t
        self.report(Stage.STORE, 1.0)


def _drop_legacy_names(stores: Stores, name: str, repo: RepoRef) -> None:
    """Re-key on ingest: earlier versions stored a repository under the URL as typed
    (``https://github.com/o/r``); now that it is stored under its one name, data left
    under those spellings is removed."""
    for old in repo.legacy_names:
        if old == name:
            continue
        if stores.metadata is not None and stores.metadata.delete_repository(old):
            log.info("re-keyed %s: removed what was stored as %s", name, old)
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
