"""The one set of in-test stand-ins for the central client, the token verifier and the printer.

Used by the flow's unit tests (tests/kiosk) and the UI tests (tests/ui, tests/devmode): the
journeys are real, the journal and claim printing are real (SQLite in a temp folder), and only
the far ends are small scripted fakes.  The journeys against the real central and the virtual
TCP printer live in tests/integration.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from backend_client.errors import CentralRefused, CentralUnreachable
from backend_client.tokens import KIND_ORDER, TokenClaims, TokenError
from backend_client.wire import (
    ClaimedTicket,
    ClaimResponse,
    ClaimStatus,
    ErrorCode,
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
from kiosk.host import KioskHost
from kiosk.journal import Journal
from tests.support.clocks import ManualClock

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
SERIAL, VERIFICATION = "123456", "654321"
CINEMA_ID = "cinema-demo"
READY = GOOD_STATUS = PrinterStatus(online=True, paper=PaperLevel.OK, cover_open=False)
PAPER_OUT = PrinterStatus(online=True, paper=PaperLevel.OUT, cover_open=False)
COVER_OPEN = PrinterStatus(online=True, paper=PaperLevel.OK, cover_open=True)


def make_order(tickets: int = 4, printed: int = 0) -> OrderView:
    """``tickets`` seats in row 5, the first ``printed`` of them collected already."""
    return OrderView(
        order_id="order-1",
        cinema_id=CINEMA_ID,
        cinema_name="示范影城",
        film_title="流浪地球",
        film_original_title="The Wandering Earth",
        hall_name="3号厅",
        show_start=NOW + timedelta(hours=2),
        show_end=NOW + timedelta(hours=4),
        pickup_opens_at=NOW - timedelta(days=1),
        tickets=[
            TicketView(ticket_id=f"t{i}", row="5", seat=str(i + 1), price_fen=4500,
                       status=TicketStatus.PRINTED if i < printed else TicketStatus.AVAILABLE,
                       printed_at=NOW - timedelta(hours=1) if i < printed else None,
                       printed_by="Lobby-**-02" if i < printed else None)
            for i in range(tickets)
        ],
        claim_grant="grant-order-1",
    )


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


@dataclass
class FakeCentral:
    """Answers lookups of :data:`SERIAL`/:data:`VERIFICATION` (or any QR token) with one order.

    ``refuse_with`` refuses every call; ``unreachable`` fails every call; ``reports_unreachable``
    only the reports.  Claims need the lookup's own grant, as at the central.
    """

    order: OrderView = field(default_factory=make_order)
    refuse_with: CentralRefused | None = None
    unreachable: bool = False
    reports_unreachable: bool = False
    looked_up: list[tuple[str, str]] = field(default_factory=list)
    claims: list[tuple[str, list[str], str]] = field(default_factory=list)
    reports: list[tuple[str, dict[str, TicketOutcome], str]] = field(default_factory=list)

    def _check(self) -> None:
        if self.unreachable:
            raise CentralUnreachable("connection refused")
        if self.refuse_with is not None:
            raise self.refuse_with

    def lookup_code(self, serial: str, verification: str) -> OrderView:
        self.looked_up.append((serial, verification))
        self._check()
        if (serial, verification) != (SERIAL, VERIFICATION):
            raise CentralRefused(ErrorCode.UNKNOWN_CODE, "unknown code")
        return self.order

    def lookup_token(self, token: str) -> OrderView:
        self.looked_up.append(("qr", token))
        self._check()
        return self.order

    def claim(self, order_id: str, ticket_ids: list[str], idempotency_key: str, claim_grant: str) -> ClaimResponse:
        self._check()
        if claim_grant != self.order.claim_grant:  # as the central: only the lookup's own grant claims
            raise CentralRefused(ErrorCode.CLAIM_NOT_ALLOWED, "claim grant not from this lookup")
        self.claims.append((order_id, list(ticket_ids), idempotency_key))
        by_id = {t.ticket_id: t for t in self.order.tickets}
        return ClaimResponse(
            claim_id=f"claim-{len(self.claims)}",
            order_id=order_id,
            lease_expires_at=datetime.now(UTC) + timedelta(minutes=2),
            tickets=[ClaimedTicket(ticket_id=i, row=by_id[i].row, seat=by_id[i].seat, price_fen=by_id[i].price_fen,
                                   entrance_token=f"TK1.ticket-{i}") for i in ticket_ids],
        )

    def start_printing(self, claim_id: str, ticket_id: str, idempotency_key: str) -> PrintPermit:
        self._check()
        lease_expires_at = datetime.now(UTC) + timedelta(minutes=2)
        return PrintPermit(claim_id=claim_id, ticket_id=ticket_id, lease_expires_at=lease_expires_at)

    def report(
        self,
        claim_id: str,
        outcomes: dict[str, TicketOutcome],
        idempotency_key: str,
        entrance_tokens: dict[str, str] | None = None,
    ) -> ClaimStatus:
        if self.unreachable or self.reports_unreachable:
            raise CentralUnreachable("connection refused")
        self.reports.append((claim_id, outcomes, idempotency_key))
        return ClaimStatus(claim_id=claim_id, open=True, tickets={})


@dataclass
class FakeVerifier:
    """Accepts every token as an order token of ``cinema_id`` (or raises ``error``)."""

    kind: str = KIND_ORDER
    cinema_id: str = CINEMA_ID
    error: TokenError | None = None

    def verify(self, token: str) -> TokenClaims:
        if self.error is not None:
            raise self.error
        return TokenClaims(kind=self.kind, key_id="k1", token_id="j1", order_id="order-1",
                           cinema_id=self.cinema_id, expires_at=NOW + timedelta(days=1))


@dataclass
class FakePrinter:
    """Reports ``status_now``; prints while it can.

    ``paper_after``: paper runs out after that many tickets; ``status_after_print``: the status
    every print leaves; ``hold``: each print waits for ``go`` (and releases ``started`` first).
    """

    status_now: PrinterStatus = GOOD_STATUS
    paper_after: int | None = None
    status_after_print: PrinterStatus | None = None
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
        if not self.status_now.can_print:
            return PrintResult(PrintOutcome.NOT_SENT, self.status_now, "printer not ready")
        self.printed.append(ticket)
        if self.paper_after is not None and len(self.printed) >= self.paper_after:
            self.status_now = PAPER_OUT
        if self.status_after_print is not None:
            self.status_now = self.status_after_print
        return PrintResult(PrintOutcome.PRINTED, self.status_now)

    def close(self) -> None:
        pass


@dataclass
class Rig:
    """A host with the real pickup journey on the fakes (what the app is built from)."""

    host: KioskHost
    flow: PickupFlow
    central: FakeCentral
    verifier: FakeVerifier
    printer: FakePrinter
    clock: ManualClock
    journal: Journal
    availability: Availability = field(default_factory=Availability)


def build_rig(data_dir: Path, worker: Worker | None = None, order: OrderView | None = None,
              availability: Availability | None = None, settings: PickupSection | None = None,
              kiosk_name: str = "") -> Rig:
    central = FakeCentral(order or sample_order())
    verifier = FakeVerifier()
    printer = FakePrinter()
    clock = ManualClock()
    journal = Journal(data_dir / "journal.sqlite3")
    claim_printer = ClaimPrinter(journal, printer, Outbox(journal, central))
    flow = PickupFlow(client=central, verifier=verifier, printer=printer, claim_printer=claim_printer,
                      worker=worker or InlineWorker(), settings=settings or PickupSection(),
                      cinema_id=lambda: CINEMA_ID, timezone="Asia/Shanghai", now=clock,
                      wall_now=lambda: datetime.now(UTC), kiosk_name=kiosk_name)
    rig = Rig(KioskHost(lambda: rig.availability, now=clock), flow, central, verifier, printer, clock, journal,
              availability or Availability())
    rig.host.register(flow, lambda current: current.can_pick_up, starts_on_qr=True)
    return rig
