"""What flows see of the IC card reader: a small interface and its value types.

The real driver (:class:`devices.card_reader.PcscCardReader`, pyscard through pcscd) implements
:class:`CardReader`; in tests and on the bench a :class:`devices.sim.card_emulator.CardEmulator`
sits behind vsmartcard's virtual reader, so the same driver talks to it through a real pcscd.

Every :class:`CardError` means "this command's outcome on the card is unknown or nil": a flow
that was writing re-reads the card at the next tap (see the year-card invariants in DESIGN.md).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from devices.health import Health

SW_SUCCESS = 0x9000
MAX_APDU_BYTES = 65544  # extended length: 4 header + 3 Lc + 65535 data + 2 Le


class CardEventKind(str, enum.Enum):
    INSERTED = "inserted"
    REMOVED = "removed"


@dataclass(frozen=True)
class CardEvent:
    kind: CardEventKind
    reader: str
    atr: bytes  # the card's answer to reset; empty for REMOVED

    @property
    def inserted(self) -> bool:
        return self.kind is CardEventKind.INSERTED


@dataclass(frozen=True)
class ApduResponse:
    data: bytes
    sw1: int
    sw2: int

    @property
    def sw(self) -> int:
        """The status word as one number, e.g. 0x9000."""
        return (self.sw1 << 8) | self.sw2

    @property
    def ok(self) -> bool:
        return self.sw == SW_SUCCESS

    @classmethod
    def from_bytes(cls, raw: bytes) -> ApduResponse:
        """Split a response APDU; raises CardUnresponsive when it has no status word."""
        if len(raw) < 2:
            raise CardUnresponsive(f"the card answered {len(raw)} byte(s), without a status word")
        return cls(bytes(raw[:-2]), raw[-2], raw[-1])

    def __str__(self) -> str:
        return f"SW {self.sw:04X}, {len(self.data)} data byte(s)"


class CardError(Exception):
    """A card command did not complete. The message is for logs and staff, not for patrons."""


class NoCard(CardError):
    """No card is in the reader (nothing was sent)."""


class CardRemoved(CardError):
    """The card left the reader (or was reset) during the command: its outcome is unknown."""


class CardUnresponsive(CardError):
    """The card did not answer in time, or answered nonsense."""


class ReaderGone(CardError):
    """The reader is not there (unplugged, never found) or cannot be reached."""


class PcscUnavailable(ReaderGone):
    """The PC/SC service (pcscd) is not running or was restarted under the command."""


def check_transmit_args(apdu: bytes, timeout_s: float) -> None:
    """The argument checks every reader's ``transmit`` makes before it touches the card."""
    if not isinstance(apdu, bytes | bytearray) or not 4 <= len(apdu) <= MAX_APDU_BYTES:
        raise ValueError("a command APDU is 4 to 65544 bytes")
    if timeout_s <= 0:
        raise ValueError("timeout_s must be positive")


# Called from the reader's monitoring thread: the kiosk moves it onto its main loop.
CardListener = Callable[[CardEvent], None]


class CardReader(Protocol):
    def start(self, listener: CardListener) -> None:
        """Begin watching for cards; an inserted event follows at once if a card is already in."""
        ...

    def stop(self) -> None:
        """Stop watching and release the card; returns within about a second."""
        ...

    def transmit(self, apdu: bytes, timeout_s: float = 3.0) -> ApduResponse:
        """Send one command APDU to the card in the reader; raises a CardError subclass."""
        ...

    def health(self) -> Health:
        """OK, or WARNING/CRITICAL with a reason: pcscd_down, no_reader, reader_gone, card_error, ..."""
        ...

    def readers(self) -> list[str]:
        """Names of all readers pcscd knows now (empty when none or pcscd is down)."""
        ...

    @property
    def atr(self) -> bytes | None:
        """The ATR of the card in the reader, None when there is none."""
        ...
