"""SQL metadata: repositories, ingestion jobs, files, dependencies and history (SQLAlchemy 2).

History: ``file_history`` (each file's commits, plain and age-decayed) and
``cochange_pairs`` (files changed together), with the repository's ``history_head`` and
``history_time``: the state the history stage merges new commits into, so a re-ingest
only reads the commits after ``history_head``. ``test_pairs`` holds (test, source) pairs;
``term_pairs`` files that use the same words (``graph_jobs.relations.shared_terms``), and
``files.terms`` each file's heaviest words, space-separated, which explain such a pair.

SQLite file under ``PHAROS_DATA_DIR`` by default; Postgres (Neon) through
``DATABASE_URL`` / ``NEON_DATABASE_URL`` with psycopg2. ``postgres://`` URLs are
accepted; query parameters such as ``sslmode=require`` pass through to libpq.
``pool_pre_ping`` + ``pool_recycle`` let connections survive Neon scaling to zero and a
server restart. An operation that meets a connection error (the server away, restarting
or shutting down) is tried again with exponential backoff (``retries`` attempts, like
the vector store), then raises :class:`MetadataStoreError`, which the queue retries.
The schema is owned by Alembic (``graph_jobs/stores/migrations``): ``pharos db upgrade``,
or on start-up when ``PHAROS_AUTO_MIGRATE`` is on.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from graph_jobs.errors import MetadataStoreError, NotFound
from graph_jobs.job_record import JobRecord

MIGRATIONS = Path(__file__).with_name("migrations")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    pass


class Repository(Base):
    __tablename__ = "repositories"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2048), unique=True)
    last_commit: Mapped[str | None] = mapped_column(String(64))
    last_job_id: Mapped[str | None] = mapped_column(String(64))
    files: Mapped[int] = mapped_column(Integer, default=0)
    edges: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    history_head: Mapped[str | None] = mapped_column(String(64))
    history_time: Mapped[int | None] = mapped_column(BigInteger)
    history_commits: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    history_status: Mapped[str | None] = mapped_column(String(255))
    descriptor: Mapped[list | None] = mapped_column(JSON)  # NetLSD heat trace (roles)


class IngestionJob(Base):
    __tablename__ = "ingestion_jobs"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    repo_url: Mapped[str] = mapped_column(String(2048), index=True)
    ref: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(32), index=True)  # pending running complete failed skipped cancelled
    stage: Mapped[str | None] = mapped_column(String(32))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    commit: Mapped[str | None] = mapped_column(String(64))
    worker: Mapped[str | None] = mapped_column(String(255))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    files_processed: Mapped[int] = mapped_column(Integer, default=0)
    embeddings_generated: Mapped[int] = mapped_column(Integer, default=0)
    edges: Mapped[int] = mapped_column(Integer, default=0)
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    timings: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    def to_dict(self) -> dict:
        """The ``row`` view of :class:`~graph_jobs.job_record.JobRecord`."""
        return JobRecord(
            self.id, self.repo_url, self.status, ref=self.ref, stage=self.stage,
            progress=self.progress, commit=self.commit, worker=self.worker,
            attempts=self.attempts, files_processed=self.files_processed,
            embeddings_generated=self.embeddings_generated, edges=self.edges,
            duration_seconds=self.duration_seconds, timings=self.timings, error=self.error,
            created_at=_iso(self.created_at), started_at=_iso(self.started_at),
            finished_at=_iso(self.finished_at)).to_dict("row")


class File(Base):
    __tablename__ = "files"
    __table_args__ = (UniqueConstraint("repository_id", "path"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"),
                                               index=True)
    path: Mapped[str] = mapped_column(String(4096))
    language: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    degree: Mapped[int] = mapped_column(Integer, default=0)
    isolated: Mapped[bool] = mapped_column(default=False)
    terms: Mapped[str | None] = mapped_column(Text)  # its heaviest words, heaviest first


class Dependency(Base):
    __tablename__ = "dependencies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"),
                                               index=True)
    source_path: Mapped[str] = mapped_column(String(4096))
    target_path: Mapped[str] = mapped_column(String(4096))
    kind: Mapped[str] = mapped_column(String(32))
    line: Mapped[int] = mapped_column(Integer, default=0)


class FileHistory(Base):
    __tablename__ = "file_history"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"),
                                               index=True)
    path: Mapped[str] = mapped_column(String(4096))
    commits: Mapped[int] = mapped_column(Integer)
    weight: Mapped[float] = mapped_column(Float)
    last_time: Mapped[int] = mapped_column(BigInteger)


class CoChangePair(Base):
    __tablename__ = "cochange_pairs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"),
                                               index=True)
    path_a: Mapped[str] = mapped_column(String(4096))  # path_a < path_b
    path_b: Mapped[str] = mapped_column(String(4096))
    commits: Mapped[int] = mapped_column(Integer)
    weight: Mapped[float] = mapped_column(Float)
    last_time: Mapped[int] = mapped_column(BigInteger)


class TestPair(Base):
    __tablename__ = "test_pairs"
    __test__ = False  # not a pytest class
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"),
                                               index=True)
    test_path: Mapped[str] = mapped_column(String(4096))
    source_path: Mapped[str] = mapped_column(String(4096))


class TermPair(Base):
    __tablename__ = "term_pairs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"),
                                               index=True)
    path_a: Mapped[str] = mapped_column(String(4096))  # path_a < path_b
    path_b: Mapped[str] = mapped_column(String(4096))
    similarity: Mapped[float] = mapped_column(Float)  # cosine of their TF-IDF word vectors


def _iso(t: dt.datetime | None) -> str | None:
    if t is None:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.isoformat()


def normalize_db_url(url: str) -> str:
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg2://" + url[len("postgresql://"):]
    return url


def _ensure_sqlite_dir(url: str) -> None:
    u = make_url(url)
    if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:":
        Path(u.database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def make_engine(url: str) -> Engine:
    url = normalize_db_url(url)
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        _ensure_sqlite_dir(url)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(conn, _):  # pragma: no cover - trivial
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    # Neon scales to zero and drops idle connections: test each checkout, recycle often.
    return create_engine(url, pool_pre_ping=True, pool_recycle=240, pool_size=5,
                         max_overflow=5, connect_args={"connect_timeout": 10})


def run_migrations(url: str, revision: str = "head") -> None:
    """``alembic upgrade head`` against ``url`` (also what ``pharos db upgrade`` runs)."""
    from alembic import command
    from alembic.config import Config

    url = normalize_db_url(url)
    _ensure_sqlite_dir(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["url"] = url
    try:
        command.upgrade(cfg, revision)
    except SQLAlchemyError as exc:
        raise MetadataStoreError(f"migrations failed on {make_url(url).render_as_string()}: "
                                 f"{exc.orig if hasattr(exc, 'orig') else exc}") from exc


def is_transient(exc: BaseException) -> bool:
    """A connection-level error that another attempt may not meet (server away,
    restarting, shutting down, a dropped connection); not a constraint or a bad query."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


