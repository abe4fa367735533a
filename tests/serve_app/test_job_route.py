"""``GET /api/v1/ingestion/jobs/{id}`` answers from Redis while it has the job, and from
the metadata store's row once Redis no longer does (issue 28: job_record.py said so, the
route never did). Statuses are the one lifecycle's; errors are the handlers' answers."""

from __future__ import annotations

import pytest
import redis
from fastapi.testclient import TestClient

from cluster.job_queue import JobQueue, WorkerBeat
from cluster.redis_keys import job_key
from cluster.redis_transport import RedisTransport
from cluster.statuses import JobStatus
from devkit.repos import make_repo
from graph_jobs.pipeline import Stores, run_ingest
from graph_jobs.repository_ref import RepoRef
from pharos_cli.settings import Settings
from serve_app.app import create_app

TOKEN = "job-route-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def setup(tmp_path, redis_url, monkeypatch):
    for var in ("DATABASE_URL", "QDRANT_URL", "MODE", "UPSTASH_REDIS_REST_URL"):
        monkeypatch.delenv(var, raising=False)
    settings = Settings(_env_file=None, PHAROS_ADMIN_TOKEN=TOKEN, REDIS_URL=redis_url,
                        PHAROS_DATA_DIR=str(tmp_path / "data"), PHAROS_READ_CACHE_S=0,
                        PHAROS_RATE_LIMIT=0, PHAROS_ALLOW_LOCAL_REPOS=True,
                        PHAROS_HISTORY=False)
    with TestClient(create_app(settings)) as client:
        yield settings, client, JobQueue(RedisTransport(redis_url)), tmp_path


def test_a_job_redis_forgot_is_read_from_its_row(setup, redis_url):
    settings, client, queue, tmp_path = setup
    repo = make_repo(tmp_path / "repo", {"a.py": "import b\n", "b.py": ""})
    job = queue.enqueue(RepoRef.parse(str(repo))).job_id
    live = client.get(f"/api/v1/ingestion/jobs/{job}")
    assert live.status_code == 200 and live.json()["status"] == JobStatus.PENDING
    assert live.json()["queue_position"] == 1  # the queue's view

    # the job runs (as a worker would) and its Redis record expires
    task = queue.claim(WorkerBeat("w"))
    res = run_ingest(task.source, settings, job_id=job, name=task.repo,
                     stores=Stores.open(settings), worker="w")
    assert res.status is JobStatus.COMPLETE
    redis.Redis.from_url(redis_url).delete(job_key(job))

    stored = client.get(f"/api/v1/ingestion/jobs/{job}")
    assert stored.status_code == 200, stored.text
    body = stored.json()
    assert (body["job_id"], body["status"], body["worker"]) == (job, "complete", "w")
    assert body["files_processed"] == 2 and body["finished_at"]  # the row's view


def test_an_unknown_job_is_a_404_from_the_handler(setup):
    _settings, client, _queue, _tmp = setup
    r = client.get("/api/v1/ingestion/jobs/" + "0" * 32)
    assert r.status_code == 404 and r.json() == {"detail": f"no job {'0' * 32}"}
    r = client.delete("/api/v1/ingestion/jobs/" + "0" * 32, headers=AUTH)
    assert r.status_code == 404 and r.json() == {"detail": f"no job {'0' * 32}"}
