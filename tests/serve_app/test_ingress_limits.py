"""The open endpoints are cheap and say nothing they should not (issue 25, items 4 and 5).

Real Redis: a private ``redis-server`` per test (tests/support/private_services.py), so
``INFO commandstats`` counts this test's commands only; the machine's PostgreSQL; the
real app, through TestClient or uvicorn on loopback.
"""

from __future__ import annotations

import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import redis
from fastapi.testclient import TestClient

from devkit.private_services import PrivateRedis, free_port
from pharos_cli.settings import Settings
from serve_app.app import create_app
from serve_app.read_cache import ReadCache
from tests.support.waiting import wait_for

ADMIN, READER = "admin-token-1", "read-token-1"
PUBLIC = {"github.com": "140.82.112.3"}


@pytest.fixture(autouse=True)
def fake_dns(monkeypatch):
    """No public DNS here: github.com resolves from a table, nothing else resolves."""
    import serve_app.url_validation as uv

    def getaddrinfo(host, port, *a, **k):
        if host not in PUBLIC:
            raise socket.gaierror(-2, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (PUBLIC[host], port))]

    monkeypatch.setattr(uv, "_getaddrinfo", getaddrinfo)


@pytest.fixture
def private_redis():
    with PrivateRedis() as r:
        yield r.url


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for var in ("DATABASE_URL", "NEON_DATABASE_URL", "QDRANT_URL", "MODE", "REDIS_URL",
                "UPSTASH_REDIS_REST_URL", "PHAROS_READ_TOKEN", "PHAROS_TRUSTED_PROXY"):
        monkeypatch.delenv(var, raising=False)


def _settings(tmp_path, **kw) -> Settings:
    env = dict(PHAROS_ADMIN_TOKEN=ADMIN, PHAROS_DATA_DIR=str(tmp_path / "data"))
    env.update(kw)
    return Settings(_env_file=None, **env)


class Server:
    """The app under uvicorn on a loopback port, in a thread (real concurrency)."""

    def __init__(self, app) -> None:
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="error"))
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        wait_for(lambda: self.server.started, timeout=30, what="uvicorn")
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)


CONNECTION = ("hello", "client|setinfo")  # once per connection opened, not per request


def commands(url: str) -> dict[str, int]:
    """Calls per command since the last reset, read from the server (the counting's own
    ``INFO`` and ``CONFIG RESETSTAT`` left out). Commands a Lua script runs count under
    their own names."""
    stats = redis.Redis.from_url(url).info("commandstats")
    out = {k.removeprefix("cmdstat_"): v["calls"] for k, v in stats.items()}
    for own in ("info", "config|resetstat"):
        out.pop(own, None)
    return out


def per_request(stats: dict[str, int]) -> int:
    return sum(v for k, v in stats.items() if k not in CONNECTION)


def reset_stats(url: str) -> None:
    redis.Redis.from_url(url).config_resetstat()


def load_scripts(url: str) -> None:
    """Load the queue's scripts into the server (``SCRIPT LOAD`` happens once per server,
    so the first EVALSHA of a fresh client is not counted as a miss and a load)."""
    from cluster.job_queue import JobQueue
    from cluster.redis_transport import RedisTransport

    q = JobQueue(RedisTransport(url))
    q.status()
    q.history(100)
    q.overview(100)


SCRIPTED = ("evalsha", "eval", "script|load", "script")


def top_level(stats: dict[str, int]) -> int:
    """Commands sent by the ingress (what Upstash bills): the scripts it calls."""
    return sum(stats.get(c, 0) for c in SCRIPTED)


