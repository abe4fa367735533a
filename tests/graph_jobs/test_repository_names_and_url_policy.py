"""One name for a repository and one URL policy, enforced where the clone happens (issue 15).

Names: every spelling of one repository is one name through the CLI, the API and the
queue; what the CLI ingests the API finds, and the reverse; data stored under the old
names is re-keyed on the next ingest.

Policy: tasks written straight into Redis (no ingress) with loopback, private or
metadata URLs fail at once with their reason while a listener on loopback receives no
connection; an allowed host that resolves to loopback is refused at clone time; git
connects to the address that was checked (pinned), and does not follow a redirect.
"""

from __future__ import annotations

import http.server
import json
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cluster.edge_worker import EdgeWorker
from cluster.job_queue import QUEUE_KEY, JobQueue
from devkit.repos import make_repo
from graph_jobs.errors import CloneFailed, UnsafeRepositoryURL
from graph_jobs.graph.repo_source import clone
from graph_jobs.pipeline import Stores, run_ingest
from graph_jobs.repository_ref import RepoRef
from graph_jobs.stores.vector_store import FilePoint, close_local_clients
from graph_jobs.url_policy import CheckedSource, UrlPolicy, git_options
from pharos_cli.app import app as cli_app
from pharos_cli.settings import Settings, get_settings
from serve_app.app import create_app
from tests.support.git_http import GitHTTPServer

TOKEN = "t" * 32
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FORMS = ["github.com/o/r", "https://github.com/o/r", "https://github.com/o/r.git",
         "https://github.com/o/r/", "https://github.com/o/r.git/", "https://GitHub.COM/o/r",
         "HTTPS://GITHUB.COM/o/r.git", "https:/github.com/o/r", "github.com/o/r.git",
         "http://github.com/o/r", "git@github.com:o/r.git"]
PUBLIC_DNS = {"github.com": "140.82.112.3", "gitlab.com": "172.65.251.78"}


def _public_dns(host, port, *a, **k):
    if host not in PUBLIC_DNS:
        raise socket.gaierror(-2, "Name or service not known")
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (PUBLIC_DNS[host], port))]


@pytest.fixture(autouse=True)
def fake_dns(monkeypatch):
    import serve_app.url_validation as uv

    monkeypatch.setattr(uv, "_getaddrinfo", _public_dns)


@pytest.fixture
def env(tmp_path, redis_url, monkeypatch):
    """One data directory for the CLI (environment) and the API (settings)."""
    for var in ("DATABASE_URL", "NEON_DATABASE_URL", "QDRANT_URL", "MODE",
                "UPSTASH_REDIS_REST_URL"):
        monkeypatch.delenv(var, raising=False)
    values = {"PHAROS_DATA_DIR": str(tmp_path / "data"), "PHAROS_ADMIN_TOKEN": TOKEN,
              "REDIS_URL": redis_url, "PHAROS_ALLOW_LOCAL_REPOS": "1"}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    yield Settings(_env_file=None, **values)
    get_settings.cache_clear()
    close_local_clients()


# --- names ---------------------------------------------------------------------------
@pytest.mark.parametrize("form", FORMS)
def test_every_spelling_is_one_name(form):
    ref = RepoRef.parse(form)
    assert ref.name == "github.com/o/r" and not ref.local


def test_local_paths_and_file_urls_name_the_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "repo").mkdir()
    names = {RepoRef.parse(x).name for x in
             ("repo", "./repo", str(tmp_path / "repo"), f"file://{tmp_path}/repo",
              f"file://{tmp_path}/repo/")}
    assert names == {str((tmp_path / "repo").resolve())}
    assert RepoRef.parse("repo").in_place and not RepoRef.parse(f"file://{tmp_path}/repo").in_place


