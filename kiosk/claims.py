"""Printing a claim's tickets exactly once, and telling the central what happened.

Order of every step, each written to the journal before the next acts:

1. the claim granted by the central is journaled with each ticket's printable content;
2. the central is told, synchronously, that the ticket is about to print; when it refuses
   (the claim's lease ran out, the order was refunded) or cannot be reached, nothing more of
   the claim prints: the ticket and the rest are released;
3. a ticket is journaled ``sent`` before its bytes go to the printer;
4. it is journaled ``printed`` only when the printer reported a healthy status after its
   cut, ``released`` when nothing reached the printer, ``in_doubt`` otherwise;
5. the outcome is queued in the outbox (deterministic idempotency key) and delivered at
   once, before the next ticket: every accepted report renews the claim's lease.

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
from backend_client.wire import ClaimResponse, ClaimStatus, ErrorCode, OrderView, PrintPermit, TicketOutcome
from devices.printer_api import PrintOutcome, TicketContent, TicketPrinter
from kiosk.journal import FINAL_STATES, Journal, JournalTicket, OutboxItem, TicketState

log = logging.getLogger(__name__)

REPORT_KIND = "claim_report"

_OUTCOME_OF_STATE = {
    TicketState.PRINTED: TicketOutcome.PRINTED,
    TicketState.RELEASED: TicketOutcome.RELEASED,
    TicketState.IN_DOUBT: TicketOutcome.IN_DOUBT,
}


# Why the central stopped a claim's printing (ClaimResult.stopped_by_central).
CLAIM_LOST = "claim_lost"  # the central refused: lease gone, order refunded, claim unknown
CENTRAL_UNREACHABLE = "central_unreachable"  # no answer: nothing prints without the central's leave


class ReportingClient(Protocol):
    def start_printing(self, claim_id: str, ticket_id: str, idempotency_key: str) -> PrintPermit: ...

    def report(self, claim_id: str, outcomes: dict[str, TicketOutcome], idempotency_key: str,
               entrance_tokens: dict[str, str] | None = None) -> ClaimStatus: ...


class Outbox:
    """Durable queue of claim reports; each is delivered once thanks to its idempotency key."""

    def __init__(self, journal: Journal, client: ReportingClient) -> None:
        self._journal = journal
        self.client = client  # the claim printer asks it for leave to print, too
        # The printing worker and the monitor both flush: one delivery at a time keeps the order.
        self._flush_lock = threading.Lock()

    def report(self, claim_id: str, ticket_id: str, outcome: TicketOutcome, entrance_token: str | None = None) -> None:
        key = f"{claim_id}:{ticket_id}:{outcome.value}"
        payload = {"claim_id": claim_id, "ticket_id": ticket_id, "outcome": outcome.value}
        if entrance_token and outcome is not TicketOutcome.RELEASED:
            payload["entrance_token"] = entrance_token  # the claim's proof, should the central have lost it
        self._journal.enqueue(REPORT_KIND, payload, key)

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
                proof = {payload["ticket_id"]: payload["entrance_token"]} if payload.get("entrance_token") else None
                self.client.report(payload["claim_id"], {payload["ticket_id"]: TicketOutcome(payload["outcome"])},
                                   item.idempotency_key, entrance_tokens=proof)
            except CentralRefused as exc:
                if exc.code in (ErrorCode.CLAIM_NOT_FOUND, ErrorCode.BAD_REQUEST):
                    self._reject(item.item_id, payload, exc.code)
                    continue
                self._journal.mark_attempt_failed(item.item_id, str(exc))
                return delivered
            except CentralError as exc:
                self._journal.mark_attempt_failed(item.item_id, str(exc))
                return delivered
            self._journal.mark_delivered(item.item_id)
            delivered += 1
        return delivered

    def _reject(self, item_id: int, payload: dict[str, Any], code: ErrorCode) -> None:
        """The central will never accept this report (it does not know the claim: e.g. restored from a backup)."""
        fields = {"claim": payload["claim_id"], "ticket": payload["ticket_id"], "outcome": payload["outcome"],
                  "reason": code.value}
        if payload["outcome"] == TicketOutcome.RELEASED.value:
            # Nothing reached a printer: there is nothing for the central to protect.
            self._journal.audit("report_rejected", **fields)
            self._journal.mark_delivered(item_id)
            return
        # A ticket that is, or may be, on paper: dropping the report would let the central offer it
        # again.  It stays in the journal, no longer retried, until staff settle it with head office.
        self._journal.hold_undeliverable(item_id, f"refused: {code.value}")
        self._journal.audit("report_undeliverable", **fields)
        log.warning("the central refused the %s report of ticket %s (claim %s: %s); kept for staff",
                    payload["outcome"], payload["ticket_id"], payload["claim_id"], code.value)

    def pending_count(self) -> int:
        return sum(1 for item in self._journal.pending() if item.kind == REPORT_KIND)

    def undeliverable(self) -> list[OutboxItem]:
        """Reports the central refused for good: for staff to settle with head office."""
        return [item for item in self._journal.held() if item.kind == REPORT_KIND]


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
    stopped_by_central: str = ""  # CLAIM_LOST or CENTRAL_UNREACHABLE when the central stopped it


@dataclass(frozen=True)
class RecoveryReport:
    claims: int
    printed: int
    released: int
    in_doubt: int


def order_reference(order_id: str) -> str:
    """The order's short reference printed on a ticket: its last six characters, without a leading dash."""
    return order_id[-6:].lstrip("-_./: ").upper() or order_id.upper()


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
            order_ref=order_reference(order.order_id),
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
        central_stop = ""
        for ticket in tickets:
            if ticket.state is not TicketState.CLAIMED:
                continue
            if printer_detail or central_stop or should_stop():
                stopped_by_person = stopped_by_person or not (printer_detail or central_stop)
                self._settle(ticket, TicketState.RELEASED,
                             "not printed: " + (printer_detail or central_stop or "stopped"))
                on_progress(TicketProgress(ticket.ticket_id, ticket.position, total, TicketState.RELEASED))
                continue
            central_stop = self._ask_to_print(ticket)
            if central_stop:
                self._settle(ticket, TicketState.RELEASED, "not printed: " + central_stop)
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
            # Reported before the next ticket: the central knows at once, and the lease is renewed.
            self._outbox.flush()
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
            stopped_by_central=central_stop,
        )

    def _ask_to_print(self, ticket: JournalTicket) -> str:
        """The central's leave to print this ticket now: "" when given, else why printing must stop."""
        try:
            self._outbox.client.start_printing(ticket.claim_id, ticket.ticket_id,
                                               f"{ticket.claim_id}:{ticket.ticket_id}:printing")
        except CentralRefused as exc:
            log.warning("the central stopped claim %s before ticket %s: %s",
                        ticket.claim_id, ticket.ticket_id, exc.code.value)
            self._journal.audit("claim_lost", claim=ticket.claim_id, ticket=ticket.ticket_id, reason=exc.code.value)
            return CLAIM_LOST
        except CentralError as exc:
            log.warning("no leave to print ticket %s of claim %s: %s", ticket.ticket_id, ticket.claim_id, exc)
            self._journal.audit("print_not_allowed", claim=ticket.claim_id, ticket=ticket.ticket_id,
                                reason="central_unreachable")
            return CENTRAL_UNREACHABLE
        return ""

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
                    self._queue_report(ticket, ticket.state)
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
        self._queue_report(ticket, state)

    def _queue_report(self, ticket: JournalTicket, state: TicketState) -> None:
        self._outbox.report(ticket.claim_id, ticket.ticket_id, _OUTCOME_OF_STATE[state],
                            ticket.content.get("entrance_token"))

    def _finish(self, claim_id: str) -> None:
        if all(t.state in FINAL_STATES for t in self._journal.tickets(claim_id)):
            self._journal.close_claim(claim_id)
        self._outbox.flush()
