"""Issue 27: a newcomer's first hour, end to end, from a fresh clone.

Clone this repository, run the Quickstart from another directory, type each printed next
step as printed (from yet another directory), start the console from its printed line
and ingest another repository with the CLI while the console serves a map, then make
the two usual typing mistakes.

What it does not do: the install. A fresh clone's Quickstart would create a .venv with
pip (torch, tree-sitter, qdrant-client: about a minute with a warm cache, minutes
without, and a network); here the clone's .venv is this checkout's and the Quickstart
runs with --skip-setup. tests/pharos_cli/test_newcomer_quickstart.py covers what the
Quickstart prints while it installs."""

from __future__ import annotations

import json
import shlex
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from devkit.repos import git, make_repo
from tests.support.cli_runs import ROOT, cli_env, free_port, small_package

pytestmark = pytest.mark.slow


def _get(url: str):
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except OSError:
        return None, None


def test_a_newcomers_first_hour(tmp_path):
    home, work, elsewhere = tmp_path / "home", tmp_path / "work", tmp_path / "elsewhere"
    for d in (home, work, elsewhere):
        d.mkdir()
    clone = work / "pharos"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
    (clone / ".venv").symlink_to(ROOT / ".venv")
    env = cli_env(None, HOME=str(home))
    env.pop("PYTHONPATH")
    pharos = str(clone / ".venv" / "bin" / "pharos")

    # the Quickstart, from the parent directory, on the clone itself (its default)
    quick = subprocess.run(["bash", "pharos/scripts/quickstart", "--skip-setup"], cwd=work,
                           env=env, capture_output=True, text=True, timeout=600)
    assert quick.returncode == 0, quick.stderr[-3000:]
    assert f"complete {clone}" in quick.stdout
    block = quick.stdout.split("next:\n", 1)[1].split("\n\n", 1)[0]
    similar, map_step, console_step = (ln.split("   #")[0].strip() for ln in block.splitlines())
    assert " similar " in similar and " map " in map_step and console_step.endswith(" console")
    assert "PATH" in quick.stdout.split("next:", 1)[1]

    # each next step, typed as printed, from another directory
    for step in (similar, map_step):
        done = subprocess.run(shlex.split(step), cwd=elsewhere, env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, (step, done.stderr[-2000:])
    assert (elsewhere / "map.png").exists()

    # the console from its printed line, and the CLI beside it
    port = free_port()
    console = subprocess.Popen(shlex.split(console_step) + ["--port", str(port)],
                               cwd=elsewhere, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while _get(base + "/api/v1/graph/repositories")[0] != 200:
            assert console.poll() is None and time.time() < deadline, "no console"
            time.sleep(0.3)
        status, body = _get(f"{base}/api/v1/graph/map?repo_url={clone}")
        assert status == 200 and len(body["files"]) > 50
        mine = make_repo(work / "mine", small_package("mine"))
        ingest = subprocess.Popen([pharos, "ingest", "mine"], cwd=work, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        again = subprocess.run([pharos, "similar", str(clone), "@top", "--json"], cwd=elsewhere,
                               env=env, capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stderr[-2000:]
        _out, err = ingest.communicate(timeout=600)
        assert ingest.returncode == 0, err[-3000:]
        deadline = time.time() + 30
        while str(mine) not in (_get(base + "/api/v1/graph/repositories")[1] or {}).get(
                "repositories", []):
            assert time.time() < deadline, "the new repository never reached the console"
            time.sleep(0.5)
    finally:
        console.terminate()
        console.communicate(timeout=30)

    # the two usual typing mistakes: refused, with the way out, and no job recorded
    jobs = json.loads(subprocess.run([pharos, "jobs", "--json"], cwd=work, env=env,
                                     capture_output=True, text=True).stdout)["jobs"]
    typo = subprocess.run([pharos, "ingest", "mien"], cwd=work, env=env, capture_output=True,
                          text=True, timeout=120)
    assert typo.returncode == 2 and f"did you mean: {mine}" in " ".join(typo.stderr.split())
    wrong = subprocess.run([pharos, "similar", "mine", "core.py"], cwd=work, env=env,
                           capture_output=True, text=True, timeout=120)
    assert wrong.returncode == 2 and "mine/core.py" in wrong.stderr
    assert json.loads(subprocess.run([pharos, "jobs", "--json"], cwd=work, env=env,
                                     capture_output=True, text=True).stdout)["jobs"] == jobs
    # nothing written in the clone (the data went to the data folder), but our .venv link
    assert git(clone, "status", "--porcelain").split("\n")[:-1] == ["?? .venv"]