# --- the read cache ------------------------------------------------------------------
def test_status_and_history_cost_the_same_few_redis_commands_for_any_number_of_reads(
        tmp_path, private_redis):
    load_scripts(private_redis)

    def reads(cache_s: float, n: int) -> dict[str, int]:
        app = create_app(_settings(tmp_path, REDIS_URL=private_redis, PHAROS_RATE_LIMIT=0,
                                   PHAROS_READ_CACHE_S=cache_s))
        with TestClient(app) as c:
            reset_stats(private_redis)
            for i in range(n):
                assert c.get("/api/v1/ingestion/worker/status").status_code == 200
                r = c.get("/api/v1/ingestion/jobs/history", params={"limit": 1 + i % 20})
                assert r.status_code == 200 and r.json()["stats"]["jobs"] == 0
            return commands(private_redis)

    n = 60
    cached = reads(60.0, n)  # one window: everything after the first read is served here
    assert top_level(cached) <= 1, cached  # history + status, read together once
    assert per_request(cached) <= 1 + 4, cached  # with what the script runs
    assert sum(cached.get(k, 0) for k in CONNECTION) <= 2, cached  # this test's + the app's
    uncached = reads(0.0, n)  # the same reads, cache off: what it saves
    assert top_level(uncached) >= 2 * n, uncached


def test_a_job_that_ends_while_the_view_is_read_is_in_the_history_beside_it(
        tmp_path, redis_url):
    """The console reads the history again only when the status changes. A job acked
    between the ingress's reads of the status and of the history left the status idle
    and the history without the job, until the next job (a CI run saw it). The view is
    one atomic read: whenever the status no longer counts a job, the history has it."""
    from cluster.job_queue import JobQueue, WorkerBeat
    from cluster.redis_transport import RedisTransport
    from cluster.statuses import JobStatus

    worker_side = JobQueue(RedisTransport(redis_url))
    beat = WorkerBeat("edge-0")
    app = create_app(_settings(tmp_path, REDIS_URL=redis_url, PHAROS_RATE_LIMIT=0,
                               PHAROS_READ_CACHE_S=60.0))
    with TestClient(app) as c:
        job = c.post("/api/v1/ingestion/ingest/https://github.com/o/r",
                     headers={"Authorization": f"Bearer {ADMIN}"}).json()["job_id"]
        task = worker_side.claim(beat)
        assert task.job_id == job
        ingress = app.state.services.queue
        real_eval = ingress.t.eval
        finished = []

        def eval_then_the_job_ends(*args, **kw):
            out = real_eval(*args, **kw)
            if not finished:  # the job ends right after the ingress's first read
                beat.idle()
                finished.append(worker_side.ack(
                    task.record(JobStatus.COMPLETE, duration_seconds=1.0), beat))
            return out

        ingress.t.eval = eval_then_the_job_ends
        status = c.get("/api/v1/ingestion/worker/status").json()
        history = c.get("/api/v1/ingestion/jobs/history").json()["jobs"]  # the same view
        assert finished == [True]
        in_history = any(j["job_id"] == job for j in history)
        running = status["in_flight"] == 1 and status["queue_size"] == 0
        assert running or in_history, (status, history)
        assert running != in_history, (status, history)  # one read: the job is in one


def test_jobs_looked_up_by_id_share_one_redis_budget(tmp_path, private_redis):
    """GET /jobs/{id} with ids a client makes up: each id is cached for the window, and
    the Redis lookups of all clients together stop at the shared budget (then 429)."""
    import serve_app.app as app_mod

    load_scripts(private_redis)
    app = create_app(_settings(tmp_path, REDIS_URL=private_redis, PHAROS_RATE_LIMIT=0,
                               PHAROS_READ_CACHE_S=60))
    with TestClient(app) as c:
        c.get(f"/api/v1/ingestion/jobs/{0:032x}")  # loads the lookup's script once
        reset_stats(private_redis)
        known = f"{1:032x}"
        assert all(c.get(f"/api/v1/ingestion/jobs/{known}").status_code == 404
                   for _ in range(30))  # one id asked 30 times: one lookup
        assert top_level(commands(private_redis)) == 1
        codes = [c.get(f"/api/v1/ingestion/jobs/{i + 2:032x}") for i in range(200)]
        spent = top_level(commands(private_redis))
        # the burst, plus what refilled while the test ran (1/s): far below 200
        assert spent <= app_mod.JOB_LOOKUPS_BURST + 1 + 60, spent
        refused = [r for r in codes if r.status_code == 429]
        assert refused and all(int(r.headers["Retry-After"]) >= 1 for r in refused)


