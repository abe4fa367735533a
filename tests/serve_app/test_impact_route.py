"""GET /api/v1/graph/impact (issue 26): several file_path parameters, one ranking; a file
not in the repository is a 404 naming the closest stored paths; the same limits and
reader token as /similar. A real history ingested into the embedded stores the ingress
reads."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from graph_jobs.pipeline import Stores, run_ingest
from graph_jobs.stores.vector_store import close_local_clients
from pharos_cli.settings import Settings
from serve_app.app import create_app
from tests.graph_jobs.test_change_impact import change_history

READER = "reader-token"


@pytest.fixture
def ingested(tmp_path, monkeypatch):
    for var in ("DATABASE_URL", "NEON_DATABASE_URL", "QDRANT_URL", "MODE", "REDIS_URL",
                "UPSTASH_REDIS_REST_URL", "PHAROS_READ_TOKEN", "PHAROS_ADMIN_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    data = tmp_path / "data"
    settings = Settings(_env_file=None, PHAROS_DATA_DIR=str(data))
    res = run_ingest(str(change_history(tmp_path)), settings, stores=Stores.open(settings))
    assert res.status == "complete", res.error
    close_local_clients()
    return data, res.repo_url


def _client(data, **env) -> TestClient:
    return TestClient(create_app(Settings(
        _env_file=None, PHAROS_DATA_DIR=str(data), PHAROS_ALLOW_LOCAL_REPOS="1",
        PHAROS_RATE_LIMIT=0, PHAROS_READ_CACHE_S=0, **env)))


def test_impact_of_several_files(ingested):
    data, repo = ingested
    with _client(data) as c:
        r = c.get("/api/v1/graph/impact", params=[
            ("repo_url", repo), ("file_path", "orders/ledger.py"),
            ("file_path", "billing/invoice.py"), ("file_path", "orders/ledger.py"), ("k", 3)])
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["repo_url"] == repo and body["answered_by"] == "impact+rerank"
        assert body["file_paths"] == ["orders/ledger.py", "billing/invoice.py"]
        top = body["results"][0]
        assert top["file_path"] == "audit/trail.py"
        assert set(top["related_to"]) == {"orders/ledger.py", "billing/invoice.py"}
        assert top["why"][0] == "tied to 2 of the 2 files asked"
        assert len(body["results"]) == 3
        assert {h["file_path"] for h in body["results"]}.isdisjoint(body["file_paths"])
        # one file: the same order as /similar
        one = c.get("/api/v1/graph/impact", params={"repo_url": repo,
                                                   "file_path": "orders/ledger.py", "k": 4})
        sim = c.get("/api/v1/graph/similar", params={"repo_url": repo,
                                                    "file_path": "orders/ledger.py", "k": 4})
        assert [h["file_path"] for h in one.json()["results"]] == \
            [h["file_path"] for h in sim.json()["results"]]


def test_impact_refuses_a_file_not_in_the_repository_with_the_closest_paths(ingested):
    data, repo = ingested
    with _client(data) as c:
        r = c.get("/api/v1/graph/impact", params=[
            ("repo_url", repo), ("file_path", "billing/invoice.py"),
            ("file_path", "orders/ledgr.py")])
        assert r.status_code == 404
        said = r.json()["detail"]
        assert "'orders/ledgr.py' is not in the repository" in said
        assert "closest paths: orders/ledger.py" in said
        assert c.get("/api/v1/graph/impact", params={
            "repo_url": "github.com/u/not-stored", "file_path": "a.py"}).status_code == 404
        assert c.get("/api/v1/graph/impact", params={"repo_url": repo}).status_code == 422
        many = [("repo_url", repo)] + [("file_path", f"f{i}.py") for i in range(101)]
        r = c.get("/api/v1/graph/impact", params=many)
        assert r.status_code == 400 and "at most 100" in r.json()["detail"]
        r = c.get("/api/v1/graph/impact", params={"repo_url": "file:///etc/passwd",
                                                   "file_path": "a.py"})
        assert r.status_code == 400


def test_impact_needs_the_read_token_when_one_is_set(ingested):
    data, repo = ingested
    with _client(data, PHAROS_READ_TOKEN=READER, PHAROS_ADMIN_TOKEN="admin") as c:
        q = {"repo_url": repo, "file_path": "orders/ledger.py"}
        assert c.get("/api/v1/graph/impact", params=q).status_code == 401
        r = c.get("/api/v1/graph/impact", params=q,
                  headers={"Authorization": f"Bearer {READER}"})
        assert r.status_code == 200, r.text
