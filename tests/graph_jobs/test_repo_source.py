"""Cloning real git repositories (over file:// and a real smart-HTTP server): shallow,
single branch, refs, limits, and none of the operator's git secrets."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from devkit.repos import commit_all, git, make_repo
from graph_jobs.errors import CloneFailed, CloneTimeout, RepositoryTooLarge
from graph_jobs.graph.repo_source import clone, open_repository
from graph_jobs.url_policy import UrlPolicy
from tests.support.git_http import GitHTTPServer


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
    big = make_repo(tmp_path / "big", {"data.bin": os.urandom(3 << 20)})
    with pytest.raises(RepositoryTooLarge, match="PHAROS_CLONE_MAX_BYTES"), \
            open_repository(f"file://{big}", max_bytes=1 << 20, workdir=tmp_path):
        pass
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("pharos-clone-")]


def _disk(path: Path) -> tuple[int, int]:
    """(total bytes, largest file) under ``path``."""
    sizes = [os.lstat(os.path.join(d, f)).st_size for d, _, fs in os.walk(path) for f in fs]
    return sum(sizes), max(sizes, default=0)


def _commit_blobs(repo: Path, files: dict[str, bytes]) -> None:
    """Commit ``files`` through ``git hash-object``, so that a huge file never has to be
    written out in the upstream work tree."""
    entries = []
    for name, data in files.items():
        blob = subprocess.run(["git", "-C", str(repo), "hash-object", "-w", "--stdin"],
                              input=data, capture_output=True, check=True).stdout.strip()
        entries.append(f"100644 blob {blob.decode()}\t{name}")
    tree = subprocess.run(["git", "-C", str(repo), "mktree"], input="\n".join(entries) + "\n",
                          capture_output=True, check=True, text=True).stdout.strip()
    git(repo, "update-ref", "refs/heads/main", git(repo, "commit-tree", "-m", "x", tree).strip())


LIMIT = 20 << 20


@pytest.mark.parametrize("sha", [False, True], ids=["branch", "commit"])
def test_a_small_pack_of_a_huge_file_is_refused_before_it_is_written(tmp_path, sha):
    """200 MB of zeros is a pack of a few hundred kB: the pack passes the 20 MB limit
    easily, and the checkout would write ten times the limit. Nothing past the limit is
    ever on disk (before, the clone wrote all 200 MB, then found it too large)."""
    up = make_repo(tmp_path / "up")
    _commit_blobs(up, {"a.py": b"import os\n", "zeros.bin": bytes(10 * LIMIT)})
    ref = git(up, "rev-parse", "main").strip() if sha else None
    dest = tmp_path / "clone"
    with pytest.raises(RepositoryTooLarge, match="PHAROS_CLONE_MAX_BYTES"):
        clone(UrlPolicy.for_user().check(f"file://{up}"), dest, ref, max_bytes=LIMIT)
    total, largest = _disk(dest)
    assert total <= LIMIT and largest <= LIMIT, (total, largest)


def test_a_file_growing_past_the_limit_as_it_is_written_is_stopped_at_the_limit(tmp_path):
    """Line-ending conversion doubles a file of newlines on checkout: its blob fits the
    limit, the file written does not. The write itself fails at the limit."""
    up = make_repo(tmp_path / "up")
    _commit_blobs(up, {".gitattributes": b"lines.txt text eol=crlf\n",
                       "lines.txt": b"\n" * (LIMIT * 3 // 4)})
    dest = tmp_path / "clone"
    with pytest.raises(RepositoryTooLarge, match="PHAROS_CLONE_MAX_BYTES"):
        clone(UrlPolicy.for_user().check(f"file://{up}"), dest, max_bytes=LIMIT)
    _total, largest = _disk(dest)
    assert largest <= LIMIT, largest


@pytest.mark.parametrize("secret", ["credential helper", ".netrc", "GIT_CONFIG_COUNT header"])
def test_the_host_cloned_sees_none_of_the_operators_git_secrets(tmp_path, monkeypatch, secret):
    """The host asks for a password (401 + WWW-Authenticate: Basic). The operator's HOME
    holds one for it, and git given the operator's environment sends it; the clone's git
    must not: the clone fails, and no request carried an ``Authorization`` header."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    if secret == "credential helper":
        subprocess.run(["git", "config", "--file", str(home / ".gitconfig"), "credential.helper",
                        "!f() { echo username=u; echo password=secret; }; f"], check=True)
    elif secret == ".netrc":
        (home / ".netrc").write_text("machine 127.0.0.1 login u password secret\n")
        (home / ".netrc").chmod(0o600)
    else:
        monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
        monkeypatch.setenv("GIT_CONFIG_KEY_0", "http.extraHeader")
        monkeypatch.setenv("GIT_CONFIG_VALUE_0", "Authorization: Basic dTpzZWNyZXQ=")
    repo = make_repo(tmp_path / "private", {"a.py": "import b\n", "b.py": ""})
    (tmp_path / "srv").mkdir()
    with GitHTTPServer(tmp_path / "srv", challenge=True) as server:
        url = server.publish(repo, "private.git")
        # the secret is real: git run as the operator would sends it
        subprocess.run(["git", "ls-remote", url], capture_output=True, timeout=60,
                       env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
        assert any("Authorization" in h for h in server.headers), "the secret is not used"
        server.headers.clear()
        with pytest.raises(CloneFailed), \
                open_repository(url, workdir=tmp_path, history_depth=5) as opened:
            opened.history_root()
        assert server.headers, "git never reached the server"
        assert not [h for h in server.headers if "Authorization" in h], server.headers


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

    def slow(args, cwd, watch, timeout_s, max_bytes, config=(), stop=None, **kw):
        if "--bare" in args:  # the history clone: hangs until stopped
            started.set()
            assert stop is not None and stop.wait(30), "never stopped"
            raise rs.CloneFailed("stopped")
        return real(args, cwd, watch, timeout_s, max_bytes, config, stop, **kw)

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
