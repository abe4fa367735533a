"""The edge container's entrypoint, run as it is (no Docker): Ray's control plane needs the
token (CVE-2023-48022, "ShadowRay": the Jobs API runs a shell command for whoever reaches
it), and the worker pool, joined with that token, still claims and completes a job."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("ray")

from cluster.job_queue import JobQueue  # noqa: E402
from devkit.private_services import free_port  # noqa: E402
from devkit.repos import make_repo  # noqa: E402
from graph_jobs.repository_ref import RepoRef
from pharos_cli.settings import Settings  # noqa: E402
from tests.support.waiting import wait_for  # noqa: E402

# one Ray cluster at a time on a test machine (see tests/cluster/test_cluster.py)
pytestmark = pytest.mark.xdist_group("ray")

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "docker" / "edge-entrypoint.sh"
BIN = Path(sys.executable).parent


def _http(url: str, *, method: str = "GET", token: str | None = None,
          body: dict | None = None) -> tuple[int, str]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return 0, ""


def _session(sid: int) -> list[str]:
    """The command lines of the processes still in session ``sid`` (the entrypoint's)."""
    out = []
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[3]) == sid:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    out.append(f.read().replace(b"\0", b" ").decode(errors="replace"))
        except (OSError, ValueError, IndexError):
            continue
    return out


