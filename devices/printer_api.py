"""What flows see of the ticket printer: a small interface and its value types.

The real driver (python-escpos over Usb, Serial, Network or File) and the virtual
printer's client both implement :class:`TicketPrinter`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from devices.health import Health, HealthLevel


class PaperLevel(str, enum.Enum):
    OK = "ok"
    NEAR_END = "near_end"
    OUT = "out"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class PrinterStatus:
    """A status reading. ``None`` / UNKNOWN mean "could not tell", never "fine"."""

    online: bool | None
    paper: PaperLevel
    cover_open: bool | None

    @property
    def known(self) -> bool:
        return self.online is not None and self.paper is not PaperLevel.UNKNOWN and self.cover_open is not None

    def health(self) -> Health:
        if self.online is False:
            return Health(HealthLevel.CRITICAL, "printer_offline")
        if self.cover_open:
            return Health(HealthLevel.CRITICAL, "cover_open")
        if self.paper is PaperLevel.OUT:
            return Health(HealthLevel.CRITICAL, "paper_out")
        if not self.known:
            return Health(HealthLevel.WARNING, "status_unknown")
        if self.paper is PaperLevel.NEAR_END:
            return Health(HealthLevel.WARNING, "paper_near_end")
        return Health(HealthLevel.OK)

    @property
    def can_print(self) -> bool:
        return not self.health().critical


UNKNOWN_STATUS = PrinterStatus(online=None, paper=PaperLevel.UNKNOWN, cover_open=None)


@dataclass(frozen=True)
class TicketContent:
    """Everything printed on one entrance ticket."""

    ticket_id: str
    cinema_name: str
    film_title: str
    film_original_title: str | None  # printed only where it differs from the title
    hall_name: str
    show_start: datetime  # local time of the cinema
    row: str
    seat: str
    price_fen: int
    entrance_token: str  # printed as a native QR code
    order_ref: str  # short masked reference for staff, never a full pickup code
    sequence: str  # e.g. "2/4"


class PrintOutcome(str, enum.Enum):
    PRINTED = "printed"  # bytes sent, cut, and the printer then reported a healthy status
    NOT_SENT = "not_sent"  # nothing reached the printer: safe to release
    IN_DOUBT = "in_doubt"  # bytes (maybe partly) sent, no confirming status


@dataclass(frozen=True)
class PrintResult:
    outcome: PrintOutcome
    status: PrinterStatus
    detail: str = ""


class TicketPrinter(Protocol):
    def status(self) -> PrinterStatus:
        """Real-time status with a short timeout; never raises, UNKNOWN on failure."""
        ...

    def print_ticket(self, ticket: TicketContent) -> PrintResult:
        """Send one ticket and its cut, then read status to confirm. Never raises."""
        ...

    def close(self) -> None: ...
