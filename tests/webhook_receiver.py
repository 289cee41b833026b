"""A local webhook endpoint for alert tests: records every POST (path, content type, JSON body)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self, status: int = 200):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append({"path": self.path, "content_type": self.headers["Content-Type"], "body": json.loads(body)})
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b'{"errcode": 0}')

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float, kind: str | None = None) -> list[dict]:
        """The messages (of ``kind``, if given) once ``count`` of them have arrived (or whatever arrived by ``timeout``)."""
        deadline = time.monotonic() + timeout
        while len(self.of_kind(kind)) < count and time.monotonic() < deadline:
            time.sleep(0.5)
        return self.of_kind(kind)

    def of_kind(self, kind: str | None) -> list[dict]:
        """The messages received so far whose JSON body has ``kind`` (all of them for None)."""
        return [m for m in self.received if kind is None or (isinstance(m.get("body"), dict) and m["body"].get("kind") == kind)]

    def close(self):
        self.server.shutdown()
        self.server.server_close()
