"""What the ingress accepts as a repository, and why it refuses the rest (SSRF hardening).

Accepted: ``github.com/user/repo``, ``https://github.com/user/repo`` and ``.git``, on
hosts in ``PHAROS_ALLOWED_GIT_HOSTS``; the repository's name everywhere is
``host/owner/repo`` (as the old API showed it), cloned from ``https://host/owner/repo``. Refused with a reason: other schemes (``file``, ``ssh``, ``git``,
``http``, ``ext::``), option-like input (``-...``), credentials, ports, queries and
fragments, control characters, over-long input, IP literals, and any host that is not
allowed or that resolves to a loopback, private, link-local, reserved or cloud-metadata
address. With ``PHAROS_ALLOW_LOCAL_REPOS=1`` (never in cloud mode) absolute local paths
and ``file://`` URLs of existing directories are accepted too, for offline use.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

MAX_URL_LENGTH = 512
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
METADATA_HOSTS = {"metadata.google.internal", "metadata", "instance-data",
                  "metadata.azure.internal"}


_getaddrinfo = socket.getaddrinfo  # tests swap in a fixed table (no public DNS there)


class InvalidRepoURL(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class RepoTarget:
    repo_url: str  # the key everywhere (queue, history, Qdrant): host/owner/name, as the
    #                old API printed it; the absolute path in local mode
    display: str
    source: str  # what the worker clones or opens: https://host/owner/name, or the path


def _check_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, host: str) -> None:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if (ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_multicast
            or ip.is_reserved or ip.is_unspecified or not ip.is_global):
        raise InvalidRepoURL(f"host {host!r} resolves to a non-public address ({ip})")


def resolve_public(host: str, timeout_s: float = 3.0) -> None:
    """Every address the host resolves to must be public."""
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout_s)
    try:
        infos = _getaddrinfo(host, 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, OSError) as exc:
        raise InvalidRepoURL(f"host {host!r} does not resolve ({exc})") from None
    finally:
        socket.setdefaulttimeout(old)
    for info in infos:
        _check_ip(ipaddress.ip_address(info[4][0].split("%")[0]), host)


def validate_repo_url(raw: str, *, allowed_hosts: set[str], allow_local: bool = False,
                      resolve: bool = True) -> RepoTarget:
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidRepoURL("empty repository URL")
    if len(raw) > MAX_URL_LENGTH:
        raise InvalidRepoURL(f"repository URL longer than {MAX_URL_LENGTH} characters")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
        raise InvalidRepoURL("control characters in repository URL")
    s = raw.strip()
    if s.startswith("-"):
        raise InvalidRepoURL("repository URL may not start with '-' (option injection)")
    if "::" in s.split("/", 1)[0] or s.lower().startswith("ext::"):
        raise InvalidRepoURL("git transport helpers (ext::, fd::) are refused")
    if allow_local:
        local = _local_target(s)
        if local is not None:
            return local
    # proxies and clients collapse '//' in paths: https:/github.com/... → https://github.com/...
    s = re.sub(r"^(https?):/(?!/)", r"\1://", s, flags=re.I)
    if "://" not in s:
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", s):
            raise InvalidRepoURL(f"unsupported URL form {s.split(':', 1)[0]!r}: use https://")
        s = "https://" + s
    try:
        parts = urlsplit(s)
        port = parts.port
    except ValueError as exc:
        raise InvalidRepoURL(f"malformed URL: {exc}") from None
    if parts.scheme.lower() != "https":
        raise InvalidRepoURL(f"scheme {parts.scheme!r} refused: only https:// Git hosts")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise InvalidRepoURL("credentials in the URL are refused")
    if port not in (None, 443):
        raise InvalidRepoURL("explicit ports are refused")
    if parts.query or parts.fragment or "?" in s or "#" in s:
        raise InvalidRepoURL("query strings and fragments are refused")
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        raise InvalidRepoURL("no host in URL")
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        ip = None
    if ip is not None:
        _check_ip(ip, host)
        raise InvalidRepoURL("IP-address hosts are refused: use the Git host's name")
    if host in METADATA_HOSTS or host.endswith(".internal") or host == "localhost" \
            or host.endswith(".localhost"):
        raise InvalidRepoURL(f"host {host!r} is internal")
    if host not in allowed_hosts:
        raise InvalidRepoURL(f"host {host!r} is not an allowed Git host "
                             f"(allowed: {', '.join(sorted(allowed_hosts))})")
    path = parts.path.strip("/")
    if path.endswith(".git"):
        path = path[:-4]
    segs = path.split("/")
    if len(segs) != 2 or not all(_SEGMENT.match(x) for x in segs) or ".." in path:
        raise InvalidRepoURL("expected https://host/owner/repo")
    if resolve:
        resolve_public(host)
    name = f"{host}/{segs[0]}/{segs[1]}"
    return RepoTarget(name, name, f"https://{name}")


def _local_target(s: str) -> RepoTarget | None:
    if s.startswith("file://"):
        p = Path(s[len("file://"):])
    elif s.startswith("/"):
        p = Path(s)
    else:
        return None
    if not p.is_absolute() or not p.is_dir():
        raise InvalidRepoURL(f"local repository {str(p)!r} is not a directory")
    p = p.resolve()
    return RepoTarget(str(p), str(p), str(p))