def _start(env: dict, log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(["bash", str(ENTRYPOINT), "--num-gpus", "0", "--pool-size", "1",
                                 "--slots", "1"], env=env, cwd=log.parent, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen, log: Path) -> list[str]:
    """SIGTERM the entrypoint as `docker stop` does; return what it left running."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(120)
    hung = _session(proc.pid) if proc.poll() is None else []
    left = []
    for _ in range(20):  # processes Ray already signalled may take a moment to exit
        left = _session(proc.pid)
        if not left:
            break
        time.sleep(0.5)
    if left:  # never leave a Ray behind for the next test; then fail
        os.killpg(proc.pid, signal.SIGKILL)
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)
    assert proc.returncode == 0, (hung, log.read_text()[-3000:])
    return left


@pytest.fixture
def redis_url():
    """A Redis server of this test's own: the queue's key names are fixed, and the shared
    server's test database is flushed by other tests meanwhile."""
    from devkit.private_services import PrivateRedis

    with PrivateRedis() as pr:
        yield pr.url


@pytest.fixture
def ray_tmp():
    """A short private Ray temp dir: Ray's socket paths must fit in 107 bytes, and
    ``address="auto"`` or ``ray_current_cluster`` must not meet another test's Ray."""
    path = tempfile.mkdtemp(prefix="rt", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_the_edge_control_plane_needs_the_token_and_the_pool_still_works(
        tmp_path, redis_url, pg_url, ray_tmp):
    ports = {k: str(free_port()) for k in ("RAY_PORT", "RAY_DASHBOARD_PORT", "RAY_CLIENT_PORT",
                                             "RAY_DASHBOARD_AGENT_PORT",
                                             "RAY_METRICS_EXPORT_PORT")}
    data = tmp_path / "data"
    (tmp_path / "home").mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RAY_", "PHAROS_", "UPSTASH_")) and k not in (
               "MODE", "DATABASE_URL", "NEON_DATABASE_URL", "QDRANT_URL", "REDIS_URL")}
    env.update(ports, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
               HOME=str(tmp_path / "home"), RAY_TMPDIR=ray_tmp,
               RAY_AUTH_TOKEN="",  # as .env.edge.template leaves it: generate one
               RAY_USAGE_STATS_ENABLED="0",
               RAY_OBJECT_STORE_BYTES=str(100 * 1024 * 1024), PHAROS_NUM_GPUS="0",
               MODE="EDGE", PHAROS_DATA_DIR=str(data), REDIS_URL=redis_url,
               DATABASE_URL=pg_url, PHAROS_ALLOW_LOCAL_REPOS="1", PHAROS_DRAIN_GRACE_S="5",
               PHAROS_LEASE_SECONDS="10", PHAROS_IDLE_POLL_MAX_S="0.5",
               PHAROS_REDIS_RETRY_S="0.5")
    dash = f"http://127.0.0.1:{ports['RAY_DASHBOARD_PORT']}"
    token_file = data / "ray" / "auth_token"
    marker = tmp_path / "shadowray"
    log, log2 = tmp_path / "edge.log", tmp_path / "edge-2.log"

    # no opt-out: a mode other than token is refused before Ray starts
    out = subprocess.run(["bash", str(ENTRYPOINT)], env={**env, "RAY_AUTH_MODE": "disabled"},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "refusing to start" in out.stderr, out.stderr
    assert not token_file.exists()

    repo = make_repo(tmp_path / "repo", {
        "pkg/__init__.py": "", "pkg/a.py": "from pkg import b\n", "pkg/b.py": "X = 1\n",
        "tests/test_a.py": "from pkg import a\n"})
    saved = dict(os.environ)
    os.environ.update({k: env[k] for k in ("MODE", "REDIS_URL", "DATABASE_URL",
                                           "PHAROS_DATA_DIR", "PHAROS_ALLOW_LOCAL_REPOS")})
    try:
        q = JobQueue.from_settings(Settings(_env_file=None))
    finally:
        os.environ.clear()
        os.environ.update(saved)

    proc = _start(env, log)
    try:
        wait_for(lambda: "(token required)" in log.read_text() or proc.poll() is not None,
                 timeout=180, what="the Ray head")
        assert proc.poll() is None, log.read_text()[-3000:]
        token = token_file.read_text()
        assert len(token) >= 32 and token not in log.read_text()  # never printed
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(token_file.parent.stat().st_mode) == 0o700

        # (a) what ShadowRay does: a job submitted without the token
        payload = {"entrypoint": f"touch {marker}"}
        code, text = _http(dash + "/api/jobs/", method="POST", body=payload)
        assert code == 401, (code, text)
        assert _http(dash + "/api/jobs/", method="POST", token="0" * 64, body=payload)[0] == 403
        assert _http(dash + "/api/jobs/")[0] == 401  # nor can it list them
        # (b) with the token, a harmless read is accepted
        code, text = _http(dash + "/api/version", token=token)
        assert code == 200 and json.loads(text)["ray_version"], (code, text)

        # (c) the pool joined the head with the token: it claims and completes a job
        job = q.enqueue(RepoRef.parse(str(repo))).job_id
        wait_for(lambda: any(h["job_id"] == job for h in q.history(10)) or
                 proc.poll() is not None, timeout=240, what="the job's record")
        assert [h["status"] for h in q.history(10) if h["job_id"] == job] == ["complete"], (
            q.job(job), log.read_text()[-3000:])
        assert q.job(job)["status"] == "complete"
        assert not marker.exists()
    finally:
        left = _stop(proc, log)
    assert not left, left  # Ray stopped: nothing of this head is left running
    assert "Edge Worker Online" in log.read_text()

    # (d) a second start reuses the token in the data volume
    mtime = token_file.stat().st_mtime_ns
    proc = _start(env, log2)
    try:
        wait_for(lambda: "(token required)" in log2.read_text() or proc.poll() is not None,
                 timeout=180, what="the second start")
        assert proc.poll() is None, log2.read_text()[-3000:]
        assert token_file.read_text() == token and token_file.stat().st_mtime_ns == mtime
        assert _http(dash + "/api/version", token=token)[0] == 200
        assert _http(dash + "/api/version")[0] == 401
    finally:
        left = _stop(proc, log2)
    assert not left, left


def test_pharos_worker_keeps_rays_generated_token_private(tmp_path, monkeypatch):
    """`pharos worker` starting its own Ray: the token Ray reads from ~/.ray/auth_token is
    0600 in a 0700 folder, made before Ray could write it with the umask's 0644."""
    import stat

    from pharos_cli.service_commands import _private_ray_token

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH", raising=False)
    _private_ray_token()
    token = tmp_path / ".ray" / "auth_token"
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert stat.S_IMODE(token.parent.stat().st_mode) == 0o700
    first = token.read_text()
    assert len(first) == 64
    token.chmod(0o644)  # one Ray wrote before
    _private_ray_token()
    assert stat.S_IMODE(token.stat().st_mode) == 0o600 and token.read_text() == first


def test_pharos_worker_refuses_a_ray_without_token_auth(monkeypatch):
    from typer.testing import CliRunner

    from pharos_cli.app import app

    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    res = CliRunner().invoke(app, ["worker"])
    assert res.exit_code == 2 and "CVE-2023-48022" in " ".join(res.output.split())
