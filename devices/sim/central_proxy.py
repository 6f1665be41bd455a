"""A fault-injecting HTTP proxy that sits in front of the real central.

Tests (and a technician on a bench) put it between the kiosk and the central to see how
the kiosk behaves when the network or the central misbehaves: the central down, slow,
answering 5xx or garbage, or a connection dropped before or after the central got the
request.  It listens on loopback only.

Scripting from Python::

    proxy = CentralProxy(central_url).start()
    proxy.add_fault(Fault(FaultKind.DROP_AFTER_UPSTREAM, count=1, path=r"/claims$"))
    proxy.set_down(True)
    ...
    proxy.stop()

From a shell: ``python -m devices.sim.central_proxy --upstream URL --port N [--fault SPEC]``;
while it runs, ``POST /_proxy/faults`` (a JSON fault), ``POST /_proxy/clear``,
``POST /_proxy/down`` (``{"seconds": S}``: refuse connections for S seconds) and
``GET /_proxy/status`` on the proxy itself change and show the faults.
"""

from __future__ import annotations

import argparse
import enum
import http.client
import ipaddress
import json
import logging
import re
import signal
import socket
import struct
import sys
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

CONTROL_PREFIX = "/_proxy/"
# Headers that describe one hop, never forwarded (RFC 9110 section 7.6.1).
_HOP_HEADERS = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
    "te", "trailer", "transfer-encoding", "upgrade", "host", "content-length",
})
_MAX_REQUEST_BYTES = 1 << 20
_HTML_PAGE = (
    b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    b"<body><h1>Bad Gateway</h1><p>The upstream server is unavailable.</p></body></html>"
)


class FaultKind(enum.StrEnum):
    DELAY = "delay"  # wait delay_s, then pass through
    ERROR_5XX = "error_5xx"  # answer `status` (default 503) without asking the central
    TRUNCATED_JSON = "truncated_json"  # the central's answer cut in half (length consistent)
    HTML_PAGE = "html_page"  # an HTML error page instead of the central's answer
    WRONG_SHAPE = "wrong_shape"  # valid JSON that is not the expected model
    DROP_BEFORE_UPSTREAM = "drop_before_upstream"  # read the request, close without forwarding
    DROP_AFTER_UPSTREAM = "drop_after_upstream"  # forward, then close without answering
    RESET = "reset"  # reset the connection as soon as the request arrives


@dataclass
class Fault:
    """One scripted misbehaviour for matching requests.

    count: how many matching requests it applies to (None: until cleared).
    path: a regular expression searched in the request path (None: every path).
    method: only requests with this method (None: any).
    status: the HTTP status for ERROR_5XX, HTML_PAGE, WRONG_SHAPE (default per kind).
    """

    kind: FaultKind
    count: int | None = 1
    path: str | None = None
    method: str | None = None
    delay_s: float = 0.0
    status: int | None = None

    def __post_init__(self) -> None:
        self.kind = FaultKind(self.kind)
        if self.count is not None and self.count < 1:
            raise ValueError("a fault's count must be at least 1")
        if self.delay_s < 0:
            raise ValueError("delay_s must not be negative")
        if self.path is not None:
            try:
                re.compile(self.path)  # fail now, not on the first request
            except re.error as exc:
                raise ValueError(f"fault path {self.path!r} is not a regular expression: {exc}") from None

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path is None or re.search(self.path, path) is not None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        allowed = {"kind", "count", "path", "method", "delay_s", "status"}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        return cls(**data)

    @classmethod
    def parse(cls, spec: str) -> Fault:
        """Parse KIND[:COUNT][@PATH_REGEX][,delay=S][,status=N][,method=M]; COUNT '*' = forever."""
        head, *options = spec.split(",")
        path = None
        if "@" in head:
            head, path = head.split("@", 1)
        kind_text, _, count_text = head.partition(":")
        count: int | None = 1
        if count_text == "*":
            count = None
        elif count_text:
            count = int(count_text)
        fields: dict[str, Any] = {"kind": kind_text.strip(), "count": count, "path": path}
        for option in options:
            name, _, value = option.partition("=")
            if name == "delay":
                fields["delay_s"] = float(value)
            elif name == "status":
                fields["status"] = int(value)
            elif name == "method":
                fields["method"] = value
            else:
                raise ValueError(f"unknown fault option {name!r}")
        return cls.from_dict(fields)


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    fault: FaultKind | None
    reached_upstream: bool


class _Server(ThreadingHTTPServer):
    # Handler threads are joined on close, so stop() leaves nothing running.
    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], proxy: CentralProxy) -> None:
        self.proxy = proxy
        super().__init__(address, _Handler)

    # Tracked from accept to close (not from the handler thread) so stop() sees every one.
    def process_request(self, request: Any, client_address: Any) -> None:
        self.proxy._track(request, True)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.proxy._track(request, False)
        super().shutdown_request(request)


