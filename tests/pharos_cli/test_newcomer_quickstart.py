"""Issue 27, item 7: the Quickstart as a newcomer runs it, from another directory with a
relative path. It says what it does while it installs, stores where a later `pharos`
looks, prints next steps that work as typed from anywhere, and ends by saying how to put
`pharos` on PATH.

The install itself (scripts/setup-venv, pip) is left out: a stand-in that takes two
seconds replaces it in a copy of the scripts, and the copy's .venv is this checkout's."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from devkit.repos import make_repo
from tests.support.cli_runs import ROOT, cli_env, small_package

pytestmark = pytest.mark.slow


@pytest.fixture
def checkout(tmp_path) -> Path:
    """scripts/quickstart as shipped, beside a setup-venv that only takes its time."""
    root = tmp_path / "pharos"
    (root / "scripts").mkdir(parents=True)
    shutil.copy2(ROOT / "scripts" / "quickstart", root / "scripts" / "quickstart")
    (root / "scripts" / "setup-venv").write_text("#!/usr/bin/env bash\nsleep 2\n")
    (root / ".venv").symlink_to(ROOT / ".venv")
    return root


def _env(home: Path) -> dict:
    env = cli_env(None, HOME=str(home))
    env.pop("PYTHONPATH")  # the installed `pharos`, as a newcomer runs it
    return env


def test_quickstart_from_another_directory_with_a_relative_path(checkout, tmp_path):
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    make_repo(work / "itsd", small_package("itsd"))
    env = _env(home)
    run = subprocess.run(["bash", str(checkout / "scripts" / "quickstart"), "itsd"], cwd=work,
                         env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "quickstart: installing Pharos" in run.stderr  # said before pip goes quiet
    assert "quickstart: installed in" in run.stderr
    out = run.stdout
    assert f"complete {work / 'itsd'}" in out
    assert f"stored in {home / '.pharos'}" in out
    # how to put pharos on PATH
    assert f"source {checkout}/.venv/bin/activate" in out and "pipx install" in out

    steps = [ln.strip().split("   #")[0] for ln in out.split("next:\n", 1)[1].splitlines()
             if ln.startswith("  ") and "pharos " in ln and "activate" not in ln][:3]
    assert len(steps) == 3 and all(str(checkout / ".venv/bin/pharos") in s for s in steps)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for step in steps[:2]:  # similar and map, typed as printed from another directory
        done = subprocess.run(shlex.split(step), cwd=elsewhere, env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, (step, done.stderr[-2000:])
    assert (elsewhere / "map.png").stat().st_size > 1000
    # a bare `pharos` anywhere finds the same folder
    info = subprocess.run([str(checkout / ".venv/bin/pharos"), "info"], cwd=elsewhere,
                          env=env, capture_output=True, text=True, timeout=120)
    assert str(home / ".pharos") in info.stdout and "1 stored" in info.stdout


def test_quickstart_with_a_mistyped_path_names_the_callers_directory(checkout, tmp_path):
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    make_repo(work / "itsd", small_package("itsd"))
    run = subprocess.run(["bash", str(checkout / "scripts" / "quickstart"), "itsdd",
                          "--skip-setup"], cwd=work, env=_env(home), capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 2
    said = " ".join(run.stderr.split())
    assert f"no such directory: {work / 'itsdd'}" in said
    assert f"did you mean: {work / 'itsd'}" in said
    assert "installing" not in said  # --skip-setup
    jobs = subprocess.run([str(checkout / ".venv/bin/pharos"), "jobs", "--json"], cwd=work,
                          env=_env(home), capture_output=True, text=True, timeout=120)
    assert json.loads(jobs.stdout)["jobs"] == []  # no failed job recorded
