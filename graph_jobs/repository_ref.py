"""One name for a repository, whichever way it was typed (issue 15).

:class:`RepoRef` parses every form a user types and gives

- ``name``: the one key used everywhere: the CLI, the API, the worker, the queue's
  de-duplication, Qdrant point ids and payloads, the SQL rows. A remote repository is
  ``host/path`` (host in lower case, a non-default port kept, no scheme, no ``.git``,
  no trailing slash): ``github.com/owner/repo``; on hosts whose names ignore case
  (GitHub, GitLab, Bitbucket, Codeberg) the owner and repository in lower case too. A
  local one is its absolute path.
- ``clone_url``: what git clones (``https://github.com/owner/repo``), or the directory
  that is read in place; ``source`` is what a task carries to the worker (the clone URL,
  or the absolute path of a local repository);
- ``is_remote``: cloned (a URL, ``file://`` included) rather than read in place: the one
  test of it (the CLI, the pipeline and ``open_repository`` ask this).

A name is parsed once where it enters (a CLI argument, an HTTP parameter, a queue task
at the worker) and the :class:`RepoRef` itself is passed on from there.

Forms, all naming ``github.com/o/r``: ``github.com/o/r``, ``https://github.com/o/r``,
``https://github.com/o/r.git``, ``https://github.com/o/r/``, ``HTTPS://GitHub.COM/o/r``,
``https:/github.com/o/r`` (a proxy ate a slash), ``http://github.com/o/r`` (the scheme
is not part of the name; the URL policy decides whether http may be cloned) and
``git@github.com:o/r.git`` (cloned over https, like the others: the same clone, and the
URL policy's https-only rule holds). A local path (``.``, ``~/src/x``, ``/abs``) or a
``file://`` URL names its absolute path.

Parsing refuses nothing but the unparseable; what may be *cloned* is the URL policy's
business (:mod:`graph_jobs.url_policy`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from graph_jobs.errors import UnsafeRepositoryURL

MAX_LENGTH = 2048  # the one limit on a repository as typed (the API's path parameter too)
_HOST_FIRST = re.compile(r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+(:\d+)?$")  # a dotted host name
_SCP_LIKE = re.compile(r"^[\w.-]+@([\w.-]+):(?!//)(.+)$")  # git@host:path
_DEFAULT_PORTS = {"https": 443, "http": 80, "ssh": 22, "git": 9418}
# hosts whose owner and repository names are case-insensitive: one lower-case name there
CASE_INSENSITIVE_HOSTS = frozenset({"github.com", "gitlab.com", "bitbucket.org",
                                    "codeberg.org"})


@dataclass(frozen=True, slots=True)
class RepoRef:
    name: str  # the key everywhere (see the module docstring)
    clone_url: str  # what git clones, or the directory read in place
    local: bool  # a local directory or a file:// URL
    scheme: str = ""  # https, http, ssh, file; "" for a directory read in place
    host: str = ""  # lower case, without port
    port: int | None = None
    path: str = ""  # owner/repo (no .git, no slashes around)
    has_credentials: bool = False
    has_query: bool = False  # a ?query or #fragment was typed
    typed: str = ""  # what was typed (stripped): the URL policy's rules read it

    @property
    def is_remote(self) -> bool:
        """Cloned (a URL, ``file://`` included), not a directory read in place."""
        return not self.in_place

    @property
    def source(self) -> str:
        """What a task carries to the worker: the clone URL, or the local path."""
        return self.name if self.local else self.clone_url

    def __str__(self) -> str:
        return self.name

    @property
    def in_place(self) -> bool:
        """A directory read where it is (no clone)."""
        return self.local and self.scheme == ""

    @property
    def legacy_names(self) -> list[str]:
        """Names earlier versions stored this repository under (the CLI kept the URL as
        typed): data under them is re-keyed to ``name`` on the next ingest."""
        if self.local:
            return [f"file://{self.name}"]
        return [f"{s}://{self.name}" for s in ("https", "http")]

    @classmethod
    def parse(cls, raw: str) -> RepoRef:
        if not isinstance(raw, str) or not raw.strip():
            raise UnsafeRepositoryURL("empty repository URL")
        if len(raw) > MAX_LENGTH:
            raise UnsafeRepositoryURL(f"repository URL longer than {MAX_LENGTH} characters")
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
            raise UnsafeRepositoryURL("control characters in repository URL")
        s = raw.strip()
        ref = cls._parse(s)
        return ref if ref.typed else replace(ref, typed=s)

    @classmethod
    def _parse(cls, s: str) -> RepoRef:
        if s.startswith("-"):
            raise UnsafeRepositoryURL(f"repository URL looks like a git option: {s!r}")
        if "::" in s.split("/", 1)[0]:
            raise UnsafeRepositoryURL("remote-helper URLs (transport::address) are refused")
        low = s.lower()
        if low.startswith("file:"):
            rest = re.sub(r"^file:(//(localhost)?)?", "", s, flags=re.I)
            path = _local_path(rest)
            return cls(str(path), f"file://{path}", True, "file")
        s = re.sub(r"^(https?):/(?!/)", r"\1://", s, flags=re.I)
        if "://" in s:
            return cls._from_url(s)
        scp = _SCP_LIKE.match(s)
        if scp and not Path(s).exists():
            host = scp.group(1).lower().rstrip(".")
            path = _fold(host, _clean_path(scp.group(2)))
            # git@host:o/r names host/o/r and is cloned from https://host/o/r, the same
            # clone as every other spelling (the user before the @ is ssh's, not ours)
            return cls(f"{host}/{path}", f"https://{host}/{path}", False, "https", host,
                       None, path, typed=s)
        first = s.split("/", 1)[0]
        if (_HOST_FIRST.match(first) and s.count("/") >= 2 and not Path(s).exists()
                and not s.startswith(("./", "../", "~"))):
            return cls._from_url("https://" + s)
        path = _local_path(s)
        return cls(str(path), str(path), True)

    @classmethod
    def _from_url(cls, s: str) -> RepoRef:
        try:
            parts = urlsplit(s)
            port = parts.port
        except ValueError as exc:
            raise UnsafeRepositoryURL(f"malformed URL: {exc}") from None
        scheme = parts.scheme.lower()
        host = (parts.hostname or "").lower().rstrip(".")
        if not host:
            raise UnsafeRepositoryURL(f"no host in {s!r}")
        if port == _DEFAULT_PORTS.get(scheme):
            port = None
        path = _fold(host, _clean_path(parts.path))
        if not path:
            raise UnsafeRepositoryURL(f"no repository path in {s!r}")
        netloc = host if ":" not in host else f"[{host}]"
        hostport = netloc + (f":{port}" if port else "")
        creds = parts.username is not None or parts.password is not None
        userinfo = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
        clone = f"{scheme}://{userinfo}{hostport}/{path}"
        if parts.query or parts.fragment:
            clone += (f"?{parts.query}" if parts.query else "") + \
                (f"#{parts.fragment}" if parts.fragment else "")
        return cls(f"{hostport}/{path}", clone, False, scheme, host, port, path, creds,
                   bool(parts.query or parts.fragment or "?" in s or "#" in s))


def _clean_path(p: str) -> str:
    p = p.strip("/")
    if p.endswith(".git"):
        p = p[:-4].rstrip("/")
    return p


def _fold(host: str, path: str) -> str:
    """``path`` in lower case where ``host`` ignores case (``CASE_INSENSITIVE_HOSTS``):
    ``github.com/Burst/same`` and ``github.com/burst/same`` are one repository."""
    return path.lower() if host in CASE_INSENSITIVE_HOSTS else path


def repo_name(source: str) -> str:
    """The name ``source`` is stored under (:attr:`RepoRef.name`)."""
    return RepoRef.parse(source).name


def _local_path(s: str) -> Path:
    """``s`` as an absolute local path; ``~user`` of no such user is refused, not a crash."""
    try:
        return Path(s).expanduser().resolve()
    except RuntimeError as exc:  # "Could not determine home directory."
        raise UnsafeRepositoryURL(f"cannot read {s!r} as a local path: {exc}") from None
