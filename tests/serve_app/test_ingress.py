"""The cloud ingress: contracts, auth, validation (hostile URLs), errors, health, metrics."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from pharos_cli.settings import Settings
from serve_app.app import create_app
from serve_app.url_validation import InvalidRepoURL, validate_repo_url

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PUBLIC = {"github.com": "140.82.112.3", "gitlab.com": "172.65.251.78",
          "codeberg.org": "217.197.91.145"}
FAKE_DNS = {**PUBLIC, "evil-rebind.github.com": "169.254.169.254",
            "internal.gitlab.com": "10.0.0.5", "loop.codeberg.org": "127.0.0.1",
            "v6loop.github.com": "::1", "mapped.github.com": "::ffff:192.168.1.1"}


@pytest.fixture(autouse=True)
def fake_dns(monkeypatch):
    """No public DNS here: resolve the test hosts from a table (nothing else resolves)."""
    import serve_app.url_validation as uv

    def getaddrinfo(host, port, *a, **k):
        if host not in FAKE_DNS:
            raise socket.gaierror(-2, "Name or service not known")
        ip = FAKE_DNS[host]
        fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
        return [(fam, socket.SOCK_STREAM, 6, "", (ip, port))]

    monkeypatch.setattr(uv, "_getaddrinfo", getaddrinfo)


def _settings(tmp_path, redis_url, **kw) -> Settings:
    env = dict(PHAROS_ADMIN_TOKEN=TOKEN, REDIS_URL=redis_url,
               PHAROS_DATA_DIR=str(tmp_path / "data"), MAX_QUEUE_SIZE=3,
               # caching and the rate limit: tests/serve_app/test_ingress_limits.py
               PHAROS_READ_CACHE_S=0, PHAROS_RATE_LIMIT=0)
    env.update(kw)
    return Settings(_env_file=None, **{k: v for k, v in env.items()})


@pytest.fixture
def client(tmp_path, redis_url, monkeypatch):
    for var in ("DATABASE_URL", "QDRANT_URL", "MODE", "UPSTASH_REDIS_REST_URL"):
        monkeypatch.delenv(var, raising=False)
    app = create_app(_settings(tmp_path, redis_url))
    with TestClient(app) as c:
        yield c


HOSTILE = [
    "file:///etc/passwd", "file://localhost/etc/passwd", "ssh://git@github.com/u/r",
    "git://github.com/u/r", "http://github.com/u/r", "ftp://github.com/u/r",
    "ext::sh -c touch% /tmp/pwned", "ext::ssh -oProxyCommand=x", "fd::17",
    "--upload-pack=touch /tmp/x", "-oProxyCommand=x", "https://user:pw@github.com/u/r",
    "https://token@github.com/u/r", "https://127.0.0.1/u/r", "https://localhost/u/r",
    "https://[::1]/u/r", "https://169.254.169.254/latest/meta-data",
    "https://metadata.google.internal/computeMetadata/v1", "https://10.0.0.1/u/r",
    "https://192.168.0.1/u/r", "https://172.16.0.1/u/r", "https://0.0.0.0/u/r",
    "https://2130706433/u/r", "https://0x7f000001/u/r", "https://evil.example.com/u/r",
    "https://github.com.evil.example/u/r", "https://evil-rebind.github.com/u/r",
    "https://internal.gitlab.com/u/r", "https://loop.codeberg.org/u/r",
    "https://v6loop.github.com/u/r", "https://mapped.github.com/u/r",
    "https://github.com:22/u/r", "https://github.com/u/r?x=1", "https://github.com/u/r#frag",
    "https://github.com/u/r\n", "https://github.com/u\x00/r", "https://github.com/u/r\x7f",
    "https://github.com/" + "a" * 600, "https://github.com/u", "https://github.com/u/r/extra",
    "https://github.com/../etc/passwd", "https://github.com/u/..", "github.com/-u/r",
    "/etc", "C:\\Windows\\System32", "javascript:alert(1)", "", "   ",
    "https://%67ithub.com/u/r", "https://github.com%2F@evil.com/u/r", "gopher://github.com/u/r",
]


@pytest.mark.parametrize("url", HOSTILE)
def test_hostile_urls_are_refused_with_a_reason(url):
    assert len(HOSTILE) >= 30
    with pytest.raises(InvalidRepoURL) as exc:
        validate_repo_url(url, allowed_hosts={"github.com", "gitlab.com", "codeberg.org"})
    assert str(exc.value)


@pytest.mark.parametrize("url, name", [
    ("github.com/user/repo", "github.com/user/repo"),
    ("https://github.com/user/repo", "github.com/user/repo"),
    ("https://github.com/user/repo.git", "github.com/user/repo"),
    ("https:/github.com/user/repo", "github.com/user/repo"),  # a proxy ate one slash
    ("https://GitHub.com/User/re.po_x-1/", "github.com/user/re.po_x-1"),  # names ignore case
    ("gitlab.com/group/project", "gitlab.com/group/project"),
    ("git@github.com:user/repo.git", "github.com/user/repo"),  # cloned over https too
])
def test_documented_forms_are_accepted(url, name):
    t = validate_repo_url(url, allowed_hosts={"github.com", "gitlab.com"})
    assert t.name == name and t.source == t.clone_url == f"https://{name}"


def test_ingest_contract_and_queue_cap(client):
    r = client.post("/api/v1/ingestion/ingest/github.com/user/repo", headers=AUTH)
    assert r.status_code == 200, r.text
    body = r.json()
    assert {"status", "job_id", "queue_position", "target", "queue_size",
            "max_queue_size"} <= set(body)
    assert body["status"] == "dispatched" and body["queue_position"] == 1
    assert body["max_queue_size"] == 3 and r.headers["X-Request-ID"]
    # same repository again: the existing job, not a second one
    again = client.post("/api/v1/ingestion/ingest/https://github.com/user/repo.git", headers=AUTH)
    assert again.json()["job_id"] == body["job_id"] and again.json()["existing"] is True
    client.post("/api/v1/ingestion/ingest/github.com/user/two", headers=AUTH)
    client.post("/api/v1/ingestion/ingest/github.com/user/three", headers=AUTH)
    full = client.post("/api/v1/ingestion/ingest/github.com/user/four", headers=AUTH)
    assert full.status_code == 429 and full.headers["Retry-After"] == "60"
    job = client.get(f"/api/v1/ingestion/jobs/{body['job_id']}").json()
    assert job["status"] == "pending" and job["queue_position"] == 1
    assert client.get("/api/v1/ingestion/jobs/" + "0" * 32).status_code == 404
    # cancel needs the token
    url = f"/api/v1/ingestion/jobs/{body['job_id']}"
    assert client.delete(url).status_code == 401
    assert client.delete(url, headers=AUTH).json()["result"] == "cancelled"
    hist = client.get("/api/v1/ingestion/jobs/history?limit=10").json()
    assert hist["jobs"][0]["status"] == "cancelled"
    assert hist["jobs"][0]["repo_url"] == "github.com/user/repo"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"},
                                     {"Authorization": f"Basic {TOKEN}"},
                                     {"Authorization": f"Bearer {TOKEN}x"}])
def test_state_changes_need_the_token(client, headers):
    r = client.post("/api/v1/ingestion/ingest/github.com/user/repo", headers=headers)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_bad_urls_get_400_with_a_reason(client):
    for url in ("file:///etc/passwd", "github.com/u/r?x", "https://127.0.0.1/u/r",
                "https://evil-rebind.github.com/u/r"):
        r = client.post(f"/api/v1/ingestion/ingest/{url}", headers=AUTH)
        assert r.status_code == 400 and "invalid repository URL" in r.json()["detail"], url


def test_no_token_configured_refuses_ingestion(tmp_path, redis_url):
    app = create_app(_settings(tmp_path, redis_url, PHAROS_ADMIN_TOKEN=""))
    with TestClient(app) as c:
        r = c.post("/api/v1/ingestion/ingest/github.com/u/r", headers=AUTH)
        assert r.status_code == 503 and "PHAROS_ADMIN_TOKEN" in r.json()["detail"]
    insecure = create_app(_settings(tmp_path, redis_url, PHAROS_ADMIN_TOKEN="",
                                    PHAROS_INSECURE_LOCAL=True))
    with TestClient(insecure) as c:
        assert c.post("/api/v1/ingestion/ingest/github.com/u/r").status_code == 200
    from graph_jobs.settings import SettingsError

    with pytest.raises(SettingsError, match="PHAROS_ADMIN_TOKEN"):
        create_app(_settings(tmp_path, redis_url, PHAROS_ADMIN_TOKEN="", MODE="CLOUD"))
    with pytest.raises(SettingsError, match="PHAROS_ALLOW_LOCAL_REPOS"):
        create_app(_settings(tmp_path, redis_url, MODE="CLOUD", PHAROS_ALLOW_LOCAL_REPOS=True))


def test_local_repos_only_when_allowed(tmp_path, redis_url):
    app = create_app(_settings(tmp_path, redis_url))
    with TestClient(app) as c:
        r = c.post(f"/api/v1/ingestion/ingest/{tmp_path}", headers=AUTH)
        assert r.status_code == 400
    app = create_app(_settings(tmp_path, redis_url, PHAROS_ALLOW_LOCAL_REPOS=True))
    with TestClient(app) as c:
        r = c.post(f"/api/v1/ingestion/ingest/file://{tmp_path}", headers=AUTH)
        assert r.status_code == 200 and r.json()["repo_url"] == str(tmp_path.resolve())


def test_redis_unreachable_is_503_not_500(tmp_path):
    app = create_app(_settings(tmp_path, "redis://127.0.0.1:1/0"))
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.post("/api/v1/ingestion/ingest/github.com/u/r", headers=AUTH)
        assert r.status_code == 503 and "queue unavailable" in r.json()["detail"]
        assert c.get("/api/v1/ingestion/worker/status").status_code == 503
        h = c.get("/health")
        assert h.status_code == 503
        body = h.json()
        assert body["status"] == "unhealthy" and body["services"]["redis"].startswith("error")
        assert body["services"]["database"] == "connected" and body["version"]


def test_health_all_connected(client):
    r = client.get("/health")
    assert r.status_code == 200, r.text
    assert r.json()["services"] == {"redis": "connected", "database": "connected",
                                    "qdrant": "connected"}
    assert r.json()["timestamp"]


def test_worker_status_offline_then_idle(client):
    from cluster.job_queue import WorkerBeat

    assert client.get("/api/v1/ingestion/worker/status").json()["status"] == "Offline"
    client.app.state.services.queue.heartbeat(WorkerBeat("w1", "NVIDIA H100"))
    st = client.get("/api/v1/ingestion/worker/status").json()
    assert st["status"] == "Idle" and st["workers"][0]["hardware"] == "NVIDIA H100"


def test_similar_endpoint(client, tmp_path):
    from graph_jobs.stores.vector_store import FilePoint

    vs = client.app.state.services.vectors
    pts = [FilePoint(f"f{i}.py", "python", [1.0, float(i)] + [0.0] * 62, i) for i in range(5)]
    vs.upsert_repository("github.com/u/r", "c", "j", pts)
    r = client.get("/api/v1/graph/similar", params={"repo_url": "https://github.com/u/r",
                                                     "file_path": "f1.py", "k": 2})
    assert r.status_code == 200, r.text
    assert [h["file_path"] for h in r.json()["results"]] == ["f0.py", "f2.py"] or \
        len(r.json()["results"]) == 2
    assert r.json()["answered_by"] == "vector+rerank"
    assert all("same folder" in h["why"] for h in r.json()["results"])
    r = client.get("/api/v1/graph/similar", params={"repo_url": "github.com/u/r",
                                                     "file_path": "f1.py", "rerank": "false"})
    assert r.json()["answered_by"] == "vector"
    assert all(h["score"] == h["vector_score"] for h in r.json()["results"])
    assert client.get("/api/v1/graph/similar", params={"repo_url": "github.com/u/r",
                                                        "file_path": "nope.py"}).status_code == 404


def test_metrics_and_cors(tmp_path, redis_url):
    app = create_app(_settings(tmp_path, redis_url, CORS_ORIGINS="https://ui.example"))
    with TestClient(app) as c:
        c.get("/api/v1/ingestion/worker/status")
        r = c.options("/api/v1/ingestion/worker/status",
                      headers={"Origin": "https://ui.example", "Access-Control-Request-Method": "GET"})
        assert r.headers["access-control-allow-origin"] == "https://ui.example"
        r = c.options("/api/v1/ingestion/worker/status",
                      headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
        assert "access-control-allow-origin" not in r.headers
        m = c.get("/metrics").text
        assert 'pharos_http_requests_total{method="GET",route="/api/v1/ingestion/worker/status",status="200"}' in m
        assert "pharos_queue_depth" in m
        assert c.get("/docs").status_code == 200


def test_request_id_is_echoed_or_replaced(client):
    """The ASGI middleware echoes a sane X-Request-ID and replaces an unusable one."""
    url = "/api/v1/ingestion/worker/status"
    r = client.get(url, headers={"X-Request-ID": "req-123"})
    assert r.status_code == 200 and r.headers["X-Request-ID"] == "req-123"
    r = client.get(url, headers={"X-Request-ID": "x" * 200})
    rid = r.headers["X-Request-ID"]
    assert rid != "x" * 200 and len(rid) == 32 and int(rid, 16) >= 0
    r = client.get("/no/such/route")
    assert r.status_code == 404 and len(r.headers["X-Request-ID"]) == 32


def test_importing_the_app_in_cloud_mode_never_imports_torch():
    code = ("import os, sys; os.environ.update(MODE='CLOUD', PHAROS_ADMIN_TOKEN='t', "
            "REDIS_URL='redis://127.0.0.1:6379/0'); import serve_app.app as a; "
            "from fastapi.testclient import TestClient; "
            "c = TestClient(a.create_app()); c.get('/api/v1/ingestion/jobs/history'); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False", out.stderr


@pytest.mark.slow
def test_schemathesis_finds_no_server_error(tmp_path, redis_url):
    """Every operation of the app's own OpenAPI schema, generated cases: no server error,
    every response valid against the schema (schemathesis' default checks)."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.specs.openapi.checks import positive_data_acceptance

    app = create_app(_settings(tmp_path, redis_url, MAX_QUEUE_SIZE=1000))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) >= 7
    for op in operations:
        @given(case=op.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case):
            # Semantic refusals (a syntactically valid string that is not a repository URL
            # gets 400) are intended, so "positive data acceptance" is not checked.
            case.call_and_validate(headers=AUTH, excluded_checks=[positive_data_acceptance])

        check()


