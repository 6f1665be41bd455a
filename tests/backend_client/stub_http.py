"""A tiny scripted HTTP server on loopback for unit tests of the client and the proxy.

Each request takes the next scripted step (the last one repeats): an answer, a dropped
connection, or a delay before answering.  Every request is recorded.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Step:
    status: int = 200
    body: bytes = b"{}"
    content_type: str = "application/json"
    drop: bool = False  # close the connection without answering
    delay_s: float = 0.0  # wait before answering


def json_step(status: int, document: Any) -> Step:
    return Step(status=status, body=json.dumps(document).encode())


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class StubServer:
    steps: list[Step] = field(default_factory=lambda: [Step()])
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 10

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length) if length else b""
                step = stub._next(Seen(self.command, self.path, dict(self.headers.items()), body))
                if step.delay_s:
                    time.sleep(step.delay_s)
                if step.drop:
                    self.close_connection = True
                    return
                self.send_response_only(step.status)
                self.send_header("Content-Type", step.content_type)
                self.send_header("Content-Length", str(len(step.body)))
                self.end_headers()
                self.wfile.write(step.body)

            do_GET = do_POST = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def _next(self, seen: Seen) -> Step:
        with self._lock:
            self.seen.append(seen)
            return self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]

    def script(self, *steps: Step) -> None:
        with self._lock:
            self.steps = list(steps)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
