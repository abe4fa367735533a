"""What keeps the Ray Serve ingress small (issue 25), tested without Ray where it can be:

- the database schema is migrated in a child interpreter, so Alembic (with Mako and
  Pygments) never loads into the long-lived ingress;
- the raylet's stand-in for Ray's dashboard agent reports "no agent ports" the way Ray's
  own agent does in a minimal install, and lives exactly as long as its parent.

The Serve runtime itself, with the stand-in in place, is tested end to end in
``test_serve_runtime.py``.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg2
import pytest

from serve_app import ray_head
from serve_app.ray_runtime import free_port, stand_in_agent_command
from tests.support.waiting import alive

ROOT = Path(__file__).resolve().parents[2]

# A fresh interpreter in which alembic, mako and pygments cannot be imported opens the
# ingress's services on argv[1] and reads the stored repositories.
READ_WITHOUT_ALEMBIC = r"""
import importlib.abc, json, sys

class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("alembic", "mako", "pygments"):
            raise ImportError(f"{name} is blocked in the ingress")
        return None

sys.meta_path.insert(0, Blocker())
from serve_app.ingress_settings import IngressSettings
from serve_app.services import IngressServices

services = IngressServices(IngressSettings(_env_file=None, DATABASE_URL=sys.argv[1]))
print(json.dumps({"repositories": services.metadata.repositories(),
                  "loaded": sorted(m for m in sys.modules
                                   if m.split(".")[0] in ("alembic", "mako", "pygments"))}))
"""


def test_the_ingress_migrates_a_fresh_database_without_loading_alembic(pg_url):
    out = subprocess.run([sys.executable, "-c", READ_WITHOUT_ALEMBIC, pg_url],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-4000:]
    answer = json.loads(out.stdout.strip().splitlines()[-1])
    assert answer == {"repositories": [], "loaded": []}
    conn = psycopg2.connect(pg_url)
    try:
        cur = conn.cursor()
        cur.execute("SELECT version_num FROM alembic_version")
        assert len(cur.fetchall()) == 1  # the schema is at a revision: migrated
    finally:
        conn.close()


def test_a_database_that_cannot_be_migrated_is_the_stores_error():
    from graph_jobs.errors import MetadataStoreError
    from serve_app.ingress_settings import IngressSettings
    from serve_app.services import IngressServices

    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing?connect_timeout=2"
    services = IngressServices(IngressSettings(_env_file=None, DATABASE_URL=url))
    with pytest.raises(MetadataStoreError, match="^migrate: "):
        services.metadata  # noqa: B018 - opening the store is what is tested


def test_stand_in_agent_command_keeps_the_session_and_the_node():
    # the command as Ray 2.60 builds it (subprocess.list2cmdline of a list)
    ray_cmd = subprocess.list2cmdline([
        sys.executable, "-u", "/x/ray/dashboard/agent.py", "--node-id=ab12",
        "--node-ip-address=127.0.0.1", "--session-dir=/tmp/ray dir/session_1",
        "--node-manager-port=RAY_NODE_MANAGER_PORT_PLACEHOLDER",
        "--logging-format=%(asctime)s\t%(levelname)s %(message)s"])
    cmd = shlex.split(stand_in_agent_command(ray_cmd))
    assert cmd[:4] == [sys.executable, "-S", str(ROOT / "serve_app" / "ray_head.py"), "agent"]
    assert cmd[4:] == ["--node-id=ab12", "--session-dir=/tmp/ray dir/session_1"]


def _wait(predicate, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_stand_in_agent_reports_no_agent_ports_and_lives_as_long_as_its_parent(tmp_path):
    session = tmp_path / "session"
    session.mkdir()
    # a parent that starts the stand-in (as the raylet does) and then waits to be killed
    parent = subprocess.Popen(
        [sys.executable, "-c",
         "import subprocess, sys, time\n"
         "p = subprocess.Popen(sys.argv[1:])\n"
         "print(p.pid, flush=True)\n"
         "time.sleep(600)\n",
         sys.executable, "-S", ray_head.__file__, "agent", f"--session-dir={session}",
         "--node-id=fromflag"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "RAY_NODE_ID": "n0de"})
    try:
        agent = int(parent.stdout.readline())
        files = [session / f"{name}_n0de" for name in ray_head.AGENT_PORTS]
        _wait(lambda: all(f.exists() for f in files))
        assert [f.read_text() for f in files] == ["-1"] * len(files)
        time.sleep(1.5)
        assert alive(agent)  # it stays while its parent (the raylet) lives
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        _wait(lambda: not alive(agent))  # and goes with it
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)
