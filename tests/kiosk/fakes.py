"""In-memory stand-ins for the central client and the printer, for unit tests of one flow.

The journeys against the real central and the virtual printer live in tests/integration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

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
from devices.printer_api import (
    PaperLevel,
    PrinterStatus,
    PrintOutcome,
    PrintResult,
    TicketContent,
)

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
SERIAL, VERIFICATION = "123456", "654321"
GOOD_STATUS = PrinterStatus(online=True, paper=PaperLevel.OK, cover_open=False)
PAPER_OUT = PrinterStatus(online=True, paper=PaperLevel.OUT, cover_open=False)


def make_order(tickets: int = 4, printed: int = 0) -> OrderView:
    return OrderView(
        order_id="order-1",
        cinema_id="cinema-demo",
        cinema_name="示范影城",
        film_title="流浪地球",
        film_original_title="The Wandering Earth",
        hall_name="3号厅",
        show_start=NOW + timedelta(hours=2),
        show_end=NOW + timedelta(hours=4),
        pickup_opens_at=NOW - timedelta(days=1),
        tickets=[
            TicketView(ticket_id=f"t{i}", row="5", seat=str(i + 1), price_fen=4500,
                       status=TicketStatus.PRINTED if i < printed else TicketStatus.AVAILABLE)
            for i in range(tickets)
        ],
        claim_grant="grant-order-1",
    )


@dataclass
class FakeCentral:
    order: OrderView = field(default_factory=make_order)
    refuse_with: CentralRefused | None = None
    unreachable: bool = False
    reports_unreachable: bool = False
    claims: list[tuple[str, list[str], str]] = field(default_factory=list)
    reports: list[tuple[str, dict[str, TicketOutcome], str]] = field(default_factory=list)

    def _check(self) -> None:
        if self.unreachable:
            raise CentralUnreachable("connection refused")
        if self.refuse_with is not None:
            raise self.refuse_with

    def lookup_code(self, serial: str, verification: str) -> OrderView:
        self._check()
        if (serial, verification) != (SERIAL, VERIFICATION):
            raise CentralRefused(ErrorCode.UNKNOWN_CODE, "unknown code")
        return self.order

    def lookup_token(self, token: str) -> OrderView:
        self._check()
        return self.order

    def claim(self, order_id: str, ticket_ids: list[str], idempotency_key: str, claim_grant: str) -> ClaimResponse:
        self._check()
        if claim_grant != self.order.claim_grant:  # as the central: only the lookup's own grant claims
            raise CentralRefused(ErrorCode.CLAIM_NOT_ALLOWED, "claim grant not from this lookup")
        self.claims.append((order_id, ticket_ids, idempotency_key))
        by_id = {t.ticket_id: t for t in self.order.tickets}
        return ClaimResponse(
            claim_id=f"claim-{len(self.claims)}",
            order_id=order_id,
            lease_expires_at=NOW + timedelta(minutes=2),
            tickets=[ClaimedTicket(ticket_id=i, row=by_id[i].row, seat=by_id[i].seat, price_fen=by_id[i].price_fen,
                                   entrance_token=f"TK1.ticket-{i}") for i in ticket_ids],
        )

    def start_printing(self, claim_id: str, ticket_id: str, idempotency_key: str) -> PrintPermit:
        self._check()
        return PrintPermit(claim_id=claim_id, ticket_id=ticket_id, lease_expires_at=NOW + timedelta(minutes=2))

    def report(self, claim_id: str, outcomes: dict[str, TicketOutcome], idempotency_key: str,
               entrance_tokens: dict[str, str] | None = None) -> ClaimStatus:
        if self.unreachable or self.reports_unreachable:
            raise CentralUnreachable("connection refused")
        self.reports.append((claim_id, outcomes, idempotency_key))
        return ClaimStatus(claim_id=claim_id, open=True, tickets={})


@dataclass
class FakeVerifier:
    kind: str = KIND_ORDER
    cinema_id: str = "cinema-demo"
    error: TokenError | None = None

    def verify(self, token: str) -> TokenClaims:
        if self.error is not None:
            raise self.error
        return TokenClaims(kind=self.kind, key_id="k1", token_id="j1", order_id="order-1",
                           cinema_id=self.cinema_id, expires_at=NOW + timedelta(days=1))


@dataclass
class FakePrinter:
    """Prints until ``paper_after`` tickets, then reports paper out after that cut."""

    paper_after: int | None = None
    status_now: PrinterStatus = GOOD_STATUS
    printed: list[TicketContent] = field(default_factory=list)

    def status(self) -> PrinterStatus:
        return self.status_now

    def print_ticket(self, ticket: TicketContent) -> PrintResult:
        if not self.status_now.can_print:
            return PrintResult(PrintOutcome.NOT_SENT, self.status_now, "printer not ready")
        self.printed.append(ticket)
        if self.paper_after is not None and len(self.printed) >= self.paper_after:
            self.status_now = PAPER_OUT
        return PrintResult(PrintOutcome.PRINTED, self.status_now)

    def close(self) -> None:
        pass
