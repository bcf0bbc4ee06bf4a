"""A stand-in on the server's port when the server cannot run: /health answers 200 (the replica is
alive and says why), /ready and everything else 503 {"status": "failed", "reason": ...}, as the
server's own /ready does when loading fails. Standard library only."""

from __future__ import annotations

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import log


def serve(reason: str) -> None:
    log("not ready: " + reason)
    version = os.environ.get("AITK_VERSION")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if self.path.split("?", 1)[0] == "/health":
                self._answer(200, {"status": "ok", "version": version})
            else:
                self._answer(503, {"status": "failed", "reason": reason, "version": version})

        do_POST = do_GET  # noqa: N815

        def _answer(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:  # probes every few seconds would flood the log
            pass

    host = os.environ.get("AITK_HOST", "0.0.0.0")  # noqa: S104 (the container listens on every interface)
    with ThreadingHTTPServer((host, int(os.environ.get("PORT", "7860"))), Handler) as server:
        server.serve_forever()
