"""Find the source files of a repository the way a user expects.

* In a git work tree: the files git tracks (so ``.gitignore`` holds), with their blob
  ids from the index; files changed in the work tree are hashed afresh.
* In a plain directory: a walk that never follows directory symlinks.
* Skipped, each with a reason: vendored and generated trees, minified bundles, files
  over the size limit, binary files, submodules, and symlinks (a link inside the
  repository duplicates its tracked target; a link leaving it is never read).
* ``all_paths`` lists regular files only: a symlinked manifest (``go.mod -> /dev/zero``)
  is not there for a resolver to read, and is in ``skipped`` with its reason. Every read
  goes through :class:`~graph_jobs.graph.repo_files.RepoFiles`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import posixpath
import subprocess
from dataclasses import dataclass
from pathlib import Path

from graph_jobs.errors import FileRefused
from graph_jobs.graph.repo_files import MANIFEST_NAMES, RepoFiles, over_the_limit
from graph_jobs.languages import language_of
from graph_jobs.models import SkippedFile, SourceFile

log = logging.getLogger(__name__)

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


class _Collector:
    def __init__(self, root: Path, max_file_bytes: int):
        self.files_in = RepoFiles(root)
        self.max = max_file_bytes
        self.files: list[SourceFile] = []
        self.skipped: list[SkippedFile] = []

    def skip(self, rel: str, reason: str) -> None:
        self.skipped.append(SkippedFile(rel, reason))

    def unlisted(self, rel: str, is_link: bool) -> None:
        """A symlink, FIFO or device: never listed in ``all_paths``, never read; recorded
        when it is named as source or as a manifest (a manifest is logged too)."""
        if language_of(rel) is not None:
            return self.consider(rel, None, is_link)
        if posixpath.basename(rel) in MANIFEST_NAMES and _skipped_dir(rel) is None:
            why = self._refusal(rel)
            log.warning("manifest %s not read: %s", rel, why)
            self.skip(rel, why)
        return None

    def _refusal(self, rel: str) -> str:
        try:
            self.files_in.stat(rel)
        except FileRefused as exc:
            return exc.reason
        return "symlink in the git index (not followed)"  # a file in the work tree now

    def consider(self, rel: str, blob: str | None, is_link: bool) -> None:
        lang = language_of(rel)
        if lang is None:
            return
        if (why := _skipped_dir(rel)) is not None:
            return self.skip(rel, why)
        if rel.lower().endswith(MINIFIED_SUFFIXES):
            return self.skip(rel, "minified bundle")
        if is_link:
            return self.skip(rel, self._refusal(rel))
        try:
            size = self.files_in.stat(rel).st_size
        except FileRefused as exc:
            return self.skip(rel, exc.reason)
        if size > self.max:
            return self.skip(rel, over_the_limit(size, self.max))
        if blob is not None:  # git knows the content: the parser sniffs it (cached by blob)
            self.files.append(SourceFile(rel, lang, size, blob))
            return None
        try:
            data = self.files_in.read(rel, self.max)
        except FileRefused as exc:
            return self.skip(rel, exc.reason)
        if (why := sniff(data)) is not None:
            return self.skip(rel, why)
        self.files.append(SourceFile(rel, lang, len(data), blob or git_blob_id(data)))


def _walk(root: str):
    """``(path, is_link, is_regular)`` of every entry of a plain directory, never following
    a directory symlink (the kinds come from the directory listing, no ``stat``; a stack,
    not recursion, however deep the tree)."""
    todo = [""]
    while todo:
        rel_dir = todo.pop()
        try:
            with os.scandir(os.path.join(root, rel_dir) if rel_dir else root) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            continue
        subdirs = []
        for e in entries:
            rel = f"{rel_dir}/{e.name}" if rel_dir else e.name
            try:
                if e.is_symlink():
                    yield rel, True, False
                elif e.is_dir(follow_symlinks=False):
                    if e.name not in SKIP_DIRS:
                        subdirs.append(rel)
                else:
                    yield rel, False, e.is_file(follow_symlinks=False)
            except OSError:
                continue
        todo.extend(reversed(subdirs))


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
            if mode == "120000":  # a symlink is never listed, so never read as a manifest
                if stage in ("0", "2"):
                    col.unlisted(rel, True)
                continue
            all_paths.add(rel)
            if stage not in ("0", "2"):  # unmerged: take "ours" once
                continue
            if mode == "160000":
                if language_of(rel):
                    col.skip(rel, "git submodule")
                continue
            col.consider(rel, None if rel in modified else blob, False)
    else:
        for rel, is_link, is_regular in _walk(str(root)):
            if is_regular:
                all_paths.add(rel)
                col.consider(rel, None, False)
            else:  # a symlink, a FIFO or a device is never listed
                col.unlisted(rel, is_link)
    col.files.sort(key=lambda f: f.path)
    return Discovery(col.files, col.skipped, all_paths)