def test_concurrent_misses_share_one_redis_read(tmp_path, private_redis):
    load_scripts(private_redis)
    app = create_app(_settings(tmp_path, REDIS_URL=private_redis, PHAROS_RATE_LIMIT=0,
                               PHAROS_READ_CACHE_S=60))
    with Server(app) as srv, httpx.Client(base_url=srv.url, timeout=30) as c:
        reset_stats(private_redis)
        paths = ["/api/v1/ingestion/worker/status", "/api/v1/ingestion/jobs/history"] * 24
        with ThreadPoolExecutor(len(paths)) as pool:
            codes = list(pool.map(lambda p: c.get(p).status_code, paths))
        assert codes == [200] * len(paths)
        assert top_level(commands(private_redis)) == 1  # status and history: one atomic script
        assert app.state.read_cache.loads == 1


def test_read_cache_single_flight_shares_the_load_and_its_error():
    cache = ReadCache(ttl_s=60)
    release = threading.Event()
    calls = []

    def slow():
        calls.append(1)
        release.wait(10)
        return {"v": len(calls)}

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(cache.get, "k", slow) for _ in range(8)]
        wait_for(lambda: cache.sharers("k") == 7, timeout=10, what="7 callers waiting")
        release.set()
        values = [f.result() for f in futures]
    assert calls == [1] and all(v is values[0] for v in values)
    assert cache.get("k", slow) is values[0]  # kept for the window

    boom = threading.Event()

    def failing():
        boom.wait(10)
        raise ConnectionError("down")

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(cache.get, "e", failing) for _ in range(4)]
        wait_for(lambda: cache.sharers("e") == 3, timeout=10, what="3 callers waiting")
        boom.set()
        errors = [f.exception() for f in futures]
    assert all(isinstance(e, ConnectionError) for e in errors)
    assert cache.get("e", lambda: "back") == "back"  # an error is not kept


def test_what_this_ingress_changes_is_seen_at_once(tmp_path, private_redis):
    """A POST or a cancel through this ingress drops the cached view: the console shows
    its own submission without waiting for the window."""
    app = create_app(_settings(tmp_path, REDIS_URL=private_redis, PHAROS_RATE_LIMIT=0,
                               PHAROS_READ_CACHE_S=60))
    auth = {"Authorization": f"Bearer {ADMIN}"}
    with TestClient(app) as c:
        assert c.get("/api/v1/ingestion/worker/status").json()["queue_size"] == 0
        job = c.post("/api/v1/ingestion/ingest/github.com/u/r", headers=auth).json()["job_id"]
        assert c.get("/api/v1/ingestion/worker/status").json()["queue_size"] == 1
        c.delete(f"/api/v1/ingestion/jobs/{job}", headers=auth)
        hist = c.get("/api/v1/ingestion/jobs/history").json()["jobs"]
        assert [j["status"] for j in hist] == ["cancelled"]


# --- the rate limit ------------------------------------------------------------------
def test_rate_limit_429_with_retry_after_per_client(tmp_path, private_redis):
    # one token per 100 s: a test runner stalled for seconds (2 busy cores) refills nothing
    app = create_app(_settings(tmp_path, REDIS_URL=private_redis, PHAROS_RATE_LIMIT=0.01,
                               PHAROS_RATE_BURST=3))
    with TestClient(app) as c:
        codes = [c.get("/api/v1/ingestion/worker/status").status_code for _ in range(3)]
        assert codes == [200] * 3
        r = c.get("/api/v1/ingestion/worker/status")
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        assert r.json()["detail"].startswith("too many requests")
        assert r.headers["X-Request-ID"] and r.headers["X-Content-Type-Options"] == "nosniff"
        for path in ("/health", "/api/v1/graph/repositories", "/"):  # every route
            assert c.get(path).status_code == 429, path
        # no proxy is trusted: a forwarded-for header is anyone's to write, and ignored
        r = c.get("/api/v1/ingestion/worker/status", headers={"X-Forwarded-For": "203.0.113.9"})
        assert r.status_code == 429


