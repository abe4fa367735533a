"""Related files end to end: ingest with history, Qdrant + SQL, reranked answers with why;
the relevance bench's cut clone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from devkit.repos import git
from graph_jobs.pipeline import Stores, run_ingest
from graph_jobs.relations.related_files import candidates, related_files, walked
from tests.graph_jobs.test_history_and_relations import commit
from tests.support.bench_modules import bench_module

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path) -> Path:
    """app/ with an import chain, a test, a file co-changed with app/core.py only through
    history (no import), and a folder 'lib' whose name must never come back as an answer."""
    repo = tmp_path / "proj"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    files = {
        "app/__init__.py": "",
        "app/core.py": "from app import util\n",
        "app/util.py": "X = 1\n",
        "app/cli.py": "from app import core\n",
        "tests/test_core.py": "from app import core\n",
        "lib/__init__.py": "",
        "lib/schema.py": "S = 1\n",
        "lib/other.py": "O = 1\n",
        "lib/more.py": "M = 1\n",
    }
    commit(repo, files, 0, "root")
    for day in range(1, 8):  # lib/schema.py changes with app/core.py, never imported by it
        commit(repo, {"app/core.py": f"from app import util\n# {day}\n",
                      "lib/schema.py": f"S = {day + 1}\n"}, day)
    commit(repo, {"lib/other.py": "O = 2\n", "lib/more.py": "M = 2\n"}, 9)
    return repo


def _stores(settings):
    return Stores.open(settings)


def test_related_files_say_why(project, settings):
    stores = _stores(settings)
    res = run_ingest(str(project), settings, stores=stores)
    assert res.status == "complete", res.error
    assert res.history.startswith("mined")
    assert {"imports", "folder", "cochange", "test"} <= set(res.relations)
    hits = related_files(stores.vectors, stores.metadata, res.repo_url, "app/core.py", k=8)
    why = {h.file_path: h.why for h in hits}
    assert "imported by it" in why["app/util.py"]  # core imports util
    assert "imports it" in why["app/cli.py"]  # cli imports core
    assert "its test" in why["tests/test_core.py"] and "imports it" in why["tests/test_core.py"]
    assert any(w.startswith("changed together 7 times") for w in why["lib/schema.py"])
    assert "same folder" in why["app/__init__.py"]
    # the co-changed file outranks files with no tie to app/core.py
    order = [h.file_path for h in hits]
    assert order.index("lib/schema.py") < order.index("lib/more.py")
    # without the rerank, the vector order is returned (still explained)
    plain = related_files(stores.vectors, stores.metadata, res.repo_url, "app/core.py", k=8,
                          rerank=False)
    assert [h.score for h in plain] == sorted((h.score for h in plain), reverse=True)
    assert all(h.score == h.vector_score for h in plain)


def test_tied_files_are_candidates_beyond_the_vector_pool(project, settings):
    """A pool of one nearest neighbour: every file with an exact tie to app/core.py
    (co-change, imports both ways, its test, shared words) is still a candidate, with its
    real cosine; and so are the files the graphs put near it (``walked``: PageRank on the
    imports, co-change two steps away, its folder), and nothing else."""
    stores = _stores(settings)
    res = run_ingest(str(project), settings, stores=stores)
    assert res.status == "complete", res.error
    cands, sig = candidates(stores.vectors, stores.metadata, res.repo_url, "app/core.py", 1)
    tied = {*sig["cochange"], *sig["imports"], *sig["imported_by"], *sig["tests"],
            *sig["shared_terms"]}
    assert {"lib/schema.py", "app/util.py", "app/cli.py", "tests/test_core.py"} <= tied
    nearest = stores.vectors.similar(res.repo_url, "app/core.py", 1)[0].file_path
    near = set(walked("app/core.py", sig)) - {"app/core.py"}
    assert "app/__init__.py" in near  # its folder
    assert {c[0] for c in cands} == tied | near | {nearest}  # nothing else was added
    assert len(cands) == len(tied | near | {nearest})  # and nothing twice
    full = {h.file_path: h.score for h in stores.vectors.similar(res.repo_url, "app/core.py", 20)}
    for path, cos, _lang, _deg in cands:
        assert cos == pytest.approx(full[path], abs=1e-4)
    plain, _ = candidates(stores.vectors, stores.metadata, res.repo_url, "app/core.py", 1,
                          tied=False)
    assert [c[0] for c in plain] == [nearest]


def test_folder_nodes_never_appear_in_answers(project, settings):
    stores = _stores(settings)
    res = run_ingest(str(project), settings, stores=stores)
    files = {f["path"] for f in stores.metadata.repository_files(res.repo_url)}
    points = stores.vectors.repository_points(res.repo_url, with_vectors=False)
    assert {p.payload["file_path"] for p in points} == files  # folders got no point
    for f in files:
        for h in related_files(stores.vectors, stores.metadata, res.repo_url, f, k=20):
            assert h.file_path in files and h.file_path not in ("lib", "app", "tests", ".")


def test_repository_without_history_still_ingests(tmp_path, settings):
    plain = tmp_path / "plain"
    (plain / "pkg").mkdir(parents=True)
    (plain / "pkg" / "a.py").write_text("from pkg import b\n")
    (plain / "pkg" / "b.py").write_text("")
    (plain / "pkg" / "__init__.py").write_text("")
    stores = _stores(settings)
    res = run_ingest(str(plain), settings, stores=stores)
    assert res.status == "complete", res.error
    assert res.history.startswith("none") and "structure alone" in res.history
    hits = related_files(stores.vectors, stores.metadata, res.repo_url, "pkg/a.py", k=5)
    assert hits and hits[0].file_path in ("pkg/b.py", "pkg/__init__.py")


def test_reingest_mines_only_new_commits(project, settings):
    stores = _stores(settings)
    first = run_ingest(str(project), settings, stores=stores)
    commit(project, {"app/util.py": "X = 2\n", "app/cli.py": "from app import core\n#\n"}, 20)
    second = run_ingest(str(project), settings, stores=stores)
    assert second.history.startswith("incremental: 1 new commit since"), second.history
    sig = stores.metadata.file_signals(second.repo_url, "app/util.py")
    assert sig["cochange"]["app/cli.py"][0] == 1
    assert stores.metadata.load_history(first.repo_url).head == second.commit


def test_relations_imports_keeps_the_import_graph(project, settings):
    stores = _stores(settings)
    res = run_ingest(str(project), settings, stores=stores, relations="imports")
    assert res.status == "complete"
    assert set(res.relations) == {"imports"} and res.history.startswith("off")


def test_history_through_a_url_clone(project, settings, tmp_path):
    """A URL is cloned with its history (depth = PHAROS_HISTORY_MAX_COMMITS, blobless)."""
    settings = settings.model_copy(update={"history_max_commits": 5})
    stores = _stores(settings)
    res = run_ingest(f"file://{project}", settings, stores=stores)
    assert res.status == "complete", res.error
    # 9 commits upstream, 5 in reach: the oldest of them is the clone's edge (root)
    assert res.history.startswith("mined: 5 commits read"), res.history


def test_bench_cut_clone_reaches_nothing_after_the_cut(project, tmp_path):
    bench = bench_module("relevance_bench")
    cut, total = bench.cut_commit(project, 0.7)
    assert total == 9
    clone = bench.clone_at(project, cut, tmp_path / "cut")
    future = set(git(project, "rev-list", f"{cut}..HEAD").split())
    assert future and not (future & bench.reachable(clone))
    # not as an object either, not through any ref, reflog or FETCH_HEAD
    for sha in future:
        r = subprocess.run(["git", "-C", str(clone), "cat-file", "-e", sha],
                           capture_output=True)
        assert r.returncode != 0
    assert git(clone, "rev-parse", "HEAD").strip() == cut


def test_bench_runs_end_to_end(project, tmp_path):
    # a future commit of three files: app/core.py then has two future partners (a query)
    commit(project, {"app/core.py": "from app import util\n# 10\n", "lib/schema.py": "S = 10\n",
                     "app/util.py": "X = 10\n"}, 10)
    out = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "relevance_bench.py"),
                           str(project), "--cut", "0.5", "--boot", "50", "--out", str(out),
                           "--no-seed-overlap"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(out.read_text())
    assert set(data["summary"]["pairs"]) >= {"random", "ppr", "folder", "coupling",
                                             "coupling+ppr+folder", "words", "rrf",
                                             "coupling+words", "pharos", "pharos-hand",
                                             "pharos-vector"}
    assert set(data["summary"]) == {"pairs", "navigation", "prevention"}
    assert data["summary"]["prevention"]["pharos"]["repositories"] == 1
    assert "recall@10" in proc.stdout and "hit@3" in proc.stdout


def test_why_names_a_same_package_use_as_such():
    from graph_jobs.relations.related_files import explain

    sig = {"imports": {"p/B.java": "same-package", "p/C.java": "import"},
           "imported_by": {"p/D.java": "same-package"}, "cochange": {}, "tests": set()}
    assert explain("p/A.java", "p/B.java", sig) == ["used by it (same package)", "same folder"]
    assert explain("p/A.java", "p/C.java", sig) == ["imported by it", "same folder"]
    assert explain("p/A.java", "p/D.java", sig) == ["uses it (same package)", "same folder"]
