"""Open a repository: a local directory as it is, or a URL cloned shallowly.

``open_repository`` is a context manager; a temporary clone is always removed on exit,
whatever happened inside. Clones are single-branch, without tags or submodules, and
shallow: the work tree is a ``--depth 1`` clone. When the history stage wants commits, a
second, bare, blobless partial clone (``--filter=blob:none --depth history_depth``:
commits and trees, no file contents) is made at the same time, in a thread, so it
overlaps the work-tree clone and the parsing; ``OpenedRepository.history_root()`` waits
for it. (One blobless clone with a work tree costs more: its checkout fetches HEAD's
contents in a second round trip, after the first.) What may be cloned is the URL
policy's alone (:class:`~graph_jobs.url_policy.UrlPolicy`): ``open_repository`` checks
the :class:`~graph_jobs.repository_ref.RepoRef` it is given right before the clone, and
``clone`` takes only what that check returned. Clones never prompt for credentials, and
are killed when they pass the time or size limit (each clone its own), or when the
repository is closed early.

Git runs without the operator's secrets: an empty ``HOME`` of its own (no
``~/.gitconfig``, no ``~/.netrc``), ``GIT_CONFIG_GLOBAL=/dev/null``, no system config, no
``GIT_*`` variable inherited but the CA bundle's (``GIT_CONFIG_COUNT`` or
``GIT_CONFIG_PARAMETERS`` could add ``http.extraHeader``), no credential helper, no
askpass, no terminal prompt. A host that asks for a password gets none, and the clone
fails.

The size limit holds while git writes, not a second later: every git process runs with
a file-size limit (``RLIMIT_FSIZE``) of ``max_bytes``, so no pack or checked-out file can
pass it, and the work tree is checked out only after the sizes of HEAD's files (``git
ls-tree -l``) are known to fit, so a small pack of a huge file (zeros compress a
thousandfold) is refused before a byte of it is written. The total size is also polled
once a second, for what neither sees (files that line-ending conversion makes larger than
their blobs, each under the limit).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import git

try:  # POSIX; elsewhere only the once-a-second poll limits the size
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None  # type: ignore[assignment]

from graph_jobs.errors import (
    CloneFailed,
    CloneTimeout,
    RepositoryError,
    RepositoryTooLarge,
    UnsafeRepositoryURL,
)
from graph_jobs.repository_ref import RepoRef
from graph_jobs.url_policy import CheckedSource, UrlPolicy

_SHA_RE = re.compile(r"^[0-9a-fA-F]{7,40}$")


@dataclass(frozen=True)
class OpenedRepository:
    root: Path  # the working tree
    commit: str | None  # HEAD commit, None for a directory that is not a git repo
    source: str  # the repository's name (RepoRef.name)
    is_clone: bool
    history: Future | None = None  # the history clone under way (a bare git directory)

    def history_root(self) -> Path:
        """Where to read commits: the history clone once it is done (raises its
        :class:`~graph_jobs.errors.RepositoryError`), else the work tree."""
        return self.history.result() if self.history is not None else self.root


def _dir_size(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


# The setting that raises the size limit, named in the error a user sees.
SIZE_SETTING = "PHAROS_CLONE_MAX_BYTES"

# Given to every git command: no config from outside can add a credential, a header or a
# helper (the global and system files are off as well, see _git_env).
_SAFE_CONFIG = (
    "protocol.ext.allow=never",
    "core.hooksPath=/dev/null",
    "credential.helper=",  # an empty value empties the list of helpers
    "core.askPass=",
    "http.extraHeader=",  # likewise empties the list of extra headers
)


# Inherited GIT_* variables that add trust or find git, never a credential.
_KEPT_GIT_VARS = frozenset({"GIT_SSL_CAINFO", "GIT_SSL_CAPATH", "GIT_EXEC_PATH"})


def _git_env(home: str) -> dict[str, str]:
    """The environment of a git command: the process's, less every other ``GIT_*``
    variable and askpass, with an empty ``home`` (curl reads ``$HOME/.netrc``)."""
    env = {k: v for k, v in os.environ.items()
           if (not k.upper().startswith("GIT_") or k in _KEPT_GIT_VARS)
           and k not in ("SSH_ASKPASS", "SSH_AUTH_SOCK", "XDG_CONFIG_HOME")}
    env.update({
        "HOME": home,
        "XDG_CONFIG_HOME": home,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "",  # set and empty: git asks no program, and no terminal either
        "GIT_LFS_SKIP_SMUDGE": "1",
        "LC_ALL": "C",  # git's messages in English: "File too large" is looked for
        "LANGUAGE": "C",
    })
    return env


def _file_size_limit(max_bytes: int):
    """A ``preexec_fn`` giving the git process (and every process it starts) a file-size
    limit of ``max_bytes``: a write past it fails with ``EFBIG`` ("File too large"; the
    signal it would raise, SIGXFSZ, is ignored, so git reports it and exits)."""
    if resource is None:
        return None
    _soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    limit = max(1, int(max_bytes))
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)

    def limit_file_size() -> None:  # in the child, between fork and exec: syscalls only
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))

    return limit_file_size


def _largest_file(path: Path) -> int:
    largest = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                largest = max(largest, os.lstat(os.path.join(dirpath, name)).st_size)
    return largest


def _too_large(what: str, max_bytes: int) -> RepositoryTooLarge:
    return RepositoryTooLarge(
        f"repository is over the size limit of {max_bytes} bytes ({what}); "
        f"{SIZE_SETTING} raises it"
    )


def _run_git_watched(args: list[str], cwd: Path, watch: Path, timeout_s: float, max_bytes: int,
                     config: tuple[str, ...] = (), stop: threading.Event | None = None,
                     *, capture: bool = False) -> bytes:
    """Run one git command, killing it past the time or size limit, or when ``stop`` is
    set; return its output when ``capture``.

    ``config``: ``key=value`` settings given to git as ``-c`` (the URL policy's pinned
    address, no redirects, https only), after :data:`_SAFE_CONFIG`."""
    with contextlib.ExitStack() as stack:
        home = stack.enter_context(tempfile.TemporaryDirectory(prefix="pharos-git-home-"))
        # stderr and stdout go to files, not pipes: a chatty server cannot stall git on a
        # full pipe (and the files are under the same file-size limit)
        err = stack.enter_context(tempfile.TemporaryFile())
        out = stack.enter_context(tempfile.TemporaryFile()) if capture else None
        popen = subprocess.Popen(
            ["git", *[x for kv in (*_SAFE_CONFIG, *config) for x in ("-c", kv)], *args],
            cwd=str(cwd), env=_git_env(home), stdin=subprocess.DEVNULL,
            stdout=out if out is not None else subprocess.DEVNULL, stderr=err,
            preexec_fn=_file_size_limit(max_bytes),
        )
        stack.callback(_reap, popen)
        _watch(popen, args[0], watch, timeout_s, max_bytes, stop)
        err.seek(0, os.SEEK_END)
        err.seek(max(0, err.tell() - 65536))
        stderr = err.read().decode("utf-8", "replace")
        if popen.returncode != 0 and (
            popen.returncode == -signal.SIGXFSZ or "File too large" in stderr
            or _largest_file(watch) >= max_bytes
        ):
            raise _too_large(f"git {args[0]} was stopped writing a file at the limit",
                             max_bytes)
        if popen.returncode != 0:
            lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
            fatal = [ln for ln in lines if ln.startswith(("fatal:", "error:"))]
            msg = " ".join(fatal or lines[-3:])
            raise CloneFailed(f"git {args[0]} failed (exit {popen.returncode}): {msg}")
        if (size := _dir_size(watch)) > max_bytes:
            raise _too_large(f"{size} bytes written", max_bytes)
        if out is None:
            return b""
        out.seek(0)
        return out.read()


def _reap(popen: subprocess.Popen) -> None:
    with contextlib.suppress(Exception):
        popen.kill()
        popen.wait(timeout=5)


def _watch(popen: subprocess.Popen, what: str, watch: Path, timeout_s: float, max_bytes: int,
           stop: threading.Event | None) -> None:
    """Wait for ``popen``, killing it (and raising) past the time or size limit, or when
    ``stop`` is set."""
    start = time.monotonic()
    next_size_check = 0.0
    while True:
        try:
            popen.wait(timeout=0.2)
            return
        except subprocess.TimeoutExpired:
            pass
        elapsed = time.monotonic() - start
        if stop is not None and stop.is_set():
            popen.kill()
            raise CloneFailed(f"git {what} stopped: the repository was closed")
        if elapsed > timeout_s:
            popen.kill()
            raise CloneTimeout(f"git {what} ran past its {timeout_s:.0f} s limit")
        if elapsed >= next_size_check:
            next_size_check = elapsed + 1.0
            size = _dir_size(watch)
            if size > max_bytes:
                popen.kill()
                raise _too_large(f"{size} bytes written", max_bytes)


def _tree_bytes(listing: bytes) -> int:
    """The size of the files ``git ls-tree -r -l -z`` lists (what a checkout writes)."""
    total = 0
    for entry in listing.split(b"\0"):
        meta = entry.partition(b"\t")[0].split()
        if len(meta) == 4 and meta[1] == b"blob" and meta[3].isdigit():
            total += int(meta[3])
    return total


def clone(
    checked: CheckedSource,
    dest: Path,
    ref: str | None = None,
    timeout_s: float = 300.0,
    max_bytes: int = 1 << 30,
    history_depth: int = 0,
    git_config: tuple[str, ...] = (),
    *,
    bare: bool = False,
    stop: threading.Event | None = None,
) -> str:
    """Shallow-clone what the URL policy ``checked`` into the empty directory ``dest``;
    return the HEAD commit. git is held to the check's settings (pinned address, https
    only), then to ``git_config``: see :func:`_run_git_watched`.

    ``history_depth`` > 0: that many commits, blobless (commits and trees only, file
    contents for HEAD alone, or none with ``bare``).
    """
    if not isinstance(checked, CheckedSource) or not checked.ref.is_remote:
        raise UnsafeRepositoryURL("clone takes what the URL policy checked, and a URL")
    url = checked.ref.clone_url
    git_config = (*checked.git_config, *git_config)
    if history_depth > 0:
        common = ["--depth", str(int(history_depth)), "--filter=blob:none", "--no-tags"]
    else:
        common = ["--depth", "1", "--no-tags"]
    dest.mkdir(parents=True, exist_ok=True)

    def run(args: list[str], cwd: Path, config: tuple[str, ...] = (), capture: bool = False):
        return _run_git_watched(args, cwd, dest, timeout_s, max_bytes, config, stop,
                                capture=capture)

    def checkout(rev: str) -> None:
        # Only once HEAD's files are known to fit: a pack is small when its files
        # compress well, and zeros compress a thousandfold.
        listing = run(["-C", str(dest), "ls-tree", "-r", "-l", "-z", "--full-tree", rev],
                      dest, capture=True)
        if (size := _dir_size(dest) + _tree_bytes(listing)) > max_bytes:
            raise _too_large(f"checked out, it would take {size} bytes", max_bytes)
        run(["-C", str(dest), "checkout", "-q", "-f", rev], dest, git_config)

    # The work tree is checked out by `checkout` (sizes first), unless a blobless clone
    # would have to fetch the blobs to learn their sizes (then the write limits alone).
    check_first = not bare and history_depth <= 0
    if ref and _SHA_RE.match(ref):
        # A commit cannot be named by --branch: fetch exactly that commit instead.
        run(["init", "-q", *(["--bare"] if bare else []), str(dest)], dest)
        run(["-C", str(dest), "remote", "add", "origin", "--", url], dest)
        run(["-C", str(dest), "fetch", "-q", *common, "origin", ref], dest, git_config)
        if bare:
            run(["-C", str(dest), "update-ref", "HEAD", "FETCH_HEAD"], dest)
        elif check_first:
            checkout("FETCH_HEAD")
        else:
            run(["-C", str(dest), "checkout", "-q", "FETCH_HEAD"], dest, git_config)
    else:
        args = ["clone", "-q", *common, "--single-branch", "--no-recurse-submodules",
                *(["--bare"] if bare else []), *(["--no-checkout"] if check_first else [])]
        if ref:
            if ref.startswith("-"):
                raise UnsafeRepositoryURL(f"ref looks like a git option: {ref!r}")
            args += ["--branch", ref]
        run([*args, "--", url, str(dest)], dest.parent, git_config)
        if check_first and git.Repo(dest).head.is_valid():  # an empty repository has none
            checkout("HEAD")
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
    repo: RepoRef | str,
    ref: str | None = None,
    *,
    timeout_s: float = 300.0,
    max_bytes: int = 1 << 30,
    workdir: Path | None = None,
    history_depth: int = 0,
    policy: UrlPolicy | None = None,
) -> Iterator[OpenedRepository]:
    """Yield the repository ``repo`` (a directory or a URL), cleaning up afterwards.

    ``repo`` is a :class:`RepoRef` (a string is parsed here, once). A local directory is
    read in place (``ref`` must then be None: check it out yourself). A URL is held to
    ``policy`` (the user's, :meth:`UrlPolicy.for_user`, by default) right before it is
    cloned into a temporary directory that is removed on exit; with ``history_depth`` >
    0 its history is cloned beside it at the same time (see the module doc).
    """
    if not isinstance(repo, RepoRef):
        repo = RepoRef.parse(repo)
    if not repo.is_remote:
        root = Path(repo.name)
        if not root.is_dir():
            raise RepositoryError(f"no such directory: {repo.name}")
        if ref:
            raise RepositoryError("--ref applies to URLs; check the ref out in a local path")
        yield OpenedRepository(root, _local_commit(root), repo.name, False)
        return
    checked = (policy or UrlPolicy.for_user()).check(repo)
    tmp = Path(tempfile.mkdtemp(prefix="pharos-clone-", dir=workdir))
    stop = threading.Event()
    pool = ThreadPoolExecutor(1, thread_name_prefix="pharos-history-clone")
    try:
        history = None
        if history_depth > 0:
            def clone_history() -> Path:
                clone(checked, tmp / "history.git", ref, timeout_s, max_bytes,
                      history_depth=history_depth, bare=True, stop=stop)
                return (tmp / "history.git").resolve()

            history = pool.submit(clone_history)
        dest = tmp / "repo"
        commit = clone(checked, dest, ref, timeout_s, max_bytes)
        yield OpenedRepository(dest.resolve(), commit, repo.name, True, history)
    finally:
        stop.set()  # a history clone still running is killed (its error is not wanted)
        pool.shutdown(wait=True)
        shutil.rmtree(tmp, ignore_errors=True)
