"""A replay's printer: a connection that answers with the session's recorded status replies."""

from __future__ import annotations

import collections
from typing import Any

from devices.printer import DLE_EOT, GS_R_PAPER
from kiosk.recording.session import Event


def _is_status_request(data: bytes) -> bool:
    return (len(data) == 3 and data.startswith(DLE_EOT)) or data == GS_R_PAPER


class _ScriptedDevice:
    timeout: float = 0.0

    def reset_input_buffer(self) -> None:
        """Late answers do not exist here."""


class ScriptedPrinter:
    """Stands where python-escpos's connection is; answers from the session's printer events."""

    def __init__(self, events: list[Event], notes: list[str]) -> None:
        self._connects = collections.deque(e for e in events if e.data.get("op") == "connect")
        self._asks = [e for e in events if e.data.get("op") == "ask"]
        self._jobs = collections.deque(e for e in events if e.data.get("op") == "job")
        self._notes = notes

    def connect(self, _config: Any) -> ScriptedConnection:
        if self._connects:
            error = self._connects.popleft().data.get("error")
            if error:
                raise ConnectionError(str(error))
        return ScriptedConnection(self)

    def answer(self, request: bytes) -> bytes:
        wanted = request.hex()
        for index, event in enumerate(self._asks):
            if event.data.get("request") == wanted:
                del self._asks[index]
                if event.data.get("error") == "timeout" or event.data.get("answer") is None:
                    raise TimeoutError("no answer (as recorded)")
                if event.data.get("error"):
                    raise OSError(str(event.data["error"]))
                return bytes.fromhex(str(event.data["answer"]))
        self._notes.append(f"the printer was asked {request.hex(' ')} more often than recorded")
        raise TimeoutError("no recorded answer")

    def job(self, data: bytes) -> None:
        if not self._jobs:
            self._notes.append(f"the app sent a print job ({len(data)} bytes) the session does not have")
            return
        error = self._jobs.popleft().data.get("error")
        if error:
            raise OSError(str(error))


class ScriptedConnection:
    def __init__(self, printer: ScriptedPrinter) -> None:
        self._printer = printer
        self._request: bytes | None = None
        self.device = _ScriptedDevice()

    def open(self) -> None:
        """Opened by the scripted printer."""

    def _raw(self, data: bytes) -> None:
        if _is_status_request(data):
            self._request = data
        else:
            self._printer.job(data)

    def _read(self) -> bytes:
        request, self._request = self._request, None
        if request is None:
            raise TimeoutError("nothing was asked")
        return self._printer.answer(request)

    def close(self) -> None:
        """Nothing to release."""
