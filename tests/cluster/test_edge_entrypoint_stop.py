"""The edge entrypoint's stop, with stand-ins for `ray` and `pharos` on PATH (no Ray): what
outlives Ray's own stop in the entrypoint's session is waited for, then killed; a session
the entrypoint does not lead (a terminal's) is never touched."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from devkit.private_services import free_port
from tests.support.waiting import alive, wait_for

ENTRYPOINT = Path(__file__).resolve().parents[2] / "docker" / "edge-entrypoint.sh"

# `ray start --head --block ...`: a dashboard that wants the token (401 without it), and two
# processes of the session that outlive it: one leaves by itself a moment later, one ignores
# SIGTERM and would run for ten minutes
FAKE_RAY = """\
#!{python}
import http.server, os, subprocess, sys, threading
port = int(next(a.split("=", 1)[1] for a in sys.argv if a.startswith("--dashboard-port=")))
here = os.path.dirname(os.path.abspath(__file__))
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.5)"])
stubborn = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
with open(os.path.join(here, "stubborn.pid"), "w") as f:
    f.write(str(stubborn.pid))

class Dashboard(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/api/gcs_healthz" else 401)
        self.end_headers()
    def log_message(self, *a):
        pass

http.server.ThreadingHTTPServer(("127.0.0.1", port), Dashboard).serve_forever()
"""

FAKE_PHAROS = """\
#!{python}
import signal, sys, time
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
print("fake pool running", flush=True)
time.sleep(600)
"""


def _run(tmp_path: Path, *, own_session: bool) -> tuple[subprocess.Popen, Path, int]:
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for name, text in (("ray", FAKE_RAY), ("pharos", FAKE_PHAROS)):
        (stubs / name).write_text(textwrap.dedent(text).format(python=sys.executable))
        (stubs / name).chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "PHAROS_"))}
    env.update(PATH=f"{stubs}{os.pathsep}{env.get('PATH', '')}", RAY_AUTH_TOKEN="x" * 64,
               RAY_DASHBOARD_PORT=str(free_port()), RAY_DASHBOARD_HOST="127.0.0.1",
               PHAROS_RAY_STOP_WAIT_S="4", PHAROS_DATA_DIR=str(tmp_path / "data"))
    log = tmp_path / "edge.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(["bash", str(ENTRYPOINT)], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=own_session)
    wait_for(lambda: "fake pool running" in log.read_text() or proc.poll() is not None,
             timeout=60, what="the entrypoint's pool")
    assert proc.poll() is None, log.read_text()
    pid_file = stubs / "stubborn.pid"
    wait_for(pid_file.exists, timeout=10, what="the stubborn process")
    return proc, log, int(pid_file.read_text())


def test_a_stop_kills_what_outlives_ray_in_the_entrypoints_own_session(tmp_path):
    proc, log, stubborn = _run(tmp_path, own_session=True)
    try:
        assert alive(stubborn)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, log.read_text()
        assert not alive(stubborn), log.read_text()
        text = log.read_text()
        # the one that left by itself was waited for, not killed; the stubborn one was killed
        assert "killed 1 process(es) still running 4 s after Ray's stop" in text, text
    finally:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)


def test_a_stop_never_touches_a_session_it_does_not_lead(tmp_path):
    proc, log, stubborn = _run(tmp_path, own_session=False)
    try:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, log.read_text()
        assert alive(stubborn)  # the terminal's session is not the entrypoint's to clean
        assert "killed" not in log.read_text()
    finally:
        with contextlib.suppress(OSError):
            os.kill(stubborn, signal.SIGKILL)
