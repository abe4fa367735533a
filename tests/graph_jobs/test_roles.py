"""Roles across repositories (issue 14): role vectors, honest cross-repository search,
the migration of existing collections, and repositories like this one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from graph_jobs.answers import QuestionRefused, similar_files
from graph_jobs.errors import NotFound
from graph_jobs.pipeline import Stores, run_ingest
from graph_jobs.roles.role_features import DIM, raw_features, role_vectors
from graph_jobs.stores.vector_store import RELATED, ROLE, VectorStore, close_local_clients
from pharos_cli.app import app as cli_app
from pharos_cli.settings import get_settings
from tests.support.repos import make_repo

SHAPE_A = {  # a package with an entry, a core, errors, a CLI and a test
    "pkg/__init__.py": "from pkg.core import run\nfrom pkg.errors import Oops\n",
    "pkg/core.py": "from pkg.errors import Oops\nfrom pkg import util\n",
    "pkg/util.py": "from pkg.errors import Oops\n",
    "pkg/errors.py": "class Oops(Exception):\n    pass\n",
    "pkg/cli.py": "from pkg.core import run\nfrom pkg import util\n",
    "tests/test_core.py": "from pkg.core import run\n",
}
RENAMED = {"pkg": "lib", "core": "engine", "errors": "faults", "util": "tools", "cli": "shell"}


def _renamed(files: dict[str, str]) -> dict[str, str]:
    out = {}
    for path, text in files.items():
        for old, new in RENAMED.items():
            path, text = path.replace(old, new), text.replace(old, new)
        out[path] = text
    return out


def _rename_path(path: str) -> str:
    for old, new in RENAMED.items():
        path = path.replace(old, new)
    return path


@pytest.fixture
def stores(settings):
    s = Stores.open(settings)
    yield s
    s.metadata.dispose()
    close_local_clients()


def _ingest(tmp_path: Path, name: str, files: dict, settings, stores) -> str:
    repo = make_repo(tmp_path / name, files)
    res = run_ingest(str(repo), settings, stores=stores)
    assert res.status == "complete", res.error
    return res.repo_url


def _roles(stores, repo_url: str) -> dict[str, np.ndarray]:
    return {p.payload["file_path"]: np.asarray(p.vector)
            for p in stores.vectors.repository_points(repo_url, vector=ROLE)}


def test_isomorphic_repositories_with_other_names_have_identical_role_vectors(
        tmp_path, settings, stores):
    a = _ingest(tmp_path, "a", SHAPE_A, settings, stores)
    b = _ingest(tmp_path, "b", _renamed(SHAPE_A), settings, stores)
    ra, rb = _roles(stores, a), _roles(stores, b)
    assert len(ra) == len(rb) == len(SHAPE_A) and all(v.shape == (DIM,) for v in ra.values())
    for path, vec in ra.items():
        assert np.allclose(vec, rb[_rename_path(path)], atol=1e-6), path
    # and they say something: files in different positions differ
    assert not np.allclose(ra["pkg/errors.py"], ra["pkg/cli.py"])
    assert not np.allclose(ra["pkg/__init__.py"], ra["pkg/core.py"])
    # role search from a's errors module finds b's, by structure alone
    ans = similar_files(stores.vectors, stores.metadata, a, "pkg/errors.py", 1, scope="all")
    assert ans.by == "role" and (ans.hits[0].repo_url, ans.hits[0].file_path) == \
        (b, "lib/faults.py")


def test_rotating_one_repositorys_node2vec_table_changes_no_cross_repository_answer(
        tmp_path, settings, stores):
    a = _ingest(tmp_path, "a", SHAPE_A, settings, stores)
    b = _ingest(tmp_path, "b", {**_renamed(SHAPE_A), "lib/extra.py": "from lib import tools\n"},
                settings, stores)

    def answers():
        out = {}
        for repo in (a, b):
            for path in _roles(stores, repo):
                hits = similar_files(stores.vectors, stores.metadata, repo, path, 5,
                                     scope="all").hits
                out[(repo, path)] = [(h.repo_url, h.file_path, round(h.score, 6)) for h in hits]
        return out

    before = answers()
    from qdrant_client import models

    vs: VectorStore = stores.vectors
    rng = np.random.default_rng(7)
    q, _ = np.linalg.qr(rng.standard_normal((64, 64)))  # a random orthogonal matrix
    pts = vs.repository_points(b, vector=RELATED)
    old = {p.payload["file_path"]: np.asarray(p.vector) for p in pts}
    vs.client.update_vectors(vs.collection, points=[
        models.PointVectors(id=p.id, vector={RELATED: (np.asarray(p.vector) @ q).tolist()})
        for p in pts])
    new = {p.payload["file_path"]: np.asarray(p.vector)
           for p in vs.repository_points(b, vector=RELATED)}
    assert max(np.abs(new[f] - old[f]).max() for f in old) > 0.1  # the table did turn
    assert answers() == before
    # the Node2Vec vectors are never compared across repositories
    with pytest.raises(QuestionRefused, match="share no axes"):
        similar_files(stores.vectors, stores.metadata, a, "pkg/core.py", 5, scope="all",
                      by="related")


def test_related_across_repositories_is_refused_with_a_sentence(tmp_path, redis_url,
                                                                monkeypatch):
    from fastapi.testclient import TestClient

    from serve_app.app import create_app
    from tests.serve_app.test_ingress import _settings

    for var in ("DATABASE_URL", "QDRANT_URL", "MODE", "UPSTASH_REDIS_REST_URL"):
        monkeypatch.delenv(var, raising=False)
    app = create_app(_settings(tmp_path, redis_url))
    with TestClient(app) as c:
        r = c.get("/api/v1/graph/similar", params={"repo_url": "github.com/u/r",
                                                    "file_path": "a.py", "scope": "all",
                                                    "by": "related"})
        assert r.status_code == 400
        assert "trained one repository at a time" in r.json()["detail"]
        assert "by=role" in r.json()["detail"]
    close_local_clients()
    monkeypatch.setenv("PHAROS_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    try:
        res = CliRunner().invoke(cli_app, ["similar", "github.com/u/r", "a.py", "--all",
                                           "--by", "related"])
    finally:
        get_settings.cache_clear()
    assert res.exit_code == 2 and "share no axes" in res.output.replace("\n", " ")


def test_a_collection_from_before_roles_is_migrated_and_a_reingest_adds_roles(
        tmp_path, settings):
    """The collection as earlier versions made it (one unnamed 64-d vector): after the
    migration old points answer related-file questions as before, have no role until a
    re-ingest, and the re-ingest adds it."""
    from qdrant_client import QdrantClient, models

    repo = make_repo(tmp_path / "r", SHAPE_A)
    stores = Stores.open(settings)
    res = run_ingest(str(repo), settings, stores=stores)
    assert res.status == "complete"
    pts = stores.vectors.repository_points(res.repo_url, vector=RELATED)
    before = [(h.file_path, round(h.score, 5))
              for h in stores.vectors.similar(res.repo_url, "pkg/core.py", 4)]
    stores.metadata.dispose()
    close_local_clients()
    # rebuild the collection in the old layout, from the same points
    old = QdrantClient(path=str(settings.qdrant_path))
    old.delete_collection(settings.qdrant_collection)
    old.create_collection(settings.qdrant_collection, vectors_config=models.VectorParams(
        size=64, distance=models.Distance.COSINE))
    old.upsert(settings.qdrant_collection, points=[
        models.PointStruct(id=p.id, vector=list(p.vector), payload=p.payload) for p in pts])
    old.close()

    stores = Stores.open(settings)
    vs = stores.vectors
    vs.ensure_collection()
    assert isinstance(vs.client.get_collection(vs.collection).config.params.vectors, dict)
    assert not vs.client.collection_exists(f"{vs.collection}__migrating")
    assert len(vs.repository_points(res.repo_url)) == len(pts)
    after = [(h.file_path, round(h.score, 5)) for h in vs.similar(res.repo_url, "pkg/core.py", 4)]
    assert after == before
    with pytest.raises(NotFound, match="ingest the repository again"):
        vs.similar(res.repo_url, "pkg/core.py", 4, scope="all", by="role")
    res2 = run_ingest(str(repo), settings, stores=stores)
    assert res2.status == "complete"
    assert len(vs.similar(res.repo_url, "pkg/core.py", 4, scope="all", by="role")) == 4
    stores.metadata.dispose()
    close_local_clients()


def test_repositories_like_this_one(tmp_path, settings, stores, redis_url, monkeypatch):
    a = _ingest(tmp_path, "a", SHAPE_A, settings, stores)
    b = _ingest(tmp_path, "b", _renamed(SHAPE_A), settings, stores)
    chain = {f"m{i}.py": (f"import m{i + 1}\n" if i < 7 else "") for i in range(8)}
    c = _ingest(tmp_path, "c", chain, settings, stores)
    rows = stores.metadata.similar_repositories(a)
    assert [r["repo_url"] for r in rows] == [b, c]
    assert rows[0]["distance"] == pytest.approx(0.0, abs=1e-9) and rows[1]["distance"] > 0.01
    stores.metadata.dispose()
    close_local_clients()
    monkeypatch.setenv("PHAROS_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    try:
        res = CliRunner().invoke(cli_app, ["similar-repos", a, "--json"])
    finally:
        get_settings.cache_clear()
    assert res.exit_code == 0, res.output
    assert [r["repo_url"] for r in json.loads(res.stdout)["results"]] == [b, c]


def test_role_vectors_from_edges_alone():
    """No name reaches the vector: the same graph under any names gives the same rows."""
    edges = [(0, 1), (0, 2), (1, 2), (3, 1)]
    one = role_vectors(["a/x.py", "a/y.py", "a/z.py", "tests/t.py"], ["python"] * 4, edges,
                       tests=[False, False, False, True])
    two = role_vectors(["q/p.py", "q/r.py", "q/s.py", "spec/u.py"], ["python"] * 4, edges,
                       tests=[False, False, False, True])
    assert np.array_equal(one, two)
    assert one.shape == (4, DIM) and np.all(np.isfinite(one))
    raw = raw_features(["a/x.py", "a/y.py", "a/z.py", "tests/t.py"], ["python"] * 4, edges,
                       tests=[False, False, False, True])
    assert np.all(raw >= 0) and np.all(raw <= 1.0 + 1e-6)


def test_the_role_models_ratio_vector_and_second_stage():
    """The trainer's variants (issue 30, second pass; not shipped): with ``prior`` the
    vector's first numbers are each class's probability over its prior, to ``power``, as
    a unit vector; ``within`` places each file's probabilities within its repository."""
    from graph_jobs.roles.role_weights import RoleModel

    rng = np.random.default_rng(0)
    raw = rng.random((5, 4)).astype(np.float32)
    classes, bias, tail = rng.normal(size=(3, 4)), rng.normal(size=3), rng.normal(size=(2, 4))
    prior = np.array([0.05, 0.15, 0.8])
    plain = RoleModel(tail, classes, bias)
    p = plain.probabilities(raw)
    assert np.allclose(plain(raw)[:, :3], p, atol=1e-6)
    ratio = RoleModel(tail, classes, bias, prior=prior, power=2.0)
    r = (p / prior) ** 2
    v = ratio(raw)
    assert np.allclose(v[:, :3], r / np.linalg.norm(r, axis=1, keepdims=True), atol=1e-5)
    assert np.allclose(v[:, 3:], raw @ tail.T, atol=1e-5)
    w = RoleModel.within(p)
    assert w.shape == (5, 12)
    assert np.allclose(w[:, 3:6].max(axis=0), 1.0)  # over the repository's largest
    assert w[:, 9:].sum(axis=0).tolist() == [1, 1, 1]  # one likeliest file per class
    two = RoleModel(tail, classes, bias, stage2=rng.normal(size=(3, 16)), bias2=np.zeros(3))
    assert np.allclose(two(raw)[:, :3].sum(axis=1), 1.0, atol=1e-5)
    # the JSON keeps what it needs
    back = RoleModel(**{k: v for k, v in ratio.to_json().items()
                        if k not in ("scale", "by_language", "root", "conditional")})
    assert np.allclose(back(raw), v, atol=1e-4)