def test_rate_limit_behind_a_trusted_proxy_counts_each_forwarded_client(tmp_path,
                                                                       private_redis):
    app = create_app(_settings(tmp_path, REDIS_URL=private_redis, PHAROS_RATE_LIMIT=0.01,
                               PHAROS_RATE_BURST=2, PHAROS_TRUSTED_PROXY="X-Forwarded-For",
                               PHAROS_TRUSTED_PROXY_HOPS=1))
    url = "/api/v1/ingestion/worker/status"

    def get(chain: str) -> int:
        return c.get(url, headers={"X-Forwarded-For": chain}).status_code

    with TestClient(app) as c:
        assert [get("198.51.100.1") for _ in range(3)] == [200, 200, 429]
        assert get("198.51.100.2") == 200  # another client: its own bucket
        # what a client writes left of the proxy's entry changes nothing
        assert get("1.2.3.4, 198.51.100.1") == 429
        assert get("2001:db8::1") == 200 and get("2001:db8::2") == 200
        assert get("2001:db8::3") == 429  # one IPv6 /64 is one client


def test_rate_limit_buckets_are_a_bounded_lru():
    from serve_app.rate_limit import TokenBuckets

    now = [0.0]
    b = TokenBuckets(rate=1.0, burst=1, max_clients=100, clock=lambda: now[0])
    for i in range(10_000):
        assert b.take(f"10.0.{i // 256}.{i % 256}") == 0.0
    assert len(b) == 100
    assert b.take("10.0.39.15") > 0  # the newest are kept (and drained)
    now[0] += 2.0
    assert b.take("10.0.39.15") == 0.0  # refilled


def test_200_concurrent_posts_give_the_queue_cap_and_the_rest_429(tmp_path, private_redis):
    """Before the rate limit: 10 jobs and 190 x 429 with Retry-After (the queue cap). With
    it, still: the limit answers some of the 429s sooner."""
    app = create_app(_settings(tmp_path, REDIS_URL=private_redis, MAX_QUEUE_SIZE=10))
    auth = {"Authorization": f"Bearer {ADMIN}"}
    with Server(app) as srv, httpx.Client(base_url=srv.url, timeout=60) as c:
        def post(i: int):
            return c.post(f"/api/v1/ingestion/ingest/github.com/u/r{i}", headers=auth)

        with ThreadPoolExecutor(50) as pool:
            answers = list(pool.map(post, range(200)))
    ok = [r for r in answers if r.status_code == 200]
    refused = [r for r in answers if r.status_code == 429]
    assert len(ok) == 10 and len(refused) == 190
    assert all(int(r.headers["Retry-After"]) >= 1 for r in refused)
    assert len({r.json()["job_id"] for r in ok}) == 10


# --- the map -------------------------------------------------------------------------
def _store_repository(app, repo: str, n: int) -> list[str]:
    from graph_jobs.stores.vector_store import FilePoint

    services = app.state.services
    paths = [f"{'src' if i % 3 else 'tests'}/m{i:03d}.py" for i in range(n)]
    services.vectors.upsert_repository(repo, "c", "j", [
        FilePoint(p, "python", [float(i % 7), float(i % 5), float(i)] + [0.0] * 61, i % 4)
        for i, p in enumerate(paths)])
    edges = [{"source_path": paths[i], "target_path": paths[(i * 7 + 3) % n], "kind": "import",
              "line": 1} for i in range(n)]
    services.metadata.replace_repository(repo, "c", "j", [
        {"path": p, "language": "python", "size": 1, "degree": 1, "isolated": False}
        for p in paths], edges)
    return sorted(paths)


