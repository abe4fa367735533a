"""A real smart-HTTP git server (``git http-backend`` behind a threaded HTTP server).

Tests clone from it with the same code path as https:// repositories. The ``gate``
holds every request until it is opened, so a test can keep a clone in flight for as
long as it needs (for example, to kill the worker that is cloning). ``headers`` keeps the
headers of every request; with ``challenge``, a request without ``Authorization`` is
answered ``401`` with ``WWW-Authenticate: Basic`` (as a private repository's host does).
With ``tls`` (a certificate and its key, :func:`self_signed`), it serves https, and
``paths`` keeps the path of every request.
"""

from __future__ import annotations

import http.server
import os
import ssl
import subprocess
import threading
from pathlib import Path


def self_signed(directory: Path, host: str) -> tuple[Path, Path]:
    """A certificate for ``host`` (its subjectAltName) and its key; git trusts it when
    ``GIT_SSL_CAINFO`` names the certificate."""
    cert, key = directory / f"{host}.pem", directory / f"{host}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", f"/CN={host}", "-addext", f"subjectAltName=DNS:{host}",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


class GitHTTPServer:
    def __init__(self, project_root: Path, *, challenge: bool = False,
                 tls: tuple[Path, Path] | None = None):
        self.project_root = Path(project_root)
        self.gate = threading.Event()
        self.gate.set()
        self.requests = 0
        self.headers: list[dict[str, str]] = []
        self.paths: list[str] = []
        self.scheme = "https" if tls else "http"
        self.challenge = challenge
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *_a):  # quiet
                pass

            def _serve(self):
                server.requests += 1
                server.headers.append(dict(self.headers.items()))
                server.paths.append(self.path)
                server.gate.wait()
                if server.challenge and not self.headers.get("Authorization"):
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="private"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                path, _, query = self.path.partition("?")
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                env = {
                    **os.environ,
                    "GIT_PROJECT_ROOT": str(server.project_root),
                    "GIT_HTTP_EXPORT_ALL": "1",
                    "REQUEST_METHOD": self.command,
                    "PATH_INFO": path,
                    "QUERY_STRING": query,
                    "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                    "CONTENT_LENGTH": str(length),
                    "REMOTE_ADDR": self.client_address[0],
                }
                if self.headers.get("Git-Protocol"):
                    env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
                if self.headers.get("Content-Encoding"):
                    env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
                out = subprocess.run(["git", "http-backend"], input=body, env=env,
                                     capture_output=True, check=False).stdout
                head, _, payload = out.partition(b"\r\n\r\n")
                status, headers = 200, []
                for line in head.decode("latin-1").split("\r\n"):
                    if not line:
                        continue
                    name, _, value = line.partition(":")
                    if name.lower() == "status":
                        status = int(value.strip().split()[0])
                    else:
                        headers.append((name, value.strip()))
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = _serve
            do_POST = _serve

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*map(str, tls))
            self._httpd.socket = ctx.wrap_socket(self._httpd.socket, server_side=True)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def url(self, name: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/{name}"

    def publish(self, repo: Path, name: str) -> str:
        """Make a bare copy of the work tree ``repo`` servable as ``name``; return its URL."""
        subprocess.run(["git", "clone", "-q", "--bare", str(repo),
                        str(self.project_root / name)], check=True)
        return self.url(name)

    def __enter__(self) -> GitHTTPServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.gate.set()
        self._httpd.shutdown()
        self._httpd.server_close()
