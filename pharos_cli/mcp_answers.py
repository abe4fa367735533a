"""What `pharos mcp` answers, in plain Python: the same answers as the CLI's, from the
same stores, shaped for a coding agent (:mod:`pharos_cli.mcp_server` puts them on MCP).

- Related files are :func:`graph_jobs.answers.similar_files`, called as `pharos similar`
  calls it, so the ranking is the CLI's (``pharos similar --json``).
- What an agent can act on instead of an answer is a :class:`ToolRefusal`: a file that
  is not in the repository comes with the closest stored paths, a repository that is not
  stored says how to ingest it and where it looked. Nothing else leaves as a traceback.
- At most ``MAX_RESULTS`` results; paths are relative to the repository, and no answer
  holds source text.
- Stores (:class:`StoreHandle`): opened once. The embedded default's local Qdrant
  directory is shared with the other pharos processes (`ingest`, `similar`, `console`)
  by leases (:mod:`graph_jobs.stores.local_qdrant`): the server holds it while it
  answers and gives it back as soon as another process waits, or after a few idle
  seconds. There, the nearest vectors of a repository come from memory
  (:mod:`graph_jobs.relations.repository_vectors`, as for every local reader).
- ``ingest``: with a queue configured (``REDIS_URL`` / Upstash), the job is queued for
  the edge workers, as the ingress does; without one (the embedded default), this
  process runs it in a background thread (:class:`LocalJobs`), one job at a time.
"""

from __future__ import annotations

import atexit
import contextlib
import difflib
import logging
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

from graph_jobs.errors import NotFound, UnsafeRepositoryURL
from graph_jobs.lifecycle import JobStatus, Stage
from pharos_cli.lookup_hints import CLOSEST, closest_paths, stores_where

log = logging.getLogger("pharos.mcp")
MAX_RESULTS = 50  # per answer, whatever k asks for
JOB_ID = re.compile(r"^[0-9a-f]{32}$")
REF = re.compile(r"^[A-Za-z0-9._/-]{1,255}$")
STAGES = {Stage.CLONE: (0.0, 0.1), Stage.GRAPH: (0.1, 0.35), Stage.HISTORY: (0.35, 0.4),
          Stage.EMBED: (0.4, 0.8), Stage.STORE: (0.8, 1.0)}
KEPT_JOBS = 100  # finished jobs this process remembers (the stored rows outlive them)


class ToolRefusal(Exception):
    """An answer an agent can act on instead of a result; ``str()`` says what to do.

    ``kind``: ``not_stored``, ``no_such_file``, ``bad_input``, ``busy``, ``unavailable``,
    ``no_such_job``; ``closest``: paths (or names) to try instead."""

    def __init__(self, message: str, kind: str, closest: list[str] | None = None) -> None:
        super().__init__(message)
        self.kind, self.closest = kind, closest or []

    def text(self) -> str:
        if not self.closest:
            return str(self)
        return f"{self}\nClosest:\n" + "\n".join(f"- {p}" for p in self.closest)


def where(settings) -> str:
    """Where the stores are, without a secret (what a 'not stored' answer says)."""
    return stores_where(settings)


def relative_path(file: str, repo_url: str) -> str:
    """``file`` as the repository's relative path: ``./`` and backslashes dropped; an
    absolute path inside a local repository made relative to it."""
    s = file.strip().replace("\\", "/")
    if s.startswith("/") and repo_url.startswith("/"):
        for root in (Path(repo_url), Path(repo_url).resolve()):
            for p in (Path(s), Path(s).resolve()):
                with contextlib.suppress(ValueError):
                    return p.relative_to(root).as_posix()
    while s.startswith("./"):
        s = s[2:]
    return s


class StoreHandle:
    """The stores one process answers from, each opened once (see the module docstring)."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._metadata = None
        self._vectors = None

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

    @contextlib.contextmanager
    def stores(self) -> Iterator:
        """Both stores; the local vector store's lease not had in time is said, not raised."""
        from graph_jobs.pipeline import Stores

        try:
            yield Stores(self.vectors, self.metadata)
        except Exception as exc:
            from graph_jobs.stores.local_qdrant import lease_refused

            if not lease_refused(exc):
                raise
            raise ToolRefusal(
                f"the local vector store in {self.settings.qdrant_path} is open in another "
                "pharos process or program that did not let go in time: ask again when it "
                "has finished", "busy") from None