def test_every_spelling_through_the_cli_and_the_api_is_one_repository(env):
    """The API queues each spelling as the same job; the CLI and the API read the same
    stored vectors under each spelling."""
    api = create_app(env)
    with TestClient(api) as c:
        first = c.post(f"/api/v1/ingestion/ingest/{FORMS[0]}", headers=AUTH).json()
        assert first["repo_url"] == "github.com/o/r"
        for form in FORMS[1:8]:  # the forms the ingress accepts (https, allowed host)
            r = c.post(f"/api/v1/ingestion/ingest/{form}", headers=AUTH)
            assert r.status_code == 200, (form, r.text)
            assert r.json()["repo_url"] == "github.com/o/r"
            assert r.json()["job_id"] == first["job_id"] and r.json()["existing"], form
        assert c.app.state.services.queue.status()["queue_size"] == 1
        vs = c.app.state.services.vectors
        vs.upsert_repository("github.com/o/r", "c", "j", [
            FilePoint(f"f{i}.py", "python", [1.0, float(i)] + [0.0] * 62, 1) for i in range(4)])
        for form in FORMS[:8]:
            r = c.get("/api/v1/graph/similar", params={"repo_url": form, "file_path": "f1.py"})
            assert r.status_code == 200 and len(r.json()["results"]) == 3, (form, r.text)
    for form in FORMS:
        res = CliRunner().invoke(cli_app, ["similar", form, "f1.py", "--json"])
        assert res.exit_code == 0, (form, res.output)
        assert len(json.loads(res.stdout)["results"]) == 3, form


def test_cli_ingest_is_found_by_the_api_and_the_reverse(env, tmp_path):
    repo = make_repo(tmp_path / "src", {"pkg/__init__.py": "", "pkg/a.py": "from pkg import b\n",
                                        "pkg/b.py": "X = 1\n", "pkg/c.py": "from pkg import a\n"})
    with GitHTTPServer(tmp_path / "git-srv") as srv:
        (tmp_path / "git-srv").mkdir(exist_ok=True)
        (tmp_path / "git-srv" / "o").mkdir()
        one = srv.publish(repo, "o/one.git")
        two = srv.publish(repo, "o/two.git")
        # the CLI ingests one (clone URL with .git) ...
        res = CliRunner().invoke(cli_app, ["ingest", one, "--json"])
        assert res.exit_code == 0, res.output
        assert json.loads(res.stdout)["repo_url"] == RepoRef.parse(one).name
        close_local_clients()
        api = create_app(env)
        with TestClient(api) as c:
            # ... and the API finds it under another spelling (no scheme, no .git)
            bare = one.split("://", 1)[1].removesuffix(".git")
            r = c.get("/api/v1/graph/similar", params={"repo_url": bare, "file_path": "pkg/a.py"})
            assert r.status_code == 200, r.text
            assert "pkg/b.py" in [h["file_path"] for h in r.json()["results"]]
            # the API queues two; the edge worker runs it
            q = c.app.state.services.queue
            job = c.post(f"/api/v1/ingestion/ingest/{two}", headers=AUTH).json()["job_id"]
            svc = c.app.state.services
            worker = EdgeWorker(q, env, worker_id="w",
                                stores=Stores(svc.vectors, svc.metadata))
            assert worker.poll_once().status == "complete", q.job(job)
        close_local_clients()
    # the CLI finds two under yet another spelling
    res = CliRunner().invoke(cli_app, ["similar", two.removesuffix(".git") + "/", "pkg/a.py",
                                       "--json"])
    assert res.exit_code == 0, res.output
    assert "pkg/b.py" in [h["file_path"] for h in json.loads(res.stdout)["results"]]


def test_data_under_an_old_name_is_re_keyed_on_the_next_ingest(settings, tmp_path):
    """Earlier versions stored a repository under the URL as typed. The next ingest
    stores it under its one name and removes what the old name held."""
    repo = make_repo(tmp_path / "src", {"a.py": "import b\n", "b.py": ""})
    stores = Stores.open(settings)
    old = f"file://{repo}"
    res = run_ingest(str(repo), settings, stores=stores, name=old)  # as 0.x stored it
    assert res.status == "complete" and stores.metadata.repository(old)
    assert stores.vectors.repository_points(old, with_vectors=False)
    res = run_ingest(f"file://{repo}", settings, stores=stores)
    assert res.status == "complete" and res.repo_url == str(repo.resolve())
    assert stores.metadata.repository(old) is None
    assert stores.metadata.repositories() == [str(repo.resolve())]
    assert not stores.vectors.repository_points(old, with_vectors=False)
    assert len(stores.vectors.repository_points(res.repo_url, with_vectors=False)) == 2