def test_serve_runtime_without_ray_refuses_to_start_and_says_why(monkeypatch, tmp_path):
    """The slim cloud image has no Ray: PHAROS_RUNTIME=serve must fail clearly."""
    import importlib.util

    from typer.testing import CliRunner

    from pharos_cli.app import app
    from pharos_cli.settings import get_settings

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ray" else real(name, *a))
    monkeypatch.setenv("PHAROS_ADMIN_TOKEN", "t")
    monkeypatch.setenv("PHAROS_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        res = CliRunner().invoke(app, ["serve", "--runtime", "serve"])
    finally:
        get_settings.cache_clear()
    assert res.exit_code == 2, res.output
    assert "needs Ray Serve" in res.output and "PHAROS_INGRESS=serve" in res.output


def test_an_internal_key_error_is_not_a_404(client, monkeypatch):
    """'Not found' is its own type: a KeyError from a bug is a 500, not a 404."""
    from fastapi.testclient import TestClient

    def broken(*a, **k):
        raise KeyError("a bug")

    monkeypatch.setattr("graph_jobs.answers.similar_files", broken)
    with TestClient(client.app, raise_server_exceptions=False) as c:
        r = c.get("/api/v1/graph/similar", params={"repo_url": "github.com/u/r",
                                                    "file_path": "a.py"})
    assert r.status_code == 500
    monkeypatch.undo()
    r = client.get("/api/v1/graph/similar", params={"repo_url": "github.com/u/r",
                                                     "file_path": "nope.py"})
    assert r.status_code == 404 and "no vector" in r.json()["detail"]
