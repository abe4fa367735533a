from __future__ import annotations

import pytest

from pharos_cli.settings import Settings


@pytest.fixture
def settings(tmp_path, monkeypatch) -> Settings:
    """Embedded-default settings with a private data directory."""
    monkeypatch.setenv("PHAROS_DATA_DIR", str(tmp_path / "pharos-data"))
    for var in ("MODE", "DATABASE_URL", "NEON_DATABASE_URL", "QDRANT_URL", "REDIS_URL"):
        monkeypatch.delenv(var, raising=False)
    return Settings(_env_file=None)


@pytest.fixture(scope="session")
def requests_repo(tmp_path_factory):
    """A git repository of the installed ``requests`` package (read, never changed)."""
    from devkit.repos import repo_from_packages

    return repo_from_packages(tmp_path_factory.mktemp("req") / "repo", ["requests"])


PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def pg_url():
    """A fresh PostgreSQL database on the machine's server (port 5432), dropped afterwards."""
    import uuid

    psycopg2 = pytest.importorskip("psycopg2")
    name = f"pharos_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg2.connect(PG_ADMIN_URL, connect_timeout=5)
    except psycopg2.OperationalError as exc:  # pragma: no cover - CI starts it
        pytest.fail(f"PostgreSQL is not running on 127.0.0.1:5432: {exc}")
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}?sslmode=disable"
    finally:
        from sqlalchemy.pool import NullPool  # noqa: F401 - engines are disposed by tests

        admin.cursor().execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


def _redis_db_index(worker_id: str) -> int:
    # one Redis database per xdist worker (the queue's key names are fixed)
    return 2 if worker_id == "master" else 3 + int(worker_id.removeprefix("gw")) % 12


@pytest.fixture
def redis_url(worker_id) -> str:
    import redis

    url = f"redis://127.0.0.1:6379/{_redis_db_index(worker_id)}"
    r = redis.Redis.from_url(url)
    try:
        r.ping()
    except redis.exceptions.ConnectionError as exc:  # pragma: no cover - CI starts it
        pytest.fail(f"Redis is not running on 127.0.0.1:6379: {exc}")
    r.flushdb()
    yield url
    r.flushdb()


@pytest.fixture(params=["redis", "upstash-rest"])
def transport(request, redis_url):
    """Both transports over the machine's real Redis (REST through an Upstash gateway)."""
    from cluster.redis_transport import RedisTransport, UpstashTransport

    if request.param == "redis":
        yield RedisTransport(redis_url)
        return
    from devkit.upstash_gateway import UpstashGateway

    with UpstashGateway(redis_url) as gw:
        t = UpstashTransport(gw.url, gw.token)
        t.gateway = gw
        yield t


_LOADGROUP_BROKEN = pytest.StashKey[bool]()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Notice when `--dist loadgroup` no longer groups: pytest-xdist 3.8 under pytest 9.2 did so
    silently, and the Ray tests then ran side by side and joined each other's clusters."""
    config.stash[_LOADGROUP_BROKEN] = bool(getattr(config.option, "loadgroup", False)) and any(
        i.get_closest_marker("xdist_group") and "@" not in i.nodeid for i in items)


def pytest_runtest_setup(item):
    if item.config.stash.get(_LOADGROUP_BROKEN, False) and item.get_closest_marker("xdist_group"):
        pytest.fail("pytest-xdist's --dist loadgroup did not group this test (a pytest / "
                    "pytest-xdist version mismatch; see the pytest pin in pyproject.toml)",
                    pytrace=False)