# --- the worker's URL policy ---------------------------------------------------------
class Listener:
    """A TCP listener on loopback that counts the connections it receives."""

    def __init__(self, port: int = 0) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._t.join()
        self.sock.close()


@pytest.fixture
def listener():
    lst = Listener()
    yield lst
    lst.close()


def _edge_worker(redis_url, tmp_path, policy: UrlPolicy | None = None) -> tuple:
    settings = Settings(_env_file=None, PHAROS_DATA_DIR=str(tmp_path / "edge"),
                        REDIS_URL=redis_url)
    assert not settings.allow_local_repos
    q = JobQueue.from_settings(settings)
    return q, EdgeWorker(q, settings, worker_id="edge", url_policy=policy,
                         idle_poll_min_s=0.01, idle_poll_max_s=0.05)


def _push_raw(q: JobQueue, repo_url: str, source: str) -> str:
    """What a holder of a leaked queue token can do: write a task straight into Redis."""
    job = f"{int(time.time() * 1e6):032x}"[-32:]
    q.t.client.rpush(QUEUE_KEY, json.dumps({"job_id": job, "repo_url": repo_url,
                                            "source": source, "ref": None,
                                            "submitted_at": time.time()}))
    return job


def hostile_sources(port: int) -> list[tuple[str, str]]:
    return [
        (f"http://127.0.0.1:{port}/o/r.git", "scheme 'http' refused"),
        (f"https://127.0.0.1:{port}/o/r", "explicit ports are refused"),
        ("https://127.0.0.1/o/r", "non-public address"),
        ("https://localhost/o/r", "non-public address|internal"),
        ("https://169.254.169.254/latest/meta-data", "non-public address"),
        ("https://metadata.google.internal/computeMetadata/v1", "internal"),
        ("https://10.0.0.1/o/r", "non-public address"),
        ("http://192.168.1.1/o/r", "scheme 'http' refused"),
        ("https://[::ffff:127.0.0.1]/o/r", "non-public address"),
        (f"git://127.0.0.1:{port}/o/r", "scheme 'git' refused"),
        ("file:///etc", "local repositories are not enabled"),
        ("/etc", "local repositories are not enabled"),
        ("ext::sh -c touch% /tmp/pwned", "remote-helper|transport helpers"),
        ("--upload-pack=touch /tmp/pwned", "git option"),
        ("https://user:pw@github.com/o/r", "credentials"),
        ("https://evil.example/o/r", "not an allowed Git host"),
    ]


def test_tasks_written_straight_into_redis_are_refused_with_their_reason(
        redis_url, tmp_path, listener):
    import re

    q, worker = _edge_worker(redis_url, tmp_path)
    for source, reason in hostile_sources(listener.port):
        job = _push_raw(q, "github.com/o/r", source)
        out = worker.poll_once()
        assert out is not None and out.job_id == job
        assert out.status == "failed", (source, out)  # at once: no retry
        assert "UnsafeRepositoryURL" in out.error and re.search(reason, out.error), (source, out)
        rec = q.history(1)[0]
        assert rec["job_id"] == job and rec["status"] == "failed" and rec["attempts"] == 1
        assert q.job(job)["status"] == "failed"
        assert worker.poll_once() is None  # nothing requeued: no error loop
    assert listener.connections == 0
    assert not q.dead_letters() and q.status()["in_flight"] == 0


def test_a_task_whose_source_is_not_its_name_is_refused(redis_url, tmp_path):
    policy = UrlPolicy(frozenset({"github.com"}), resolver=_public_dns)
    q, worker = _edge_worker(redis_url, tmp_path, policy)
    _push_raw(q, "github.com/victim/repo", "https://github.com/attacker/repo")
    out = worker.poll_once()
    assert out.status == "failed" and "names 'github.com/victim/repo'" in out.error


