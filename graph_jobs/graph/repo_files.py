"""The one guarded way to read a repository's files.

Every stage that reads a file of a repository (discovery, parsing, the words, the
resolvers' manifests) reads it through :class:`RepoFiles`. A file is read only when it
is a regular file inside the repository:

* its path is relative and plain (no ``..``, ``.``, empty or absolute parts);
* no directory on its path is a symlink (each directory is checked once per reader);
* the file itself is opened with ``O_NOFOLLOW | O_NONBLOCK``, so a symlink is refused by
  the kernel and a FIFO never blocks; ``fstat`` on the open descriptor then refuses
  anything that is not a regular file (FIFO, device, socket, directory), whatever the
  path held a moment before;
* at most ``max_bytes`` are read: a file whose size is over the cap is refused without
  reading, and one that grows past it while read is refused after ``max_bytes + 1``.

A refusal is a :class:`~graph_jobs.errors.FileRefused` carrying the reason (the words
that end up in the graph's ``skipped`` list); the caller records it and goes on.

The syscalls per read are ``open``, ``fstat``, one ``read`` and ``close``, plus one
``lstat`` per directory the first time the reader meets it. A directory swapped for a
symlink *after* its check is not caught; the work tree is the job's own clone (or the
user's own directory), and nothing else writes into it while the job runs.
"""

from __future__ import annotations

import logging
import os
import stat

from graph_jobs.errors import FileRefused
from graph_jobs.models import SkippedFile

log = logging.getLogger(__name__)

# The resolvers' manifests: small files, read whole; a bigger one is not a manifest.
MANIFEST_NAMES = frozenset({"go.mod", "Cargo.toml", "package.json", "tsconfig.json",
                            "jsconfig.json"})
MANIFEST_MAX_BYTES = 1 << 20

_FLAGS = (os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
          | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0))
_KINDS = ((stat.S_ISDIR, "directory"), (stat.S_ISFIFO, "FIFO"), (stat.S_ISCHR, "device"),
          (stat.S_ISBLK, "device"), (stat.S_ISSOCK, "socket"))


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "special file")


def over_the_limit(size: int, max_bytes: int) -> str:
    return f"over the size limit ({size} > {max_bytes} bytes)"


class RepoFiles:
    """Reads the files of the repository at ``root`` (see the module doc). Cheap to make;
    make one per job stage or batch (it remembers which directories it checked)."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = os.path.realpath(root)
        self._dirs: dict[str, str | None] = {"": None}  # dir -> why it is refused, or None

    def _full(self, rel: str) -> str:
        if (not rel or rel[0] == "/" or "\0" in rel or "//" in rel or rel[-1] == "/"
                or "/./" in f"/{rel}/" or "/../" in f"/{rel}/"):
            raise FileRefused(rel, "path leaves the repository (not followed)")
        cut = rel.rfind("/")
        if cut > 0 and (why := self._dir_problem(rel[:cut])) is not None:
            raise FileRefused(rel, why)
        return os.path.join(self.root, rel)

    def _dir_problem(self, d: str) -> str | None:
        if d in self._dirs:
            return self._dirs[d]
        pending, up = [], d  # up to the nearest directory checked before ("" always is)
        while up not in self._dirs:
            pending.append(up)
            cut = up.rfind("/")
            up = up[:cut] if cut > 0 else ""
        why = self._dirs[up]
        for sub in reversed(pending):  # then down, one lstat each
            if why is None:
                why = self._dir_kind(sub)
            self._dirs[sub] = why
        return why

    def _dir_kind(self, d: str) -> str | None:
        try:
            mode = os.lstat(os.path.join(self.root, d)).st_mode
        except OSError:
            return "missing from the work tree"
        if stat.S_ISLNK(mode):
            return f"under a symlinked directory {d}/ (not followed)"
        return None if stat.S_ISDIR(mode) else "missing from the work tree"

    def _symlink(self, rel: str, full: str) -> FileRefused:
        real = os.path.realpath(full)
        inside = real == self.root or real.startswith(self.root + os.sep)
        where = "inside" if inside else "leaving"
        return FileRefused(rel, f"symlink {where} the repository (not followed)")

    def stat(self, rel: str) -> os.stat_result:
        """The ``lstat`` of a regular file at ``rel`` (its size, say), without opening it;
        :class:`FileRefused` for anything else."""
        full = self._full(rel)
        try:
            st = os.lstat(full)
        except FileNotFoundError:
            raise FileRefused(rel, "missing from the work tree") from None
        except OSError as exc:
            raise FileRefused(rel, f"unreadable: {exc.strerror}") from None
        if stat.S_ISLNK(st.st_mode):
            raise self._symlink(rel, full)
        if not stat.S_ISREG(st.st_mode):
            raise FileRefused(rel, f"not a regular file ({_kind(st.st_mode)})")
        return st

    def read(self, rel: str, max_bytes: int) -> bytes:
        """The content of the regular file at ``rel``, at most ``max_bytes`` of it;
        :class:`FileRefused` (with the reason) for anything else."""
        full = self._full(rel)
        try:
            fd = os.open(full, _FLAGS)
        except FileNotFoundError:
            raise FileRefused(rel, "missing from the work tree") from None
        except OSError as exc:
            if os.path.islink(full):  # O_NOFOLLOW: ELOOP (EMLINK on some BSDs)
                raise self._symlink(rel, full) from None
            raise FileRefused(rel, f"unreadable: {exc.strerror}") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise FileRefused(rel, f"not a regular file ({_kind(st.st_mode)})")
            if st.st_size > max_bytes:
                raise FileRefused(rel, over_the_limit(st.st_size, max_bytes))
            # a regular file reads short only at its end: one read, unless it grew
            data = os.read(fd, st.st_size + 1)
            if len(data) > st.st_size:
                parts = [data]
                got = len(data)
                while got <= max_bytes and (more := os.read(fd, max_bytes + 1 - got)):
                    parts.append(more)
                    got += len(more)
                if got > max_bytes:
                    raise FileRefused(rel, f"over the size limit (> {max_bytes} bytes)")
                data = b"".join(parts)
            return data
        except OSError as exc:
            raise FileRefused(rel, f"unreadable: {exc.strerror}") from None
        finally:
            os.close(fd)

    def read_text(self, rel: str, max_bytes: int, errors: str = "replace") -> str:
        """:meth:`read`, decoded as UTF-8 (a byte order mark dropped)."""
        return self.read(rel, max_bytes).decode("utf-8-sig", errors)


def read_manifest(files: RepoFiles, rel: str, skipped: list[SkippedFile]) -> str | None:
    """A resolver's manifest (``go.mod``, ``package.json``, ...) as text, or None when it
    is refused: the reason is logged and added to ``skipped``, and the resolver goes on
    without it (its imports then resolve as if the manifest were absent)."""
    try:
        return files.read_text(rel, MANIFEST_MAX_BYTES)
    except FileRefused as exc:
        log.warning("manifest %s not read: %s", rel, exc.reason)
        skipped.append(SkippedFile(rel, exc.reason))
        return None
