"""The edge entrypoint's stop, with stand-ins for `ray` and `pharos` on PATH (no Ray): what of
its run outlives Ray's own stop in the entrypoint's session is waited for, then killed; a
job its session held before the run (`exec` from a login shell), or a session it does not
lead (a terminal's), is never touched."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from devkit.private_services import free_port
from tests.support.waiting import alive, wait_for

ENTRYPOINT = Path(__file__).resolve().parents[2] / "docker" / "edge-entrypoint.sh"

# `ray start --head --block ...`: a dashboard that wants the token (401 without it), and
# processes of the entrypoint's session that outlive it: one started on SIGTERM that leaves by
# itself a moment later (as Ray's dashboard agent does), and one that ignores SIGTERM
FAKE_RAY = """\
#!{python}
import http.server, os, signal, subprocess, sys
port = int(next(a.split("=", 1)[1] for a in sys.argv if a.startswith("--dashboard-port=")))
here = os.path.dirname(os.path.abspath(__file__))
IGNORE_TERM = "{ignore_term}"
stubborn = subprocess.Popen([sys.executable, "-c", IGNORE_TERM])
with open(os.path.join(here, "pids.tmp"), "w") as f:
    f.write(str(stubborn.pid))
os.rename(os.path.join(here, "pids.tmp"), os.path.join(here, "pids"))


def stop(*_):
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.5)"])
    os._exit(0)


signal.signal(signal.SIGTERM, stop)


class Dashboard(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/api/gcs_healthz" else 401)
        self.end_headers()

    def log_message(self, *a):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", port), Dashboard).serve_forever()
"""

IGNORE_TERM = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"

FAKE_PHAROS = """\
#!{python}
import signal, sys, time
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
print("fake pool running", flush=True)
time.sleep(600)
"""


def _run(tmp_path: Path, *, own_session: bool, shell_job: bool = False
         ) -> tuple[subprocess.Popen, Path, list[int]]:
    """The entrypoint with the stand-ins, its pool running; its log; the pids of the stubborn
    process and (``shell_job``) of a job the shell that exec'd the entrypoint held before."""
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for name, text in (("ray", FAKE_RAY), ("pharos", FAKE_PHAROS)):
        (stubs / name).write_text(textwrap.dedent(text).format(python=sys.executable,
                                                          ignore_term=IGNORE_TERM))
        (stubs / name).chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "PHAROS_"))}
    env.update(PATH=f"{stubs}{os.pathsep}{env.get('PATH', '')}", RAY_AUTH_TOKEN="x" * 64,
               RAY_DASHBOARD_PORT=str(free_port()), RAY_DASHBOARD_HOST="127.0.0.1",
               PHAROS_RAY_STOP_WAIT_S="4", PHAROS_DATA_DIR=str(tmp_path / "data"))
    log = tmp_path / "edge.log"
    with open(log, "wb") as out:
        # shell_job: a login shell with a job of its own, then `exec edge-entrypoint.sh`
        command = ["bash", "-c", f'{shlex.quote(sys.executable)} -c "{IGNORE_TERM}" & '
                   f'echo $! >{stubs / "job.pid"}; sleep 0.5; exec bash {ENTRYPOINT}'
                   ] if shell_job else ["bash", str(ENTRYPOINT)]
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=own_session)
    pid_file = stubs / "pids"
    try:
        wait_for(lambda: "fake pool running" in log.read_text() or proc.poll() is not None,
                 timeout=60, what="the entrypoint's pool")
        assert proc.poll() is None, log.read_text()
        wait_for(pid_file.exists, timeout=10, what="the stand-in Ray's processes")
    except BaseException:
        _kill(proc, pid_file)
        raise
    pids = [int(pid_file.read_text())]
    if shell_job:
        pids.append(int((stubs / "job.pid").read_text()))
    return proc, log, pids


def _kill(proc: subprocess.Popen, pid_file: Path) -> None:
    """Whatever a test left running: the entrypoint and the stand-ins' processes."""
    for f in (pid_file, pid_file.with_name("job.pid")):
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(f.read_text()), signal.SIGKILL)
    if proc.poll() is None:
        with contextlib.suppress(OSError):
            (os.killpg if os.getpgid(proc.pid) == proc.pid else os.kill)(proc.pid, signal.SIGKILL)
        proc.wait(10)


def test_a_stop_kills_what_outlives_ray_in_the_entrypoints_own_session(tmp_path):
    proc, log, (stubborn,) = _run(tmp_path, own_session=True)
    try:
        assert alive(stubborn)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, log.read_text()
        text = log.read_text()
        # the one started at the stop left by itself and was waited for (a reaper that killed
        # at once would name 2); the stubborn one was killed
        assert "killed 1 process(es) still running 4 s after Ray's stop" in text, text
        wait_for(lambda: not alive(stubborn), timeout=10, what="the stubborn process's end")
    finally:
        _kill(proc, tmp_path / "bin" / "pids")


def test_a_stop_spares_the_jobs_an_execing_shell_held_before_the_run(tmp_path):
    """`exec edge-entrypoint.sh` from a login shell: the entrypoint leads the shell's session,
    whose earlier job is not the entrypoint's to kill."""
    proc, log, (stubborn, job) = _run(tmp_path, own_session=True, shell_job=True)
    try:
        assert alive(stubborn) and alive(job)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, log.read_text()
        assert "killed 1 process(es)" in log.read_text(), log.read_text()
        wait_for(lambda: not alive(stubborn), timeout=10, what="the stubborn process's end")
        assert alive(job)
    finally:
        _kill(proc, tmp_path / "bin" / "pids")


def test_a_stop_never_touches_a_session_it_does_not_lead(tmp_path):
    proc, log, (stubborn,) = _run(tmp_path, own_session=False)
    try:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, log.read_text()
        assert alive(stubborn)  # the terminal's session is not its to clean
        assert "killed" not in log.read_text()
    finally:
        _kill(proc, tmp_path / "bin" / "pids")
