"""What may be cloned: one rule set for every ingress and for the clone (issues 15, 28).

:meth:`UrlPolicy.check` is where a repository's name enters (it parses the string once,
into a :class:`~graph_jobs.repository_ref.RepoRef`) and what runs again right before
the clone (``open_repository`` checks the ``RepoRef`` it is given, resolving and pinning
the host). The ingress and the edge worker use the operator's policy
(:meth:`UrlPolicy.from_settings`); the CLI on the user's own machine uses
:meth:`UrlPolicy.user` (any host, local paths, unpinned). No other module refuses URLs.

The edge machine sits on someone's home or office network and takes tasks from a cloud
queue. A task written straight into Redis, or a host that resolves differently at clone
time, must not make it fetch from the local network. So the worker checks every task
with the same rules as the ingress, at clone time, and pins what it checked:

- https only (``file://`` and local directories only with ``PHAROS_ALLOW_LOCAL_REPOS``);
- hosts in ``PHAROS_ALLOWED_GIT_HOSTS``; no IP-literal hosts, no ``localhost``, no
  ``*.internal`` or cloud-metadata names; no credentials, ports, queries or fragments;
  exactly ``owner/repo``; nothing option-like, no remote helpers (``ext::``);
- the host is resolved once, and every address must be public: loopback, private,
  link-local (169.254.169.254, the metadata service), multicast, unspecified,
  reserved and IPv4-mapped forms of them are refused;
- git gets ``http.curloptResolve=host:443:ADDR`` (it connects to the address that was
  checked, not to a second answer of DNS: no rebinding), ``http.followRedirects=false``
  (a redirect to an internal address is not followed) and ``protocol.allow=never`` with
  only ``https`` (and ``file`` for local repositories) allowed.

A refused URL raises :class:`~graph_jobs.errors.UnsafeRepositoryURL`, which is
permanent: the job fails at once with the reason, no retry.

``PHAROS_ALLOW_LOCAL_REPOS=1`` is a development switch (refused in cloud mode): it also
lets local paths, ``file://`` and plain http to any host (a git server on loopback)
through, unpinned. Never set it on an edge machine that takes tasks from a shared queue.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import dataclass, field
from pathlib import Path

from graph_jobs.errors import UnsafeRepositoryURL
from graph_jobs.repository_ref import RepoRef

_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_HOME = re.compile(r"^(file:(//(localhost)?)?)?~", re.I)  # ~, ~user, file://~user
LOCAL_REFUSED = "local repositories are not enabled (PHAROS_ALLOW_LOCAL_REPOS)"
METADATA_HOSTS = {"metadata.google.internal", "metadata", "instance-data",
                  "metadata.azure.internal"}
Resolver = Callable[..., list]
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _resolver_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="pharos-resolve")
        return _pool


@dataclass(frozen=True, slots=True)
class CheckedSource:
    ref: RepoRef
    git_config: tuple[str, ...] = ()  # "key=value" pairs, passed to git as -c key=value
    addresses: tuple[str, ...] = ()  # what the host resolved to (pinned)


def check_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, host: str) -> None:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if (ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_multicast
            or ip.is_reserved or ip.is_unspecified or not ip.is_global):
        raise UnsafeRepositoryURL(f"host {host!r} resolves to a non-public address ({ip})")


def git_options(host: str, addresses: tuple[str, ...], *, allow_file: bool = False
                ) -> tuple[str, ...]:
    """The ``-c`` settings that make git connect to ``addresses`` only, over https only,
    and not follow redirects."""
    pinned = ",".join(f"[{a}]" if ":" in a else a for a in addresses)
    opts = [f"http.curloptResolve={host}:443:{pinned}"] if addresses else []
    opts += ["http.followRedirects=false", "protocol.allow=never", "protocol.https.allow=always"]
    if allow_file:
        opts.append("protocol.file.allow=always")
    return tuple(opts)


@dataclass(frozen=True)
class UrlPolicy:
    allowed_hosts: frozenset[str]
    allow_local: bool = False
    resolver: Resolver = field(default=socket.getaddrinfo, compare=False)
    resolve_timeout_s: float = 3.0
    user: bool = False  # the user's own machine: relative paths, any http(s) host

    @classmethod
    def for_user(cls) -> UrlPolicy:
        """The CLI's policy: what the user typed on their own machine (a local directory,
        relative or not, or an http(s) URL of any host), cloned unpinned; remote-helper,
        option-like and non-http schemes are refused as everywhere."""
        return cls(frozenset(), allow_local=True, user=True)

    @classmethod
    def from_settings(cls, settings, resolver: Resolver | None = None) -> UrlPolicy:
        hosts = frozenset(h.strip().lower() for h in settings.allowed_git_hosts.split(",")
                          if h.strip())
        return cls(hosts, settings.allow_local_repos, resolver or socket.getaddrinfo)

    def check(self, raw: str | RepoRef, *, resolve: bool = True) -> CheckedSource:
        """Apply the policy to ``raw`` (parsed here when it is a string: where a name
        enters) or to a :class:`RepoRef` parsed before (again, right before the clone);
        with ``resolve``, resolve and pin the host.

        Raises :class:`UnsafeRepositoryURL` with the reason.
        """
        if isinstance(raw, RepoRef):
            ref = raw
        else:
            s = raw.strip() if isinstance(raw, str) else raw
            if not self.allow_local and isinstance(s, str) and _HOME.match(s):
                # refused before ~user is expanded: "no such user" and "not enabled" would
                # otherwise tell anyone which accounts exist on the machine
                raise UnsafeRepositoryURL(LOCAL_REFUSED)
            ref = RepoRef.parse(raw)
        typed = ref.typed or ref.name
        if typed.lower().startswith(("ext::", "fd::")):
            raise UnsafeRepositoryURL("git transport helpers (ext::, fd::) are refused")
        if ref.local:
            if not self.allow_local:
                raise UnsafeRepositoryURL(LOCAL_REFUSED)
            if self.user:  # the CLI says which directory is missing, with close names
                return CheckedSource(ref, git_options("", (), allow_file=True))
            if not typed.lower().startswith("file:") and not typed.startswith("/"):
                raise UnsafeRepositoryURL(f"local repository {typed!r}: give an absolute "
                                          "path")
            if not Path(ref.name).is_dir():
                raise UnsafeRepositoryURL(f"local repository {ref.name!r} is not a directory")
            return CheckedSource(ref, git_options("", (), allow_file=True))
        if self.allow_local and ref.scheme in ("http", "https"):
            return CheckedSource(ref, ())  # the user's machine, or development: unpinned
        self._check_remote(ref)
        if not resolve:
            return CheckedSource(ref, git_options(ref.host, ()))
        addresses = self.resolve_public(ref.host)
        return CheckedSource(ref, git_options(ref.host, addresses), addresses)

    def _check_remote(self, ref: RepoRef) -> None:
        if ref.scheme != "https":
            raise UnsafeRepositoryURL(f"scheme {ref.scheme!r} refused: only https:// Git hosts")
        netloc = ref.typed.split("://", 1)[-1].split("/", 1)[0] if "://" in ref.typed else ""
        if ref.has_credentials or "@" in netloc:
            raise UnsafeRepositoryURL("credentials in the URL are refused")
        if ref.port is not None:
            raise UnsafeRepositoryURL("explicit ports are refused")
        if ref.has_query:
            raise UnsafeRepositoryURL("query strings and fragments are refused")
        host = ref.host
        try:
            ip = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            ip = None
        if ip is not None:
            check_address(ip, host)
            raise UnsafeRepositoryURL("IP-address hosts are refused: use the Git host's name")
        if host in METADATA_HOSTS or host.endswith((".internal", ".localhost")) \
                or host == "localhost":
            raise UnsafeRepositoryURL(f"host {host!r} is internal")
        if host not in self.allowed_hosts:
            raise UnsafeRepositoryURL(f"host {host!r} is not an allowed Git host "
                                      f"(allowed: {', '.join(sorted(self.allowed_hosts))})")
        segs = ref.path.split("/")
        if len(segs) != 2 or not all(_SEGMENT.match(x) for x in segs) or ".." in ref.path:
            raise UnsafeRepositoryURL("expected https://host/owner/repo")

    def resolve_public(self, host: str) -> tuple[str, ...]:
        """Every address ``host`` resolves to, all public; resolved once.

        The lookup runs in a small thread pool and is waited for ``resolve_timeout_s``
        (``getaddrinfo`` takes no timeout; setting the process-wide socket default would
        race with every other socket of the process)."""
        fut = _resolver_pool().submit(self.resolver, host, 443, proto=socket.IPPROTO_TCP)
        try:
            infos = fut.result(timeout=self.resolve_timeout_s)
        except FuturesTimeout:
            raise UnsafeRepositoryURL(f"host {host!r} did not resolve within "
                                      f"{self.resolve_timeout_s:.0f} s") from None
        except (socket.gaierror, OSError) as exc:
            raise UnsafeRepositoryURL(f"host {host!r} does not resolve ({exc})") from None
        addresses = []
        for info in infos:
            addr = info[4][0].split("%")[0]
            check_address(ipaddress.ip_address(addr), host)
            if addr not in addresses:
                addresses.append(addr)
        if not addresses:
            raise UnsafeRepositoryURL(f"host {host!r} does not resolve")
        return tuple(addresses)
