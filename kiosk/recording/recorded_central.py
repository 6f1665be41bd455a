"""A replay's central: the client's transport answers from the session's recorded answers."""

from __future__ import annotations

import collections
import io
import json
import math
import threading
from typing import Any

import requests
from requests.adapters import BaseAdapter
from urllib3.exceptions import MaxRetryError, NewConnectionError

from kiosk.clock import VirtualClock
from kiosk.recording.session import Event

REPLAY_CENTRAL_URL = "http://central.replay"



class RecordedCentral(BaseAdapter):
    """A requests transport that answers each (method, path) with its recorded answers in order.

    An answer with ``delay_s`` (a slow central) moves the virtual clock on by that much, or by the
    client's read timeout when it is longer: then the client gives up as it did ("read timeout").
    """

    def __init__(self, events: list[Event], notes: list[str], clock: VirtualClock | None = None) -> None:
        super().__init__()
        self._clock = clock
        self._answers: dict[tuple[str, str], collections.deque[Event]] = collections.defaultdict(collections.deque)
        for event in events:
            self._answers[(str(event.data.get("method", "")).upper(), str(event.data.get("path", "")))].append(event)
        self._notes = notes
        self._lock = threading.Lock()

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None, verify: Any = True,
             cert: Any = None, proxies: Any = None) -> requests.Response:
        url = request.url or ""
        path = url[len(REPLAY_CENTRAL_URL):] if url.startswith(REPLAY_CENTRAL_URL) else url
        method = (request.method or "").upper()
        with self._lock:
            queue = self._answers.get((method, path))
            event = queue.popleft() if queue else None
        if event is None:
            self._notes.append(f"the app sent {method} {path}, which the session has no answer for")
            raise requests.ConnectionError(MaxRetryError(None, url, NewConnectionError(None, "not in the session")))  # type: ignore[arg-type]
        error = event.data.get("error")
        if self._slow(event.data.get("delay_s"), timeout) and not error:
            error = "read timeout"
        if error:
            raise _transport_error(str(error), url)
        response = requests.Response()
        response.status_code = int(event.data.get("status") or 200)
        response.raw = io.BytesIO(_recorded_body(event.data))
        response.headers["Content-Type"] = "application/json"
        response.url = url
        response.request = request
        response.encoding = "utf-8"
        return response

    def close(self) -> None:
        """Nothing to release."""

    def _slow(self, delay: Any, timeout: Any) -> bool:
        """Let the recorded delay pass on the virtual clock; True when it is past the read timeout."""
        if isinstance(delay, bool) or not isinstance(delay, int | float) or delay <= 0:
            return False
        read_timeout = timeout[1] if isinstance(timeout, tuple) else timeout
        limit = float(read_timeout) if isinstance(read_timeout, int | float) else math.inf
        if self._clock is not None:
            self._clock.set_elapsed(self._clock.elapsed + min(float(delay), limit))
        return float(delay) > limit

    def unanswered(self) -> int:
        return sum(len(queue) for queue in self._answers.values())


def _recorded_body(data: dict[str, Any]) -> bytes:
    if data.get("response") is not None:
        return json.dumps(data["response"], ensure_ascii=False).encode()
    if data.get("response_text") is not None:
        return str(data["response_text"]).encode()
    if data.get("response_b64") is not None:
        import base64

        return base64.b64decode(data["response_b64"])
    return b""


def _transport_error(error: str, url: str) -> requests.RequestException:
    """The exception that makes the client see the recorded failure again (see client._describe)."""
    if error == "connection refused":
        return requests.ConnectionError(MaxRetryError(None, url, NewConnectionError(None, error)))  # type: ignore[arg-type]
    if error == "connect timeout":
        return requests.ConnectTimeout(error)
    if error in ("read timeout", "answer too slow"):
        return requests.ReadTimeout(error)
    return requests.ConnectionError(error)