def test_map_is_paged_and_the_pages_add_up_to_the_whole(tmp_path, private_redis):
    app = create_app(_settings(tmp_path, REDIS_URL=private_redis, PHAROS_RATE_LIMIT=0))
    with TestClient(app) as c:
        paths = _store_repository(app, "github.com/u/r", 57)
        whole = c.get("/api/v1/graph/map", params={"repo_url": "github.com/u/r",
                                                   "limit": 1000}).json()
        assert whole["total"] == 57 and whole["next_offset"] is None
        assert [f["path"] for f in whole["files"]] == paths
        assert len(whole["edges"]) == 57 and set(whole["groups"]) == {"src", "tests"}
        files, edges, offset = [], [], 0
        while offset is not None:
            page = c.get("/api/v1/graph/map", params={"repo_url": "https://github.com/u/r",
                                                      "offset": offset, "limit": 10}).json()
            assert len(page["files"]) <= 10 and page["total"] == 57
            lo = page["offset"]
            assert all(lo <= a < lo + len(page["files"]) for a, _, _ in page["edges"])
            files += page["files"]
            edges += page["edges"]
            offset = page["next_offset"]
        assert files == whole["files"]  # same order, same positions: one layout
        assert sorted(map(tuple, edges)) == sorted(map(tuple, whole["edges"]))
        default = c.get("/api/v1/graph/map", params={"repo_url": "github.com/u/r"}).json()
        assert default["limit"] == 5000  # the default cap
        too_many = c.get("/api/v1/graph/map", params={"repo_url": "github.com/u/r",
                                                      "limit": 10001})
        assert too_many.status_code == 422
        assert c.get("/api/v1/graph/map",
                     params={"repo_url": "github.com/u/none"}).status_code == 404


def test_concurrent_maps_of_one_repository_build_its_layout_once(tmp_path, private_redis):
    app = create_app(_settings(tmp_path, REDIS_URL=private_redis, PHAROS_RATE_LIMIT=0))
    with Server(app) as srv, httpx.Client(base_url=srv.url, timeout=60) as c:
        _store_repository(app, "github.com/u/r", 300)
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda i: c.get("/api/v1/graph/map", params={
                "repo_url": "github.com/u/r", "offset": 40 * i, "limit": 40}), range(8)))
        assert [r.status_code for r in answers] == [200] * 8
        assert app.state.map_layouts.builds == 1


# --- the read token ------------------------------------------------------------------
READS = ["/api/v1/ingestion/worker/status", "/api/v1/ingestion/jobs/history",
         "/api/v1/ingestion/jobs/" + "0" * 32, "/api/v1/graph/repositories",
         "/api/v1/graph/map?repo_url=github.com/u/r",
         "/api/v1/graph/similar?repo_url=github.com/u/r&file_path=a.py",
         "/api/v1/graph/impact?repo_url=github.com/u/r&file_path=a.py&file_path=b.py",
         "/api/v1/graph/repositories/github.com/u/r/similar", "/metrics"]


def test_read_token_when_set_guards_every_read_route(tmp_path, private_redis):
    app = create_app(_settings(tmp_path, REDIS_URL=private_redis, PHAROS_RATE_LIMIT=0,
                               PHAROS_READ_TOKEN=READER))
    with TestClient(app) as c:
        for path in READS:
            r = c.get(path)
            assert r.status_code == 401, path
            assert "read token" in r.json()["detail"] and r.headers["WWW-Authenticate"]
            assert c.get(path, headers={"Authorization": f"Bearer {READER}x"}
                         ).status_code == 401, path
            for token in (READER, ADMIN):
                r = c.get(path, headers={"Authorization": f"Bearer {token}"})
                assert r.status_code in (200, 404), (path, r.status_code, r.text)
        # what a browser needs to ask for the token, and the platform's health check
        for path in ("/health", "/", "/console/console.js", "/docs", "/openapi.json"):
            assert c.get(path).status_code == 200, path
        # writes still need the admin token, not the read token
        r = c.post("/api/v1/ingestion/ingest/github.com/u/r",
                   headers={"Authorization": f"Bearer {READER}"})
        assert r.status_code == 401
        schema = c.get("/openapi.json").json()["paths"]
        assert schema["/api/v1/ingestion/worker/status"]["get"].get("security")


