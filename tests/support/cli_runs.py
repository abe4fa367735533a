"""Run ``pharos`` as a user does: ``python -m pharos_cli ...`` in a subprocess, with its
own data folder and terminal width, and nothing of the machine's Pharos settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from devkit.private_services import free_port  # noqa: F401  (the tests import it from here)

ROOT = Path(__file__).resolve().parents[2]
# settings that would send a test's commands to a server or another data folder
_SERVER_VARS = ("MODE", "DATABASE_URL", "NEON_DATABASE_URL", "QDRANT_URL", "QDRANT_API_KEY",
                "REDIS_URL", "UPSTASH_REDIS_REST_URL", "UPSTASH_REDIS_REST_TOKEN",
                "PHAROS_DATA_DIR", "PHAROS_ADMIN_TOKEN", "COLUMNS", "FORCE_COLOR", "NO_COLOR")


def cli_env(data_dir: Path | None, columns: int | None = None, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in _SERVER_VARS}
    env["PYTHONPATH"] = str(ROOT)
    env["PHAROS_PARSE_WORKERS"] = "1"  # two cores shared by the suite
    if data_dir is not None:
        env["PHAROS_DATA_DIR"] = str(data_dir)
    if columns is not None:
        env["COLUMNS"] = str(columns)
    env.update(extra)
    return env


def pharos_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "pharos_cli", *args]


def run_pharos(*args: str, data_dir: Path | None, columns: int | None = None,
               cwd: Path | None = None, timeout: float = 300, **extra: str):
    """``pharos ARGS``, piped (stdout and stderr are not terminals)."""
    return subprocess.run(pharos_argv(*args), env=cli_env(data_dir, columns, **extra),
                          cwd=cwd or ROOT, capture_output=True, text=True, timeout=timeout)


def start_pharos(*args: str, data_dir: Path | None, cwd: Path | None = None,
                 **extra: str) -> subprocess.Popen:
    return subprocess.Popen(pharos_argv(*args), env=cli_env(data_dir, **extra),
                            cwd=cwd or ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def small_package(name: str = "pkg") -> dict[str, str]:
    """A few Python files that import each other (a graph with edges)."""
    return {
        f"{name}/__init__.py": f"from {name}.core import run\n",
        f"{name}/core.py": f"from {name}.util import helper\n\ndef run():\n    return helper()\n",
        f"{name}/util.py": "def helper():\n    return 1\n",
        f"{name}/cli.py": f"from {name}.core import run\nfrom {name} import util\n",
        f"{name}/signer.py": f"from {name}.util import helper\n",
        f"tests/test_{name}.py": f"from {name}.core import run\n",
    }


def run_in_terminal(*args: str, data_dir: Path | None, columns: int, cwd: Path | None = None,
                    timeout: float = 300, **extra: str) -> tuple[int, str, str]:
    """``pharos ARGS`` with its stdout on a pseudo-terminal ``columns`` wide (as a user
    at a terminal sees it). Returns (exit code, what the terminal got, stderr)."""
    import fcntl
    import pty
    import struct
    import tempfile
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    errors = tempfile.TemporaryFile()  # noqa: SIM115 - read back below
    proc = subprocess.Popen(pharos_argv(*args), env=cli_env(data_dir, columns, **extra),
                            cwd=cwd or ROOT, stdout=slave, stderr=errors)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the other end closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    proc.wait(timeout)
    errors.seek(0)
    return (proc.returncode, b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n"),
            errors.read().decode("utf-8", "replace"))