def test_the_dot_role_vector_orders_files_by_their_chance_of_the_same_role():
    """The shipped kind (issue 30, third pass): stored vectors hold the roles'
    probabilities and sqrt(w_max - sum w p^2) in "none"'s place; a question asks with that
    number 0, so the Euclidean order from it is the order of ``sum_r w_r p_r q_r`` (the
    model's chance that the two files play the same role), not of the probabilities'
    distance."""
    from graph_jobs.roles.role_weights import RoleModel

    rng = np.random.default_rng(1)
    raw = rng.random((40, 4)).astype(np.float32)
    classes, bias = rng.normal(size=(4, 4)) * 3, rng.normal(size=4)
    for weights in (None, np.array([1.0, 0.5, 2.0])):
        m = RoleModel(np.zeros((2, 4)), classes, bias, dot=True, dot_weights=weights)
        p = m.probabilities(raw)[:, :3].astype(np.float64)
        w = np.ones(3) if weights is None else weights
        v = m(raw)
        assert v.shape == (40, 6)
        # every stored vector has the same length: the distance depends on the product alone
        assert np.allclose((v[:, :4].astype(np.float64) ** 2).sum(axis=1), w.max(), atol=1e-5)
        for i in range(40):
            q = m.query(v[i])
            assert q[3] == 0.0 and np.array_equal(q[:3], v[i, :3])
            others = np.delete(np.arange(40), i)
            by_distance = others[np.argsort(np.linalg.norm(v[others] - q, axis=1), kind="stable")]
            chance = (p[others] * w) @ p[i]
            assert np.allclose(np.sort(chance)[::-1], chance[np.searchsorted(others, by_distance)],
                               atol=1e-5)
            assert m.same_role(q, v[by_distance[0]]) == pytest.approx(chance.max() / w.max(),
                                                                      rel=1e-4)
    # the JSON keeps it
    back = RoleModel(**{k: v for k, v in m.to_json().items()
                        if k not in ("scale", "by_language", "root", "conditional")})
    assert np.allclose(back(raw), m(raw), atol=1e-4) and back.dot
    # what would break the stored vectors' length or the probabilities is refused
    for bad in ({"root": True}, {"conditional": 1.0}, {"prior": np.ones(4) / 4}):
        with pytest.raises(ValueError, match="dot role model"):
            RoleModel(np.zeros((2, 4)), classes, bias, dot=True, **bad)


