"""An http proxy that answers every ``CONNECT host:port`` by tunnelling to one fixed
address, keeping the targets it was asked for.

With ``https_proxy`` pointing at it (git and curl honour the variable), a clone of
``https://github.com/o/r`` reaches a local https git server
(:class:`tests.support.git_http.GitHTTPServer` with ``tls``) while git still checks the
certificate of ``github.com``: what the clone asked for is in ``targets``, what it
fetched in the server's ``paths``. No name is resolved and nothing leaves the machine.
"""

from __future__ import annotations

import select
import socket
import socketserver
import threading


class ConnectProxy:
    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.targets: list[str] = []
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = self.request.recv(4096)
                    if not chunk:
                        return
                    head += chunk
                method, target, *_ = head.split(b"\r\n", 1)[0].decode("latin-1").split()
                if method != "CONNECT":
                    self.request.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
                    return
                outer.targets.append(target)
                with socket.create_connection(outer.upstream, timeout=30) as up:
                    self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    _pipe(self.request, up)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> ConnectProxy:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._server.shutdown()
        self._server.server_close()


def _pipe(a: socket.socket, b: socket.socket) -> None:
    socks = [a, b]
    while True:
        ready, _, _ = select.select(socks, [], [], 30)
        if not ready:
            return
        for s in ready:
            data = s.recv(65536)
            if not data:
                return
            (b if s is a else a).sendall(data)
