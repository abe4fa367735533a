"""Hostile repositories of issue 25, made in seconds with ``git fast-import``.

- :func:`tiny_files`: 200,000 tracked one-line Python files, all one blob.
- :func:`import_chain`: 20,000 Python modules, each importing the next (the graph is one
  long path, the shape whose spectrum ARPACK could not finish).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from pathlib import Path


def _git(repo: Path, *args: str, stdin: bytes | None = None) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                   check=True, capture_output=True, input=stdin)


def fast_import(repo: Path, files: Iterable[tuple[str, bytes]]) -> Path:
    """One commit on ``main`` holding ``files`` (path, content), checked out."""
    repo.mkdir(parents=True, exist_ok=True)
    _git(repo, "init", "-q", "-b", "main")
    marks: dict[bytes, int] = {}
    blobs, tree = [], []
    for path, data in files:
        if data not in marks:
            marks[data] = len(marks) + 1
            blobs.append(b"blob\nmark :%d\ndata %d\n%s\n" % (marks[data], len(data), data))
        tree.append(b"M 100644 :%d %s\n" % (marks[data], path.encode()))
    stream = b"".join([*blobs, b"commit refs/heads/main\ncommitter t <t@t> 0 +0000\n"
                       b"data 7\nhostile\n", *tree, b"\n"])
    _git(repo, "fast-import", "--quiet", stdin=stream)
    _git(repo, "reset", "-q", "--hard", "main")
    return repo


def tiny_files(repo: Path, n: int = 200_000) -> Path:
    return fast_import(repo, ((f"d{i // 1000:03d}/f{i:06d}.py", b"x = 1\n") for i in range(n)))


def import_chain(repo: Path, n: int = 20_000) -> Path:
    def files():
        for i in range(n):
            nxt = f"import p{(i + 1) // 100:03d}.m{i + 1:05d}\n" if i + 1 < n else ""
            yield f"p{i // 100:03d}/m{i:05d}.py", f"{nxt}X = {i}\n".encode()
        for d in range((n + 99) // 100):
            yield f"p{d:03d}/__init__.py", b""

    return fast_import(repo, files())
