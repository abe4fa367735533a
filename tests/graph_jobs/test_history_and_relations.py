"""History mining, the relation graph and explained related files, on git histories
built here (dates set with GIT_COMMITTER_DATE, so decay is checked to the day)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from devkit.repos import git
from graph_jobs.history.cochange import CoChangeParams, merge, mine
from graph_jobs.history.git_log import read_commits
from graph_jobs.history.history_stage import mine_history
from graph_jobs.relations.tests_and_sources import is_test, pair_tests

DAY = 86400
T0 = 1_700_000_000  # 2023-11-14


def commit(repo: Path, files: dict[str, str], days: float, message: str = "c",
           remove: tuple[str, ...] = ()) -> str:
    for rel, text in files.items():
        f = repo / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
    for rel in remove:
        (repo / rel).unlink()
    stamp = f"@{int(T0 + days * DAY)} +0000"
    env = {**os.environ, "GIT_COMMITTER_DATE": stamp, "GIT_AUTHOR_DATE": stamp}
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True, env=env)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", "commit",
                    "-q", "--allow-empty", "-m", message], check=True, env=env)
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture
def history_repo(tmp_path) -> Path:
    """a.py/b.py change together 3 times; c.py once with a.py, a year before the rest;
    a merge and a 40-file commit that must not count."""
    repo = tmp_path / "h"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, {"a.py": "import b\n", "b.py": "x = 1\n", "c.py": "y = 1\n",
                  "pkg/__init__.py": ""}, 0, "root: every file added")
    commit(repo, {"a.py": "import b\n# 1\n", "c.py": "y = 2\n"}, 1)
    commit(repo, {"a.py": "import b\n# 2\n", "b.py": "x = 2\n"}, 366)
    commit(repo, {"a.py": "import b\n# 3\n", "b.py": "x = 3\n"}, 367)
    # a side branch merged back: the merge commit itself is left out
    git(repo, "checkout", "-q", "-b", "side")
    commit(repo, {"b.py": "x = 4\n"}, 368)
    git(repo, "checkout", "-q", "main")
    commit(repo, {"c.py": "y = 3\n"}, 368.5)
    env = {**os.environ, "GIT_COMMITTER_DATE": f"@{T0 + 369 * DAY} +0000"}
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
                    "merge", "-q", "--no-ff", "-m", "merge side", "side"], check=True, env=env)
    # a huge commit: 40 generated files and a.py, b.py, c.py
    commit(repo, {**{f"gen/g{i}.py": f"v = {i}\n" for i in range(40)},
                  "a.py": "import b\n# 4\n", "b.py": "x = 5\n", "c.py": "y = 4\n"}, 370)
    commit(repo, {"a.py": "import b\n# 5\n", "b.py": "x = 6\n"}, 731)
    return repo


def test_mining_leaves_out_merges_roots_and_huge_commits(history_repo):
    commits = read_commits(history_repo)
    assert not any(c.changes == [] and not c.root for c in commits)  # no merge read
    state = mine(commits, CoChangeParams(max_commit_files=30, half_life_days=365))
    assert state.commits_large == 1
    ab = state.pairs[("a.py", "b.py")]
    # together at days 366, 367 and 731; not the root (day 0) nor the 43-file commit
    assert ab.commits == 3
    assert state.pairs[("a.py", "c.py")].commits == 1
    assert ("b.py", "c.py") not in state.pairs
    assert not any(p.startswith("gen/") for pair in state.pairs for p in pair)
    assert state.revisions["b.py"].commits == 4  # 366, 367, 368 (side branch), 731


def test_decay_halves_weight_per_half_life(history_repo):
    state = mine(read_commits(history_repo), CoChangeParams(half_life_days=365))
    ab = state.pairs[("a.py", "b.py")]
    expected = 0.5 ** (365 / 365) + 0.5 ** (364 / 365) + 1.0  # days 366, 367, 731
    assert ab.weight == pytest.approx(expected, rel=1e-6)
    ac = state.pairs[("a.py", "c.py")]
    assert ac.weight == pytest.approx(0.5 ** (730 / 365), rel=1e-6)
    slow = mine(read_commits(history_repo), CoChangeParams(half_life_days=10_000))
    assert slow.pairs[("a.py", "c.py")].weight > ac.weight


def test_renames_are_followed(tmp_path):
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    body = "".join(f"line {i} of a file long enough for rename detection\n" for i in range(30))
    commit(repo, {"old/util.py": body, "main.py": "import util\n"}, 0)
    commit(repo, {"old/util.py": body + "# 1\n", "main.py": "import util\n# 1\n"}, 1)
    commit(repo, {"old/util.py": body + "# 2\n", "main.py": "import util\n# 2\n"}, 2)
    (repo / "new").mkdir()
    git(repo, "mv", "old/util.py", "new/util.py")
    commit(repo, {}, 3, "rename")
    commit(repo, {"new/util.py": body + "# 3\n", "main.py": "import util\n# 3\n"}, 4)
    for exact in (False, True):  # -M on a full repository, exact renames on a partial clone
        state = mine(read_commits(repo, exact_renames_only=exact), keep={"new/util.py", "main.py"})
        assert state.pairs[("main.py", "new/util.py")].commits == 3
        assert state.renames["old/util.py"] == "new/util.py"


def test_incremental_mining_reads_only_new_commits_and_matches_a_full_mine(history_repo):
    files = {"a.py", "b.py", "c.py", "pkg/__init__.py"}
    first = mine_history(history_repo, files)
    assert first.status == "mined"
    commit(history_repo, {"a.py": "import b\n# 6\n", "c.py": "y = 9\n"}, 800)
    commit(history_repo, {"a.py": "import b\n# 7\n", "b.py": "x = 9\n"}, 801)
    again = mine_history(history_repo, files, stored=first.cochange)
    assert again.status == "incremental" and again.commits_read == 2
    full = mine_history(history_repo, files).cochange
    assert again.cochange.head == full.head
    for key, t in full.pairs.items():
        assert again.cochange.pairs[key].commits == t.commits
        assert again.cochange.pairs[key].weight == pytest.approx(t.weight, rel=1e-9)
    unchanged = mine_history(history_repo, files, stored=again.cochange)
    assert unchanged.status == "unchanged" and unchanged.commits_read == 0
    # merging nothing into a state is the state
    assert merge(full, mine([])).pairs == full.pairs


def test_no_history_is_structure_alone(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "a.py").write_text("import b\n")
    assert mine_history(plain, {"a.py"}).status == "none"
    one = tmp_path / "one"
    one.mkdir()
    git(one, "init", "-q", "-b", "main")
    commit(one, {"a.py": "import b\n", "b.py": ""}, 0)
    res = mine_history(one, {"a.py", "b.py"})
    assert res.status == "none" and "structure alone" in res.note


def test_tests_pair_with_their_sources():
    files = [("src/pkg/api.py", "python"), ("tests/test_api.py", "python"),
             ("tests/conftest.py", "python"), ("server.go", "go"), ("server_test.go", "go"),
             ("src/main/java/x/Parser.java", "java"),
             ("src/test/java/x/ParserTest.java", "java"),
             ("lib/fmt.ts", "typescript"), ("lib/fmt.test.ts", "typescript"),
             ("src/fmt.rs", "rust"), ("tools/api.go", "go")]
    pairs = dict(pair_tests(files))
    assert pairs["tests/test_api.py"] == "src/pkg/api.py"  # same language family only
    assert pairs["server_test.go"] == "server.go"
    assert pairs["src/test/java/x/ParserTest.java"] == "src/main/java/x/Parser.java"
    assert pairs["lib/fmt.test.ts"] == "lib/fmt.ts"
    assert "tests/conftest.py" not in pairs
    assert is_test("tests/conftest.py") and not is_test("src/pkg/api.py")


def test_sessions_group_one_authors_consecutive_commits(tmp_path):
    repo = tmp_path / "s"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, {"a.py": "", "b.py": "", "c.py": ""}, 0)
    commit(repo, {"a.py": "1"}, 10)
    commit(repo, {"b.py": "1"}, 10 + 1 / 24)  # an hour later, same author
    commit(repo, {"a.py": "2"}, 10 + 2 / 24)  # and again
    commit(repo, {"c.py": "1"}, 20)  # ten days later
    commits = read_commits(repo)
    assert ("a.py", "b.py") not in mine(commits).pairs
    grouped = mine(commits, CoChangeParams(session_hours=2))
    assert grouped.pairs[("a.py", "b.py")].commits == 1
    assert ("b.py", "c.py") not in grouped.pairs
    assert grouped.revisions["a.py"].commits == 1  # the session counts once per file
    assert mine(commits).revisions["a.py"].commits == 2
    for c in commits:  # another author breaks the session
        c.author = c.sha
    assert ("a.py", "b.py") not in mine(commits, CoChangeParams(session_hours=2)).pairs
