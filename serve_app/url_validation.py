"""What the ingress accepts as a repository, and why it refuses the rest (SSRF hardening).

The rules are :mod:`graph_jobs.url_policy`'s, the same the edge worker applies again
at clone time; the name is :class:`graph_jobs.repository_ref.RepoRef`'s, the same the
CLI and the worker use. Accepted: ``github.com/user/repo``, ``https://github.com/user/repo``
(``.git``, a trailing slash, the host in any case) on hosts in
``PHAROS_ALLOWED_GIT_HOSTS``; named ``host/owner/repo`` and cloned from
``https://host/owner/repo``. Refused with a reason: other schemes, option-like input,
credentials, ports, queries and fragments, control characters, over-long input, IP
literals, and any host that is not allowed or that resolves to a loopback, private,
link-local, reserved or cloud-metadata address. One length limit: ``RepoRef``'s
``MAX_LENGTH``. With ``PHAROS_ALLOW_LOCAL_REPOS=1``
(never in cloud mode) absolute local paths and ``file://`` URLs of existing directories
are accepted too, for offline use.
"""

from __future__ import annotations

import socket

from graph_jobs.errors import UnsafeRepositoryURL
from graph_jobs.repository_ref import MAX_LENGTH, RepoRef
from graph_jobs.url_policy import UrlPolicy
from serve_app.errors import InvalidRepoURL

_getaddrinfo = socket.getaddrinfo  # tests swap in a fixed table (no public DNS there)


def _resolver(*args, **kwargs):
    return _getaddrinfo(*args, **kwargs)


def validate_repo_url(raw: str, *, allowed_hosts: set[str], allow_local: bool = False,
                      resolve: bool = True) -> RepoRef:
    """``raw`` parsed (once: this is where it enters) and held to the URL policy; the
    :class:`RepoRef` goes on to the queue as it is. :class:`InvalidRepoURL` when refused."""
    policy = UrlPolicy(frozenset(allowed_hosts), allow_local, _resolver)
    try:
        return policy.check(raw, resolve=resolve).ref
    except UnsafeRepositoryURL as exc:
        raise InvalidRepoURL(str(exc)) from None


__all__ = ["MAX_LENGTH", "InvalidRepoURL", "validate_repo_url"]
