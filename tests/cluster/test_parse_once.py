"""From ``POST /ingest`` to the clone, a repository's name is parsed once per process
boundary (issue 28): once by the ingress (where the name enters), once by the worker
(the queue task's source), and the :class:`RepoRef` itself travels from there, through
the URL policy's second check right before the clone."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from cluster.edge_worker import EdgeWorker
from cluster.job_queue import JobQueue
from cluster.redis_transport import RedisTransport
from cluster.statuses import JobStatus
from devkit.repos import make_repo
from graph_jobs.repository_ref import RepoRef
from graph_jobs.url_policy import UrlPolicy
from pharos_cli.settings import Settings
from serve_app.app import create_app
from tests.support.git_http import GitHTTPServer

TOKEN = "parse-once"


@pytest.fixture
def counted(monkeypatch):
    """Every RepoRef.parse and every UrlPolicy.check, as they are called."""
    calls: list[tuple[str, object]] = []
    parse, check = RepoRef.parse.__func__, UrlPolicy.check

    def counting_parse(cls, raw):
        calls.append(("parse", raw))
        return parse(cls, raw)

    def counting_check(self, raw, **kw):
        calls.append(("check", type(raw).__name__))
        return check(self, raw, **kw)

    monkeypatch.setattr(RepoRef, "parse", classmethod(counting_parse))
    monkeypatch.setattr(UrlPolicy, "check", counting_check)
    return calls


def test_the_name_is_parsed_once_at_the_ingress_and_once_at_the_worker(
        tmp_path, redis_url, monkeypatch, counted):
    for var in ("DATABASE_URL", "QDRANT_URL", "MODE", "UPSTASH_REDIS_REST_URL"):
        monkeypatch.delenv(var, raising=False)
    settings = Settings(_env_file=None, PHAROS_ADMIN_TOKEN=TOKEN, REDIS_URL=redis_url,
                        PHAROS_DATA_DIR=str(tmp_path / "data"), PHAROS_READ_CACHE_S=0,
                        PHAROS_RATE_LIMIT=0, PHAROS_ALLOW_LOCAL_REPOS=True,
                        PHAROS_HISTORY=False)
    repo = make_repo(tmp_path / "repo", {"a.py": "import b\n", "b.py": ""})
    (tmp_path / "srv").mkdir()
    with GitHTTPServer(tmp_path / "srv") as srv:  # a URL: cloned (development: http)
        url = srv.publish(repo, "r.git")
        counted.clear()
        with TestClient(create_app(settings)) as client:
            r = client.post(f"/api/v1/ingestion/ingest/{url}",
                            headers={"Authorization": f"Bearer {TOKEN}"})
            assert r.status_code == 200, r.text
        ingress = list(counted)
        assert [c for c in ingress if c[0] == "parse"] == [("parse", url)], ingress

        counted.clear()
        worker = EdgeWorker(JobQueue(RedisTransport(redis_url)), settings, worker_id="w")
        out = worker.poll_once()
        assert out.status is JobStatus.COMPLETE, out.error
        assert srv.requests > 0  # it was cloned
    parses = [c for c in counted if c[0] == "parse"]
    assert parses == [("parse", url.removesuffix(".git"))], counted  # the task's source
    # the policy: the task's string at the boundary, then the RepoRef before the clone
    checks = [c[1] for c in counted if c[0] == "check"]
    assert checks[0] == "str" and set(checks[1:]) == {"RepoRef"}, checks
