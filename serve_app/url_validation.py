"""What the ingress accepts as a repository, and why it refuses the rest (SSRF hardening).

The rules are :mod:`graph_jobs.url_policy`'s, the same the edge worker applies again
at clone time; the name is :class:`graph_jobs.repository_ref.RepoRef`'s, the same the
CLI and the worker use. Accepted: ``github.com/user/repo``, ``https://github.com/user/repo``
(``.git``, a trailing slash, the host in any case) on hosts in
``PHAROS_ALLOWED_GIT_HOSTS``; named ``host/owner/repo`` and cloned from
``https://host/owner/repo``. Refused with a reason: other schemes, option-like input,
credentials, ports, queries and fragments, control characters, over-long input, IP
literals, and any host that is not allowed or that resolves to a loopback, private,
link-local, reserved or cloud-metadata address. With ``PHAROS_ALLOW_LOCAL_REPOS=1``
(never in cloud mode) absolute local paths and ``file://`` URLs of existing directories
are accepted too, for offline use.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from graph_jobs.errors import UnsafeRepositoryURL
from graph_jobs.url_policy import UrlPolicy
from serve_app.errors import InvalidRepoURL

MAX_URL_LENGTH = 512

_getaddrinfo = socket.getaddrinfo  # tests swap in a fixed table (no public DNS there)


@dataclass(frozen=True, slots=True)
class RepoTarget:
    repo_url: str  # the one name (RepoRef.name): host/owner/name, or the absolute path
    display: str
    source: str  # what the worker clones or opens: https://host/owner/name, or the path


def _resolver(*args, **kwargs):
    return _getaddrinfo(*args, **kwargs)


def validate_repo_url(raw: str, *, allowed_hosts: set[str], allow_local: bool = False,
                      resolve: bool = True) -> RepoTarget:
    if isinstance(raw, str) and len(raw) > MAX_URL_LENGTH:
        raise InvalidRepoURL(f"repository URL longer than {MAX_URL_LENGTH} characters")
    policy = UrlPolicy(frozenset(allowed_hosts), allow_local, _resolver)
    try:
        ref = policy.check(raw, resolve=resolve).ref
    except UnsafeRepositoryURL as exc:
        raise InvalidRepoURL(str(exc)) from None
    return RepoTarget(ref.name, ref.name, ref.name if ref.local else ref.clone_url)


__all__ = ["InvalidRepoURL", "RepoTarget", "validate_repo_url"]
