"""A loopback stand-in for the one Qdrant REST call /health makes (no Qdrant server binary
exists on this machine): ``GET /collections`` answers 200 with the right ``api-key``
header, 401 without, 404 for any other path."""

from __future__ import annotations

import http.server
import json
import threading


def _handler(api_key: str):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            if self.headers.get("api-key") != api_key:
                status, body = 401, {"status": {"error": "Unauthorized"}}
            elif self.path != "/collections":
                status, body = 404, {"status": {"error": "Not found"}}
            else:
                status, body = 200, {"result": {"collections": []}, "status": "ok"}
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args):
            pass

    return Handler


class QdrantStub:
    def __init__(self, api_key: str) -> None:
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(api_key))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> QdrantStub:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