def test_without_a_read_token_reads_are_open(tmp_path, private_redis):
    app = create_app(_settings(tmp_path, REDIS_URL=private_redis, PHAROS_RATE_LIMIT=0))
    with TestClient(app) as c:
        for path in READS:
            assert c.get(path).status_code in (200, 404), path
        schema = c.get("/openapi.json").json()["paths"]
        assert not schema["/api/v1/ingestion/worker/status"]["get"].get("security")


def test_console_sends_the_read_token_and_asks_for_it(tmp_path):
    """The console page stays public under its strict CSP; its script sends the stored
    read token (or the admin token) with every read and asks for it on a 401."""
    from serve_app.console_routes import CONSOLE_DIR

    js = (CONSOLE_DIR / "console.js").read_text()
    page = (CONSOLE_DIR / "index.html").read_text()
    assert 'id="read-form"' in page and 'id="read-token"' in page and "<script>" not in page
    assert "sessionStorage.getItem(READ_KEY) || admin" in js
    assert "next_offset" in js  # and it reads the map in pages


# --- what the answers say ------------------------------------------------------------
def test_health_names_states_not_addresses(tmp_path):
    ports = [free_port() for _ in range(3)]
    app = create_app(_settings(
        tmp_path, REDIS_URL=f"redis://:sekret@127.0.0.1:{ports[0]}/0",
        DATABASE_URL=f"postgresql://postgres:pw@127.0.0.1:{ports[1]}/pharos",
        QDRANT_URL=f"http://127.0.0.1:{ports[2]}", PHAROS_QDRANT_RETRIES=1,
        PHAROS_AUTO_MIGRATE=False))
    with TestClient(app) as c:
        r = c.get("/health")
    assert r.status_code == 503 and r.json()["status"] == "unhealthy"
    services = r.json()["services"]
    assert set(services) == {"redis", "database", "qdrant"}
    assert all(v.startswith("error: ") and " " not in v[7:] for v in services.values()), services
    for secret in ["127.0.0.1", "sekret", "pw@", "postgresql", "http://", *map(str, ports)]:
        assert secret not in r.text, secret


def test_json_answers_carry_nosniff_and_hsts_where_due(tmp_path, private_redis):
    s = _settings(tmp_path, REDIS_URL=private_redis, PHAROS_RATE_LIMIT=0)
    with TestClient(create_app(s)) as c:
        for path in ("/api/v1/ingestion/worker/status", "/health", "/no/such/route", "/"):
            r = c.get(path)
            assert r.headers.get_list("X-Content-Type-Options") == ["nosniff"], path
            assert "Strict-Transport-Security" not in r.headers  # plain http, not cloud
    with TestClient(create_app(s), base_url="https://testserver") as c:
        assert c.get("/health").headers["Strict-Transport-Security"].startswith("max-age=")
    cloud = _settings(tmp_path, REDIS_URL=private_redis, PHAROS_RATE_LIMIT=0, MODE="CLOUD")
    with TestClient(create_app(cloud)) as c:  # the platform ends TLS in front of it
        r = c.get("/api/v1/ingestion/worker/status")
        assert r.headers["Strict-Transport-Security"].startswith("max-age=")