class MetadataStore:
    def __init__(self, url: str, *, migrate: bool = True, retries: int = 5,
                 retry_wait=None) -> None:
        self.url = normalize_db_url(url)
        self.retries = max(1, retries)
        self.retry_wait = retry_wait or wait_exponential(multiplier=0.5, min=0.5, max=8)
        if migrate:
            self._retry("migrate", lambda: run_migrations(self.url))
        self.engine = make_engine(self.url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def _retry(self, what: str, fn):
        """``fn()``, tried again on transient errors; any failure as MetadataStoreError."""

        def transient(exc: BaseException) -> bool:
            if isinstance(exc, MetadataStoreError):  # from run_migrations
                exc = exc.__cause__ or exc
            return is_transient(exc)

        try:
            for attempt in Retrying(stop=stop_after_attempt(self.retries), wait=self.retry_wait,
                                    retry=retry_if_exception(transient), reraise=True):
                with attempt:
                    return fn()
        except MetadataStoreError:
            raise
        except SQLAlchemyError as exc:
            where = make_url(self.url).render_as_string()
            raise MetadataStoreError(f"{what} failed at {where}: {type(exc).__name__}: "
                                     f"{getattr(exc, 'orig', None) or exc}") from exc

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
                                       status=rest.pop("status", "pending"))
                    s.add(job)
                for k, v in rest.items():
                    setattr(job, k, v)

        self._retry(f"could not record job {job_id}", write)

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
            repo = s.scalar(select(Repository).where(Repository.url == repo_url))
            if repo is None:
                return {"imports": {}, "imported_by": {}, "cochange": {}, "revisions": {},
                        "tests": set(), "history_time": None, "shared_terms": {},
                        "terms": {}}
            rid = repo.id
            imports, imported_by = {}, {}
            for r in s.execute(select(Dependency.source_path, Dependency.target_path,
                                      Dependency.kind)
                               .where(Dependency.repository_id == rid,
                                      or_(Dependency.source_path == path,
                                          Dependency.target_path == path))):
                if r.source_path == path and r.target_path != path:
                    imports.setdefault(r.target_path, r.kind)
                elif r.target_path == path and r.source_path != path:
                    imported_by.setdefault(r.source_path, r.kind)
            cochange = {}
            for r in s.execute(select(CoChangePair.path_a, CoChangePair.path_b,
                                      CoChangePair.commits, CoChangePair.weight,
                                      CoChangePair.last_time)
                               .where(CoChangePair.repository_id == rid,
                                      or_(CoChangePair.path_a == path,
                                          CoChangePair.path_b == path))):
                other = r.path_b if r.path_a == path else r.path_a
                cochange[other] = (r.commits, r.weight, r.last_time)
            tests = set()
            for r in s.execute(select(TestPair.test_path, TestPair.source_path)
                               .where(TestPair.repository_id == rid,
                                      or_(TestPair.test_path == path,
                                          TestPair.source_path == path))):
                tests.add(r.source_path if r.test_path == path else r.test_path)
            shared = {}
            for r in s.execute(select(TermPair.path_a, TermPair.path_b, TermPair.similarity)
                               .where(TermPair.repository_id == rid,
                                      or_(TermPair.path_a == path, TermPair.path_b == path))):
                shared[r.path_b if r.path_a == path else r.path_a] = r.similarity
            wanted = list({path, *cochange, *imports, *imported_by, *tests, *shared,
                           *candidates})
            revisions, terms = {}, {}
            for i in range(0, len(wanted), 500):  # within SQLite's bound-parameter limit
                chunk = wanted[i:i + 500]
                revisions.update((r.path, (r.commits, r.weight)) for r in s.execute(
                    select(FileHistory.path, FileHistory.commits, FileHistory.weight)
                    .where(FileHistory.repository_id == rid, FileHistory.path.in_(chunk))))
                terms.update((r.path, r.terms.split()) for r in s.execute(
                    select(File.path, File.terms)
                    .where(File.repository_id == rid, File.path.in_(chunk),
                           File.terms.is_not(None))))
            busiest = s.scalar(select(func.max(FileHistory.weight))
                               .where(FileHistory.repository_id == rid))
            return {"imports": imports, "imported_by": imported_by, "cochange": cochange,
                    "revisions": revisions, "tests": tests, "history_time": repo.history_time,
                    "max_revision_weight": float(busiest or 0.0), "shared_terms": shared,
                    "terms": terms}

    def repository(self, repo_url: str) -> dict | None:
        with self._session() as s:
            repo = s.scalar(select(Repository).where(Repository.url == repo_url))
            if repo is None:
                return None
            return {"url": repo.url, "last_commit": repo.last_commit, "files": repo.files,
                    "edges": repo.edges, "last_job_id": repo.last_job_id,
                    "updated_at": _iso(repo.updated_at)}

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

    def similar_repositories(self, repo_url: str, k: int = 10) -> list[dict]:
        """The ``k`` stored repositories whose descriptors are nearest to ``repo_url``'s.

        Raises :class:`~graph_jobs.errors.NotFound` when the repository is not stored or has no descriptor yet."""
        from graph_jobs.roles.repo_descriptor import descriptor_distance

        def read():
            with self._session() as s:
                return list(s.execute(select(Repository.url, Repository.descriptor,
                                             Repository.files)))

        rows = self._retry("could not read repository descriptors", read)
        mine = next((r for r in rows if r.url == repo_url), None)
        if mine is None:
            raise NotFound(f"repository {repo_url!r} is not stored")
        if not mine.descriptor:
            raise NotFound(f"repository {repo_url!r} has no descriptor yet: ingest it again")
        out = [{"repo_url": r.url, "files": r.files,
                "distance": descriptor_distance(mine.descriptor, r.descriptor)}
               for r in rows if r.url != repo_url and r.descriptor]
        out.sort(key=lambda d: (d["distance"], d["repo_url"]))
        return out[:k]

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
