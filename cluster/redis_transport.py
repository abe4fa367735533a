"""Two ways to reach Redis with one behaviour: redis-py over TCP, upstash-redis over REST.

Everything the queue does is a Lua script run with ``EVAL`` (one command each, atomic on
the server), so both transports only need ``eval``; the TCP one also blocks on
``BLMOVE`` instead of polling. Connection problems surface as :class:`QueueUnavailable`.
"""

from __future__ import annotations

from typing import Protocol

from cluster.errors import NO_QUEUE, QueueUnavailable
from cluster.queue_settings import QueueSettings


class Transport(Protocol):
    name: str
    can_block: bool

    def eval(self, script: str, keys: list[str], args: list) -> object: ...

    def blmove(self, src: str, dst: str, timeout_s: float) -> str | None: ...

    def ping(self) -> None: ...


class RedisTransport:
    """``redis://`` / ``rediss://`` (Upstash's TCP endpoint, or any Redis)."""

    name = "redis"
    can_block = True

    def __init__(self, url: str, *, socket_timeout: float = 10.0) -> None:
        import redis

        self._errors = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                        redis.exceptions.ResponseError, OSError)
        self.url = url
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # No health-check PING (it doubled an idle claimer's commands): a connection the
        # server or a NAT closed is found by the next command, which reconnects once.
        self.client = redis.Redis.from_url(
            url, decode_responses=True, socket_timeout=socket_timeout,
            socket_connect_timeout=5, health_check_interval=0,
            retry=Retry(NoBackoff(), 1), retry_on_error=[redis.exceptions.ConnectionError])
        self._socket_timeout = socket_timeout
        self._scripts: dict[str, object] = {}
        self._blocking = None
        self._blocking_timeout = 0.0

    def eval(self, script: str, keys: list[str], args: list) -> object:
        try:
            fn = self._scripts.get(script)
            if fn is None:
                fn = self._scripts[script] = self.client.register_script(script)
            return fn(keys=keys, args=args)  # EVALSHA, EVAL once on a cache miss
        except self._errors as exc:
            raise QueueUnavailable(f"Redis at {_safe(self.url)}: {exc}") from exc

    def blmove(self, src: str, dst: str, timeout_s: float) -> str | None:
        import redis

        try:
            # the socket timeout must outlast the server-side block: a client of its own
            if self._blocking is None or self._blocking_timeout < timeout_s + 10:
                self._blocking_timeout = timeout_s + 15
                self._blocking = redis.Redis.from_url(
                    self.url, decode_responses=True, socket_timeout=self._blocking_timeout,
                    socket_connect_timeout=5)
            return self._blocking.execute_command("BLMOVE", src, dst, "LEFT", "RIGHT",
                                                  timeout_s)
        except self._errors as exc:
            raise QueueUnavailable(f"Redis at {_safe(self.url)}: {exc}") from exc
        except ValueError as exc:  # its socket closed under it: interrupt()
            raise QueueUnavailable(f"Redis at {_safe(self.url)}: blocking claim "
                                   f"interrupted ({exc})") from exc

    def ping(self) -> None:
        try:
            self.client.ping()
        except self._errors as exc:
            raise QueueUnavailable(f"Redis at {_safe(self.url)}: {exc}") from exc

    def interrupt(self) -> None:
        """End a ``blmove`` blocked in another thread now (it raises QueueUnavailable):
        its connection is shut down. A draining worker does not wait out the block."""
        if self._blocking is not None:
            self._blocking.connection_pool.disconnect(inuse_connections=True)


class UpstashTransport:
    """Upstash's REST API through the upstash-redis client (what the free plan gives)."""

    name = "upstash-rest"
    can_block = False

    def __init__(self, url: str, token: str) -> None:
        from upstash_redis import Redis

        self.url = url
        self.client = Redis(url=url, token=token, rest_retries=0, allow_telemetry=False,
                            read_your_writes=False)

    def eval(self, script: str, keys: list[str], args: list) -> object:
        try:
            return self.client.eval(script, keys=keys, args=[str(a) for a in args])
        except Exception as exc:  # httpx errors, UpstashError, bad JSON from a proxy
            raise QueueUnavailable(f"Upstash REST at {self.url}: {type(exc).__name__}: "
                                   f"{exc}") from exc

    def blmove(self, src: str, dst: str, timeout_s: float) -> str | None:
        raise NotImplementedError("REST cannot block; the worker backs off instead")

    def ping(self) -> None:
        try:
            self.client.ping()
        except Exception as exc:
            raise QueueUnavailable(f"Upstash REST at {self.url}: {type(exc).__name__}: "
                                   f"{exc}") from exc


def _safe(url: str) -> str:
    """The URL without its password."""
    if "@" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return url


def transport_from_settings(settings: QueueSettings) -> Transport:
    """``REDIS_URL`` when set (blocking, fewer commands), else Upstash REST."""
    if settings.redis_url:
        return RedisTransport(settings.redis_url)
    if settings.upstash_redis_rest_url:
        if not settings.upstash_redis_rest_token:
            raise QueueUnavailable("UPSTASH_REDIS_REST_URL is set but UPSTASH_REDIS_REST_TOKEN "
                                   "is not")
        return UpstashTransport(settings.upstash_redis_rest_url,
                                settings.upstash_redis_rest_token)
    raise QueueUnavailable(f"{NO_QUEUE}: set REDIS_URL or UPSTASH_REDIS_REST_URL")


__all__ = ["QueueUnavailable", "RedisTransport", "Transport", "UpstashTransport",
           "transport_from_settings"]