def test_database_down_is_503_with_retry_after_not_a_traceback(tmp_path):
    app = create_app(_settings(
        tmp_path, DATABASE_URL=f"postgresql://postgres@127.0.0.1:{free_port()}/pharos",
        PHAROS_AUTO_MIGRATE=False, PHAROS_RATE_LIMIT=0))
    with TestClient(app, raise_server_exceptions=False) as c:
        for path in ("/api/v1/graph/repositories",
                     "/api/v1/graph/repositories/github.com/u/r/similar",
                     "/api/v1/ingestion/jobs/history"):  # the embedded history reads SQL
            r = c.get(path)
            assert r.status_code == 503, (path, r.text)
            assert r.headers["Retry-After"] and r.json() == {
                "detail": "metadata database unavailable: the database did not answer"}


def test_qdrant_down_is_503_with_retry_after(tmp_path):
    app = create_app(_settings(tmp_path, QDRANT_URL=f"http://127.0.0.1:{free_port()}",
                               PHAROS_QDRANT_RETRIES=1, PHAROS_RATE_LIMIT=0))
    with TestClient(app, raise_server_exceptions=False) as c:
        for path in ("/api/v1/graph/map?repo_url=github.com/u/r",
                     "/api/v1/graph/similar?repo_url=github.com/u/r&file_path=a.py"):
            r = c.get(path)
            assert r.status_code == 503 and r.headers["Retry-After"], (path, r.text)
            assert r.json() == {"detail": "vector store unavailable: Qdrant did not answer"}


def test_no_oracle_for_which_os_users_exist(tmp_path, private_redis):
    app = create_app(_settings(tmp_path, REDIS_URL=private_redis, PHAROS_RATE_LIMIT=0,
                               MODE="CLOUD"))
    auth = {"Authorization": f"Bearer {ADMIN}"}
    with TestClient(app) as c:
        for form in ("{}", "{}/repo", "file://{}/repo", "file:{}"):
            answers = set()
            for user in ("~root", "~no-such-user-7x", "~"):
                name = form.format(user)
                a = c.post(f"/api/v1/ingestion/ingest/{name}", headers=auth)
                b = c.get("/api/v1/graph/map", params={"repo_url": name})
                answers.add((a.status_code, a.json()["detail"], b.status_code,
                             b.json()["detail"]))
            assert len(answers) == 1, answers
            assert next(iter(answers))[0] == 400


def test_names_that_differ_in_case_on_github_are_one_job(tmp_path, private_redis):
    app = create_app(_settings(tmp_path, REDIS_URL=private_redis, PHAROS_RATE_LIMIT=0))
    auth = {"Authorization": f"Bearer {ADMIN}"}
    with TestClient(app) as c:
        first = c.post("/api/v1/ingestion/ingest/github.com/Burst/same", headers=auth).json()
        again = c.post("/api/v1/ingestion/ingest/https://GitHub.com/burst/SAME.git",
                       headers=auth).json()
    assert first["repo_url"] == "github.com/burst/same"
    assert again["job_id"] == first["job_id"] and again["existing"] is True


def test_case_is_folded_only_where_the_host_ignores_it():
    from graph_jobs.repository_ref import RepoRef

    for raw in ("github.com/Burst/Same", "https://GITHUB.com/burst/same.git",
                "git@github.com:BURST/same.git"):
        assert RepoRef.parse(raw).name == "github.com/burst/same", raw
    assert RepoRef.parse("https://GitLab.com/Group/Project").name == "gitlab.com/group/project"
    assert RepoRef.parse("bitbucket.org/Team/Repo").clone_url == "https://bitbucket.org/team/repo"
    # a host not known to ignore case keeps the case it was given
    assert RepoRef.parse("https://git.example.org/Owner/Repo").name == \
        "git.example.org/Owner/Repo"


def test_the_map_code_loads_numpy_only_when_a_map_is_asked_for():
    """Start-up memory: the app (and its status route) import no numpy; the map does."""
    import subprocess
    import sys

    code = ("import sys; import serve_app.app, serve_app.repository_map; "
            "print('numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False", out.stderr
