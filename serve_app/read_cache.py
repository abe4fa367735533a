"""Answers of the open read endpoints, kept in memory for ``PHAROS_READ_CACHE_S`` (2 s).

One client made 268 requests/s to ``jobs/history``; at a Redis command or two each, about
10,000 requests spend Upstash's free day (issue 25). Served from here, status and history
cost at most one refresh per window, however many read them: a refresh is loaded by one
caller while the others that missed at the same moment wait for it and share its answer
(single flight), and an error is shared the same way and not kept.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

T = TypeVar("T")


class _Flight:
    __slots__ = ("future", "sharers")

    def __init__(self) -> None:
        self.future: Future = Future()
        self.sharers = 0  # callers waiting for this load besides the one running it


class ReadCache:
    """Values by key, each at most ``ttl_s`` old; thread-safe (FastAPI runs sync routes in
    a thread pool). ``ttl_s`` 0 keeps nothing, but concurrent misses still share a load."""

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic,
                 max_entries: int = 1024) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._values: dict[str, tuple[float, object]] = {}
        self._flights: dict[str, _Flight] = {}
        self.loads = 0  # how many times a loader ran

    def get(self, key: str, load: Callable[[], T]) -> T:
        with self._lock:
            hit = self._values.get(key)
            if hit is not None and self._clock() < hit[0]:
                return hit[1]  # type: ignore[return-value]
            flight = self._flights.get(key)
            leader = flight is None
            if leader:
                flight = self._flights[key] = _Flight()
            else:
                flight.sharers += 1
        if not leader:
            return flight.future.result()
        try:
            self.loads += 1
            value = load()
        except BaseException as exc:
            with self._lock:
                del self._flights[key]
            flight.future.set_exception(exc)
            raise
        with self._lock:
            if self.ttl_s > 0:
                self._values[key] = (self._clock() + self.ttl_s, value)
                if len(self._values) > self.max_entries:  # keys a client chose: bounded
                    now = self._clock()
                    for k in [k for k, (until, _) in self._values.items() if until <= now]:
                        del self._values[k]
                    while len(self._values) > self.max_entries:
                        del self._values[next(iter(self._values))]
            del self._flights[key]
        flight.future.set_result(value)
        return value

    def sharers(self, key: str) -> int:
        """Callers now waiting on ``key``'s load in progress (0 when none runs)."""
        with self._lock:
            flight = self._flights.get(key)
            return flight.sharers if flight is not None else 0

    def forget(self, *keys: str) -> None:
        """Drop ``keys`` (all with none): this process just changed what they hold."""
        with self._lock:
            if keys:
                for k in keys:
                    self._values.pop(k, None)
            else:
                self._values.clear()