class LocalJobs:
    """Ingestion jobs this process runs itself (no queue configured): one at a time, in
    order, on a background thread; their live stage and progress kept in memory."""

    def __init__(self, settings, handle: StoreHandle) -> None:
        self.settings, self.handle = settings, handle
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, dict] = OrderedDict()
        self._waiting: list[tuple[str, object, str | None, object]] = []
        self._thread: threading.Thread | None = None
        atexit.register(self._stopped)

    def submit(self, repo, repo_url: str, ref: str | None, policy) -> dict:
        with self._lock:
            for job in self._jobs.values():
                if (job["repo_url"], job["ref"]) == (repo_url, ref) and \
                        JobStatus(job["status"]).active:
                    return {**job, "existing": True}
            if len(self._waiting) >= self.settings.max_queue_size:
                raise ToolRefusal(f"{len(self._waiting)} ingestion jobs are already waiting "
                                  "here: ask again when one has finished", "busy")
            job_id = uuid.uuid4().hex
            self._jobs[job_id] = {"job_id": job_id, "repo_url": repo_url, "ref": ref,
                                  "status": JobStatus.PENDING, "stage": None, "progress": 0.0,
                                  "queue_position": len(self._waiting) + 1}
            self._waiting.append((job_id, repo, ref, policy))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="pharos-mcp-jobs",
                                                daemon=True)
                self._thread.start()
            return {**self._jobs[job_id], "existing": False}

    def get(self, job_id: str) -> dict | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return dict(job) if job else None

    def running_for(self, repo_url: str) -> dict | None:
        with self._lock:
            return next((dict(j) for j in self._jobs.values() if j["repo_url"] == repo_url
                         and JobStatus(j["status"]).active), None)

    def _work(self) -> None:
        from graph_jobs.pipeline import run_ingest

        while True:
            with self._lock:
                if not self._waiting:
                    self._thread = None
                    return
                job_id, repo, ref, policy = self._waiting.pop(0)
                for i, (other, *_rest) in enumerate(self._waiting):
                    self._jobs[other]["queue_position"] = i + 1
                job = self._jobs[job_id]
                job.update(status=JobStatus.RUNNING, stage=Stage.CLONE, queue_position=None)

            def progress(stage: str, frac: float, job=job) -> None:
                lo, hi = STAGES.get(stage, (0.0, 1.0))
                job.update(stage=stage, progress=round(lo + (hi - lo) * frac, 3))

            try:
                with self.handle.stores() as stores:
                    res = run_ingest(repo, self.settings, ref=ref, job_id=job_id,
                                     stores=stores, progress=progress, url_policy=policy,
                                     worker="pharos-mcp")
                done = res.to_dict("result")
                done = {k: done[k] for k in ("status", "error", "files_processed",
                                             "embeddings_generated", "duration_seconds")}
                done["stage"] = None
                done["progress"] = 1.0 if res.status == JobStatus.COMPLETE else job["progress"]
            except Exception as exc:  # noqa: BLE001 - a store that will not open, a bug
                log.exception("job %s", job_id)
                done = {"status": JobStatus.FAILED, "error": f"{type(exc).__name__}: {exc}",
                        "stage": None}
            with self._lock:
                job.update(done)
                while len(self._jobs) > KEPT_JOBS:
                    oldest = next(iter(self._jobs))
                    if JobStatus(self._jobs[oldest]["status"]).active:
                        break
                    self._jobs.popitem(last=False)

    def _stopped(self) -> None:
        """At exit: a job that will not finish is recorded as failed, not left running."""
        with self._lock:
            unfinished = [j for j in self._jobs.values()
                          if JobStatus(j["status"]).active]
        for job in unfinished:
            with contextlib.suppress(Exception):
                self.handle.metadata.upsert_job(
                    job["job_id"], repo_url=job["repo_url"], status=JobStatus.FAILED,
                    error="pharos mcp stopped before the job finished")