def test_percentile_ranks_match_scipy():
    """_pct ranks ties by their mean, as scipy.stats.rankdata does (without importing
    scipy.stats, which took 1.5 s of every job)."""
    import numpy as np
    from scipy.stats import rankdata

    from graph_jobs.roles.role_features import _pct

    rng = np.random.default_rng(0)
    for _ in range(100):
        n = int(rng.integers(2, 60))
        x = rng.integers(0, 4, n).astype(float) if rng.random() < 0.5 else rng.random(n)
        assert np.allclose(_pct(x), (rankdata(x) - 1) / (n - 1))
    assert _pct(np.array([5.0])).tolist() == [0.0] and _pct(np.array([])).size == 0


# --- issue 30: what files declare, names never read, why --------------------------------
SHAPE_B = {  # declarations as well as imports: errors, settings, a CLI, test support, a test
    "app/__init__.py": "from app.core import run\nfrom app.errors import Oops, Bad\n"
                       "__all__ = ['run', 'Oops', 'Bad']\n",
    "app/core.py": "from app.errors import Oops\nfrom app import helpers\n"
                   "from app.config import TIMEOUT\n\n\ndef run():\n"
                   "    return helpers.twice(TIMEOUT)\n",
    "app/helpers.py": "def twice(x):\n    return 2 * x\n\n\ndef thrice(x):\n    return 3 * x\n",
    "app/errors.py": "class Oops(Exception):\n    pass\n\n\nclass Bad(Oops, ValueError):\n"
                     "    pass\n",
    "app/config.py": "import os\n\nTIMEOUT = int(os.environ.get('APP_TIMEOUT', '5'))\n"
                     "DEBUG = os.getenv('APP_DEBUG') == '1'\n",
    "app/cli.py": "import argparse\n\nfrom app.core import run\n\n\ndef main():\n"
                  "    argparse.ArgumentParser().parse_args()\n    run()\n\n\n"
                  "if __name__ == '__main__':\n    main()\n",
    "tests/conftest.py": "import pytest\n\nfrom app.core import run\n\n\n@pytest.fixture\n"
                         "def ran():\n    return run()\n",
    "tests/test_core.py": "from app.core import run\n\n\ndef test_run(ran):\n"
                          "    assert run() == ran\n",
}
# every folder and file gets another name, and every import that names them follows
EVERY_NAME = {"test_core": "checks_zeta", "app": "q1", "core": "zeta", "helpers": "kit",
              "errors": "faults", "config": "knobs", "cli": "shell", "conftest": "shared",
              "tests": "spec", "__init__": "__init__"}


