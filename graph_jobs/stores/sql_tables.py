"""The SQL tables: repositories, ingestion jobs, files, dependencies, history, test pairs
and shared-word pairs (SQLAlchemy 2 declarative models).

History: ``file_history`` (each file's commits, plain and age-decayed) and
``cochange_pairs`` (files changed together), with the repository's ``history_head`` and
``history_time``: the state the history stage merges new commits into, so a re-ingest
only reads the commits after ``history_head``. ``test_pairs`` holds (test, source) pairs;
``term_pairs`` files that use the same words (``graph_jobs.relations.shared_terms``), and
``files.terms`` each file's heaviest words, space-separated, which explain such a pair.

The schema is owned by Alembic (``graph_jobs/stores/migrations``); these classes are its
``target_metadata``.
"""

from __future__ import annotations

import datetime as dt

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
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from graph_jobs.job_record import JobRecord
from graph_jobs.lifecycle import JobStatus


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(t: dt.datetime | None) -> str | None:
    """An aware ISO-8601 string (SQLite hands back naive datetimes: they are UTC)."""
    if t is None:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.isoformat()


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
    status: Mapped[str] = mapped_column(String(32), index=True)  # a lifecycle.JobStatus
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
            self.id, self.repo_url, JobStatus(self.status), ref=self.ref, stage=self.stage,
            progress=self.progress, commit=self.commit, worker=self.worker,
            attempts=self.attempts, files_processed=self.files_processed,
            embeddings_generated=self.embeddings_generated, edges=self.edges,
            duration_seconds=self.duration_seconds, timings=self.timings, error=self.error,
            created_at=iso(self.created_at), started_at=iso(self.started_at),
            finished_at=iso(self.finished_at)).to_dict("row")


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
