"""What flows see of the camera and the QR pipeline."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from devices.health import Health


@dataclass(frozen=True)
class DecodedCode:
    text: str  # decoded payload as text, exactly as encoded (no escaping)
    raw: bytes  # the symbol's bytes before character-set decoding
    decoder: str  # "zxing" | "pyzbar" | ...


# Called from the scanner's thread: the kiosk moves it onto its main loop.
CodeListener = Callable[[DecodedCode], None]


class QrScanner(Protocol):
    def start(self, listener: CodeListener) -> None: ...

    def stop(self) -> None: ...

    def health(self) -> Health: ...
