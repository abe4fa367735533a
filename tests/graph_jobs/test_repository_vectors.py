"""A repository's vectors held in the process (graph_jobs.relations.repository_vectors):
the same answers as Qdrant's filtered search, nothing of another repository, read again
after a re-ingest, and a clear NotFound for a file without a vector."""

from __future__ import annotations

import numpy as np
import pytest

from devkit.repos import git
from graph_jobs.errors import NotFound
from graph_jobs.pipeline import Stores, run_ingest
from graph_jobs.relations import repository_vectors as rv
from graph_jobs.relations.related_files import candidates
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
    stores = Stores.open(settings)
    # the import graph alone: files with no import are isolated (the relation graph would
    # tie each to its folder)
    a = run_ingest(str(_repo(tmp_path, "alpha", 24)), settings, stores=stores,
                   relations="imports")
    b = run_ingest(str(_repo(tmp_path, "beta", 12)), settings, stores=stores)
    assert a.status == b.status == "complete", (a.error, b.error)
    yield stores, a.repo_url, b.repo_url, tmp_path
    rv._HELD.clear()


@pytest.mark.parametrize("include_isolated", [False, True])
def test_the_held_vectors_answer_as_qdrants_filtered_search(stored, include_isolated):
    stores, url, other, _ = stored
    held = rv.repository_vectors(stores.vectors, stores.metadata, url)
    files = [f["path"] for f in stores.metadata.repository_files(url)]
    assert sorted(held.paths) == sorted(files)
    for q in files:
        if held.isolated[held.index[q]] and not include_isolated:
            continue
        mine = held.nearest(url, q, 10, include_isolated)
        theirs = stores.vectors.similar(url, q, 10, "repo", include_isolated)
        assert [p for p, *_ in mine] and len(mine) == len(theirs)
        # the same cosines, in the same order (a tie may swap two files of equal cosine)
        assert np.allclose([s for _p, s, *_ in mine], [h.score for h in theirs], atol=1e-4)
        by_path = {h.file_path: h for h in theirs}
        for p, s, lang, deg in mine:
            if p in by_path:
                assert abs(s - by_path[p].score) < 1e-4
                assert (lang, deg) == (by_path[p].language, by_path[p].degree)
        assert q not in [p for p, *_ in mine]
        isolated = {p for p in held.paths if held.isolated[held.index[p]]}
        assert "solo/alone.py" in isolated and "pkg/m3.py" not in isolated
        if not include_isolated:
            assert not isolated & {p for p, *_ in mine}
        got = held.scores(url, q, [p for p, *_ in mine[3:]] + ["no/such.py"],
                          include_isolated)
        want = stores.vectors.scores(url, q, [p for p, *_ in mine[3:]] + ["no/such.py"],
                                     include_isolated)
        assert sorted(p for p, *_ in got) == sorted(h.file_path for h in want)
        want_s = {h.file_path: h.score for h in want}
        assert all(abs(s - want_s[p]) < 1e-4 for p, s, *_ in got)


def test_nothing_of_another_repository_and_not_found_is_clear(stored):
    stores, url, other, _ = stored
    held = rv.repository_vectors(stores.vectors, stores.metadata, url)
    theirs = rv.repository_vectors(stores.vectors, stores.metadata, other)
    assert len(held.paths) > len(theirs.paths) > 0
    answers = {p for q in held.paths for p, *_ in held.nearest(url, q, 50, True)}
    assert answers <= set(held.paths)
    with pytest.raises(NotFound, match="no vector for 'pkg/m99.py'"):
        held.nearest(url, "pkg/m99.py", 5)
    with pytest.raises(NotFound):  # through related_files' candidates, as before
        candidates(stores.vectors, stores.metadata, url, "pkg/m99.py", 10)
    assert rv.repository_vectors(stores.vectors, stores.metadata, "https://nowhere/x") is None
    assert rv.repository_vectors(stores.vectors, None, url) is None


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
    first = rv.repository_vectors(stores.vectors, stores.metadata, url)
    again = rv.repository_vectors(stores.vectors, stores.metadata, url)
    assert first is again and reads == [url]
    repo = tmp / "alpha"
    commit(repo, {"pkg/new_one.py": "from pkg import m1\n"}, 3, "a new file")
    res = run_ingest(str(repo), settings, stores=stores)
    assert res.status == "complete", res.error
    fresh = rv.repository_vectors(stores.vectors, stores.metadata, url)
    assert reads == [url, url] and "pkg/new_one.py" in fresh.index
    assert "pkg/new_one.py" not in first.index
    cands, _signals = candidates(stores.vectors, stores.metadata, url, "pkg/new_one.py", 10)
    assert cands and all(p != "pkg/new_one.py" for p, *_ in cands)
