"""Read a repository's commits with the files each one touched (``git log``).

Only commits and trees are read, never file contents, so this runs on a blobless
partial clone (``--filter=blob:none``) without fetching anything. Rename detection:

- ``exact_renames_only=True`` (a partial clone): ``--find-renames=100%``. Git finds
  exact renames by comparing blob ids, which the trees already hold; inexact rename
  detection would fetch both blobs of every candidate pair from the remote.
- otherwise (a local repository with its blobs): git's default ``-M`` (50% similar).

Merges are left out (``--no-merges``): their diff against the first parent repeats
the work of the branch they merge. A commit with no parent (the first one, or the
oldest one a shallow clone holds, whose diff is "every file added") is marked ``root``.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from graph_jobs.errors import RepositoryError

# (status letter, path after the commit, path before it when renamed or copied)
Change = tuple[str, str, str | None]


@dataclass(slots=True)
class Commit:
    sha: str
    time: int  # committer time, unix seconds
    changes: list[Change] = field(default_factory=list)
    root: bool = False  # no parent: the first commit, or the edge of a shallow clone
    author: str = ""  # author e-mail

    @property
    def paths(self) -> list[str]:
        return [c[1] for c in self.changes]


class HistoryUnavailable(RepositoryError):
    """The directory is not a git repository, or git log failed on it."""


def _git(root: Path, *args: str, timeout: float = 600.0) -> bytes:
    try:
        proc = subprocess.run(["git", "-C", str(root), "-c", "core.quotePath=false", *args],
                              capture_output=True, timeout=timeout, check=False,
                              env={"GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1",
                                   "PATH": "/usr/bin:/bin:/usr/local/bin"})
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise HistoryUnavailable(f"git {args[0]} failed: {exc}") from exc
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise HistoryUnavailable(f"git {args[0]} failed: {msg[-1] if msg else proc.returncode}")
    return proc.stdout


def is_partial_clone(root: Path) -> bool:
    try:
        out = _git(root, "config", "--get-regexp", r"^remote\..*\.promisor$")
    except HistoryUnavailable:
        return False
    return b"true" in out


def is_shallow(root: Path) -> bool:
    try:
        return _git(root, "rev-parse", "--is-shallow-repository").strip() == b"true"
    except HistoryUnavailable:
        return False


def parse_log(raw: bytes) -> list[Commit]:
    """Parse ``git log -z --name-status --format=%x01%H %ct %P%x02%ae`` output, newest first."""
    commits: list[Commit] = []
    for chunk in raw.split(b"\x01")[1:]:
        header, _, body = chunk.partition(b"\0")
        head, _, author = header.decode("utf-8", "replace").partition("\x02")
        sha, *rest = head.split()
        commit = Commit(sha, int(rest[0]) if rest else 0, root=len(rest) < 2,
                        author=author.strip().lower())
        toks = body.lstrip(b"\n").split(b"\0")
        i = 0
        while i < len(toks):
            status = toks[i].decode("ascii", "replace").strip()
            if not status:
                i += 1
                continue
            letter = status[0]
            if letter in "RC" and i + 2 < len(toks):
                old = toks[i + 1].decode("utf-8", "surrogateescape")
                new = toks[i + 2].decode("utf-8", "surrogateescape")
                commit.changes.append((letter, new, old))
                i += 3
            elif i + 1 < len(toks):
                commit.changes.append((letter, toks[i + 1].decode("utf-8", "surrogateescape"),
                                       None))
                i += 2
            else:
                break
        commits.append(commit)
    return commits


def read_commits(root: Path | str, *, since: str | None = None, max_commits: int = 0,
                 max_age_days: float = 0, exact_renames_only: bool | None = None,
                 head: str = "HEAD") -> list[Commit]:
    """Non-merge commits reachable from ``head`` (not from ``since``), newest first.

    ``max_commits`` / ``max_age_days`` bound the walk (0: no bound). ``exact_renames_only``
    defaults to "is this a partial clone".
    """
    root = Path(root)
    if exact_renames_only is None:
        exact_renames_only = is_partial_clone(root)
    args = ["log", "--no-merges", "-z", "--name-status", "--format=%x01%H %ct %P%x02%ae",
            "--find-renames=100%" if exact_renames_only else "-M", "--no-color", "--no-ext-diff",
            "--no-textconv"]
    if max_commits:
        args.append(f"--max-count={int(max_commits)}")
    if max_age_days:
        args.append(f"--since={int(max_age_days * 86400)}.seconds.ago")
    rev = f"{since}..{head}" if since else head
    args += [rev, "--"]
    return parse_log(_git(root, *args))


def head_commit(root: Path | str, rev: str = "HEAD") -> str | None:
    """The commit ``rev`` names in ``root`` (HEAD by default), or None."""
    try:
        return _git(Path(root), "rev-parse", "--verify", "-q",
                    f"{rev}^{{commit}}").decode().strip() or None
    except HistoryUnavailable:
        return None


def is_ancestor(root: Path | str, older: str, newer: str) -> bool:
    try:
        _git(Path(root), "merge-base", "--is-ancestor", older, newer)
        return True
    except HistoryUnavailable:
        return False
