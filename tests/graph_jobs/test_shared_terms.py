"""Shared words: each file's identifier words, TF-IDF pairs, and what the answer says."""

from __future__ import annotations

from pathlib import Path

import pytest

from devkit.repos import git
from graph_jobs.graph.extract.terms import file_terms
from graph_jobs.pipeline import Stores, run_ingest
from graph_jobs.relations.related_files import candidates, related_files
from graph_jobs.relations.shared_terms import shared_terms
from tests.graph_jobs.test_history_and_relations import commit


def test_identifiers_split_into_lower_case_words():
    got = file_terms(b"def parseHTTPHeader(raw_bytes):  # XMLParser v2 ok\n"
                     b"    return CookieJar.expires_at\n")
    assert got["parse"] == 1 and got["http"] == 1 and got["header"] == 1
    assert got["raw"] == 1 and got["bytes"] == 1 and got["xml"] == 1 and got["parser"] == 1
    assert got["cookie"] == 1 and got["jar"] == 1 and got["expires"] == 1
    assert "ok" not in got and "v2" not in got and "at" not in got  # shorter than 3
    assert file_terms(b"\x00\x01\x02") == {}
    many = b" ".join(b"name%05d" % i for i in range(3000))
    assert len(file_terms(many, max_terms=50)) <= 50


FILES = {
    "net/cookies.py": "class CookieJar:\n    def expires(self, cookie): return cookie.domain\n",
    "web/session.py": "def load(jar):\n    return [c.expires for c in jar.cookie_domain()]\n",
    "math/vector.py": "def dot(vec, other): return sum(a * b for a, b in zip(vec, other))\n",
    "math/matrix.py": "def transpose(rows): return [list(r) for r in zip(*rows)]\n",
}


def _terms(files: dict[str, str]) -> dict[str, dict[str, int]]:
    return {p: file_terms(t.encode()) for p, t in files.items()}


def test_pairs_need_rare_words_in_common():
    got = shared_terms(sorted(FILES), _terms(FILES))
    assert ("net/cookies.py", "web/session.py") in got.pairs
    assert got.pairs[("net/cookies.py", "web/session.py")] > 0.3
    # vector.py shares only 'return'/'def' with the cookie files: words in (nearly) every
    # file weigh nothing, so no pair
    assert ("math/vector.py", "net/cookies.py") not in got.pairs
    assert set(got.top_terms["net/cookies.py"][:4]) & {"cookie", "expires", "jar", "domain"}
    assert "class" not in got.top_terms["web/session.py"]  # in one file only: no weight


def test_blocks_give_the_same_pairs_and_k_bounds_each_file():
    fruit, alpha = ("apple", "berry", "cherry"), ("delta", "echo", "foxtrot", "golf", "hotel")
    files = {f"pkg/m{i}.py": f"{fruit[i % 3]}_value = {alpha[i % 5]}_count + common\n"
             for i in range(23)}
    whole = shared_terms(sorted(files), _terms(files), block=512)
    blocked = shared_terms(sorted(files), _terms(files), block=4)
    assert whole.pairs.keys() == blocked.pairs.keys()
    for key, sim in whole.pairs.items():
        assert blocked.pairs[key] == pytest.approx(sim)
    few = shared_terms(sorted(files), _terms(files), k=2)
    kept_by = {f: sum(f in pair for pair in few.pairs) for f in files}
    assert 0 < len(few.pairs) <= 2 * len(files) < len(whole.pairs)
    assert min(kept_by.values()) >= 1


@pytest.fixture
def words_repo(tmp_path) -> Path:
    """Two files that use the same names with no import and no shared commit after the
    first, and two others."""
    repo = tmp_path / "words"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, {**FILES, "math/__init__.py": "", "net/__init__.py": "",
                  "web/__init__.py": ""}, 0, "root")
    commit(repo, {"math/vector.py": FILES["math/vector.py"] + "# 1\n",
                  "math/matrix.py": FILES["math/matrix.py"] + "# 1\n"}, 1)
    return repo


def test_why_names_the_shared_words(words_repo, settings):
    stores = Stores.open(settings)
    res = run_ingest(str(words_repo), settings, stores=stores)
    assert res.status == "complete", res.error
    assert "words" in res.timings
    assert res.relations.get("terms", 0) >= 1  # shared words are edges Node2Vec walks
    hits = related_files(stores.vectors, stores.metadata, res.repo_url, "net/cookies.py", k=5)
    why = {h.file_path: h.why for h in hits}
    assert hits[0].file_path == "web/session.py"
    said = [w for w in why["web/session.py"] if w.startswith("uses the same names: ")]
    assert said, why["web/session.py"]
    assert set(said[0].removeprefix("uses the same names: ").split(", ")) <= {
        "cookie", "expires", "jar", "domain"}
    # a shared-words partner is a candidate even when the vector pool misses it
    cands, sig = candidates(stores.vectors, stores.metadata, res.repo_url, "net/cookies.py", 1)
    assert "web/session.py" in sig["shared_terms"]
    assert "web/session.py" in {c[0] for c in cands}


def test_words_come_back_from_the_parse_cache(words_repo, settings):
    stores = Stores.open(settings)
    first = run_ingest(str(words_repo), settings, stores=stores)
    before = stores.metadata.file_signals(first.repo_url, "net/cookies.py")
    second = run_ingest(str(words_repo), settings, stores=stores)
    assert second.status == "complete"
    after = stores.metadata.file_signals(second.repo_url, "net/cookies.py")
    assert after["shared_terms"] == before["shared_terms"] and after["shared_terms"]
    assert after["terms"]["net/cookies.py"] == before["terms"]["net/cookies.py"]


def test_words_are_cached_by_blob_and_the_same_on_every_core(words_repo, tmp_path,
                                                             monkeypatch):
    import graph_jobs.graph.file_words as fw
    from graph_jobs.graph.discovery import discover_files

    files = discover_files(words_repo, 1 << 20).files
    cache = tmp_path / "cache.sqlite"
    serial = fw.read_words(words_repo, files, cache_path=cache, workers=1)
    assert serial["net/cookies.py"]["cookie"] == 3
    monkeypatch.setattr(fw, "PARALLEL_MIN_FILES", 1)
    assert fw.read_words(words_repo, files, workers=2) == serial  # worker processes
    (words_repo / "net" / "cookies.py").unlink()  # the cache answers for its blob
    assert fw.read_words(words_repo, files, cache_path=cache, workers=1) == serial
    assert fw.read_words(words_repo, files, workers=1)["net/cookies.py"] == {}  # unreadable


def test_relations_imports_stores_no_word_pairs(words_repo, settings):
    stores = Stores.open(settings)
    res = run_ingest(str(words_repo), settings, stores=stores, relations="imports")
    assert res.status == "complete"
    assert stores.metadata.file_signals(res.repo_url, "net/cookies.py")["shared_terms"] == {}


@pytest.mark.parametrize("update", [{"words": False}, {"words_max_files": 3}])
def test_words_can_be_turned_off_or_bounded(words_repo, settings, update):
    settings = settings.model_copy(update=update)
    stores = Stores.open(settings)
    res = run_ingest(str(words_repo), settings, stores=stores)
    assert res.status == "complete", res.error
    assert "terms" not in res.relations and "words" not in res.timings
    assert stores.metadata.file_signals(res.repo_url, "net/cookies.py")["shared_terms"] == {}
