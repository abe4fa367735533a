"""The learned ranker of related files: its training reads nothing after its cut (a built
git history), the shipped model loads and ranks deterministically, the hand weights
answer without it, and the numpy trees evaluate as a tree walk does."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from devkit.repos import git
from graph_jobs.pipeline import Stores, run_ingest
from graph_jobs.relations import learned_ranker
from graph_jobs.relations.ranker_features import FEATURES, ImportGraph, pair_features
from graph_jobs.relations.related_files import (
    RerankWeights,
    candidates,
    rank_related,
    related_files,
)
from tests.graph_jobs.test_history_and_relations import commit
from tests.graph_jobs.test_related_files import project  # noqa: F401 - the fixture
from tests.support.bench_modules import bench_module


@pytest.fixture
def history(tmp_path) -> Path:
    """Files that change in pairs: core/util before the inner cut, core/schema between the
    inner and the outer cut, and after the outer cut cli/other together (never before)
    and a file that does not exist at the cut."""
    repo = tmp_path / "hist"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    files = {"app/__init__.py": "", "app/core.py": "from app import util\n",
             "app/util.py": "X = 1\n", "app/cli.py": "from app import core\n",
             "app/other.py": "O = 1\n", "lib/schema.py": "S = 1\n", "lib/more.py": "M = 1\n"}
    commit(repo, files, 0, "root")
    day = 1
    for i in range(6):  # before the inner cut
        commit(repo, {"app/core.py": f"from app import util\n# {i}\n",
                      "app/util.py": f"X = {i + 2}\n"}, day)
        day += 1
    for i in range(4):  # between the inner and the outer cut
        commit(repo, {"app/core.py": f"from app import util\n# s{i}\n",
                      "lib/schema.py": f"S = {i + 2}\n"}, day)
        day += 1
    for i in range(5):  # after the outer cut: the future
        commit(repo, {"app/cli.py": f"from app import core\n# {i}\n",
                      "app/other.py": f"O = {i + 2}\n", "app/future.py": f"F = {i}\n"}, day)
        day += 1
    return repo


def test_training_uses_no_commit_after_its_cut(history, tmp_path):
    tr = bench_module("train_ranker")
    rb = sys.modules["relevance_bench"]
    outer, total = rb.cut_commit(history, 0.7)
    assert total == 16
    past = set(git(history, "rev-list", outer).split())
    future = set(git(history, "rev-list", f"{outer}..HEAD").split())
    assert len(future) == 5
    d = tr.training_data(history, tmp_path / "cache", 0.7, 0.6)
    # every commit either clone could reach is at or before the outer cut
    assert set(d["seen"]) <= past and not set(d["seen"]) & future
    assert d["inner"] in past and d["inner"] != outer
    labelled = {(q, c) for q, names, _x, y in d["groups"]
                for c, v in zip(names, y, strict=True) if v > 0}
    names = {c for _q, ns, _x, _y in d["groups"] for c in ns} | {q for q, *_ in d["groups"]}
    # the commits between the cuts are the labels ...
    assert ("app/core.py", "lib/schema.py") in labelled
    # ... the future is not: neither its pair nor its new file
    assert ("app/cli.py", "app/other.py") not in labelled
    assert not any(q == "app/cli.py" for q, *_ in d["groups"])
    assert "app/future.py" not in names
    # and the features are from before the inner cut: core and schema had not yet
    # changed together there (their co-change count is 0), core and util had
    for q, ns, x, _y in d["groups"]:
        if q == "app/core.py":
            cc = x[:, FEATURES.index("cochange_commits")]
            assert cc[ns.index("lib/schema.py")] == 0
            if "app/util.py" in ns:
                assert cc[ns.index("app/util.py")] > 0
    # cached: read again, not recomputed
    again = tr.training_data(history, tmp_path / "cache", 0.7, 0.6)
    assert again["inner"] == d["inner"] and len(again["groups"]) == len(d["groups"])


def _tiny_model() -> dict:
    """One tree: cochange_conf <= 0.5 ? (words <= 0.1 ? -1 : 0.5) : 2."""
    f = list(FEATURES)
    return {"format": learned_ranker.FORMAT, "name": "tiny", "features": f, "max_depth": 2,
            "trees": [{"feature": [f.index("cochange_conf"), f.index("words")],
                       "threshold": [0.5, 0.1], "left": [1, ~0], "right": [~2, ~1],
                       "leaf": [-1.0, 0.5, 2.0]},
                      {"feature": [], "threshold": [], "left": [], "right": [],
                       "leaf": [0.25]}]}


def test_trees_evaluate_as_a_walk():
    m = learned_ranker.LearnedRanker.from_dict(_tiny_model())
    x = np.zeros((4, len(FEATURES)))
    x[1, FEATURES.index("words")] = 0.3
    x[2, FEATURES.index("cochange_conf")] = 0.9
    x[3, FEATURES.index("cochange_conf")] = 0.5  # <= goes left
    assert m.score(x).tolist() == [-0.75, 0.75, 2.25, -0.75]
    bad = {**_tiny_model(), "features": list(reversed(FEATURES))}
    with pytest.raises(ValueError):
        learned_ranker.LearnedRanker.from_dict(bad)


def test_personalized_pagerank_matches_networkx():
    nx = pytest.importorskip("networkx")
    files = [("a", 1), ("b", 2), ("c", 1), ("d", 0), ("e", 1)]
    edges = [("a", "b"), ("b", "c"), ("e", "b")]
    g = ImportGraph.build(files, edges)
    ref = nx.pagerank(_nx_graph(nx, files, edges), alpha=0.85, personalization={"a": 1.0},
                      tol=1e-10, max_iter=1000)
    got = g.ppr("a", iters=200)
    for p, i in g.index.items():
        assert got[i] == pytest.approx(ref[p], abs=1e-6)
    assert g.hops("a", True) == {0: 0, 1: 1, 2: 2}
    assert g.hops("b", False) == {1: 0, 0: 1, 4: 1}


def _nx_graph(nx, files, edges):
    h = nx.Graph()
    h.add_nodes_from(p for p, _ in files)
    h.add_edges_from(edges)
    return h


@pytest.fixture
def ingested(project, settings):  # noqa: F811 - the imported fixture
    stores = Stores.open(settings)
    res = run_ingest(str(project), settings, stores=stores)
    assert res.status == "complete", res.error
    return stores, res.repo_url


def test_shipped_model_loads_and_ranks_deterministically(ingested, monkeypatch):
    monkeypatch.delenv("PHAROS_RANKER", raising=False)
    monkeypatch.delenv("PHAROS_RANKER_MODEL", raising=False)
    path = learned_ranker.MODEL_PATH
    assert path.exists() and path.stat().st_size < 5_000_000
    model = learned_ranker.load()
    assert model is not None and model.feature.shape[0] >= 10
    assert json.loads(path.read_text())["features"] == list(FEATURES)
    stores, url = ingested
    first = related_files(stores.vectors, stores.metadata, url, "app/core.py", k=8)
    second = related_files(stores.vectors, stores.metadata, url, "app/core.py", k=8)
    assert [h.file_path for h in first] == [h.file_path for h in second]
    # (local Qdrant's cosines move in the 7th digit from one search to the next)
    assert [h.score for h in first] == pytest.approx([h.score for h in second], abs=1e-5)
    # the order is the model's: its score of the very features the bench and training read
    cands, sig = candidates(stores.vectors, stores.metadata, url, "app/core.py", 100)
    cands = [c for c in cands if c[0] != "app/core.py"]
    want = model.score(pair_features("app/core.py", cands, sig, sig["import_graph"]))
    by_path = dict(zip((c[0] for c in cands), want.tolist(), strict=True))
    assert [h.score for h in first] == pytest.approx([by_path[h.file_path] for h in first],
                                                     abs=1e-4)
    assert [h.score for h in first] == sorted((h.score for h in first), reverse=True)
    hand = related_files(stores.vectors, stores.metadata, url, "app/core.py", k=8, model=None)
    assert [h.score for h in hand] != [h.score for h in first]
    # what a co-change tie and an import say still leads the answer
    assert {"lib/schema.py", "app/util.py"} & {h.file_path for h in first[:3]}


def test_the_hand_weights_answer_without_the_model(ingested, monkeypatch, tmp_path):
    stores, url = ingested
    monkeypatch.setenv("PHAROS_RANKER_MODEL", str(tmp_path / "no-such-model.json"))
    assert learned_ranker.load() is None
    got = related_files(stores.vectors, stores.metadata, url, "app/core.py", k=8)
    cands, sig = candidates(stores.vectors, stores.metadata, url, "app/core.py", 100)
    hand = rank_related("app/core.py", cands, sig, RerankWeights(), k=8)
    # (local Qdrant's cosines move in the 7th digit from one search to the next)
    assert [h.file_path for h in got] == [h.file_path for h in hand]
    assert [h.score for h in got] == pytest.approx([h.score for h in hand], abs=1e-5)
    order = [h.file_path for h in got]
    assert order.index("lib/schema.py") < order.index("lib/more.py")
    # a broken file is no model either, and so is PHAROS_RANKER=hand
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    monkeypatch.setenv("PHAROS_RANKER_MODEL", str(broken))
    assert learned_ranker.load() is None
    monkeypatch.delenv("PHAROS_RANKER_MODEL")
    monkeypatch.setenv("PHAROS_RANKER", "hand")
    assert learned_ranker.load() is None


def test_history_features_read_nothing_after_the_inner_cut(history, tmp_path):
    """Recency in training: at the inner cut (day 5; the outer clone's commits of days 6
    to 10 are the labels, days 11 to 15 the future) util changed that day; schema, cli
    and other had changed in no commit but the root (which history mining leaves out)."""
    tr = bench_module("train_ranker")
    d = tr.training_data(history, tmp_path / "cache", 0.7, 0.6)
    (ns, x), = [(ns, x) for q, ns, x, _y in d["groups"] if q == "app/core.py"]
    age = dict(zip(ns, x[:, FEATURES.index("cand_age_days")].tolist(), strict=True))
    assert age["app/util.py"] == pytest.approx(0.0)
    # schema changed with core on days 7-10 (labels) and cli, other on days 11-15 (the
    # future): neither is read
    for late in ("lib/schema.py", "app/cli.py", "app/other.py"):
        assert age[late] == 20_000.0  # the age of a file never changed
    assert x[0, FEATURES.index("query_age_days")] == pytest.approx(0.0)
    recency = dict(zip(ns, x[:, FEATURES.index("cand_recency")].tolist(), strict=True))
    assert recency["app/util.py"] == 0.0 and recency["lib/schema.py"] > 0.0
    rank = dict(zip(ns, x[:, FEATURES.index("age_rank")].tolist(), strict=True))
    assert rank["app/util.py"] == 0.0 and rank["lib/schema.py"] > 0.0


def test_cochange_two_steps_away_and_ranks_among_candidates():
    files = [("a", 0), ("b", 0), ("c", 0), ("d", 0)]
    history = [("a", 2, 2.0, 100), ("b", 3, 3.0, 300), ("c", 1, 1.0, 200)]
    pairs = [("a", "b", 2, 2.0), ("b", "c", 1, 1.0)]
    g = ImportGraph.build(files, [], history, pairs)
    got = dict(zip(g.index, g.cochange2("a").tolist(), strict=True))
    # conf(a, b) * conf(b, c) = 2 / (2 + 1) * 1 / (3 + 1); a itself and b (no partner of
    # a's partner leads there but a) read 0
    assert got == pytest.approx({"a": 0.0, "b": 0.0, "c": 1 / 6, "d": 0.0})
    sig = {"imports": {}, "imported_by": {}, "cochange": {"b": (2, 2.0, 100)},
           "revisions": {"a": (2, 2.0), "b": (3, 3.0), "c": (1, 1.0)}, "tests": set(),
           "shared_terms": {"c": 0.5, "d": 0.5}, "history_time": 400,
           "max_revision_weight": 3.0}
    cands = [("b", 0.1, "python", 0), ("c", 0.2, "python", 0), ("d", 0.3, "python", 0)]
    x = pair_features("a", cands, sig, g)
    col = {f: x[:, FEATURES.index(f)].tolist() for f in FEATURES}
    assert col["cochange2"] == pytest.approx([0.0, 1 / 6, 0.0])
    assert col["cochange_rank"] == pytest.approx([0.0, np.log1p(1), np.log1p(1)])
    # a tie shares the better rank; a file without the signal ranks after the rest
    assert col["words_rank"] == pytest.approx([np.log1p(2), 0.0, 0.0])
    assert col["age_rank"] == pytest.approx([0.0, np.log1p(1), np.log1p(2)])
    assert col["cand_age_days"][:2] == pytest.approx([100 / 86_400, 200 / 86_400])
    assert col["cand_age_days"][2] == 20_000.0  # never changed
    # rrf of coupling, words and folder (no import here): 1 / (60 + rank + 1) each, x100
    want_b = 100 * (1 / 61 + 1 / 61)
    assert col["rrf"][0] == pytest.approx(want_b)


def test_candidates_reach_beyond_the_vector_pool_through_the_graphs(ingested):
    stores, url = ingested
    few, _ = candidates(stores.vectors, stores.metadata, url, "app/core.py", 1, tied=False)
    more, sig = candidates(stores.vectors, stores.metadata, url, "app/core.py", 1)
    from graph_jobs.relations.related_files import walked

    wider = walked("app/core.py", sig)
    assert wider and set(wider) <= {c[0] for c in more}
    # the query's folder is among them
    assert {p for p in sig["import_graph"].index
            if p.startswith("app/") and p.count("/") == 1 and p != "app/core.py"} <= set(wider)
    assert len(more) > len(few)


def test_path_words_weigh_the_words_two_paths_share():
    """Version 3: the TF-IDF cosine of the words of two paths (folders and file name, split
    at ``_ - .`` and case); a word of every file or of one file weighs nothing."""
    from graph_jobs.relations.ranker_features import path_word_counts

    assert path_word_counts("src/http/CookieJar_v2.java") == {
        "src": 1, "http": 1, "cookie": 1, "jar": 1}
    paths = ["src/http/cookies.py", "src/http/client.py", "src/tests/test_cookies.py",
             "src/tests/test_client.py", "src/other.py"]
    g = ImportGraph.build([(p, 0) for p in paths], [])
    got = dict(zip(paths[1:], g.path_words(paths[0], paths[1:]).tolist(), strict=True))
    # "src" is in every path (idf 0); "cookies" is shared with the test, "http" with the
    # client; "other" shares nothing
    assert got["src/other.py"] == 0.0 and got["src/tests/test_client.py"] == 0.0
    assert got["src/tests/test_cookies.py"] > 0 and got["src/http/client.py"] > 0
    assert got["src/http/client.py"] == pytest.approx(0.5)  # {http, cookies} . {http, client}
    sig = {"imports": {}, "imported_by": {}, "cochange": {}, "revisions": {}, "tests": set(),
           "shared_terms": {}}
    cands = [(p, 0.1, "python", 0) for p in paths[1:]]
    x = pair_features(paths[0], cands, sig, g)
    assert x[:, FEATURES.index("path_words")].tolist() == pytest.approx(
        [got[p] for p in paths[1:]])
    # renaming a word everywhere changes nothing
    renamed = [p.replace("cookies", "biscuits") for p in paths]
    g2 = ImportGraph.build([(p, 0) for p in renamed], [])
    assert g2.path_words(renamed[0], renamed[1:]).tolist() == pytest.approx(
        [got[p] for p in paths[1:]])
