"""The whole job on one machine: pipeline, Qdrant (local mode), SQLite and PostgreSQL."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from devkit.repos import commit_all, git, make_repo
from graph_jobs.errors import NotFound, VectorStoreError
from graph_jobs.pipeline import Stores, repo_key, run_ingest
from graph_jobs.stores.metadata_store import MetadataStore
from graph_jobs.stores.vector_store import VectorStore, point_id
from pharos_cli.settings import Settings


def _stores(settings: Settings, db_url: str | None = None) -> Stores:
    return Stores(VectorStore(settings), MetadataStore(db_url or settings.effective_database_url))


def test_ingest_real_repository_embedded_default(settings, requests_repo):
    stores = _stores(settings)
    stages = []
    res = run_ingest(str(requests_repo), settings, stores=stores,
                     progress=lambda s, f: stages.append(s))
    assert res.status == "complete", res.error
    n_py = len(list((requests_repo / "requests").glob("*.py")))
    assert res.files_processed == n_py == res.embeddings_generated
    assert res.edges > 20
    assert list(dict.fromkeys(stages)) == ["clone", "graph", "history", "embed", "store"]
    assert {"graph", "embed", "store"} <= set(res.timings)
    pts = stores.vectors.repository_points(res.repo_url)
    assert len(pts) == n_py
    p = next(x for x in pts if x.payload["file_path"] == "requests/sessions.py")
    assert p.payload["language"] == "python" and p.payload["job_id"] == res.job_id
    assert p.payload["degree"] > 3 and len(p.vector) == 64
    assert p.id == point_id(res.repo_url, "requests/sessions.py")
    # metadata
    job = stores.metadata.get_job(res.job_id)
    assert job["status"] == "complete" and job["files_processed"] == n_py
    files = stores.metadata.repository_files(res.repo_url)
    assert {f["path"] for f in files} == {x.payload["file_path"] for x in pts}
    assert len(stores.metadata.repository_edges(res.repo_url)) >= res.edges
    # similar files: k results, never the file itself, scores descending
    hits = stores.vectors.similar(res.repo_url, "requests/sessions.py", k=5)
    assert len(hits) == 5 and all(h.file_path != "requests/sessions.py" for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    with pytest.raises(NotFound):
        stores.vectors.similar(res.repo_url, "nope.py")


def test_reingest_overwrites_adds_and_deletes(settings, tmp_path):
    repo = make_repo(tmp_path / "r", {
        "pkg/__init__.py": "", "pkg/a.py": "from pkg import b\n", "pkg/b.py": "import pkg.c\n",
        "pkg/c.py": "", "pkg/gone.py": "import pkg.a\n",
    })
    stores = _stores(settings)
    first = run_ingest(str(repo), settings, stores=stores)
    assert first.status == "complete"
    (repo / "pkg/gone.py").unlink()
    (repo / "pkg/new.py").write_text("import pkg.a\nimport pkg.c\n")
    (repo / "pkg/c.py").write_text("import pkg.b\n")
    commit_all(repo)
    second = run_ingest(str(repo), settings, stores=stores)
    assert second.status == "complete" and second.commit != first.commit
    pts = {p.payload["file_path"]: p for p in stores.vectors.repository_points(second.repo_url)}
    assert set(pts) == {"pkg/__init__.py", "pkg/a.py", "pkg/b.py", "pkg/c.py", "pkg/new.py"}
    assert {p.payload["job_id"] for p in pts.values()} == {second.job_id}
    assert {p.payload["commit"] for p in pts.values()} == {second.commit}
    files = {f["path"] for f in stores.metadata.repository_files(second.repo_url)}
    assert files == set(pts)
    assert stores.metadata.repository(second.repo_url)["last_commit"] == second.commit


class FlakyClient:
    """A real local Qdrant client whose upserts fail ``failures`` times first."""

    def __init__(self, real, failures: int):
        self._real, self.failures, self.upserts = real, failures, 0

    def upsert(self, *a, **k):
        self.upserts += 1
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("qdrant went away")
        return self._real.upsert(*a, **k)

    def __getattr__(self, name):
        return getattr(self._real, name)


def _flaky_stores(settings, failures):
    real = VectorStore(settings).client
    vs = VectorStore(settings, client=FlakyClient(real, failures))
    from tenacity import wait_none

    vs.retry_wait = wait_none()
    return Stores(vs, MetadataStore(settings.effective_database_url)), vs.client


def test_vector_store_failing_twice_then_succeeding_completes(settings, requests_repo):
    stores, client = _flaky_stores(settings, failures=2)
    res = run_ingest(str(requests_repo), settings, stores=stores)
    assert res.status == "complete", res.error
    assert client.upserts >= 3
    assert len(stores.vectors.repository_points(res.repo_url)) == res.files_processed


def test_vector_store_that_keeps_failing_fails_the_job_with_the_reason(settings, requests_repo):
    stores, client = _flaky_stores(settings, failures=10**6)
    res = run_ingest(str(requests_repo), settings, stores=stores)
    assert res.status == "failed"
    assert "VectorStoreError" in res.error and "3 attempts" in res.error
    assert "qdrant went away" in res.error
    assert client.upserts == 3  # the first batch, three attempts, nothing after it
    job = stores.metadata.get_job(res.job_id)
    assert job["status"] == "failed" and "qdrant went away" in job["error"]
    assert stores.vectors.repository_points(res.repo_url) == []
    with pytest.raises(VectorStoreError):
        stores.vectors._retry("x", lambda: (_ for _ in ()).throw(OSError("down")))


def test_one_bad_file_never_fails_the_job(settings, tmp_path):
    repo = make_repo(tmp_path / "r", {
        "a.py": "import b\n", "b.py": "def broken(:\n  import c\n", "c.py": "",
        "blob.py": b"\x00\x01\x02binary" * 100, "latin.py": "x = 'caf\xe9'\n".encode("latin-1"),
    })
    res = run_ingest(str(repo), settings, stores=_stores(settings))
    assert res.status == "complete", res.error
    assert res.skipped_files == 1 and res.files_processed == 4


@pytest.fixture
def private_tmp(tmp_path, monkeypatch) -> Path:
    """A temporary directory of this test's own, so clones of tests running beside it
    (another xdist worker) are not counted."""
    d = tmp_path / "tmp"
    d.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    return d


def test_failed_clone_is_a_failed_job_and_leaves_no_temp_dir(settings, private_tmp):
    res = run_ingest("file:///definitely/not/here.git", settings, stores=_stores(settings))
    assert res.status == "failed" and "CloneFailed" in res.error
    assert not list(private_tmp.glob("pharos-clone-*"))


def test_clone_url_ingest_removes_its_clone(settings, requests_repo, private_tmp,
                                           monkeypatch):
    import graph_jobs.graph.repo_source as rs

    made = []
    mkdtemp = tempfile.mkdtemp
    monkeypatch.setattr(rs.tempfile, "mkdtemp",
                        lambda *a, **k: made.append(mkdtemp(*a, **k)) or made[-1])
    res = run_ingest(f"file://{requests_repo}", settings, stores=_stores(settings))
    # one name for the directory, read in place or cloned through file://
    assert res.status == "complete" and res.repo_url == str(requests_repo.resolve())
    assert made and all(not Path(d).exists() for d in made)  # it cloned, then removed it
    assert not list(private_tmp.glob("pharos-clone-*"))


def test_postgres_metadata_store(settings, pg_url, requests_repo):
    stores = _stores(settings, pg_url)
    res = run_ingest(str(requests_repo), settings, stores=stores)
    assert res.status == "complete", res.error
    job = stores.metadata.get_job(res.job_id)
    assert job["status"] == "complete" and job["timings"]["embed"] > 0
    assert len(stores.metadata.repository_files(res.repo_url)) == res.files_processed
    assert stores.metadata.list_jobs(5)[0]["job_id"] == res.job_id
    # connections survive the server dropping them (Neon scaling to zero)
    import psycopg2

    admin = psycopg2.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    admin.autocommit = True
    dbname = pg_url.rsplit("/", 1)[1].split("?")[0]
    admin.cursor().execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE datname = %s AND pid <> pg_backend_pid()", (dbname,))
    admin.close()
    stores.metadata.ping()
    assert stores.metadata.get_job(res.job_id)["status"] == "complete"
    stores.metadata.dispose()


def test_migrations_run_with_one_command_on_postgres(pg_url, monkeypatch, tmp_path):
    from pharos_cli.app import app
    from pharos_cli.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("PHAROS_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        res = CliRunner().invoke(app, ["db", "upgrade"])
    finally:
        get_settings.cache_clear()
    assert res.exit_code == 0, res.output
    import sqlalchemy

    eng = sqlalchemy.create_engine(pg_url.replace("postgresql://", "postgresql+psycopg2://"))
    with eng.connect() as c:
        tables = set(sqlalchemy.inspect(c).get_table_names())
        version = c.execute(sqlalchemy.text("SELECT version_num FROM alembic_version")).scalar()
    eng.dispose()
    assert {"repositories", "ingestion_jobs", "files", "dependencies", "file_history",
            "cochange_pairs", "test_pairs", "term_pairs"} <= tables
    assert version == "0004"


def test_history_migration_keeps_existing_repositories(pg_url, tmp_path):
    """0001 -> 0002 on PostgreSQL with data in it: rows stay, history starts empty and the
    next ingest mines it whole."""
    import sqlalchemy

    from graph_jobs.stores.metadata_store import MetadataStore, run_migrations

    run_migrations(pg_url, "0001")
    eng = sqlalchemy.create_engine(pg_url.replace("postgresql://", "postgresql+psycopg2://"))
    with eng.begin() as c:
        c.execute(sqlalchemy.text(
            "INSERT INTO repositories (url, files, edges, created_at, updated_at) "
            "VALUES ('github.com/o/r', 3, 2, now(), now())"))
    run_migrations(pg_url)
    with eng.connect() as c:
        row = c.execute(sqlalchemy.text(
            "SELECT files, history_head, history_commits FROM repositories")).one()
    eng.dispose()
    assert tuple(row) == (3, None, 0)
    store = MetadataStore(pg_url, migrate=False)
    assert store.load_history("github.com/o/r") is None  # mined whole on the next ingest
    with pytest.raises(NotFound, match="no descriptor yet"):  # 0003: filled on re-ingest
        store.similar_repositories("github.com/o/r")
    store.dispose()


def test_concurrent_migrations_on_one_fresh_postgres_database_all_succeed(pg_url):
    """Edge actors start together: each runs the migrations against the same new database."""
    import subprocess
    import sys

    code = ("import sys; from graph_jobs.stores.metadata_store import run_migrations; "
            "run_migrations(sys.argv[1])")
    procs = [subprocess.Popen([sys.executable, "-c", code, pg_url], stderr=subprocess.PIPE,
                              text=True) for _ in range(6)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, "\n".join(e for e in errors if e)
    store = MetadataStore(pg_url, migrate=False)
    store.upsert_job("j1", repo_url="r", status="pending")
    assert store.get_job("j1")["status"] == "pending"
    store.dispose()


def test_repo_key_normalises():
    assert repo_key("https://github.com/a/b.git/") == "github.com/a/b"
    assert repo_key("https://github.com/a/b") == "github.com/a/b"
    assert repo_key(".") == str(Path(".").resolve())


def test_isolated_files_get_directory_vectors_not_random(settings, tmp_path):
    import numpy as np

    repo = make_repo(tmp_path / "r", {
        "pkg/__init__.py": "", "pkg/a.py": "import pkg.b\n", "pkg/b.py": "",
        "pkg/lonely.py": "x = 1\n", "tools/solo.py": "print(1)\n",
    })
    git(repo, "log", "-1")
    stores = _stores(settings)
    # the relation graph ties every file to its folder: nothing is isolated there
    res = run_ingest(str(repo), settings, stores=stores)
    pts = {p.payload["file_path"]: p for p in stores.vectors.repository_points(res.repo_url)}
    assert not any(p.payload["isolated"] for p in pts.values())
    # the import graph alone (--relations imports) leaves files with no import isolated
    res = run_ingest(str(repo), settings, stores=stores, relations="imports")
    pts = {p.payload["file_path"]: p for p in stores.vectors.repository_points(res.repo_url)}
    assert pts["pkg/lonely.py"].payload["isolated"] is True
    assert pts["pkg/a.py"].payload["isolated"] is False
    a, b, lonely = (np.array(pts[k].vector) for k in ("pkg/a.py", "pkg/b.py", "pkg/lonely.py"))
    mean = (a / np.linalg.norm(a) + b / np.linalg.norm(b))
    cos = lonely @ mean / np.linalg.norm(lonely) / np.linalg.norm(mean)
    assert cos > 0.99  # the mean of its directory (Qdrant stores cosine-normalised vectors)
    # files with no edge are not offered as "structurally alike" unless asked for
    near = {h.file_path for h in stores.vectors.similar(res.repo_url, "pkg/a.py", k=10)}
    assert near == {"pkg/b.py"}
    near_all = {h.file_path for h in stores.vectors.similar(res.repo_url, "pkg/a.py", k=10,
                                                            include_isolated=True)}
    assert {"pkg/lonely.py", "tools/solo.py", "pkg/__init__.py"} <= near_all
    res2 = run_ingest(str(repo), settings, stores=stores, relations="imports")
    pts2 = {p.payload["file_path"]: p for p in stores.vectors.repository_points(res2.repo_url)}
    assert np.allclose(pts["tools/solo.py"].vector, pts2["tools/solo.py"].vector)
