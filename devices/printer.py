"""The real ticket printer driver: python-escpos over network, USB, serial or a file.

How a ticket is confirmed (see docs/printer.md):

1. status before the job (DLE EOT 1, 2, 4; short timeout): a printer that cannot print, or
   whose state is unknown under the "require" policy, gets nothing (NOT_SENT);
2. the ticket's bytes and its cut, in one write;
3. GS r 1, which a printer answers only once it has processed everything before it (real-time
   DLE EOT answers jump the queue and could describe the printer before it printed the
   ticket), then DLE EOT 1, 2, 4 again;
4. PRINTED only when that status is known and healthy; IN_DOUBT otherwise.

One lock covers steps 1-3, so a status query from another thread never lands between a job's
bytes. No public method raises.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from escpos.escpos import Escpos

from devices.escpos_status import (
    DLE_EOT,
    EOT1_OFFLINE,
    EOT2_COVER_OPEN,
    EOT2_ERROR,
    EOT2_PAPER_END_STOP,
    EOT4_NEAR_END,
    EOT4_PAPER_END,
    EOT_FIXED_MASK,
    EOT_FIXED_VALUE,
    GS_R_PAPER,
    GSR_FIXED_MASK,
)
from devices.printer_api import (
    UNKNOWN_STATUS,
    PaperLevel,
    PrinterStatus,
    PrintOutcome,
    PrintResult,
    TicketContent,
)
from devices.settings import SettingError, check_settings, setting
from devices.ticket_layout import build_ticket_job

log = logging.getLogger(__name__)

KINDS = ("network", "usb", "serial", "file")
POLICIES = ("require", "trust")



# Told of every exchange at the connection (a recorder): ("connect", {"error"}), ("ask", {"request",
# "answer", "error"}) and ("job", {"data", "error"}); bytes are raw, errors a short text or None.
PrinterObserver = Callable[[str, dict[str, Any]], None]


class StatusReadError(Exception):
    """The printer did not answer a status request in time, or answered nonsense."""


def _printer_profile(value: object) -> str | None:
    return "must not be empty (leave it out for python-escpos's default)" if value == "" else None


@dataclass(frozen=True)
class PrinterConfig:
    """The printer's settings: one definition, also the kiosk config file's [printer] table (docs/config.md)."""

    kind: str = setting("network", choices=KINDS)
    host: str = "127.0.0.1"
    port: int = setting(9100, low=1, high=65535)
    usb_vendor_id: int = setting(0, low=0, high=0xFFFF)
    usb_product_id: int = setting(0, low=0, high=0xFFFF)
    serial_device: str = "/dev/ttyUSB0"
    serial_baudrate: int = setting(19200, low=300, high=4_000_000)
    file_path: str = "var/kiosk/printer.bin"
    timeout_s: float = setting(2.0, above=0, high=60)  # connect, write and status answers
    print_timeout_s: float = setting(15.0, above=0, high=600)  # a ticket may take this long before GS r answers
    status_policy: str = setting("require", choices=POLICIES)  # see docs/printer.md
    sequence_check: bool = True  # False only for printers without GS r
    profile: str | None = setting(None, check=_printer_profile)  # python-escpos printer profile name

    def __post_init__(self) -> None:
        try:
            check_settings(self)
        except SettingError as exc:
            raise SettingError(f"printer {exc.name}", exc.problem) from None


def open_connection(config: PrinterConfig) -> Escpos:
    """A connected python-escpos printer of the configured kind (raises when it cannot)."""
    from escpos import printer as escpos_printer

    conn: Escpos
    if config.kind == "network":
        conn = escpos_printer.Network(config.host, config.port, timeout=config.timeout_s, profile=config.profile)
    elif config.kind == "usb":
        conn = escpos_printer.Usb(
            config.usb_vendor_id, config.usb_product_id, timeout=int(config.timeout_s * 1000), profile=config.profile
        )
    elif config.kind == "serial":
        conn = escpos_printer.Serial(
            config.serial_device, config.serial_baudrate, timeout=config.timeout_s, profile=config.profile
        )
    else:
        conn = escpos_printer.File(config.file_path, profile=config.profile)
    conn.open()
    if not conn.device:
        raise ConnectionError(f"{config.kind} printer did not open")
    return conn


def decode_status(online_byte: int, cause_byte: int, paper_byte: int) -> PrinterStatus:
    """DLE EOT 1 (printer), 2 (offline cause) and 4 (roll paper) answers to a status.

    ``online`` is False only when the printer is offline for a reason other than its cover or
    paper (an error, the offline switch), so health names the cause staff must fix.
    """
    cover_open = bool(cause_byte & EOT2_COVER_OPEN)
    if paper_byte & EOT4_PAPER_END or cause_byte & EOT2_PAPER_END_STOP:
        paper = PaperLevel.OUT
    elif paper_byte & EOT4_NEAR_END:
        paper = PaperLevel.NEAR_END
    else:
        paper = PaperLevel.OK
    explained = (cover_open or paper is PaperLevel.OUT) and not cause_byte & EOT2_ERROR
    online = not online_byte & EOT1_OFFLINE or explained
    return PrinterStatus(online=online, paper=paper, cover_open=cover_open)


class EscposTicketPrinter:
    """:class:`devices.printer_api.TicketPrinter` over a python-escpos connection."""

    def __init__(self, config: PrinterConfig, connect: Callable[[PrinterConfig], Escpos] = open_connection) -> None:
        self.config = config
        self._connect = connect
        self._conn: Escpos | None = None
        self._lock = threading.Lock()
        self.observer: PrinterObserver | None = None
        self._status_problem = ""  # the last status failure's text, so a lasting one is logged once

    # -- public API ---------------------------------------------------------------------------

    def status(self) -> PrinterStatus:
        with self._lock:
            return self._status_locked()

    def print_ticket(self, ticket: TicketContent) -> PrintResult:
        try:
            job = build_ticket_job(ticket, profile=self.config.profile)
        except Exception:
            log.exception("ticket %s: layout failed", ticket.ticket_id)
            return PrintResult(PrintOutcome.NOT_SENT, UNKNOWN_STATUS, "layout_error")
        with self._lock:
            return self._print_locked(ticket.ticket_id, job)

    def close(self) -> None:
        with self._lock:
            self._drop_connection()

    # -- internals (caller holds the lock) ----------------------------------------------------------

    def _print_locked(self, ticket_id: str, job: bytes) -> PrintResult:
        before = self._status_locked()
        if before.known and not before.can_print:
            return PrintResult(PrintOutcome.NOT_SENT, before, before.health().reason)
        if not before.known and self.config.status_policy == "require":
            return PrintResult(PrintOutcome.NOT_SENT, before, "status_unknown")
        try:
            conn = self._connection()
        except Exception as err:
            log.warning("ticket %s not sent: printer unreachable: %s", ticket_id, err)
            return PrintResult(PrintOutcome.NOT_SENT, UNKNOWN_STATUS, "printer_offline")
        try:
            conn._raw(job)
        except Exception as err:
            # some bytes may have reached the printer: never assume either way
            log.warning("ticket %s in doubt: write failed: %s", ticket_id, err)
            self._notify("job", data=job, error=str(err) or type(err).__name__)
            self._drop_connection()
            return PrintResult(PrintOutcome.IN_DOUBT, UNKNOWN_STATUS, "send_failed")
        self._notify("job", data=job, error=None)
        after, processed = self._confirm_locked(conn)
        if processed or (after.known and after.can_print):
            # GS r is answered only once everything before it, the cut included, was processed:
            # the ticket is out even if the roll ran out right after it (then the next cannot start).
            return PrintResult(PrintOutcome.PRINTED, after)
        if not after.known and self.config.status_policy == "trust":
            return PrintResult(PrintOutcome.PRINTED, after, "trusted_without_status")
        reason = after.health().reason if after.known else "status_unknown"
        log.warning("ticket %s in doubt after its cut: %s", ticket_id, reason)
        return PrintResult(PrintOutcome.IN_DOUBT, after, reason)

    def _status_locked(self) -> PrinterStatus:
        if self.config.kind == "file":
            return UNKNOWN_STATUS  # a file (or a printer device node) cannot answer
        for attempt in (1, 2):  # a second try on a fresh connection after a dropped one
            try:
                status = self._query_status(self._connection())
                self._status_problem = ""
                return status
            except Exception as err:
                problem = " ".join(str(err).split())  # python-escpos puts a newline in its socket errors
                # Polled every few seconds: a lasting problem is one line, logged again only when it changes.
                log.log(logging.DEBUG if problem == self._status_problem else logging.INFO,
                        "printer status attempt %d failed: %s", attempt, problem)
                self._status_problem = problem
                self._drop_connection()
        return UNKNOWN_STATUS

    def _confirm_locked(self, conn: Escpos) -> tuple[PrinterStatus, bool]:
        """The status after a job, and whether the printer confirmed it processed the whole job."""
        if self.config.kind == "file":
            return UNKNOWN_STATUS, False
        processed = False
        try:
            if self.config.sequence_check:
                answer = self._ask(conn, GS_R_PAPER, self.config.print_timeout_s)
                if answer & GSR_FIXED_MASK:
                    raise StatusReadError(f"GS r answered 0x{answer:02X}")
                processed = True
            return self._query_status(conn), processed
        except Exception as err:
            log.info("printer status after the cut failed: %s", err)
            self._drop_connection()  # a late answer must not be read as the next one
            return UNKNOWN_STATUS, processed

    def _query_status(self, conn: Escpos) -> PrinterStatus:
        self._discard_pending_input(conn)
        answers = []
        for n in (1, 2, 4):
            value = self._ask(conn, DLE_EOT + bytes([n]), self.config.timeout_s)
            if value & EOT_FIXED_MASK != EOT_FIXED_VALUE:
                raise StatusReadError(f"DLE EOT {n} answered 0x{value:02X}")
            answers.append(value)
        return decode_status(*answers)

    def _ask(self, conn: Escpos, request: bytes, timeout_s: float) -> int:
        """Send a request and read its one-byte answer within ``timeout_s``."""
        self._set_read_timeout(conn, timeout_s)
        try:
            conn._raw(request)
            answer = conn._read()
        except TimeoutError as err:
            self._notify("ask", request=request, answer=None, error="timeout")
            raise StatusReadError(f"no answer to {request.hex(' ')} within {timeout_s} s") from err
        except Exception as err:
            self._notify("ask", request=request, answer=None, error=str(err) or type(err).__name__)
            raise
        finally:
            self._set_read_timeout(conn, self.config.timeout_s)
        self._notify("ask", request=request, answer=bytes(answer or b""), error=None)
        if not answer:
            raise StatusReadError(f"no answer to {request.hex(' ')}")
        return bytes(answer)[-1]

    @staticmethod
    def _set_read_timeout(conn: Escpos, seconds: float) -> None:
        device = conn.device
        if isinstance(device, socket.socket):
            device.settimeout(seconds)
        elif hasattr(device, "timeout"):  # pyserial
            device.timeout = seconds

    @staticmethod
    def _discard_pending_input(conn: Escpos) -> None:
        """Drop answers that came too late for an earlier request."""
        device = conn.device
        if isinstance(device, socket.socket):
            timeout = device.gettimeout()
            device.setblocking(False)
            try:
                while device.recv(64):
                    pass
            except (BlockingIOError, InterruptedError):
                pass
            finally:
                device.settimeout(timeout)
        elif hasattr(device, "reset_input_buffer"):
            device.reset_input_buffer()

    def _connection(self) -> Escpos:
        if self._conn is None:
            try:
                self._conn = self._connect(self.config)
            except Exception as err:
                self._notify("connect", error=str(err) or type(err).__name__)
                raise
            self._notify("connect", error=None)
        return self._conn

    def _notify(self, what: str, **details: Any) -> None:
        observer = self.observer
        if observer is None:
            return
        try:
            observer(what, details)
        except Exception:  # a recorder's fault must never stop a ticket
            log.exception("printer observer failed")

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception as err:
                log.debug("closing the printer connection: %s", err)
