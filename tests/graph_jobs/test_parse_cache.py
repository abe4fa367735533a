"""Re-ingesting re-parses only what changed (cache by git blob id)."""

from __future__ import annotations

from devkit.repos import commit_all, make_repo
from graph_jobs.graph.dependency_graph import build_dependency_graph


def test_unchanged_repository_reparses_nothing(tmp_path):
    repo = make_repo(tmp_path / "r", {f"m{i}.py": f"import m{i + 1}\n" for i in range(30)})
    cache = tmp_path / "cache.sqlite3"
    first = build_dependency_graph(repo, cache_path=cache)
    again = build_dependency_graph(repo, cache_path=cache)
    assert first.cache_hits == 0 and again.cache_hits == 30 and again.parsed == 0
    assert [(e.source, e.target) for e in again.edges] == [(e.source, e.target) for e in first.edges]
    (repo / "m3.py").write_text("import m7\n")  # changed in the work tree, not committed
    (repo / "new.py").write_text("import m1\n")
    commit_all(repo)
    (repo / "m5.py").write_text("import m9\n")
    third = build_dependency_graph(repo, cache_path=cache)
    assert third.cache_hits == 28  # 31 files; m3, m5 and new.py parsed afresh
    targets = {(e.source, e.target) for e in third.edges}
    assert {("m3.py", "m7.py"), ("m5.py", "m9.py"), ("new.py", "m1.py")} <= targets
    assert ("m3.py", "m4.py") not in targets
