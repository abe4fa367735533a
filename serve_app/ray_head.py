"""The resident process of ``pharos serve --runtime serve``: a few MB instead of a driver.

    python -S serve_app/ray_head.py DEPLOY_CMD_JSON RAY_START_CMD_JSON

Standard library only, run with ``-S`` (no site-packages, no Ray import), so it stays
small. It makes itself a child subreaper (``PR_SET_CHILD_SUBREAPER``): the processes that
``ray start`` daemonises stay its descendants, so it can stop exactly this ingress's Ray
processes, and nothing else on the machine. It then

1. runs ``ray start --head`` (which returns once the head is up), and stops two processes
   ``ray start`` always launches and the ingress never uses: the Ray Client server, and
   the dashboard's API server, which without the dashboard only hosts Ray's usage-stats
   reporter (off here) and the state/job REST APIs (``PHAROS_SERVE_API_SERVER=1`` keeps it,
   for about 78 MB);
2. runs the deploy helper (``serve_app.ray_runtime deploy``), which ``serve.run``s the app
   and exits; a failed deploy stops everything (exit 1);
3. waits: it reaps children, exits 1 if the GCS server dies, and on SIGTERM/SIGINT stops
   every descendant (SIGTERM, then SIGKILL after ``STOP_GRACE_S``) and exits 0.

``python -S serve_app/ray_head.py agent --session-dir=... --node-id=...`` is the raylet's
stand-in dashboard agent (:func:`stand_in_agent`), started by the raylet itself.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time

STOP_GRACE_S = 5.0
PR_SET_CHILD_SUBREAPER = 36


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(name))
    out, todo = [], [root]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def stop_all(grace_s: float = STOP_GRACE_S) -> None:
    me = os.getpid()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = descendants(me)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + (grace_s if sig == signal.SIGTERM else 2.0)
        while time.monotonic() < deadline:
            _reap()
            if not descendants(me):
                return
            time.sleep(0.1)


def _find(pattern: str) -> list[int]:
    return [p for p in descendants(os.getpid()) if pattern in cmdline(p)]


def unused_processes() -> tuple[str, ...]:
    """Command-line fragments of the Ray head processes the ingress does not need."""
    unused = ("ray.util.client.server",)
    if os.environ.get("PHAROS_SERVE_API_SERVER", "0") != "1":
        unused += ("ray/dashboard/dashboard.py",)
    return unused


def main(deploy_cmd: list[str], start_cmd: list[str]) -> int:
    # not Linux: no subreaper, and Ray's daemons may outlive a crash of this process
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    stopping = False

    def on_signal(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    rc = subprocess.call(start_cmd)
    if rc != 0:
        print(f"pharos serve: `ray start` failed (exit {rc})", file=sys.stderr, flush=True)
        stop_all()
        return 1
    for pattern in unused_processes():
        for pid in _find(pattern):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
    gcs = _find("gcs_server")
    deploy = subprocess.Popen(deploy_cmd)
    while not stopping:
        _reap()
        if deploy is not None and deploy.poll() is not None:
            if deploy.returncode != 0:
                stop_all()
                return 1
            deploy = None
        if not gcs or not any(os.path.exists(f"/proc/{p}") for p in gcs):
            print("pharos serve: the Ray head stopped", file=sys.stderr, flush=True)
            stop_all()
            return 1
        time.sleep(0.5)
    stop_all()
    return 0


AGENT_PORTS = ("metrics_agent_port", "metrics_export_port", "dashboard_agent_listen_port")
PR_SET_PDEATHSIG = 1


def stand_in_agent(argv: list[str]) -> int:
    """The raylet's dashboard agent, when nothing uses one (``serve_app.ray_runtime``
    starts the raylet with this command instead of Ray's ``dashboard/agent.py``).

    The raylet needs the agent to report its ports, and exits when the agent exits. This
    reports each as -1 ("not running", as Ray's agent does in a minimal install: no
    metrics agent, no HTTP listener), in the files ``ray._raylet.persist_port`` writes,
    then lives as long as the raylet."""
    opts = dict(a[2:].split("=", 1) for a in argv if a.startswith("--") and "=" in a)
    node_id = os.environ.get("RAY_NODE_ID") or opts["node-id"]
    for name in AGENT_PORTS:
        path = os.path.join(opts["session-dir"], f"{name}_{node_id}")
        with open(path + ".tmp", "w") as f:
            f.write("-1")
        os.replace(path + ".tmp", path)
    parent = os.getppid()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    while os.getppid() == parent:
        time.sleep(1.0)
    return 0


if __name__ == "__main__" and sys.argv[1:2] == ["agent"]:
    sys.exit(stand_in_agent(sys.argv[2:]))
elif __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1]), json.loads(sys.argv[2])))
