"""In-test stand-ins for the central client, the token verifier and the printer (UI tests only).

The end-to-end journeys against the real central and the virtual TCP printer live elsewhere;
here the flow is real, the journal and claim printing are real (SQLite in a temp folder),
and only the far ends are small scripted fakes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from backend_client.tokens import TokenClaims
from backend_client.wire import (
    ClaimedTicket,
    ClaimResponse,
    ClaimStatus,
    OrderView,
    PrintPermit,
    TicketOutcome,
    TicketStatus,
    TicketView,
)
from devices.printer_api import PaperLevel, PrinterStatus, PrintOutcome, PrintResult, TicketContent
from kiosk.availability import Availability
from kiosk.claims import ClaimPrinter, Outbox
from kiosk.config import PickupSection
from kiosk.flows.pickup import PickupFlow
from kiosk.flows.runtime import InlineWorker, Worker
from kiosk.journal import Journal
from tests.support.clocks import ManualClock

SERIAL = "123456"
VERIFICATION = "654321"
CINEMA_ID = "cinema-sh-01"
READY = PrinterStatus(online=True, paper=PaperLevel.OK, cover_open=False)
PAPER_OUT = PrinterStatus(online=True, paper=PaperLevel.OUT, cover_open=False)


def sample_order(printed_first: bool = True) -> OrderView:
    """Three seats: 5-11 collected yesterday (if ``printed_first``), 5-12 and 5-13 to collect."""
    show = datetime(2026, 11, 22, 11, 30, tzinfo=UTC)  # 19:30 in Shanghai
    first = TicketView(ticket_id="t1", row="5", seat="11", price_fen=4500,
                       status=TicketStatus.PRINTED if printed_first else TicketStatus.AVAILABLE,
                       printed_at=show - timedelta(days=1) if printed_first else None,
                       printed_by="Lobby-**-02" if printed_first else None)
    return OrderView(
        order_id="order-000123", cinema_id=CINEMA_ID, cinema_name="星光影城 人民广场店",
        film_title="流浪地球", film_original_title="The Wandering Earth", hall_name="3号厅 IMAX",
        show_start=show, show_end=show + timedelta(hours=2), pickup_opens_at=show - timedelta(days=3),
        tickets=[first,
                 TicketView(ticket_id="t2", row="5", seat="12", price_fen=4500, status=TicketStatus.AVAILABLE),
                 TicketView(ticket_id="t3", row="5", seat="13", price_fen=4500, status=TicketStatus.AVAILABLE)],
        claim_grant="grant-order-000123",
    )


class FakeCentral:
    """Answers lookups with one order, or raises the refusal a test sets; grants every claim."""

    def __init__(self, order: OrderView) -> None:
        self.order = order
        self.lookup_error: Exception | None = None
        self.looked_up: list[tuple[str, str]] = []
        self.claims: list[list[str]] = []
        self.reports: list[dict[str, TicketOutcome]] = []

    def lookup_code(self, serial: str, verification: str) -> OrderView:
        self.looked_up.append((serial, verification))
        if self.lookup_error is not None:
            raise self.lookup_error
        return self.order

    def lookup_token(self, token: str) -> OrderView:
        return self.lookup_code("qr", token)

    def claim(self, order_id: str, ticket_ids: list[str], idempotency_key: str, claim_grant: str) -> ClaimResponse:
        assert claim_grant == self.order.claim_grant, "the flow claims with its lookup's grant"
        self.claims.append(list(ticket_ids))
        seats = {t.ticket_id: t for t in self.order.tickets}
        return ClaimResponse(
            claim_id=f"claim-{len(self.claims)}", order_id=order_id,
            lease_expires_at=datetime.now(UTC) + timedelta(minutes=5),
            tickets=[ClaimedTicket(ticket_id=i, row=seats[i].row, seat=seats[i].seat, price_fen=seats[i].price_fen,
                                   entrance_token=f"TK1.entrance.{i}") for i in ticket_ids],
        )

    def start_printing(self, claim_id: str, ticket_id: str, idempotency_key: str) -> PrintPermit:
        return PrintPermit(claim_id=claim_id, ticket_id=ticket_id,
                           lease_expires_at=datetime.now(UTC) + timedelta(minutes=5))

    def report(self, claim_id: str, outcomes: dict[str, TicketOutcome], idempotency_key: str,
               entrance_tokens: dict[str, str] | None = None) -> ClaimStatus:
        self.reports.append(outcomes)
        return ClaimStatus(claim_id=claim_id, open=False, tickets={})


class FakeVerifier:
    def verify(self, token: str) -> TokenClaims:
        raise AssertionError("these UI tests type codes; no QR token is verified")


@dataclass
class FakePrinter:
    """Reports ``status``; prints every ticket.  With ``hold`` set, each print waits for ``go``."""

    status_now: PrinterStatus = READY
    status_after_print: PrinterStatus | None = None  # e.g. the paper runs out with the first ticket
    hold: bool = False
    printed: list[TicketContent] = field(default_factory=list)
    started: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    go: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))

    def status(self) -> PrinterStatus:
        return self.status_now

    def print_ticket(self, ticket: TicketContent) -> PrintResult:
        if self.hold:
            self.started.release()
            if not self.go.acquire(timeout=10):
                return PrintResult(PrintOutcome.NOT_SENT, self.status_now, "test never let the printer go")
        self.printed.append(ticket)
        if self.status_after_print is not None:
            self.status_now = self.status_after_print
        return PrintResult(PrintOutcome.PRINTED, self.status_now)

    def close(self) -> None:
        pass


@dataclass
class Rig:
    flow: PickupFlow
    central: FakeCentral
    printer: FakePrinter
    clock: ManualClock
    availability: Availability
    journal: Journal


def build_rig(data_dir: Path, worker: Worker | None = None, order: OrderView | None = None,
              availability: Availability | None = None) -> Rig:
    central = FakeCentral(order or sample_order())
    printer = FakePrinter()
    clock = ManualClock()
    journal = Journal(data_dir / "journal.sqlite3")
    claim_printer = ClaimPrinter(journal, printer, Outbox(journal, central))
    flow = PickupFlow(client=central, verifier=FakeVerifier(), printer=printer, claim_printer=claim_printer,
                      worker=worker or InlineWorker(), settings=PickupSection(), cinema_id=lambda: CINEMA_ID,
                      timezone="Asia/Shanghai", now=clock, wall_now=lambda: datetime.now(UTC))
    return Rig(flow, central, printer, clock, availability or Availability(), journal)
