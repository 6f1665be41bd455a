"""Printing a claim's tickets exactly once, and telling the central what happened.

Order of every step, each written to the journal before the next acts:

1. the claim granted by the central is journaled with each ticket's printable content;
2. a ticket is journaled ``sent`` before its bytes go to the printer;
3. it is journaled ``printed`` only when the printer reported a healthy status after its
   cut, ``released`` when nothing reached the printer, ``in_doubt`` otherwise;
4. the outcome is queued in the outbox (deterministic idempotency key) and delivered.

After a crash, :meth:`ClaimPrinter.recover` finishes what the journal shows: ``claimed``
tickets were never sent and are released, ``sent`` ones are in doubt and go to staff.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from backend_client.errors import CentralError, CentralRefused
from backend_client.wire import ClaimResponse, ClaimStatus, ErrorCode, OrderView, TicketOutcome
from devices.printer_api import PrintOutcome, TicketContent, TicketPrinter
from kiosk.journal import FINAL_STATES, Journal, JournalTicket, TicketState

log = logging.getLogger(__name__)

REPORT_KIND = "claim_report"

_OUTCOME_OF_STATE = {
    TicketState.PRINTED: TicketOutcome.PRINTED,
    TicketState.RELEASED: TicketOutcome.RELEASED,
    TicketState.IN_DOUBT: TicketOutcome.IN_DOUBT,
}


class ReportingClient(Protocol):
    def report(self, claim_id: str, outcomes: dict[str, TicketOutcome], idempotency_key: str) -> ClaimStatus: ...


class Outbox:
    """Durable queue of claim reports; each is delivered once thanks to its idempotency key."""

    def __init__(self, journal: Journal, client: ReportingClient) -> None:
        self._journal = journal
        self._client = client
        # The printing worker and the monitor both flush: one delivery at a time keeps the order.
        self._flush_lock = threading.Lock()

    def report(self, claim_id: str, ticket_id: str, outcome: TicketOutcome) -> None:
        key = f"{claim_id}:{ticket_id}:{outcome.value}"
        self._journal.enqueue(REPORT_KIND, {"claim_id": claim_id, "ticket_id": ticket_id,
                                            "outcome": outcome.value}, key)

    def flush(self) -> int:
        """Deliver what is pending, in order; stop at the first failure. Returns how many went."""
        with self._flush_lock:
            return self._flush_pending()

    def _flush_pending(self) -> int:
        delivered = 0
        for item in self._journal.pending():
            if item.kind != REPORT_KIND:
                continue
            payload = item.payload
            try:
                self._client.report(payload["claim_id"], {payload["ticket_id"]: TicketOutcome(payload["outcome"])},
                                    item.idempotency_key)
            except CentralRefused as exc:
                if exc.code in (ErrorCode.CLAIM_NOT_FOUND, ErrorCode.BAD_REQUEST):
                    # The central will never accept it: keep it visible to staff, stop retrying.
                    self._journal.audit("report_rejected", claim=payload["claim_id"], ticket=payload["ticket_id"],
                                        outcome=payload["outcome"], reason=exc.code.value)
                    self._journal.mark_delivered(item.item_id)
                    continue
                self._journal.mark_attempt_failed(item.item_id, str(exc))
                return delivered
            except CentralError as exc:
                self._journal.mark_attempt_failed(item.item_id, str(exc))
                return delivered
            self._journal.mark_delivered(item.item_id)
            delivered += 1
        return delivered

    def pending_count(self) -> int:
        return sum(1 for item in self._journal.pending() if item.kind == REPORT_KIND)


@dataclass(frozen=True)
class TicketProgress:
    ticket_id: str
    index: int  # 0-based position in the claim
    total: int
    state: TicketState


@dataclass(frozen=True)
class ClaimResult:
    printed: int
    released: int  # never sent: still collectable
    in_doubt: int
    stopped_by_person: bool
    printer_detail: str  # why printing stopped early, e.g. "paper_out"; "" when it did not


@dataclass(frozen=True)
class RecoveryReport:
    claims: int
    printed: int
    released: int
    in_doubt: int


def ticket_contents(order: OrderView, claim: ClaimResponse, timezone: str) -> list[TicketContent]:
    zone = ZoneInfo(timezone)
    # Numbered within the order ("2/4"), not within this print run: a partial pickup's tickets
    # must not both read "1/2".
    places = {ticket.ticket_id: place for place, ticket in enumerate(order.tickets, start=1)}
    total = max(len(order.tickets), len(claim.tickets))
    original = order.film_original_title if order.film_original_title != order.film_title else None
    return [
        TicketContent(
            ticket_id=ticket.ticket_id,
            cinema_name=order.cinema_name,
            film_title=order.film_title,
            film_original_title=original,
            hall_name=order.hall_name,
            show_start=order.show_start.astimezone(zone),
            row=ticket.row,
            seat=ticket.seat,
            price_fen=ticket.price_fen,
            entrance_token=ticket.entrance_token,
            order_ref=order.order_id[-6:].upper(),
            sequence=f"{places.get(ticket.ticket_id, index + 1)}/{total}",
        )
        for index, ticket in enumerate(claim.tickets)
    ]


def content_to_json(content: TicketContent) -> dict[str, Any]:
    data = asdict(content)
    data["show_start"] = content.show_start.isoformat()
    return data


def content_from_json(data: dict[str, Any]) -> TicketContent:
    return TicketContent(**{**data, "show_start": datetime.fromisoformat(data["show_start"])})


class ClaimPrinter:
    def __init__(self, journal: Journal, printer: TicketPrinter, outbox: Outbox) -> None:
        self._journal = journal
        self._printer = printer
        self._outbox = outbox

    def record(self, claim: ClaimResponse, contents: list[TicketContent]) -> None:
        self._journal.record_claim(claim.claim_id, claim.order_id,
                                   [(content.ticket_id, content_to_json(content)) for content in contents])
        self._journal.audit("claim_recorded", claim=claim.claim_id, tickets=len(contents))

    def print_claim(
        self,
        claim_id: str,
        should_stop: Callable[[], bool],
        on_progress: Callable[[TicketProgress], None],
    ) -> ClaimResult:
        """Print the claim's unsent tickets in order. Runs off the main loop; never raises for the printer."""
        tickets = self._journal.tickets(claim_id)
        total = len(tickets)
        stopped_by_person = False
        printer_detail = ""
        for ticket in tickets:
            if ticket.state is not TicketState.CLAIMED:
                continue
            if printer_detail or should_stop():
                stopped_by_person = stopped_by_person or not printer_detail
                self._settle(ticket, TicketState.RELEASED, "not printed: " + (printer_detail or "stopped"))
                on_progress(TicketProgress(ticket.ticket_id, ticket.position, total, TicketState.RELEASED))
                continue
            self._journal.set_ticket_state(claim_id, ticket.ticket_id, TicketState.SENT)
            on_progress(TicketProgress(ticket.ticket_id, ticket.position, total, TicketState.SENT))
            result = self._printer.print_ticket(content_from_json(ticket.content))
            if result.outcome is PrintOutcome.PRINTED:
                state = TicketState.PRINTED
            elif result.outcome is PrintOutcome.NOT_SENT:
                state = TicketState.RELEASED
            else:
                state = TicketState.IN_DOUBT
            self._settle(ticket, state, result.detail)
            on_progress(TicketProgress(ticket.ticket_id, ticket.position, total, state))
            if state is not TicketState.PRINTED:
                printer_detail = result.status.health().reason or result.detail or "printer_error"
            elif not result.status.can_print:
                # Printed, but the status after the cut says the next one cannot (paper ran out).
                printer_detail = result.status.health().reason
        self._finish(claim_id)
        final = self._journal.tickets(claim_id)
        return ClaimResult(
            printed=sum(t.state is TicketState.PRINTED for t in final),
            released=sum(t.state is TicketState.RELEASED for t in final),
            in_doubt=sum(t.state is TicketState.IN_DOUBT for t in final),
            stopped_by_person=stopped_by_person,
            printer_detail=printer_detail,
        )

    def recover(self) -> RecoveryReport:
        """Resolve claims left open by a crash or power loss. Nothing is printed again."""
        counts = {TicketState.PRINTED: 0, TicketState.RELEASED: 0, TicketState.IN_DOUBT: 0}
        claim_ids = self._journal.open_claim_ids()
        for claim_id in claim_ids:
            for ticket in self._journal.tickets(claim_id):
                if ticket.state is TicketState.CLAIMED:
                    self._settle(ticket, TicketState.RELEASED, "released after restart")
                elif ticket.state is TicketState.SENT:
                    self._settle(ticket, TicketState.IN_DOUBT, "sent before restart, never confirmed")
                    log.warning("ticket in doubt after restart, claim %s", claim_id)
                else:
                    # Final already; make sure its report is queued (idempotent).
                    self._outbox.report(claim_id, ticket.ticket_id, _OUTCOME_OF_STATE[ticket.state])
            for ticket in self._journal.tickets(claim_id):
                counts[ticket.state] = counts.get(ticket.state, 0) + 1
            self._finish(claim_id)
        if claim_ids:
            self._journal.audit("claims_recovered", claims=len(claim_ids),
                                **{state.value: n for state, n in counts.items()})
        else:
            # A crash after a claim closed but before its reports left: deliver them now.
            self._outbox.flush()
        return RecoveryReport(len(claim_ids), counts[TicketState.PRINTED], counts[TicketState.RELEASED],
                              counts[TicketState.IN_DOUBT])

    def in_doubt(self) -> list[JournalTicket]:
        """Tickets for staff to decide on (reprint or void): never resolved automatically."""
        return self._journal.tickets_in_state(TicketState.IN_DOUBT)

    def _settle(self, ticket: JournalTicket, state: TicketState, detail: str) -> None:
        self._journal.set_ticket_state(ticket.claim_id, ticket.ticket_id, state, detail)
        self._outbox.report(ticket.claim_id, ticket.ticket_id, _OUTCOME_OF_STATE[state])

    def _finish(self, claim_id: str) -> None:
        if all(t.state in FINAL_STATES for t in self._journal.tickets(claim_id)):
            self._journal.close_claim(claim_id)
        self._outbox.flush()
