"""A repository's vectors held in the process (graph_jobs.relations.repository_vectors):
the same answers as Qdrant's filtered search, nothing of another repository, read again
after a re-ingest, never kept from a half-written repository, a clear NotFound for a file
without a vector, and Qdrant asked directly when it is a server."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from devkit.repos import git
from graph_jobs.errors import NotFound
from graph_jobs.pipeline import Stores, run_ingest
from graph_jobs.relations import repository_vectors as rv
from graph_jobs.relations.related_files import candidates
from graph_jobs.stores.vector_store import RELATED
from tests.graph_jobs.test_history_and_relations import commit


def _repo(root, name: str, n: int, extra: dict | None = None):
    """``n`` modules in two packages importing each other in a chain, and a file alone in
    its folder that imports nothing (no edge: isolated)."""
    repo = root / name
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    files = {"pkg/__init__.py": "", "other/__init__.py": "", "solo/alone.py": "X = 1\n"}
    for i in range(n):
        folder = "pkg" if i % 2 else "other"
        prev = f"from {'other' if i % 2 else 'pkg'} import m{i - 1}\n" if i else ""
        files[f"{folder}/m{i}.py"] = f"{prev}def f{i}():\n    return {i}\n"
    files.update(extra or {})
    commit(repo, files, 0, "root")
    return repo


@pytest.fixture
def stored(tmp_path, settings):
    rv._HELD.clear()
    rv._MIXED.clear()
    stores = Stores.open(settings)
    # the import graph alone: files with no import are isolated (the relation graph would
    # tie each to its folder)
    a = run_ingest(str(_repo(tmp_path, "alpha", 24)), settings, stores=stores,
                   relations="imports")
    b = run_ingest(str(_repo(tmp_path, "beta", 12, {"pkg/beta_only.py": "from pkg import m1\n"})),
                   settings, stores=stores)
    assert a.status == b.status == "complete", (a.error, b.error)
    yield stores, a.repo_url, b.repo_url, tmp_path
    rv._HELD.clear()
    rv._MIXED.clear()


def _same_answers(mine, theirs):
    """The same cosines in the same order, and the same files but for those tied with
    the last one kept (Qdrant orders equal cosines its own way)."""
    assert len(mine) == len(theirs)
    assert np.allclose([s for _p, s, *_ in mine], [h.score for h in theirs], atol=1e-4)
    if not mine:
        return
    last = mine[-1][1]
    assert {p for p, s, *_ in mine if s > last + 1e-4} == \
        {h.file_path for h in theirs if h.score > last + 1e-4}
    by_path = {h.file_path: h for h in theirs}
    for p, s, lang, deg in mine:
        if p in by_path:
            assert abs(s - by_path[p].score) < 1e-4
            assert (lang, deg) == (by_path[p].language, by_path[p].degree)


@pytest.mark.parametrize("include_isolated", [False, True])
def test_the_held_vectors_answer_as_qdrants_filtered_search(stored, include_isolated):
    stores, url, _other, _ = stored
    held = rv.repository_vectors(stores.vectors, stores.metadata, url)
    files = [f["path"] for f in stores.metadata.repository_files(url)]
    assert sorted(held.paths) == sorted(files)
    isolated = {p for p in held.paths if held.isolated[held.index[p]]}
    assert "solo/alone.py" in isolated and "pkg/m3.py" not in isolated
    for q in files:  # isolated questions too: only the answers leave them out
        for k in (1, 10, len(files) + 5):
            mine = held.nearest(url, q, k, include_isolated)
            theirs = stores.vectors.similar(url, q, k, "repo", include_isolated)
            _same_answers(mine, theirs)
            assert q not in [p for p, *_ in mine]
            if not include_isolated:
                assert not isolated & {p for p, *_ in mine}
        asked = [*files[:6], "solo/alone.py", q, "no/such.py"]
        got = held.scores(url, q, asked, include_isolated)
        want = stores.vectors.scores(url, q, asked, include_isolated)
        assert sorted(p for p, *_ in got) == sorted(h.file_path for h in want)
        want_s = {h.file_path: h.score for h in want}
        assert all(abs(s - want_s[p]) < 1e-4 for p, s, *_ in got)
    assert held.nearest(url, files[0], 0) == []


def test_nothing_of_another_repository_and_not_found_is_clear(stored):
    stores, url, other, _ = stored
    held = rv.repository_vectors(stores.vectors, stores.metadata, url)
    theirs = rv.repository_vectors(stores.vectors, stores.metadata, other)
    assert "pkg/beta_only.py" in theirs.index and "pkg/beta_only.py" not in held.index
    answers = {p for q in held.paths for p, *_ in held.nearest(url, q, 100, True)}
    assert "pkg/beta_only.py" not in answers and answers == set(held.paths)
    with pytest.raises(NotFound, match="no vector for 'pkg/m99.py'"):
        held.nearest(url, "pkg/m99.py", 5)
    with pytest.raises(NotFound):  # through related_files' candidates, as before
        candidates(stores.vectors, stores.metadata, url, "pkg/m99.py", 10)
    assert rv.repository_vectors(stores.vectors, stores.metadata, "https://nowhere/x") is None
    assert rv.repository_vectors(stores.vectors, None, url) is None


def test_questions_inside_a_repository_do_not_search_qdrant(stored, monkeypatch):
    stores, url, _other, _ = stored

    def refuse(*a, **k):
        raise AssertionError("Qdrant was searched")

    monkeypatch.setattr(stores.vectors, "similar", refuse)
    monkeypatch.setattr(stores.vectors, "scores", refuse)
    cands, _signals = candidates(stores.vectors, stores.metadata, url, "pkg/m3.py", 5)
    assert len(cands) >= 5 and "pkg/m3.py" not in [p for p, *_ in cands]


def test_a_qdrant_server_is_asked_directly(stored, monkeypatch):
    stores, url, _other, _ = stored

    class Server:  # what a VectorStore with QDRANT_URL set looks like to the reader
        settings = type("S", (), {"qdrant_url": "http://qdrant:6333"})()

    assert not rv.holds(Server()) and rv.holds(stores.vectors)
    from cluster.store_actor import VectorStoreProxy

    assert rv.holds(VectorStoreProxy(None))  # the local directory's owner in a cluster
    assert not rv.holds(object())  # a store that does not say: asked as it is
    assert rv.repository_vectors(Server(), stores.metadata, url) is None
    monkeypatch.setattr(stores.vectors.settings, "qdrant_url", "http://qdrant:6333")
    asked = []
    real = stores.vectors.similar
    monkeypatch.setattr(stores.vectors, "similar",
                        lambda *a, **k: asked.append(a) or real(*a, **k))
    cands, _ = candidates(stores.vectors, stores.metadata, url, "pkg/m3.py", 5)
    assert asked and cands


def test_a_store_without_pages_the_cluster_proxy_is_read_in_one_call(stored):
    stores, url, _other, _ = stored

    class Proxy:  # cluster.store_actor.VectorStoreProxy's surface: no repository_pages
        def __init__(self, vs):
            self.vs = vs

        def repository_points(self, *a, **k):
            return self.vs.repository_points(*a, **k)

    got, jobs = rv.RepositoryVectors.read(Proxy(stores.vectors), url)
    pages, _ = rv.RepositoryVectors.read(stores.vectors, url)
    assert got.paths == pages.paths and np.allclose(got.unit, pages.unit)
    assert jobs == {stores.metadata.repository(url)["last_job_id"]}


def test_a_repository_written_by_another_job_is_used_once_never_kept(stored):
    """Qdrant holds points of a job the metadata store does not name (an ingest whose
    metadata write failed, or one caught half-way): that read answers, is not kept, and
    Qdrant answers the next questions; an emptied repository says NotFound."""
    stores, url, _other, _ = stored
    pts = stores.vectors.repository_points(url, with_vectors=True, vector=RELATED)
    from graph_jobs.stores.vector_store import FilePoint

    stores.vectors.upsert_repository(url, None, "a-job-that-never-finished", [
        FilePoint(p.payload["file_path"], p.payload["language"], p.vector,
                  p.payload["degree"], p.payload["isolated"]) for p in pts[:3]])
    first = rv.repository_vectors(stores.vectors, stores.metadata, url)
    assert first is not None and len(first.paths) == 3
    assert rv.repository_vectors(stores.vectors, stores.metadata, url) is None
    assert not rv._HELD
    stores.vectors.delete_repository(url)
    rv._MIXED.clear()
    empty = rv.repository_vectors(stores.vectors, stores.metadata, url)
    assert empty is not None and empty.paths == []
    with pytest.raises(NotFound):
        empty.nearest(url, "pkg/m3.py", 5)


def test_a_reingest_is_read_again_and_the_same_job_is_read_once(stored, settings,
                                                                 monkeypatch):
    stores, url, _other, tmp = stored
    reads = []
    real = rv.RepositoryVectors.read.__func__

    def counted(cls, vectors, repo_url):
        reads.append(repo_url)
        return real(cls, vectors, repo_url)

    monkeypatch.setattr(rv.RepositoryVectors, "read", classmethod(counted))
    rv._HELD.clear()
    # askers at once: one read, every one of them answered from it
    got = []
    threads = [threading.Thread(target=lambda: got.append(
        rv.repository_vectors(stores.vectors, stores.metadata, url))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert reads == [url] and len({id(g) for g in got}) == 1
    first = got[0]
    repo = tmp / "alpha"
    commit(repo, {"pkg/new_one.py": "from pkg import m1\n"}, 3, "a new file")
    res = run_ingest(str(repo), settings, stores=stores)
    assert res.status == "complete", res.error
    fresh = rv.repository_vectors(stores.vectors, stores.metadata, url)
    assert reads == [url, url] and "pkg/new_one.py" in fresh.index
    assert "pkg/new_one.py" not in first.index
    assert len(rv._HELD) == 1  # the older job's vectors let go
    cands, _signals = candidates(stores.vectors, stores.metadata, url, "pkg/new_one.py", 10)
    assert cands and all(p != "pkg/new_one.py" for p, *_ in cands)
