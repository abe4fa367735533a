"""Real git repositories for the tests, made from code nobody here wrote."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        check=True, capture_output=True, text=True,
    ).stdout


def make_repo(path: Path, files: dict[str, str | bytes] | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    for rel, content in (files or {}).items():
        f = path / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(content.encode() if isinstance(content, str) else content)
    commit_all(path)
    return path


def commit_all(path: Path, message: str = "commit") -> None:
    git(path, "add", "-A")
    git(path, "commit", "-q", "--allow-empty", "-m", message)


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.submodule_search_locations, name
    return Path(list(spec.submodule_search_locations)[0])


def repo_from_packages(dest: Path, names: list[str], prefix: str = "") -> Path:
    """A git repository holding installed packages' sources under ``prefix``."""
    for name in names:
        shutil.copytree(package_dir(name), dest / prefix / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.pyc"))
    return make_repo(dest)