class CentralProxy:
    def __init__(
        self,
        upstream: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        upstream_timeout_s: float = 10.0,
    ) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError("the proxy listens on loopback only")
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream must be an http:// URL, not {upstream!r}")
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port or 80
        self.upstream_prefix = parts.path.rstrip("/")
        self.upstream_timeout_s = upstream_timeout_s
        self.host = host
        self.port = port
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._seen: list[SeenRequest] = []
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()  # wakes delays when the proxy goes down or stops
        self._final_stop = threading.Event()  # ends a down_for() early
        self._life_lock = threading.RLock()  # start, stop and down/up from several threads
        self._cycler: threading.Thread | None = None

    # -- life ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def is_down(self) -> bool:
        return self._server is None

    def start(self) -> CentralProxy:
        with self._life_lock:
            self._final_stop.clear()
            self._bring_up()
        return self

    def stop(self) -> None:
        """Close the listener and every open connection, and join all threads."""
        self._final_stop.set()
        cycler, self._cycler = self._cycler, None
        if cycler is not None and cycler is not threading.current_thread():
            cycler.join()
        with self._life_lock:
            self._take_down()

    def set_down(self, down: bool) -> None:
        """Down: nothing listens (connection refused) and open connections are reset."""
        with self._life_lock:
            if down:
                self._take_down()
            else:
                self._bring_up()

    def down_for(self, seconds: float) -> None:
        """Go down now and come back up on the same port after `seconds` (unless stopped first)."""

        def cycle() -> None:
            self.set_down(True)
            if not self._final_stop.wait(seconds):
                self.set_down(False)

        # Its own thread: the control API calls this from a handler that going down must join.
        self._cycler = threading.Thread(target=cycle, name="central-proxy-down", daemon=True)
        self._cycler.start()

    def _bring_up(self) -> None:
        if self._server is not None:
            return
        self._closing.clear()
        server = _Server((self.host, self.port), self)
        self.port = server.server_address[1]  # keep the port so coming back up reuses it
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="central-proxy", daemon=True
        )
        self._thread.start()
        log.info("central proxy on %s -> %s:%d", self.url, self.upstream_host, self.upstream_port)

    def _take_down(self) -> None:
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        if server is None:
            return
        self._closing.set()
        server.shutdown()
        self._close_connections()
        server.server_close()  # joins the handler threads
        if thread is not None:
            thread.join()

    def __enter__(self) -> CentralProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- scripting -----------------------------------------------------------------------

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def fail_next(self, kind: FaultKind | str, count: int | None = 1, path: str | None = None, **options: Any) -> None:
        self.add_fault(Fault(kind=FaultKind(kind), count=count, path=path, **options))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def faults(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    @property
    def seen(self) -> list[SeenRequest]:
        """Every proxied request so far, with the fault applied to it."""
        with self._lock:
            return list(self._seen)

    def upstream_hits(self, path: str | None = None) -> int:
        """How many requests (whose path matches the regex) reached the central."""
        return sum(
            1 for r in self.seen if r.reached_upstream and (path is None or re.search(path, r.path))
        )

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    if fault.count is not None:
                        fault.count -= 1
                        if fault.count == 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def _record(self, method: str, path: str, fault: Fault | None, reached: bool) -> None:
        with self._lock:
            self._seen.append(SeenRequest(method, path, fault.kind if fault else None, reached))

    def _track(self, connection: socket.socket, open_: bool) -> None:
        with self._lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def _close_connections(self) -> None:
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            _reset(connection)

    def _wait(self, seconds: float) -> bool:
        """Sleep, unless the proxy is stopping. True if the sleep ran its course."""
        return not self._closing.wait(seconds)

    def _forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(
            self.upstream_host, self.upstream_port, timeout=self.upstream_timeout_s
        )
        try:
            connection.request(method, self.upstream_prefix + path, body=body or None, headers=headers)
            response = connection.getresponse()
            content = response.read()
            return response.status, response.getheaders(), content
        finally:
            connection.close()


def _reset(connection: socket.socket) -> None:
    """Abort a TCP connection with RST, as a crashed server or a cut cable would."""
    try:
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as between the kiosk and a real central
    timeout = 30  # an idle client connection does not hold a thread forever
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("proxy %s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def _read_body(self) -> bytes | None:
        length_text = self.headers.get("Content-Length", "0")
        try:
            length = int(length_text)
        except ValueError:
            return None
        if not 0 <= length <= _MAX_REQUEST_BYTES:
            return None
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        proxy = self.server.proxy
        body = self._read_body()
        if body is None:
            self._answer(400, b"bad request length", "text/plain")
            self.close_connection = True
            return
        if self.path.startswith(CONTROL_PREFIX):
            self._control(body)
            return
        fault = proxy._take_fault(self.command, self.path)
        kind = fault.kind if fault else None
        if kind in (FaultKind.RESET, FaultKind.DROP_BEFORE_UPSTREAM):
            proxy._record(self.command, self.path, fault, reached=False)
            self._drop()
            return
        if kind is FaultKind.ERROR_5XX:
            proxy._record(self.command, self.path, fault, reached=False)
            status = fault.status if fault and fault.status else 503
            self._answer(status, b'{"detail":"injected failure"}', "application/json")
            return
        if kind is FaultKind.DELAY and fault is not None and not proxy._wait(fault.delay_s):
            self._drop()
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
        headers["Host"] = f"{proxy.upstream_host}:{proxy.upstream_port}"
        try:
            status, upstream_headers, content = proxy._forward(self.command, self.path, headers, body)
        except (OSError, http.client.HTTPException) as exc:
            proxy._record(self.command, self.path, fault, reached=False)
            log.warning("proxy: central unreachable for %s %s: %s", self.command, self.path, exc)
            self._answer(502, _HTML_PAGE, "text/html")
            return
        proxy._record(self.command, self.path, fault, reached=True)
        content_type = next((v for k, v in upstream_headers if k.lower() == "content-type"), "")
        if kind is FaultKind.DROP_AFTER_UPSTREAM:
            self._drop()
        elif kind is FaultKind.TRUNCATED_JSON:
            self._answer(status, content[: max(1, len(content) // 2)], content_type)
        elif kind is FaultKind.HTML_PAGE:
            self._answer(fault.status if fault and fault.status else 200, _HTML_PAGE, "text/html")
        elif kind is FaultKind.WRONG_SHAPE:
            wrong = json.dumps({"status": "ok", "items": [1, 2, 3]}).encode()
            self._answer(fault.status if fault and fault.status else status, wrong, "application/json")
        else:
            passed = [(k, v) for k, v in upstream_headers if k.lower() not in _HOP_HEADERS]
            self._answer(status, content, content_type, passed)

    def _drop(self) -> None:
        self.close_connection = True
        _reset(self.connection)

    def _answer(
        self, status: int, body: bytes, content_type: str, headers: list[tuple[str, str]] | None = None
    ) -> None:
        try:
            self.send_response_only(status)
            for name, value in headers or []:
                if name.lower() not in ("content-type", "date", "server"):
                    self.send_header(name, value)
            if content_type:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True  # the client went away; nothing to tell it

    def _control(self, body: bytes) -> None:
        proxy = self.server.proxy
        action = self.path[len(CONTROL_PREFIX):].split("?", 1)[0]
        try:
            if self.command == "POST" and action == "faults":
                data = json.loads(body or b"{}")
                if not isinstance(data, dict):
                    raise ValueError("a fault is a JSON object")
                proxy.add_fault(Fault.from_dict(data))
            elif self.command == "POST" and action == "clear":
                proxy.clear()
            elif self.command == "POST" and action == "down":
                data = json.loads(body or b"{}")
                seconds = float(data.get("seconds", 0)) if isinstance(data, dict) else -1.0
                if not 0 < seconds <= 3600:
                    raise ValueError("down needs 0 < seconds <= 3600")
                self._answer(200, json.dumps({"down_for_s": seconds}).encode(), "application/json")
                self.close_connection = True
                proxy.down_for(seconds)
                return
            elif not (self.command == "GET" and action == "status"):
                self._answer(404, b'{"error":"unknown control action"}', "application/json")
                return
        except (ValueError, TypeError) as exc:
            self._answer(400, json.dumps({"error": str(exc)}).encode(), "application/json")
            return
        status = {
            "upstream": f"http://{proxy.upstream_host}:{proxy.upstream_port}{proxy.upstream_prefix}",
            "faults": [
                {"kind": f.kind.value, "count": f.count, "path": f.path, "method": f.method,
                 "delay_s": f.delay_s, "status": f.status}
                for f in proxy.faults
            ],
            "requests": len(proxy.seen),
            "upstream_hits": proxy.upstream_hits(),
        }
        self._answer(200, json.dumps(status).encode(), "application/json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devices.sim.central_proxy",
        description="Fault-injecting proxy in front of the central (loopback only).",
    )
    parser.add_argument("--upstream", required=True, help="the central's base URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    parser.add_argument(
        "--fault", action="append", default=[],
        help="KIND[:COUNT|*][@PATH_REGEX][,delay=S][,status=N][,method=M]; kinds: "
        + ", ".join(k.value for k in FaultKind),
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        faults = [Fault.parse(spec) for spec in args.fault]
        proxy = CentralProxy(args.upstream, host=args.host, port=args.port)
        proxy.start()
    except ValueError as exc:
        print(f"central_proxy: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"central_proxy: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    for fault in faults:
        proxy.add_fault(fault)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    print(f"central proxy listening on {proxy.url} -> {args.upstream}", flush=True)
    try:
        while not stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        proxy.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