class Answers:
    """Each tool's answer as plain data (or a :class:`ToolRefusal`)."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self.handle = StoreHandle(settings)
        self.queued = settings.queue_configured
        self.local_jobs = None if self.queued else LocalJobs(settings, self.handle)
        self._queue = None

    # --- repositories ------------------------------------------------------------------
    def repo_key(self, repo: str) -> str:
        from graph_jobs.pipeline import repo_key

        try:
            return repo_key(repo)
        except UnsafeRepositoryURL as exc:
            raise ToolRefusal(f"cannot read {repo!r} as a repository: {exc}",
                              "bad_input") from None

    def not_stored(self, key: str) -> ToolRefusal:
        names = self.handle.metadata.repositories()
        running = self.local_jobs.running_for(key) if self.local_jobs else None
        if running:
            return ToolRefusal(f"repository {key} is being ingested now (job "
                               f"{running['job_id']}, {running['status']}): ask job() until "
                               "it is complete, then ask again", "not_stored")
        near = difflib.get_close_matches(key, names, CLOSEST, 0.5)
        return ToolRefusal(
            f"repository {key} is not stored (looked in {where(self.settings)}; "
            f"{len(names)} repositories stored there). Ingest it first: call "
            f"ingest(source={key!r}) (or run `pharos ingest {key}`), wait until "
            "job(job_id) says complete, then ask again. list_repositories() names what is "
            "stored.", "not_stored", near)

    def list_repositories(self) -> dict:
        meta = self.handle.metadata
        names = meta.repositories()
        rows = []
        for name in names[:MAX_RESULTS]:
            r = meta.repository(name) or {"url": name}
            rows.append({"repo_url": name, "files": r.get("files"), "edges": r.get("edges"),
                         "last_commit": r.get("last_commit"),
                         "updated_at": r.get("updated_at")})
        return {"repositories": rows, "total": len(names), "stores": where(self.settings)}

    def similar_repositories(self, repo: str, k: int = 10) -> dict:
        key = self.repo_key(repo)
        meta = self.handle.metadata
        try:
            rows = meta.similar_repositories(key, min(k, MAX_RESULTS))
        except NotFound as exc:
            if meta.repository(key) is None:
                raise self.not_stored(key) from None
            raise ToolRefusal(exc.args[0], "not_stored") from None
        return {"repo_url": key, "results": [
            {"repo_url": r["repo_url"], "files": r["files"],
             "distance": round(float(r["distance"]), 6)} for r in rows]}

    # --- files -------------------------------------------------------------------------
    def related_files(self, repo: str, file: str, k: int = 10, by: str = "related",
                      scope: str = "repo") -> dict:
        from graph_jobs.answers import QuestionRefused, similar_files

        key = self.repo_key(repo)
        path = relative_path(file, key)
        if not path or path.startswith(("/", "../")):
            raise ToolRefusal(f"give the file as a path relative to the repository's root "
                              f"(got {file!r})", "bad_input")
        with self.handle.stores() as stores:
            vectors = stores.vectors
            try:
                ans = similar_files(vectors, stores.metadata, key, path,
                                    min(k, MAX_RESULTS), scope=scope, by=by)
            except QuestionRefused as exc:
                raise ToolRefusal(str(exc), "bad_input") from None
            except NotFound as exc:
                raise self._missing_file(key, path, exc) from None
        related = ans.by == "related"
        return {"repo_url": key, "file_path": path, "by": ans.by,
                "answered_by": ans.answered_by, "results": [
                    {"repo_url": h.repo_url, "file_path": h.file_path,
                     "language": h.language, "score": round(h.score, 4), "degree": h.degree,
                     "vector_score": round(h.vector_score, 4) if related else None,
                     "why": list(h.why or [])}
                    for h in ans.hits[:MAX_RESULTS]]}

    def _missing_file(self, key: str, path: str, exc: NotFound) -> ToolRefusal:
        meta = self.handle.metadata
        if meta.repository(key) is None:
            return self.not_stored(key)
        paths = [f["path"] for f in meta.repository_files(key)]
        if path not in paths:
            return ToolRefusal(f"{path!r} is not a file of {key} ({len(paths)} files "
                               "stored); ask again with one of the closest paths",
                               "no_such_file", closest_paths(path, paths))
        return ToolRefusal(exc.args[0] if exc.args else f"no vector for {path!r}",
                           "not_stored")

    # --- jobs --------------------------------------------------------------------------
    @property
    def queue(self):
        if self._queue is None:
            from cluster.job_queue import JobQueue

            self._queue = JobQueue.from_settings(self.settings)
        return self._queue

    def ingest(self, source: str, ref: str | None = None) -> dict:
        from graph_jobs.url_policy import UrlPolicy

        if ref is not None and (not REF.match(ref) or ref.startswith("-") or ".." in ref):
            raise ToolRefusal(f"invalid ref {ref!r}: a branch, tag or commit name",
                              "bad_input")
        try:  # the name enters here: parsed once; the RepoRef goes on as it is
            parsed = UrlPolicy.for_user().check(source, resolve=False).ref
            policy = UrlPolicy.from_settings(self.settings)
            if self.queued or not parsed.local:
                checked = policy.check(parsed).ref
            else:
                checked, policy = parsed, None
        except UnsafeRepositoryURL as exc:
            raise ToolRefusal(f"cannot ingest {source!r}: {exc}", "bad_input") from None
        if checked.local:
            if not Path(checked.name).is_dir():
                raise ToolRefusal(f"no such directory: {checked.name}", "bad_input")
            if ref is not None:
                raise ToolRefusal("ref is for Git URLs; a local directory is read as it is "
                                  "(check the commit out there first)", "bad_input")
        if self.queued:
            return self._enqueue(checked, ref)
        job = self.local_jobs.submit(checked, checked.name, ref, policy)
        return {**_job_fields(job), "existing": job["existing"], "runs": "here"}

    def _enqueue(self, checked, ref: str | None) -> dict:
        from cluster.job_queue import QueueFull

        try:
            e = self.queue.enqueue(checked, ref=ref)
        except QueueFull as exc:
            raise ToolRefusal(f"the queue is full ({exc}): ask again in a minute",
                              "busy") from None
        except Exception as exc:  # noqa: BLE001 - Redis down: say so, not a traceback
            raise ToolRefusal(f"the job queue could not be reached: {type(exc).__name__}",
                              "unavailable") from None
        return {"job_id": e.job_id, "repo_url": checked.name, "status": JobStatus.PENDING,
                "stage": None, "progress": 0.0, "queue_position": e.queue_position,
                "existing": e.existing, "runs": "queue"}

    def job(self, job_id: str) -> dict:
        if not JOB_ID.match(job_id):
            raise ToolRefusal(f"invalid job id {job_id!r}: 32 hexadecimal characters, as "
                              "ingest() returned it", "bad_input")
        found = self.local_jobs.get(job_id) if self.local_jobs else None
        if found is None and self.queued:
            try:
                found = self.queue.job(job_id)
            except Exception as exc:  # noqa: BLE001 - Redis down: the stored row may do
                log.warning("queue: %s", exc)
        if found is None:
            found = self.handle.metadata.get_job(job_id)
        if found is None:
            raise ToolRefusal(f"no job {job_id} (looked in this server's jobs"
                              f"{', the queue' if self.queued else ''} and "
                              f"{where(self.settings)})", "no_such_job")
        return _job_fields(found)


JOB_FIELDS = ("job_id", "repo_url", "status", "stage", "progress", "queue_position", "error",
              "files_processed", "embeddings_generated", "duration_seconds", "commit",
              "finished_at")


def _job_fields(job: dict) -> dict:
    out = {k: job.get(k) for k in JOB_FIELDS}
    out["progress"] = float(out["progress"] or 0.0)
    if out["error"]:
        out["error"] = str(out["error"])[:500]
    return out


__all__ = ["MAX_RESULTS", "Answers", "StoreHandle", "ToolRefusal", "closest_paths"]
