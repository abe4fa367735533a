"""/health's light probes: real PostgreSQL; Qdrant's REST surface on loopback.

No Qdrant server binary exists here, so the Qdrant probe is checked against
tests/support/qdrant_stub.py, which answers ``GET /collections`` as Qdrant does (200 with
the right ``api-key`` header, 401 without), and against a closed port.
"""

from __future__ import annotations

import json
import subprocess
import sys

import psycopg2
import pytest

from serve_app import health_probes as hp
from serve_app.ray_runtime import free_port
from tests.support.qdrant_stub import QdrantStub

KEY = "qdrant-key"


@pytest.fixture
def fake_qdrant():
    with QdrantStub(KEY) as stub:
        yield stub.url


@pytest.mark.parametrize(("url", "dsn"), [
    ("postgresql://u:p@db.example:5432/pharos?sslmode=require",
     "postgresql://u:p@db.example:5432/pharos?sslmode=require"),
    ("postgresql+psycopg2://u@h/db", "postgresql://u@h/db"),
    ("postgres://u@h/db", "postgresql://u@h/db"),
    ("postgresql+asyncpg://u@h/db", None),
    ("sqlite:////tmp/x.db", None),
    ("mysql://u@h/db", None),
    ("not a url", None),
])
def test_postgres_dsn(url, dsn):
    assert hp.postgres_dsn(url) == dsn


def test_postgres_probe_survives_its_connection_being_killed(pg_url):
    probe = hp.database_probe(pg_url, fallback=lambda: pytest.fail("fallback used"))
    assert isinstance(probe, hp.PostgresProbe)
    probe()
    pid = probe._conn.get_backend_pid()
    admin = psycopg2.connect(pg_url.split("?")[0])
    admin.autocommit = True
    admin.cursor().execute("SELECT pg_terminate_backend(%s)", (pid,))
    admin.close()
    with pytest.raises(psycopg2.Error):
        probe()  # the server dropped us: reported, not hidden
    probe()  # and the next check reconnects
    assert probe._conn.get_backend_pid() != pid
    probe.close()


def test_postgres_probe_reports_an_unreachable_server():
    probe = hp.PostgresProbe(f"postgresql://postgres@127.0.0.1:{free_port()}/x")
    with pytest.raises(psycopg2.OperationalError):
        probe()


def test_other_urls_use_the_store():
    called = []
    hp.database_probe("sqlite:////tmp/m.db", fallback=lambda: called.append(1))()
    hp.qdrant_probe("", "", fallback=lambda: called.append(2))()
    assert called == [1, 2]


def test_qdrant_url_defaults_to_port_6333_like_the_client():
    assert hp.qdrant_collections_url("http://localhost") == "http://localhost:6333/collections"
    assert hp.qdrant_collections_url("https://x.cloud.qdrant.io:6333/") == \
        "https://x.cloud.qdrant.io:6333/collections"
    assert hp.qdrant_collections_url("http://gw:8080/qdrant") == "http://gw:8080/qdrant/collections"


def test_qdrant_probe(fake_qdrant):
    hp.qdrant_probe(fake_qdrant, KEY, fallback=None)()
    with pytest.raises(RuntimeError, match="401"):
        hp.qdrant_probe(fake_qdrant, "wrong", fallback=None)()
    import httpx

    with pytest.raises(httpx.ConnectError):
        hp.QdrantProbe(f"http://127.0.0.1:{free_port()}", KEY)()


def test_health_in_cloud_configuration_loads_neither_sqlalchemy_nor_qdrant_client(
        fake_qdrant, pg_url, redis_url, tmp_path):
    """What Render's health checks keep in memory: a fresh process, cloud-like settings."""
    code = f"""
import json, sys
from fastapi.testclient import TestClient
from pharos_cli.settings import Settings
from serve_app.app import create_app
s = Settings(_env_file=None, PHAROS_ADMIN_TOKEN="t", REDIS_URL={redis_url!r},
             DATABASE_URL={pg_url!r}, QDRANT_URL={fake_qdrant!r}, QDRANT_API_KEY={KEY!r},
             PHAROS_DATA_DIR={str(tmp_path)!r})
with TestClient(create_app(s)) as c:
    r = [c.get("/health") for _ in range(3)][-1]
print(json.dumps({{"status": r.status_code, "body": r.json(),
                  "loaded": [m for m in ("sqlalchemy", "qdrant_client") if m in sys.modules]}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["status"] == 200, got
    assert got["body"]["services"] == {"redis": "connected", "database": "connected",
                                       "qdrant": "connected"}
    assert got["loaded"] == []


def test_similar_search_with_qdrant_down_is_503_naming_it(redis_url, tmp_path):
    from fastapi.testclient import TestClient

    from pharos_cli.settings import Settings
    from serve_app.app import create_app

    s = Settings(_env_file=None, PHAROS_ADMIN_TOKEN="t", REDIS_URL=redis_url,
                 QDRANT_URL=f"http://127.0.0.1:{free_port()}", PHAROS_QDRANT_RETRIES=1,
                 PHAROS_DATA_DIR=str(tmp_path))
    with TestClient(create_app(s)) as c:
        r = c.get("/api/v1/graph/similar", params={"repo_url": "github.com/u/r",
                                                   "file_path": "a.py"})
        h = c.get("/health")
    assert r.status_code == 503 and r.headers["Retry-After"]
    assert r.json()["detail"].startswith("vector store unavailable: Qdrant"), r.json()
    assert h.status_code == 503 and h.json()["services"]["qdrant"].startswith("error: ConnectError")
