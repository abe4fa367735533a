"""A per-client rate limit on every route: ``429`` with ``Retry-After`` (issue 25).

A token bucket per client, in this process: it holds ``PHAROS_RATE_BURST`` requests and
refills at ``PHAROS_RATE_LIMIT`` per second (0 turns the limit off). The buckets are an
LRU of at most ``PHAROS_RATE_LIMIT_CLIENTS`` clients, so memory stays bounded whatever
addresses arrive (a client pushed out comes back with a full bucket).

Who the client is: the peer address of the connection, an IPv6 one by its /64 (one
host's whole block is one client). Behind a reverse proxy (Render, a load balancer)
every peer is the proxy, so name the header that proxy writes the client's address into
with ``PHAROS_TRUSTED_PROXY`` (``X-Forwarded-For``, ``CF-Connecting-IP``, ...). For a list
header such as ``X-Forwarded-For``, each proxy appends the address it saw; the entry
``PHAROS_TRUSTED_PROXY_HOPS`` from the right (1: the last) is the one the nearest trusted
proxies wrote, and what a client puts to the left of it is ignored, since anyone can send the
header. Leave ``PHAROS_TRUSTED_PROXY`` unset when clients reach the ingress directly:
then a forged header changes nothing.

A pure ASGI middleware on the event loop (no lock needed), as ``RequestContext`` is.
"""

from __future__ import annotations

import ipaddress
import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable


class TokenBuckets:
    def __init__(self, rate: float, burst: int, max_clients: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.max_clients = rate, float(burst), max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()

    def take(self, key: str) -> float:
        """Take one token from ``key``'s bucket: 0.0 when granted, else the seconds until
        one is there."""
        now = self._clock()
        b = self._buckets.get(key)
        if b is None:
            b = self._buckets[key] = [self.burst, now]
            if len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            b[0] = min(self.burst, b[0] + (now - b[1]) * self.rate)
            b[1] = now
        if b[0] >= 1.0:
            b[0] -= 1.0
            return 0.0
        return (1.0 - b[0]) / self.rate

    def __len__(self) -> int:
        return len(self._buckets)


class SharedBudget:
    """One token bucket for everyone, thread-safe: what all clients together may spend on
    something that costs a Redis command whichever client asks (a job looked up by id)."""

    def __init__(self, rate: float, burst: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._buckets = TokenBuckets(rate, burst, 1, clock)
        self._lock = threading.Lock()

    def take(self) -> float:
        with self._lock:
            return self._buckets.take("all")


def client_key(scope, header: bytes = b"", hops: int = 1) -> str:
    """The client's address as this ingress trusts it (see the module docstring)."""
    addr = ""
    if header:
        values = [v for k, v in scope.get("headers") or () if k == header]
        if values:
            entries = [e.strip() for e in b",".join(values).decode("latin-1").split(",")]
            entries = [e for e in entries if e]
            if entries:
                addr = entries[max(0, len(entries) - hops)]
    if not addr:
        client = scope.get("client")
        addr = client[0] if client else ""
    try:
        ip = ipaddress.ip_address(addr.strip("[]"))
    except ValueError:
        return addr[:64]  # not an address (a test client's name, a garbled header)
    if ip.version == 6 and not ip.ipv4_mapped:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip.ipv4_mapped or ip) if ip.version == 6 else str(ip)


class RateLimit:
    def __init__(self, app, rate: float, burst: int, max_clients: int, header: str = "",
                 hops: int = 1) -> None:
        self.app = app
        self.header, self.hops = header.lower().encode("latin-1"), hops
        self.buckets = TokenBuckets(rate, burst, max_clients) if rate > 0 else None

    async def __call__(self, scope, receive, send):
        if self.buckets is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wait = self.buckets.take(client_key(scope, self.header, self.hops))
        if wait <= 0.0:
            await self.app(scope, receive, send)
            return
        body = json.dumps({"detail": "too many requests from this client: try again in "
                                     f"{math.ceil(wait)} s"}).encode()
        await send({"type": "http.response.start", "status": 429,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"retry-after", str(max(1, math.ceil(wait))).encode())]})
        await send({"type": "http.response.body", "body": body})