def _rename_every(text: str) -> str:
    import re

    for old, new in EVERY_NAME.items():
        text = re.sub(rf"\b{old}\b", new, text)
    return text


def test_renaming_every_file_and_its_imports_leaves_every_role_vector_unchanged(
        tmp_path, settings, stores):
    renamed = {_rename_every(p): _rename_every(t) for p, t in SHAPE_B.items()}
    assert not set(renamed) & set(SHAPE_B) - {"app/__init__.py"}  # every path renamed
    assert "q1/__init__.py" in renamed and "from q1.zeta import run" in renamed["q1/shell.py"]
    a = _ingest(tmp_path, "a", SHAPE_B, settings, stores)
    b = _ingest(tmp_path, "b", renamed, settings, stores)
    ra, rb = _roles(stores, a), _roles(stores, b)
    assert len(ra) == len(rb) == len(SHAPE_B)
    for path, vec in ra.items():
        assert np.allclose(vec, rb[_rename_every(path)], atol=1e-6), path
    # and what the files declare tells them apart, where the graph alone would not
    assert not np.allclose(ra["app/errors.py"], ra["app/helpers.py"])
    assert not np.allclose(ra["tests/conftest.py"], ra["tests/test_core.py"])


def test_each_role_answer_says_what_made_it_similar(tmp_path, settings, stores, monkeypatch):
    a = _ingest(tmp_path, "a", SHAPE_B, settings, stores)
    b = _ingest(tmp_path, "b", {_rename_every(p): _rename_every(t) for p, t in SHAPE_B.items()},
                settings, stores)

    from graph_jobs.roles.role_weights import model

    roles_of_a = _roles(stores, a)
    c = model().classes.shape[0] - 1  # the roles' numbers (not "none"'s)

    def top(path: str):
        hits = similar_files(stores.vectors, stores.metadata, a, path, 8, scope="all").hits
        # its twin, with the same vector (not always b's first: a file the model finds
        # surer of the asked file's likeliest role comes before it)
        hit = next(h for h in hits if h.repo_url == b and h.file_path == _rename_every(path))
        # the score: the model's chance that both play the same role, given that the
        # asked file plays one (p / sum(p) . p over the roles)
        p = roles_of_a[path][:c].astype(np.float64)
        assert hit.score == pytest.approx((p / p.sum()) @ p, rel=1e-4)
        return hit.why

    assert top("app/errors.py")[0] == "declares 2 exception classes"
    assert "reads 2 settings from the environment" in top("app/config.py")
    cli = top("app/cli.py")
    assert cli[:2] == ["a CLI entry (argparse)", "a program entry (a main guard or main function)"]
    assert top("tests/conftest.py")[0] == \
        "test support: imports a test framework, declares no test"
    assert top("app/__init__.py")[0] == "re-exports 3 names"
    # the command line shows it
    stores.metadata.dispose()
    close_local_clients()
    monkeypatch.setenv("PHAROS_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    try:
        res = CliRunner().invoke(cli_app, ["similar", a, "app/errors.py", "--all", "--json"])
    finally:
        get_settings.cache_clear()
    assert res.exit_code == 0, res.output
    twin = next(h for h in json.loads(res.stdout)["results"] if h["repo_url"] == b)
    assert (twin["file_path"], twin["why"]) == ("q1/faults.py",
                                                ["declares 2 exception classes"])


def test_a_role_search_asks_for_the_same_role_and_shows_the_likeliest_first(stores):
    """The store's side of the dot vectors: the asked file's stored vector becomes the
    question (``RoleModel.query``), the nearest are the files likeliest to share its role
    (not the ones whose probabilities lie nearest), the score is that chance (given that
    the asked file plays a role: its roles' probabilities over their sum), and the
    answers are shown best chance first even where the structural tail moved one ahead."""
    from graph_jobs.roles.role_features import DIM
    from graph_jobs.roles.role_weights import model
    from graph_jobs.stores.vector_store import FilePoint

    m = model()
    assert m.dot and m.given
    c = m.classes.shape[0] - 1  # the roles' numbers; then sqrt(1 - |p|^2); then the tail

    def vec(p: list[float], tail: float) -> list[float]:
        p = np.array(p + [0.0] * (c - len(p)))
        return [*p, float(np.sqrt(1 - p @ p)), tail, *([0.0] * (DIM - c - 2))]

    asked = vec([0.5, 0.0], 0.0)  # half one role, half "none": that role, if any
    files = {"asked.py": asked,
             "twin.py": vec([0.5, 0.0], 0.0),  # as unsure: chance 0.5, nearest by distance
             "sure.py": vec([0.95, 0.0], 0.0),  # sure of that role: chance 0.95
             "near.py": vec([0.62, 0.0], 0.0),  # chance 0.62, same structure
             "far.py": vec([0.66, 0.0], 0.3),  # chance 0.66, another structure
             "other.py": vec([0.0, 0.9], 0.0)}  # sure of another role: chance 0
    stores.vectors.upsert_repository("r", None, "j", [
        FilePoint(path, "python", [1.0] * 64, 1, role=v) for path, v in files.items()])
    hits = stores.vectors.similar("r", "asked.py", 4, by="role")
    chance = {h.file_path: h.score for h in hits}
    assert [h.file_path for h in hits] == ["sure.py", "far.py", "near.py", "twin.py"]
    assert chance["sure.py"] == pytest.approx(0.95, abs=1e-4)
    assert chance["twin.py"] == pytest.approx(0.5, abs=1e-4)
    # by distance from the question alone, far.py's structure puts it behind near.py
    q = m.query(np.array(asked))
    d = {p: float(np.linalg.norm(np.array(files[p]) - q)) for p in ("near.py", "far.py")}
    assert d["near.py"] < d["far.py"]
    # how to ask is stored with the vectors: a reader whose own weights are others (an
    # ingress a version behind or ahead of the worker) asks the same way
    from graph_jobs.stores.vector_store import ROLE_ASK, ROLE_SPACE

    vs = stores.vectors
    ids = [p.id for p in vs.repository_points("r", with_vectors=False)]
    assert {p.payload[ROLE_ASK]["zero"] for p in vs.repository_points("r")} == {c}
    vs.client.set_payload(vs.collection, {ROLE_SPACE: "other-weights"}, points=ids)
    assert [h.file_path for h in vs.similar("r", "asked.py", 4, by="role")] == \
        ["sure.py", "far.py", "near.py", "twin.py"]
    # a writer whose weights asked without "given" (the third pass's): asked its way,
    # with the raw probabilities (chance 0.475 = 0.5 x 0.95), whatever this reader's are
    vs.client.set_payload(vs.collection, {ROLE_ASK: {"zero": c, "norm": 1.0}}, points=ids)
    hits = vs.similar("r", "asked.py", 4, by="role")
    assert [h.file_path for h in hits] == ["sure.py", "far.py", "near.py", "twin.py"]
    assert hits[0].score == pytest.approx(0.475, abs=1e-4)
    assert hits[-1].score == pytest.approx(0.25, abs=1e-4)
    # vectors stored without it (before this kind) are asked as stored, scored by distance
    vs.client.delete_payload(vs.collection, keys=[ROLE_ASK], points=ids)
    hits = vs.similar("r", "asked.py", 2, by="role")
    assert [h.file_path for h in hits] == ["twin.py", "near.py"]
    assert hits[0].score == pytest.approx(1.0)  # 1 / (1 + 0)


def test_why_names_only_what_both_files_have():
    from graph_jobs.roles.role_why import role_facts, why

    q = role_facts({"exceptions": 3, "env": 2, "lines": 100, "statements": 4, "cli": 1,
                    "cli.click": 1})
    assert "statements" not in q and q["cli.click"] == 1
    h = {"exceptions": 1, "cli": 1, "cli.github.com/spf13/cobra": 1, "constants": 4}
    assert why(q, h) == ["declares 1 exception class", "a CLI entry (cobra)"]
    assert why({"env": 14}, {"env": 14, "settings": 1}) == \
        ["reads 14 settings from the environment"]
    assert why({}, {"exceptions": 6}, 3, 7) == \
        ["a like place in the import graph (degree 7; the file asked: 3)"]
    assert why(None, None) == ["a like place in the import graph (degree 0; the file asked: 0)"]


def test_role_search_compares_only_vectors_made_by_the_same_weights(
        tmp_path, settings, stores, caplog):
    """Every role vector is stored with the space of the weights that made it. When the
    weights change (a package upgrade), a repository ingested before is found by no search
    from one ingested after, and the other way round, until it is ingested again; vectors
    stored before spaces were recorded are a space of their own."""
    from graph_jobs.roles.role_weights import space
    from graph_jobs.stores.vector_store import ROLE_SPACE

    vs = stores.vectors
    a = _ingest(tmp_path, "a", SHAPE_A, settings, stores)
    b = _ingest(tmp_path, "b", _renamed(SHAPE_A), settings, stores)

    def repos_found(repo: str, path: str) -> set[str]:
        return {h.repo_url for h in vs.similar(repo, path, 20, scope="all", by="role")}

    assert {p.payload[ROLE_SPACE] for p in vs.repository_points(a)} == {space()}
    assert repos_found(a, "pkg/errors.py") == {a, b}

    def restamp(repo: str, value: str | None) -> None:
        ids = [p.id for p in vs.repository_points(repo, with_vectors=False)]
        if value is None:
            vs.client.delete_payload(vs.collection, keys=[ROLE_SPACE], points=ids)
        else:
            vs.client.set_payload(vs.collection, {ROLE_SPACE: value}, points=ids)

    restamp(b, "older-weights")  # b was ingested with weights since retrained
    assert repos_found(a, "pkg/errors.py") == {a}
    with caplog.at_level("WARNING"):
        assert repos_found(b, "lib/faults.py") == {b}
    assert "made by other role weights" in caplog.text
    restamp(b, None)  # b was stored before spaces were recorded
    assert repos_found(a, "pkg/errors.py") == {a}
    assert repos_found(b, "lib/faults.py") == {b}
    _ingest(tmp_path, "b", _renamed(SHAPE_A), settings, stores)  # the re-ingest moves it
    assert repos_found(a, "pkg/errors.py") == {a, b}


def test_the_benchs_name_labels_put_test_support_before_the_utilities():
    """The outside labels follow issue 30's table: `test_utils` is test support, not a
    utility (the utilities' suffix rule took it until session 15, and the weights learned
    test modules as utilities)."""
    from tests.support.bench_modules import bench_module

    rb = bench_module("roles_bench")
    for path in ("tests/test_utils.py", "internal/testutils/testutils.go", "util/testutil.h",
                 "test_helpers.go", "tests/conftest.py", "src/testing.py"):
        assert rb.role_of(path) == "test support", path
    for path in ("requests/utils.py", "src/string_utils.py", "lib/helpers.js", "pkg/util.go"):
        assert rb.role_of(path) == "utils", path
    assert rb.role_of("src/errors.rs") == "errors" and rb.role_of("README.md") is None
