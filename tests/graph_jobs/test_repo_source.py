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
