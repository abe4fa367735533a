"""Open a repository: a local directory as it is, or a URL cloned shallowly.

``open_repository`` is a context manager; a temporary clone is always removed on exit,
whatever happened inside. Clones are single-branch, without tags or submodules, and
shallow: the work tree is a ``--depth 1`` clone. When the history stage wants commits, a
second, bare, blobless partial clone (``--filter=blob:none --depth history_depth``:
commits and trees, no file contents) is made at the same time, in a thread, so it
overlaps the work-tree clone and the parsing; ``OpenedRepository.history_root()`` waits
for it. (One blobless clone with a work tree costs more: its checkout fetches HEAD's
contents in a second round trip, after the first.) They refuse the ``ext::`` transport
and option-like arguments, never prompt for credentials, and are killed when they pass
the time or size limit (each clone its own), or when the repository is closed early.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import git

from graph_jobs.errors import (
    CloneFailed,
    CloneTimeout,
    RepositoryError,
    RepositoryTooLarge,
    UnsafeRepositoryURL,
)

_SHA_RE = re.compile(r"^[0-9a-fA-F]{7,40}$")
_SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:")  # git@host:path (ssh)


@dataclass(frozen=True)
class OpenedRepository:
    root: Path  # the working tree
    commit: str | None  # HEAD commit, None for a directory that is not a git repo
    source: str  # what the user gave
    is_clone: bool
    history: Future | None = None  # the history clone under way (a bare git directory)

    def history_root(self) -> Path:
        """Where to read commits: the history clone once it is done (raises its
        :class:`~graph_jobs.errors.RepositoryError`), else the work tree."""
        return self.history.result() if self.history is not None else self.root


def is_remote(source: str) -> bool:
    """A URL (to clone, or to refuse) rather than a local directory."""
    return ("://" in source or "::" in source or source.startswith("-")
            or bool(_SCP_LIKE.match(source)))


def _check_clone_argument(url: str, allow_local: bool) -> None:
    """Refuse what could turn `git clone` into something else, before git sees it."""
    if not url or url != url.strip() or any(ord(c) < 32 or ord(c) == 127 for c in url):
        raise UnsafeRepositoryURL("repository URL is empty or contains control characters")
    if url.startswith("-"):
        raise UnsafeRepositoryURL(f"repository URL looks like a git option: {url!r}")
    low = url.lower()
    if "::" in low.split("/", 1)[0] or low.startswith("ext::"):
        raise UnsafeRepositoryURL("remote-helper URLs (transport::address) are refused")
    scheme = low.split("://", 1)[0] if "://" in low else ("ssh" if _SCP_LIKE.match(url) else "")
    allowed = {"https", "http"} | ({"file"} if allow_local else set())
    if scheme not in allowed:
        raise UnsafeRepositoryURL(
            f"scheme {scheme or 'none'!r} is refused; use https://"
            + (" or file://" if allow_local else "")
        )


def _dir_size(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def _run_git_watched(args: list[str], cwd: Path, watch: Path, timeout_s: float, max_bytes: int,
                     config: tuple[str, ...] = (), stop: threading.Event | None = None):
    """Run one git command through GitPython, killing it past the time or size limit, or
    when ``stop`` is set.

    ``config``: ``key=value`` settings given to git as ``-c`` (the URL policy's pinned
    address, no redirects, https only)."""
    env = {
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "/bin/false",
        "SSH_ASKPASS": "/bin/false",
        "GIT_LFS_SKIP_SMUDGE": "1",
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    proc = git.Git(str(cwd)).execute(
        ["git", "-c", "protocol.ext.allow=never", "-c", "core.hooksPath=/dev/null",
         *[x for kv in config for x in ("-c", kv)], *args],
        as_process=True,
        env=env,
        stdout_as_string=False,
    )
    popen = proc.proc
    start = time.monotonic()
    next_size_check = 0.0
    try:
        while True:
            try:
                popen.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                pass
            elapsed = time.monotonic() - start
            if stop is not None and stop.is_set():
                popen.kill()
                raise CloneFailed(f"git {args[0]} stopped: the repository was closed")
            if elapsed > timeout_s:
                popen.kill()
                raise CloneTimeout(f"git {args[0]} ran past its {timeout_s:.0f} s limit")
            if elapsed >= next_size_check:
                next_size_check = elapsed + 1.0
                size = _dir_size(watch)
                if size > max_bytes:
                    popen.kill()
                    raise RepositoryTooLarge(
                        f"repository passed the size limit ({size} > {max_bytes} bytes)"
                    )
        stderr = popen.stderr.read().decode("utf-8", "replace") if popen.stderr else ""
        if popen.returncode == 0 and (size := _dir_size(watch)) > max_bytes:
            raise RepositoryTooLarge(
                f"repository passed the size limit ({size} > {max_bytes} bytes)"
            )
    finally:
        with contextlib.suppress(Exception):
            popen.kill()
            popen.wait(timeout=5)
    if popen.returncode != 0:
        lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
        fatal = [ln for ln in lines if ln.startswith(("fatal:", "error:"))]
        msg = " ".join(fatal or lines[-3:])
        raise CloneFailed(f"git {args[0]} failed (exit {popen.returncode}): {msg}")


def clone(
    url: str,
    dest: Path,
    ref: str | None = None,
    timeout_s: float = 300.0,
    max_bytes: int = 1 << 30,
    allow_local: bool = False,
    history_depth: int = 0,
    git_config: tuple[str, ...] = (),
    *,
    bare: bool = False,
    stop: threading.Event | None = None,
) -> str:
    """Shallow-clone ``url`` into the empty directory ``dest``; return the HEAD commit.

    ``history_depth`` > 0: that many commits, blobless (commits and trees only, file
    contents for HEAD alone, or none with ``bare``). ``git_config``: see
    :func:`_run_git_watched`.
    """
    _check_clone_argument(url, allow_local)
    if history_depth > 0:
        common = ["--depth", str(int(history_depth)), "--filter=blob:none", "--no-tags"]
    else:
        common = ["--depth", "1", "--no-tags"]
    dest.mkdir(parents=True, exist_ok=True)

    def run(args: list[str], cwd: Path, config: tuple[str, ...] = ()) -> None:
        _run_git_watched(args, cwd, dest, timeout_s, max_bytes, config, stop)

    if ref and _SHA_RE.match(ref):
        # A commit cannot be named by --branch: fetch exactly that commit instead.
        run(["init", "-q", *(["--bare"] if bare else []), str(dest)], dest)
        run(["-C", str(dest), "remote", "add", "origin", "--", url], dest)
        run(["-C", str(dest), "fetch", "-q", *common, "origin", ref], dest, git_config)
        if bare:
            run(["-C", str(dest), "update-ref", "HEAD", "FETCH_HEAD"], dest)
        else:
            run(["-C", str(dest), "checkout", "-q", "FETCH_HEAD"], dest, git_config)
    else:
        args = ["clone", "-q", *common, "--single-branch", "--no-recurse-submodules",
                *(["--bare"] if bare else [])]
        if ref:
            if ref.startswith("-"):
                raise UnsafeRepositoryURL(f"ref looks like a git option: {ref!r}")
            args += ["--branch", ref]
        run([*args, "--", url, str(dest)], dest.parent, git_config)
    try:
        return git.Repo(dest).head.commit.hexsha
    except ValueError:  # an empty repository has no HEAD commit
        return ""


def _local_commit(root: Path) -> str | None:
    try:
        repo = git.Repo(root, search_parent_directories=False)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None
    try:
        return repo.head.commit.hexsha
    except ValueError:
        return ""


@contextlib.contextmanager
def open_repository(
    source: str,
    ref: str | None = None,
    *,
    timeout_s: float = 300.0,
    max_bytes: int = 1 << 30,
    allow_local_urls: bool = True,
    workdir: Path | None = None,
    history_depth: int = 0,
    git_config: tuple[str, ...] = (),
) -> Iterator[OpenedRepository]:
    """Yield the repository at ``source`` (a directory or a URL), cleaning up afterwards.

    A local directory is read in place (``ref`` must then be None: check it out
    yourself). A URL is cloned into a temporary directory that is removed on exit; with
    ``history_depth`` > 0 its history is cloned beside it at the same time (see the
    module doc).
    """
    if not is_remote(source):
        root = Path(source).expanduser()
        if not root.is_dir():
            raise RepositoryError(f"no such directory: {source}")
        if ref:
            raise RepositoryError("--ref applies to URLs; check the ref out in a local path")
        root = root.resolve()
        yield OpenedRepository(root, _local_commit(root), source, False)
        return
    tmp = Path(tempfile.mkdtemp(prefix="pharos-clone-", dir=workdir))
    stop = threading.Event()
    pool = ThreadPoolExecutor(1, thread_name_prefix="pharos-history-clone")
    try:
        history = None
        if history_depth > 0:
            def clone_history() -> Path:
                clone(source, tmp / "history.git", ref, timeout_s, max_bytes,
                      allow_local=allow_local_urls, history_depth=history_depth,
                      git_config=git_config, bare=True, stop=stop)
                return (tmp / "history.git").resolve()

            history = pool.submit(clone_history)
        dest = tmp / "repo"
        commit = clone(source, dest, ref, timeout_s, max_bytes, allow_local=allow_local_urls,
                       git_config=git_config)
        yield OpenedRepository(dest.resolve(), commit, source, True, history)
    finally:
        stop.set()  # a history clone still running is killed (its error is not wanted)
        pool.shutdown(wait=True)
        shutil.rmtree(tmp, ignore_errors=True)
