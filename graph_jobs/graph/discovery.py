"""Find the source files of a repository the way a user expects.

* In a git work tree: the files git tracks (so ``.gitignore`` holds), with their blob
  ids from the index; files changed in the work tree are hashed afresh.
* In a plain directory: a walk that never follows directory symlinks.
* Skipped, each with a reason: vendored and generated trees, minified bundles, files
  over the size limit, binary files, submodules, and symlinks (a link inside the
  repository duplicates its tracked target; a link leaving it is never read).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from graph_jobs.languages import language_of
from graph_jobs.models import SkippedFile, SourceFile

SKIP_DIRS = frozenset(
    {
        ".git", "node_modules", "bower_components", "jspm_packages", ".venv", "venv",
        "vendor", "dist", "build", "__pycache__", ".tox", ".nox", ".mypy_cache",
        ".pytest_cache", "site-packages", ".next", ".nuxt", ".yarn",
    }
)
MINIFIED_SUFFIXES = (".min.js", ".min.mjs", ".min.cjs", ".bundle.js", "-min.js")
# Text this far into a file decides "binary" (NUL byte) and "minified" (huge lines).
SNIFF_BYTES = 8192
MINIFIED_MIN_LINE = 2000


@dataclass
class Discovery:
    files: list[SourceFile]
    skipped: list[SkippedFile]
    all_paths: set[str]  # every file seen (configs such as package.json, go.mod, assets)


def git_blob_id(data: bytes) -> str:
    h = hashlib.sha1(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


def _skipped_dir(rel: str) -> str | None:
    parts = rel.split("/")[:-1]
    for part in parts:
        if part in SKIP_DIRS:
            return f"vendored or generated directory {part}/"
    return None


def sniff(data: bytes) -> str | None:
    """Why this content is not source we parse, or None."""
    head = data[:SNIFF_BYTES]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 text has NULs; not binary
        return None
    if b"\0" in head:
        return "binary"
    if len(data) > MINIFIED_MIN_LINE:
        newlines = head.count(b"\n")
        if newlines == 0 or len(head) / (newlines + 1) > MINIFIED_MIN_LINE:
            return "minified (very long lines)"
    return None


def _git(root: Path, *args: str) -> bytes:
    return subprocess.run(
        ["git", "-C", str(root), *args], check=True, capture_output=True
    ).stdout


def _is_git_worktree(root: Path) -> bool:
    if not (root / ".git").exists():
        return False
    try:
        top = _git(root, "rev-parse", "--show-toplevel").decode().strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        return False
    return Path(top).resolve() == root.resolve()


def _inside(root_real: str, path: str) -> bool:
    real = os.path.realpath(path)
    return real == root_real or real.startswith(root_real + os.sep)


class _Collector:
    def __init__(self, root: Path, max_file_bytes: int):
        self.root = root
        self.root_real = os.path.realpath(root)
        self.max = max_file_bytes
        self.files: list[SourceFile] = []
        self.skipped: list[SkippedFile] = []

    def skip(self, rel: str, reason: str) -> None:
        self.skipped.append(SkippedFile(rel, reason))

    def consider(self, rel: str, blob: str | None, is_link: bool) -> None:
        lang = language_of(rel)
        if lang is None:
            return
        if (why := _skipped_dir(rel)) is not None:
            return self.skip(rel, why)
        if rel.lower().endswith(MINIFIED_SUFFIXES):
            return self.skip(rel, "minified bundle")
        full = os.path.join(self.root, rel)
        if is_link or os.path.islink(full):
            where = "inside" if _inside(self.root_real, full) else "leaving"
            return self.skip(rel, f"symlink {where} the repository (not followed)")
        if not _inside(self.root_real, full):
            return self.skip(rel, "path leaves the repository (not followed)")
        try:
            st = os.lstat(full)
        except OSError:
            return self.skip(rel, "missing from the work tree")
        if st.st_size > self.max:
            return self.skip(rel, f"over the size limit ({st.st_size} > {self.max} bytes)")
        if blob is not None:  # git knows the content: the parser sniffs it (cached by blob)
            self.files.append(SourceFile(rel, lang, st.st_size, blob))
            return None
        try:
            with open(full, "rb") as fh:
                data = fh.read(self.max + 1)
        except OSError as exc:
            return self.skip(rel, f"unreadable: {exc.strerror}")
        if (why := sniff(data)) is not None:
            return self.skip(rel, why)
        self.files.append(SourceFile(rel, lang, len(data), blob or git_blob_id(data)))


def discover_files(root: Path, max_file_bytes: int = 1 << 20) -> Discovery:
    root = Path(root)
    col = _Collector(root, max_file_bytes)
    all_paths: set[str] = set()
    if _is_git_worktree(root):
        modified = {
            p.decode("utf-8", "surrogateescape")
            for p in _git(root, "diff-files", "--name-only", "-z").split(b"\0")
            if p
        }
        for entry in _git(root, "ls-files", "-s", "-z").split(b"\0"):
            if not entry:
                continue
            meta, _, path_b = entry.partition(b"\t")
            mode, blob, stage = meta.decode().split()
            rel = path_b.decode("utf-8", "surrogateescape")
            all_paths.add(rel)
            if stage not in ("0", "2"):  # unmerged: take "ours" once
                continue
            if mode == "160000":
                if language_of(rel):
                    col.skip(rel, "git submodule")
                continue
            col.consider(rel, None if rel in modified else blob, mode == "120000")
    else:
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
            for name in sorted(filenames):
                rel = os.path.relpath(os.path.join(dirpath, name), root).replace(os.sep, "/")
                all_paths.add(rel)
                col.consider(rel, None, False)
    col.files.sort(key=lambda f: f.path)
    return Discovery(col.files, col.skipped, all_paths)