def test_an_allowed_host_that_resolves_to_loopback_is_refused_at_clone_time(redis_url, tmp_path):
    seen = []

    def rebinding(host, port, *a, **k):  # public for the ingress, loopback for the worker
        seen.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    try:
        lst = Listener(443)  # where git would connect
    except OSError:
        lst = None
    try:
        q, worker = _edge_worker(redis_url, tmp_path,
                                 UrlPolicy(frozenset({"github.com"}), resolver=rebinding))
        job = q.enqueue(RepoRef.parse("https://github.com/o/r")).job_id
        out = worker.poll_once()
        assert (out.job_id, out.status) == (job, "failed")
        assert "resolves to a non-public address (127.0.0.1)" in out.error
        assert seen == ["github.com"]  # resolved once, at clone time
        if lst is not None:
            assert lst.connections == 0
    finally:
        if lst is not None:
            lst.close()


# --- what git is held to ---------------------------------------------------------------
@pytest.fixture(scope="module")
def tls_files(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=pinned.example", "-keyout", str(d / "key.pem"),
                    "-out", str(d / "cert.pem")], check=True, capture_output=True)
    return d / "cert.pem", d / "key.pem"


class RedirectingHTTPS:
    """An https server on 127.0.0.1:443 that answers every request with a redirect."""

    def __init__(self, location: str, tls_files) -> None:
        outer = self
        self.requests = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *_a):
                pass

            def do_GET(self):  # noqa: N802 - http.server's name
                outer.requests += 1
                self.send_response(302)
                self.send_header("Location", location + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 443), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*map(str, tls_files))
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_git_connects_to_the_pinned_address_and_does_not_follow_a_redirect(tmp_path,
                                                                         tls_files, listener):
    """``pinned.example`` does not exist in DNS: git reaches the server only through the
    pinned address. The server redirects to a listener on loopback, which git must not
    contact."""
    try:
        srv = RedirectingHTTPS(f"http://127.0.0.1:{listener.port}", tls_files)
    except OSError as exc:
        pytest.skip(f"cannot listen on 127.0.0.1:443 here ({exc})")
    try:
        opts = git_options("pinned.example", ("127.0.0.1",)) + ("http.sslVerify=false",)
        with pytest.raises(CloneFailed):
            # what a check of pinned.example would return, had it resolved to 127.0.0.1
            checked = CheckedSource(RepoRef.parse("https://pinned.example/o/r.git"), opts)
            clone(checked, tmp_path / "c", timeout_s=30)
        assert srv.requests >= 1  # git connected to the address it was given
        assert listener.connections == 0  # and did not follow the redirect
    finally:
        srv.close()


def test_the_policy_refuses_what_the_ingress_refuses():
    from tests.serve_app.test_ingress import HOSTILE

    policy = UrlPolicy(frozenset({"github.com", "gitlab.com", "codeberg.org"}),
                       resolver=_public_dns)
    for url in HOSTILE:
        if url.startswith("https://github.com/" + "a" * 100):
            continue  # the ingress's length cap is its own; the worker has the parser's
        with pytest.raises(UnsafeRepositoryURL):
            policy.check(url)
    checked = policy.check("https://github.com/o/r.git")
    assert checked.ref.clone_url == "https://github.com/o/r"
    assert "http.curloptResolve=github.com:443:140.82.112.3" in checked.git_config
    assert "http.followRedirects=false" in checked.git_config


@pytest.mark.parametrize("raw", ["~0", "~no-such-user-9/repo", "file://~no-such-user-9/r"])
def test_home_of_no_such_user_is_a_clear_error(raw):
    """Found by schemathesis: ``~0`` made pathlib raise RuntimeError (a 500)."""
    with pytest.raises(UnsafeRepositoryURL, match="local path"):
        RepoRef.parse(raw)
