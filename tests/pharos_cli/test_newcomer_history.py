"""Issue 27, item 2: re-ingesting an unchanged repository changes nothing. The history's
bookmark is the commit it was mined up to (a merge commit at HEAD included), so the
second and third ingests read 0 new commits and store the same pairs; after a
force-push drops the bookmark, the history is mined again from scratch."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from devkit.repos import git
from graph_jobs.history.history_stage import mine_history
from tests.support.cli_runs import run_pharos

pytestmark = pytest.mark.slow
DAY = 86400
T0 = 1_700_000_000


def _commit(repo: Path, files: dict[str, str], day: float, message: str = "c") -> None:
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    stamp = f"@{int(T0 + day * DAY)} +0000"
    env = {**os.environ, "GIT_COMMITTER_DATE": stamp, "GIT_AUTHOR_DATE": stamp}
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True, env=env)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
                    "commit", "-q", "-m", message], check=True, env=env)


def _merge(repo: Path, branch: str, day: float) -> None:
    stamp = f"@{int(T0 + day * DAY)} +0000"
    env = {**os.environ, "GIT_COMMITTER_DATE": stamp, "GIT_AUTHOR_DATE": stamp}
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
                    "merge", "-q", "--no-ff", "-m", f"Merge pull request from {branch}",
                    branch], check=True, env=env)


def _py(n: int, i: int) -> str:
    return f"from pkg import m{(i + 1) % 6}\n# {n}\n"


@pytest.fixture
def merged_repo(tmp_path) -> Path:
    """Pull requests merged with merge commits, each branch's commits dated before the
    main line's newest commit (as on GitHub), and HEAD a merge commit."""
    repo = tmp_path / "merged"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    _commit(repo, {"pkg/__init__.py": "", **{f"pkg/m{i}.py": _py(0, i) for i in range(6)}},
            0, "initial import")
    for pr in range(4):
        base = 10 * (pr + 1)
        git(repo, "checkout", "-q", "-b", f"pr{pr}")
        a, b, c, d = ((pr + i) % 6 for i in range(4))
        _commit(repo, {f"pkg/m{a}.py": _py(base, a), f"pkg/m{b}.py": _py(base, b)}, base)
        _commit(repo, {f"pkg/m{a}.py": _py(base + 1, a), f"pkg/m{b}.py": _py(base + 1, b)},
                base + 1)
        git(repo, "checkout", "-q", "main")
        _commit(repo, {f"pkg/m{c}.py": _py(base + 2, c), f"pkg/m{d}.py": _py(base + 2, d)},
                base + 2)
        _merge(repo, f"pr{pr}", base + 3)
    assert len(git(repo, "rev-list", "--parents", "-n", "1", "HEAD").split()) == 3  # a merge
    return repo


def _ingest(repo: Path, data: Path) -> dict:
    done = run_pharos("ingest", str(repo), "--json", data_dir=data)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def _stored(data: Path, repo: Path):
    from graph_jobs.stores.metadata_store import MetadataStore

    meta = MetadataStore(f"sqlite:///{data / 'pharos.sqlite3'}")
    try:
        state = meta.load_history(str(repo))
        return state.head, {k: (t.commits, round(t.weight, 9)) for k, t in state.pairs.items()}
    finally:
        meta.engine.dispose()


def test_three_ingests_of_an_unchanged_repository_store_the_same_history(merged_repo, tmp_path):
    data = tmp_path / "data"
    head = git(merged_repo, "rev-parse", "HEAD").strip()
    first = _ingest(merged_repo, data)
    assert first["history"].startswith("mined: "), first["history"]
    bookmark, pairs = _stored(data, merged_repo)
    assert bookmark == head and pairs
    for _ in range(2):
        again = _ingest(merged_repo, data)
        assert again["history"] == f"unchanged: 0 new commits since {head[:12]}"
        assert _stored(data, merged_repo) == (head, pairs)

    # one more pull request: only its commits are read, and the result is a fresh mine's
    git(merged_repo, "checkout", "-q", "-b", "pr9")
    _commit(merged_repo, {"pkg/m1.py": _py(90, 1), "pkg/m4.py": _py(90, 4)}, 90)
    git(merged_repo, "checkout", "-q", "main")
    _merge(merged_repo, "pr9", 91)
    more = _ingest(merged_repo, data)
    assert more["history"].startswith("incremental: 1 new commit since "), more["history"]
    files = {f"pkg/m{i}.py" for i in range(6)} | {"pkg/__init__.py"}
    fresh = mine_history(merged_repo, files).cochange
    head = git(merged_repo, "rev-parse", "HEAD").strip()
    assert _stored(data, merged_repo) == (head, {
        k: (t.commits, round(t.weight, 9)) for k, t in fresh.pairs.items()})

    # a force-push drops the bookmark: mined again from scratch
    git(merged_repo, "reset", "-q", "--hard", "HEAD~2")
    _commit(merged_repo, {"pkg/m2.py": _py(95, 2), "pkg/m5.py": _py(95, 5)}, 95)
    rewritten = _ingest(merged_repo, data)
    assert rewritten["history"].startswith("mined: "), rewritten["history"]
    assert "mined again from scratch" in rewritten["history"]
    fresh = mine_history(merged_repo, files).cochange
    head = git(merged_repo, "rev-parse", "HEAD").strip()
    assert _stored(data, merged_repo) == (head, {
        k: (t.commits, round(t.weight, 9)) for k, t in fresh.pairs.items()})
