"""Cloning real git repositories (over file://): shallow, single branch, refs, limits."""

from __future__ import annotations

import socket
import time

import pytest

from graph_jobs.errors import CloneTimeout, RepositoryTooLarge
from graph_jobs.graph.repo_source import open_repository
from tests.support.repos import commit_all, git, make_repo


@pytest.fixture
def upstream(tmp_path):
    repo = make_repo(tmp_path / "up", {"a.py": "import b\n", "b.py": ""})
    git(repo, "tag", "v1")
    (repo / "c.py").write_text("import a\n")
    commit_all(repo, "second")
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "feature.py").write_text("")
    commit_all(repo, "feature")
    git(repo, "checkout", "-q", "main")
    return repo


def test_shallow_single_branch_clone_is_removed_afterwards(tmp_path, upstream):
    with open_repository(f"file://{upstream}", workdir=tmp_path) as opened:
        root = opened.root
        assert (root / "c.py").exists() and not (root / "feature.py").exists()
        assert git(root, "rev-list", "--count", "HEAD").strip() == "1"
        assert "origin/feature" not in git(root, "branch", "-r")
        assert opened.commit == git(upstream, "rev-parse", "main").strip()
    assert not root.exists()


def test_refs_branch_tag_and_commit(tmp_path, upstream):
    with open_repository(f"file://{upstream}", "feature", workdir=tmp_path) as o:
        assert (o.root / "feature.py").exists()
    with open_repository(f"file://{upstream}", "v1", workdir=tmp_path) as o:
        assert not (o.root / "c.py").exists()
    sha = git(upstream, "rev-parse", "main~1").strip()
    with open_repository(f"file://{upstream}", sha, workdir=tmp_path) as o:
        assert o.commit == sha and not (o.root / "c.py").exists()


def test_size_limit(tmp_path):
    import os

    big = make_repo(tmp_path / "big", {"data.bin": os.urandom(3 << 20)})
    with pytest.raises(RepositoryTooLarge), \
            open_repository(f"file://{big}", max_bytes=1 << 20, workdir=tmp_path):
        pass
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("pharos-clone-")]


def test_time_limit(tmp_path):
    # A Git host that accepts the connection and never answers.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    port = server.getsockname()[1]
    try:
        started = time.monotonic()
        with pytest.raises(CloneTimeout, match="1 s limit"), open_repository(
            f"http://127.0.0.1:{port}/user/repo.git", timeout_s=1.0, workdir=tmp_path
        ):
            pass
        assert time.monotonic() - started < 10
    finally:
        server.close()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("pharos-clone-")]


@pytest.mark.parametrize("ref", [None, "feature", "sha"])
def test_history_clone_beside_the_work_tree(tmp_path, upstream, ref):
    """With history wanted, the work tree stays a --depth 1 clone and the history is a
    bare clone made at the same time, holding the same commit and its ancestors."""
    from graph_jobs.history.git_log import head_commit, read_commits

    if ref == "sha":
        ref = git(upstream, "rev-parse", "main~1").strip()
    with open_repository(f"file://{upstream}", ref, workdir=tmp_path,
                         history_depth=50) as opened:
        assert git(opened.root, "rev-list", "--count", "HEAD").strip() == "1"
        hist = opened.history_root()
        assert hist != opened.root and git(hist, "rev-parse", "--is-bare-repository").strip() \
            == "true"
        assert head_commit(hist) == opened.commit
        want = int(git(upstream, "rev-list", "--count", opened.commit).strip())
        assert len(read_commits(hist, head=opened.commit)) == want
    assert not hist.exists() and not opened.root.exists()


def test_closing_early_stops_the_history_clone(tmp_path, upstream, monkeypatch):
    """Leaving the context before the history is read kills its clone and removes both."""
    import threading

    import graph_jobs.graph.repo_source as rs

    started, real = threading.Event(), rs._run_git_watched

    def slow(args, cwd, watch, timeout_s, max_bytes, config=(), stop=None):
        if "--bare" in args:  # the history clone: hangs until stopped
            started.set()
            assert stop is not None and stop.wait(30), "never stopped"
            raise rs.CloneFailed("stopped")
        return real(args, cwd, watch, timeout_s, max_bytes, config, stop)

    monkeypatch.setattr(rs, "_run_git_watched", slow)
    t0 = time.monotonic()
    with open_repository(f"file://{upstream}", workdir=tmp_path, history_depth=5) as opened:
        assert started.wait(10)
    assert time.monotonic() - t0 < 10
    assert not opened.root.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("pharos-clone-")]
    with pytest.raises(rs.CloneFailed):
        opened.history_root()


def test_a_failed_history_clone_leaves_structure_alone(tmp_path, upstream, monkeypatch,
                                                       settings):
    import graph_jobs.graph.repo_source as rs
    from graph_jobs.pipeline import Stores, run_ingest

    real = rs.clone

    def no_history(*a, **k):
        if k.get("bare"):
            raise rs.CloneFailed("git clone failed (exit 128): fatal: the history is gone")
        return real(*a, **k)

    monkeypatch.setattr(rs, "clone", no_history)
    res = run_ingest(f"file://{upstream}", settings, stores=Stores.open(settings))
    assert res.status == "complete", res.error
    assert res.history.startswith("none: the history clone failed"), res.history
    assert "structure alone" in res.history


def test_history_of_a_commit_the_clone_lacks(tmp_path, upstream):
    from graph_jobs.history.history_stage import mine_history

    got = mine_history(upstream, {"a.py"}, head="0" * 40)
    assert got.status == "none" and "does not hold" in got.note
