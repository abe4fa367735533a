"""A small server that speaks Upstash's REST protocol in front of a real Redis.

What Upstash's own local proxy (serverless-redis-http) does, enough for the real
``upstash-redis`` client: ``POST /`` with a JSON command array, ``POST /pipeline`` and
``POST /multi-exec`` with arrays of them, ``Authorization: Bearer <token>``, results as
``{"result": ...}`` / ``{"error": ...}``, base64-encoded strings when the client sends
``Upstash-Encoding: base64``.
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import redis


def _encode(value, b64: bool):
    if isinstance(value, list):
        return [_encode(v, b64) for v in value]
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and b64 and value != "OK":
        return base64.b64encode(value.encode()).decode()
    return value


class UpstashGateway:
    def __init__(self, redis_url: str = "redis://127.0.0.1:6379/0", token: str = "test-token",
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.redis = redis.Redis.from_url(redis_url, decode_responses=True)
        self.token = token
        self.requests = 0
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # quiet
                pass

            def _send(self, code: int, body) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):  # noqa: N802
                gateway.requests += 1
                if self.headers.get("Authorization") != f"Bearer {gateway.token}":
                    return self._send(401, {"error": "Unauthorized"})
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                b64 = self.headers.get("Upstash-Encoding") == "base64"
                path = self.path.rstrip("/")
                try:
                    if path in ("/pipeline", "/multi-exec"):
                        pipe = gateway.redis.pipeline(transaction=path == "/multi-exec")
                        for cmd in body:
                            pipe.execute_command(*cmd)
                        out = pipe.execute(raise_on_error=False)
                        return self._send(200, [
                            {"error": str(r)} if isinstance(r, Exception)
                            else {"result": _encode(r, b64)} for r in out])
                    result = gateway.redis.execute_command(*body)
                    return self._send(200, {"result": _encode(result, b64)})
                except redis.exceptions.ConnectionError as exc:
                    return self._send(503, {"error": f"redis unavailable: {exc}"})
                except redis.exceptions.ResponseError as exc:
                    return self._send(400, {"error": str(exc)})

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # many concurrent clients, as Upstash takes them
            daemon_threads = True

        self.server = Server((host, port), Handler)
        self.url = f"http://{host}:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> UpstashGateway:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
