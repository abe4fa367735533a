"""SQL metadata: the store the pipeline writes and the read side queries.

The module is split along its lines: the tables in :mod:`graph_jobs.stores.sql_tables`,
engine setup, migrations and retries in :mod:`graph_jobs.stores.sql_engine`, the ranking
reads (a file's signals, nearest repositories) in :mod:`graph_jobs.stores.sql_ranking`;
this module holds :class:`MetadataStore`, the writes and plain reads, and re-exports the
names callers import from here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session, sessionmaker

from graph_jobs.lifecycle import JobStatus
from graph_jobs.stores import sql_ranking
from graph_jobs.stores.sql_engine import (
    MIGRATIONS,
    SqlRetry,
    is_transient,
    make_engine,
    normalize_db_url,
    run_migrations,
)
from graph_jobs.stores.sql_tables import (
    Base,
    CoChangePair,
    Dependency,
    File,
    FileHistory,
    IngestionJob,
    Repository,
    TermPair,
    TestPair,
    iso,
    utcnow,
)

__all__ = ["MIGRATIONS", "Base", "CoChangePair", "Dependency", "File", "FileHistory",
           "IngestionJob", "MetadataStore", "Repository", "TermPair", "TestPair",
           "is_transient", "make_engine", "normalize_db_url", "run_migrations", "utcnow"]


class MetadataStore:
    def __init__(self, url: str, *, migrate: bool = True, retries: int = 5,
                 retry_wait=None) -> None:
        self.url = normalize_db_url(url)
        self._retry = SqlRetry(self.url, retries, retry_wait)
        if migrate:
            self._retry("migrate", lambda: run_migrations(self.url))
        self.engine = make_engine(self.url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def _session(self) -> Session:
        return self.sessions()

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()

    # --- jobs ------------------------------------------------------------------------
    def upsert_job(self, job_id: str, **fields) -> None:
        def write() -> None:
            with self._session() as s, s.begin():
                job = s.get(IngestionJob, job_id)
                rest = dict(fields)
                if job is None:
                    job = IngestionJob(id=job_id, repo_url=rest.pop("repo_url", ""),
                                       status=rest.pop("status", JobStatus.PENDING))
                    s.add(job)
                for k, v in rest.items():
                    setattr(job, k, v)

        self._retry(f"could not record job {job_id}", write)

    def release_job(self, job_id: str, worker: str | None) -> bool:
        """A draining ``worker`` handed the job back: its row is ``pending`` again (no
        stage, no worker), unless another worker has taken it since (then that worker's
        row stands). True when the row was changed."""

        def write() -> bool:
            with self._session() as s, s.begin():
                job = s.get(IngestionJob, job_id)
                if job is None or job.worker != worker or JobStatus(job.status).final:
                    return False
                job.status, job.stage, job.worker = JobStatus.PENDING, None, None
                job.error = "released by a draining worker"
                return True

        return self._retry(f"could not release job {job_id}", write)

    def get_job(self, job_id: str) -> dict | None:
        with self._session() as s:
            job = s.get(IngestionJob, job_id)
            return job.to_dict() if job else None

    def list_jobs(self, limit: int = 20) -> list[dict]:
        with self._session() as s:
            rows = s.scalars(select(IngestionJob).order_by(IngestionJob.created_at.desc())
                             .limit(limit)).all()
            return [r.to_dict() for r in rows]

    # --- repository graph --------------------------------------------------------------
    def replace_repository(self, repo_url: str, commit: str | None, job_id: str,
                           files: Iterable[dict], edges: Iterable[dict], *,
                           history=None, history_status: str | None = None,
                           tests: Iterable[tuple[str, str]] = (),
                           descriptor: list[float] | None = None,
                           term_pairs: dict[tuple[str, str], float] | None = None) -> None:
        """Replace the stored files, dependencies, history (a ``CoChange``, or None to
        leave the stored one), test pairs and shared-word pairs of a repository in one
        transaction."""
        files, edges, tests = list(files), list(edges), list(tests)
        self._retry(f"could not store {repo_url}", lambda: self._replace_repository(
            repo_url, commit, job_id, files, edges, history, history_status, tests,
            descriptor, term_pairs or {}))

    def _replace_repository(self, repo_url, commit, job_id, files, edges, history,
                            history_status, tests, descriptor=None, term_pairs=None) -> None:
        with self._session() as s, s.begin():
            repo = s.scalar(select(Repository).where(Repository.url == repo_url))
            if repo is None:
                repo = Repository(url=repo_url)
                s.add(repo)
                s.flush()
            repo.last_commit, repo.last_job_id = commit, job_id
            repo.files, repo.edges, repo.updated_at = len(files), len(edges), utcnow()
            s.execute(delete(Dependency).where(Dependency.repository_id == repo.id))
            s.execute(delete(File).where(File.repository_id == repo.id))
            if files:
                s.execute(File.__table__.insert(),
                          [{"repository_id": repo.id, **f} for f in files])
            if edges:
                s.execute(Dependency.__table__.insert(),
                          [{"repository_id": repo.id, **e} for e in edges])
            s.execute(delete(TestPair).where(TestPair.repository_id == repo.id))
            if tests:
                s.execute(TestPair.__table__.insert(),
                          [{"repository_id": repo.id, "test_path": t, "source_path": src}
                           for t, src in tests])
            s.execute(delete(TermPair).where(TermPair.repository_id == repo.id))
            if term_pairs:
                s.execute(TermPair.__table__.insert(),
                          [{"repository_id": repo.id, "path_a": a, "path_b": b,
                            "similarity": sim} for (a, b), sim in term_pairs.items()])
            repo.history_status = (history_status or "")[:255] or None
            if descriptor is not None:
                repo.descriptor = [float(x) for x in descriptor]
            if history is not None:
                self._replace_history(s, repo, history)

    @staticmethod
    def _replace_history(s: Session, repo: Repository, history) -> None:
        s.execute(delete(FileHistory).where(FileHistory.repository_id == repo.id))
        s.execute(delete(CoChangePair).where(CoChangePair.repository_id == repo.id))
        repo.history_head, repo.history_time = history.head, history.reference_time
        repo.history_commits = history.commits_read
        if history.revisions:
            s.execute(FileHistory.__table__.insert(), [
                {"repository_id": repo.id, "path": p, "commits": t.commits,
                 "weight": t.weight, "last_time": t.last_time}
                for p, t in history.revisions.items()])
        if history.pairs:
            s.execute(CoChangePair.__table__.insert(), [
                {"repository_id": repo.id, "path_a": a, "path_b": b, "commits": t.commits,
                 "weight": t.weight, "last_time": t.last_time}
                for (a, b), t in history.pairs.items()])

    def load_history(self, repo_url: str, params=None):
        """The stored ``CoChange`` of a repository, or None when it has none."""
        return self._retry(f"could not read the history of {repo_url}",
                           lambda: self._load_history(repo_url, params))

    def _load_history(self, repo_url: str, params=None):
        from graph_jobs.history.cochange import CoChange, CoChangeParams, Tally

        with self._session() as s:
            repo = s.scalar(select(Repository).where(Repository.url == repo_url))
            if repo is None or not repo.history_head:
                return None
            revs = {r.path: Tally(r.commits, r.weight, r.last_time) for r in s.execute(
                select(FileHistory.path, FileHistory.commits, FileHistory.weight,
                       FileHistory.last_time).where(FileHistory.repository_id == repo.id))}
            pairs = {(r.path_a, r.path_b): Tally(r.commits, r.weight, r.last_time)
                     for r in s.execute(select(CoChangePair.path_a, CoChangePair.path_b,
                                               CoChangePair.commits, CoChangePair.weight,
                                               CoChangePair.last_time)
                                        .where(CoChangePair.repository_id == repo.id))}
            return CoChange(params or CoChangeParams(), repo.history_head,
                            repo.history_time or 0, revs, pairs, repo.history_commits or 0)

    def file_signals(self, repo_url: str, path: str, candidates: Iterable[str] = ()) -> dict:
        """What the store knows of one file's ties: imports both ways, co-change
        partners, its test or tested pair, the files that use the same words
        (``shared_terms``: path -> similarity); and, for the file, its partners and
        ``candidates``, the revisions (plain and decayed commit counts) and the heaviest
        words (``terms``)."""
        candidates = list(candidates)
        return self._retry(f"could not read the signals of {path!r}",
                           lambda: self._file_signals(repo_url, path, candidates))

    def _file_signals(self, repo_url: str, path: str, candidates: list[str]) -> dict:
        with self._session() as s:
            return sql_ranking.file_signals(s, repo_url, path, candidates)

    def repository(self, repo_url: str) -> dict | None:
        with self._session() as s:
            repo = s.scalar(select(Repository).where(Repository.url == repo_url))
            if repo is None:
                return None
            return {"url": repo.url, "last_commit": repo.last_commit, "files": repo.files,
                    "edges": repo.edges, "last_job_id": repo.last_job_id,
                    "updated_at": iso(repo.updated_at)}

    def repository_files(self, repo_url: str) -> list[dict]:
        with self._session() as s:
            rows = s.execute(select(File.path, File.language, File.size, File.degree,
                                    File.isolated).join(Repository,
                                                        Repository.id == File.repository_id)
                             .where(Repository.url == repo_url).order_by(File.path)).all()
            return [dict(r._mapping) for r in rows]

    def repository_edges(self, repo_url: str) -> list[dict]:
        with self._session() as s:
            rows = s.execute(select(Dependency.source_path, Dependency.target_path,
                                    Dependency.kind, Dependency.line)
                             .join(Repository, Repository.id == Dependency.repository_id)
                             .where(Repository.url == repo_url)).all()
            return [dict(r._mapping) for r in rows]

    def repository_history(self, repo_url: str) -> tuple[list[tuple], list[tuple]]:
        """Every file's history ``(path, commits, weight, last_time)`` and every co-change
        pair ``(path_a, path_b, commits, weight)`` of ``repo_url`` (the learned ranker's
        whole-repository signals: recency, co-change two steps away)."""
        with self._session() as s:
            rid = s.scalar(select(Repository.id).where(Repository.url == repo_url))
            if rid is None:
                return [], []
            files = [tuple(r) for r in s.execute(
                select(FileHistory.path, FileHistory.commits, FileHistory.weight,
                       FileHistory.last_time).where(FileHistory.repository_id == rid))]
            pairs = [tuple(r) for r in s.execute(
                select(CoChangePair.path_a, CoChangePair.path_b, CoChangePair.commits,
                       CoChangePair.weight).where(CoChangePair.repository_id == rid))]
            return files, pairs

    def similar_repositories(self, repo_url: str, k: int = 10) -> list[dict]:
        """The ``k`` stored repositories whose descriptors are nearest to ``repo_url``'s.

        Raises :class:`~graph_jobs.errors.NotFound` when the repository is not stored or
        has no descriptor yet."""

        def read():
            with self._session() as s:
                return sql_ranking.descriptors(s)

        rows = self._retry("could not read repository descriptors", read)
        return sql_ranking.nearest_repositories(rows, repo_url, k)

    def delete_repository(self, repo_url: str) -> bool:
        """Remove a repository and everything stored with it (files, dependencies,
        history, test pairs); its jobs stay. True when there was one."""

        def drop() -> bool:
            with self._session() as s, s.begin():
                repo = s.scalar(select(Repository).where(Repository.url == repo_url))
                if repo is None:
                    return False
                for table in (Dependency, File, FileHistory, CoChangePair, TestPair, TermPair):
                    s.execute(delete(table).where(table.repository_id == repo.id))
                s.delete(repo)
                return True

        return self._retry(f"could not delete {repo_url}", drop)

    def repositories(self) -> list[str]:
        with self._session() as s:
            return list(s.scalars(select(Repository.url).order_by(Repository.url)))


def dumps(obj) -> str:
    return json.dumps(obj, default=str)
