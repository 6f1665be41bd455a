"""Claims: taking tickets for one kiosk under a lease, leave to print each ticket, and the kiosk's reports."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import CursorResult, and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend_client import tokens
from backend_client.wire import (
    IDEMPOTENCY_HEADER,
    ClaimedTicket,
    ClaimReport,
    ClaimRequest,
    ClaimResponse,
    ClaimStatus,
    ErrorCode,
    PrintNotice,
    PrintPermit,
    TicketOutcome,
    TicketStatus,
)
from central.common import (
    MAX_IDEMPOTENCY_KEY,
    Refusal,
    audit,
    effective_status,
    iso,
    new_id,
    revoke_entrance_token,
)
from central.leases import LeasesArea
from central.models import Claim, ClaimTicket, Kiosk, Order, Revocation, Ticket
from central.orders import OrdersArea
from central.secret_store import ClaimGrantRefused

CLAIM_NOT_ALLOWED_MESSAGE = "look this order up with its code at this kiosk before claiming it"


class TicketsTaken(Exception):
    """Raised inside a claim transaction to roll it back when not every ticket could be taken."""


class ClaimsArea(OrdersArea, LeasesArea):
    """Claims: taking tickets for one kiosk, leave to print each one, and the kiosk's reports."""

    def claim(self, kiosk: Kiosk, request: ClaimRequest, idempotency_key: str | None) -> ClaimResponse:
        if idempotency_key is not None and not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
            raise Refusal(ErrorCode.BAD_REQUEST, f"{IDEMPOTENCY_HEADER} must be 1 to {MAX_IDEMPOTENCY_KEY} characters")
        ticket_ids = list(request.ticket_ids)
        if len(set(ticket_ids)) != len(ticket_ids):
            raise Refusal(ErrorCode.BAD_REQUEST, "a ticket is named twice")
        replay = self._replay_claim(kiosk, request, idempotency_key)
        if replay is not None:
            return replay  # the original claim had its grant checked; a retry may come after it expired
        self._check_claim_grant(kiosk, request)
        session = self.sessions()
        try:
            with session.begin():
                return self._take_tickets(session, kiosk, request, idempotency_key)
        except (TicketsTaken, IntegrityError):
            # Lost a race: the same Idempotency-Key may have won it, else say why.
            replay = self._replay_claim(kiosk, request, idempotency_key)
            if replay is not None:
                return replay
            with session.begin():
                tickets = session.scalars(select(Ticket).where(Ticket.id.in_(ticket_ids))).all()
                raise self._unavailable_refusal(session, tickets, self.clock.now()) from None
        finally:
            session.close()

    def _check_claim_grant(self, kiosk: Kiosk, request: ClaimRequest) -> None:
        # Without this a kiosk could claim any order of its cinema by id, bypassing the code and its lockouts.
        try:
            self.grants.check(request.claim_grant, kiosk.id, request.order_id, self.clock.now())
        except ClaimGrantRefused as exc:
            raise Refusal(
                ErrorCode.CLAIM_NOT_ALLOWED, CLAIM_NOT_ALLOWED_MESSAGE, {"reason": exc.reason}
            ) from None

    def _take_tickets(
        self, session: Session, kiosk: Kiosk, request: ClaimRequest, idempotency_key: str | None
    ) -> ClaimResponse:
        now = self.clock.now()
        order = session.get(Order, request.order_id)
        if order is None:
            raise Refusal(ErrorCode.UNKNOWN_CODE, "no such order")
        showing = self._check_order_open(session, order, kiosk, now)
        owned = {t.id: t for t in self._order_tickets(session, order.id)}
        missing = [tid for tid in request.ticket_ids if tid not in owned]
        if missing:
            raise Refusal(ErrorCode.TICKET_NOT_AVAILABLE, "a ticket is not part of this order", {"ticket_ids": missing})
        self.expire_leases(session, now, order.id)
        claim_id = new_id("clm")
        lease = now + timedelta(seconds=self.settings.claim_lease_seconds)
        # One conditional UPDATE: on PostgreSQL a concurrent claim waits on the row locks and then
        # re-checks the condition, on SQLite writers are serialised; either way one claim wins.
        taken: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            update(Ticket)
            .where(
                Ticket.id.in_(request.ticket_ids),
                Ticket.order_id == order.id,
                or_(
                    Ticket.status == TicketStatus.AVAILABLE.value,
                    # Never a ticket that may have reached a printer (expire_leases above settled
                    # the lapsed ones already; this keeps the rule in the statement itself).
                    and_(
                        Ticket.status == TicketStatus.CLAIMED.value,
                        Ticket.lease_expires_at <= now,
                        Ticket.print_started_at.is_(None),
                    ),
                ),
            )
            .values(
                status=TicketStatus.CLAIMED.value, claim_id=claim_id, lease_expires_at=lease, print_started_at=None
            )
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount != len(request.ticket_ids):
            raise TicketsTaken()
        session.add(
            Claim(
                id=claim_id,
                kiosk_id=kiosk.id,
                order_id=order.id,
                idempotency_key=idempotency_key,
                created_at=now,
                lease_expires_at=lease,
                open=True,
            )
        )
        session.flush()
        signer = self.keyring.current(session, now)
        for position, tid in enumerate(request.ticket_ids):
            token = tokens.sign_token(
                signer.private_key,
                tokens.TokenClaims(
                    kind=tokens.KIND_TICKET,
                    key_id=signer.key_id,
                    token_id=new_id("et"),
                    order_id=order.id,
                    cinema_id=order.cinema_id,
                    expires_at=showing.ends_at,
                    ticket_id=tid,
                ),
            )
            session.add(ClaimTicket(claim_id=claim_id, ticket_id=tid, position=position, entrance_token=token))
        audit(session, now, kiosk.id, "claim", order.id, claim_id=claim_id, tickets=request.ticket_ids)
        session.flush()
        return self._claim_response(session, session.get_one(Claim, claim_id))

    def _claim_response(self, session: Session, claim: Claim) -> ClaimResponse:
        rows = session.execute(
            select(ClaimTicket, Ticket)
            .join(Ticket, Ticket.id == ClaimTicket.ticket_id)
            .where(ClaimTicket.claim_id == claim.id)
            .order_by(ClaimTicket.position)
        ).all()
        return ClaimResponse(
            claim_id=claim.id,
            order_id=claim.order_id,
            lease_expires_at=claim.lease_expires_at,
            tickets=[
                ClaimedTicket(
                    ticket_id=t.id, row=t.row, seat=t.seat, price_fen=t.price_fen, entrance_token=ct.entrance_token
                )
                for ct, t in rows
            ],
        )

    def _replay_claim(self, kiosk: Kiosk, request: ClaimRequest, idempotency_key: str | None) -> ClaimResponse | None:
        if idempotency_key is None:
            return None
        with self.sessions() as session:
            claim = session.scalars(
                select(Claim).where(Claim.kiosk_id == kiosk.id, Claim.idempotency_key == idempotency_key)
            ).first()
            if claim is None:
                return None
            response = self._claim_response(session, claim)
        if claim.order_id != request.order_id or [t.ticket_id for t in response.tickets] != list(request.ticket_ids):
            raise Refusal(ErrorCode.BAD_REQUEST, "this Idempotency-Key was used for a different claim")
        return response

    # ---- about to print --------------------------------------------------------------

    def start_printing(self, kiosk: Kiosk, claim_id: str, notice: PrintNotice) -> PrintPermit:
        """The kiosk is about to send a ticket's bytes to its printer: allowed only under a live lease.

        Idempotent: the same notice again answers the same permit while the lease lives.
        """
        with self.sessions.begin() as session:
            now = self.clock.now()
            claim = self._locked_claim(session, kiosk, claim_id, now)
            member = session.get(ClaimTicket, (claim.id, notice.ticket_id))
            if member is None:
                raise Refusal(ErrorCode.BAD_REQUEST, "this ticket is not part of this claim",
                              {"ticket_ids": [notice.ticket_id]})
            if not claim.open or now >= claim.lease_expires_at:
                raise Refusal(ErrorCode.CLAIM_EXPIRED, "this claim's lease has run out: do not print it",
                              {"lease_expired_at": iso(claim.lease_expires_at)})
            ticket = session.get_one(Ticket, notice.ticket_id, with_for_update=True)
            if member.outcome is not None or ticket.claim_id != claim.id or \
                    ticket.status != TicketStatus.CLAIMED.value:
                # Reported already, or refunded meanwhile: it is not this claim's to print.
                raise Refusal(ErrorCode.TICKET_NOT_AVAILABLE, "this ticket is no longer held by this claim",
                              {"ticket_ids": [notice.ticket_id]})
            if ticket.print_started_at is None:
                ticket.print_started_at = now
                audit(session, now, kiosk.id, "print_started", claim.order_id, claim_id=claim.id,
                      ticket_id=ticket.id)
            self._renew_lease(session, claim, now)
            return PrintPermit(claim_id=claim.id, ticket_id=ticket.id, lease_expires_at=claim.lease_expires_at)

    # ---- reports ---------------------------------------------------------------------

    def report(self, kiosk: Kiosk, claim_id: str, report: ClaimReport) -> ClaimStatus:
        with self.sessions.begin() as session:
            now = self.clock.now()
            if report.entrance_tokens and session.get(Claim, claim_id) is None:
                return self._report_without_claim(session, kiosk, claim_id, report, now)
            claim = self._locked_claim(session, kiosk, claim_id, now)
            members = {
                ct.ticket_id: ct for ct in session.scalars(select(ClaimTicket).where(ClaimTicket.claim_id == claim.id))
            }
            strangers = sorted(set(report.outcomes) - set(members))
            if strangers:
                raise Refusal(
                    ErrorCode.BAD_REQUEST, "a reported ticket is not part of this claim", {"ticket_ids": strangers}
                )
            lease_live = claim.open and now < claim.lease_expires_at
            for ticket_id, outcome in sorted(report.outcomes.items()):
                self._apply_outcome(session, kiosk, claim, members[ticket_id], outcome, lease_live, now)
            if lease_live:
                self._renew_lease(session, claim, now)
                claim.open = any(ct.outcome is None for ct in members.values())
            return self._claim_status(session, claim, list(members.values()), now)

    def _report_without_claim(
        self, session: Session, kiosk: Kiosk, claim_id: str, report: ClaimReport, now: datetime
    ) -> ClaimStatus:
        """A report for a claim this central has no record of (e.g. restored from a backup older than it).

        A ticket that is, or may be, on paper is recorded all the same when its entrance token,
        signed by this central for that ticket of this kiosk's cinema, proves the claim existed:
        otherwise the ticket would be offered again.  Without that proof: ``claim_not_found``.
        """
        keys = self.keyring.verifying_keys(session, now)
        settled: dict[str, TicketStatus] = {}
        for ticket_id, outcome in sorted(report.outcomes.items()):
            if outcome == TicketOutcome.RELEASED:
                continue  # never reached a printer: nothing to protect
            ticket = self._proven_ticket(session, kiosk, ticket_id, report.entrance_tokens.get(ticket_id), keys, now)
            if ticket is None:
                raise Refusal(ErrorCode.CLAIM_NOT_FOUND, "no such claim for this kiosk", {"ticket_ids": [ticket_id]})
            self.expire_leases(session, now, ticket.order_id)  # a lapsed claim of another kiosk lets go first
            status = effective_status(ticket, now)
            if status is TicketStatus.AVAILABLE:
                ticket.claim_id = None
                ticket.lease_expires_at = None
                ticket.print_started_at = None
                if outcome == TicketOutcome.PRINTED:
                    ticket.status = TicketStatus.PRINTED.value
                    ticket.printed_at = now
                    ticket.printed_by = kiosk.id
                else:
                    ticket.status = TicketStatus.IN_DOUBT.value
                audit(session, now, kiosk.id, "report_without_claim", ticket.order_id, claim_id=claim_id,
                      ticket_id=ticket.id, reported=outcome.value)
            elif not (status is TicketStatus.PRINTED and ticket.printed_by == kiosk.id):
                # Held by another claim, printed elsewhere, refunded: staff untangle it.
                audit(session, now, kiosk.id, "report_without_claim_conflict", ticket.order_id, claim_id=claim_id,
                      ticket_id=ticket.id, reported=outcome.value, ticket_status=status.value)
            settled[ticket_id] = effective_status(ticket, now)
        if not settled:
            raise Refusal(ErrorCode.CLAIM_NOT_FOUND, "no such claim for this kiosk")
        return ClaimStatus(claim_id=claim_id, open=False, tickets=settled)

    @staticmethod
    def _proven_ticket(
        session: Session,
        kiosk: Kiosk,
        ticket_id: str,
        entrance_token: str | None,
        keys: dict[str, Ed25519PublicKey],
        now: datetime,
    ) -> Ticket | None:
        """The ticket, when ``entrance_token`` is this central's valid, unrevoked token for it in the kiosk's cinema."""
        if entrance_token is None:
            return None
        try:
            proof = tokens.verify_token(entrance_token, keys, frozenset(), now)
        except tokens.TokenError:
            return None
        if proof.kind != tokens.KIND_TICKET or proof.ticket_id != ticket_id or proof.cinema_id != kiosk.cinema_id:
            return None
        if session.scalars(select(Revocation.id).where(Revocation.token_id == proof.token_id)).first() is not None:
            return None  # the central took this ticket back from that claim: it knows what happened
        ticket = session.get(Ticket, ticket_id, with_for_update=True)
        if ticket is None or ticket.order_id != proof.order_id:
            return None
        return ticket

    def _apply_outcome(
        self,
        session: Session,
        kiosk: Kiosk,
        claim: Claim,
        member: ClaimTicket,
        outcome: TicketOutcome,
        lease_live: bool,
        now: datetime,
    ) -> None:
        if member.outcome == outcome.value:
            return  # a repeated report: nothing to do
        upgrade = member.outcome == TicketOutcome.IN_DOUBT.value and outcome == TicketOutcome.PRINTED
        if member.outcome is not None and not upgrade:
            audit(
                session,
                now,
                kiosk.id,
                "report_conflict",
                claim.order_id,
                claim_id=claim.id,
                ticket_id=member.ticket_id,
                first=member.outcome,
                now_reported=outcome.value,
            )
            return
        ticket = session.get_one(Ticket, member.ticket_id, with_for_update=True)
        still_ours = ticket.claim_id == claim.id and ticket.status in (
            TicketStatus.CLAIMED.value,
            TicketStatus.IN_DOUBT.value,
        )
        member.reported_at = now
        if not still_ours:
            # The lease ran out before the ticket was about to print (or a refund took it): it was
            # released and may belong to another claim now.
            member.outcome = (
                TicketOutcome.RELEASED.value if outcome == TicketOutcome.RELEASED else TicketOutcome.IN_DOUBT.value
            )
            if outcome != TicketOutcome.RELEASED:
                audit(
                    session,
                    now,
                    kiosk.id,
                    "late_report_conflict",
                    claim.order_id,
                    claim_id=claim.id,
                    ticket_id=ticket.id,
                    reported=outcome.value,
                    ticket_status=ticket.status,
                    held_by_claim=ticket.claim_id,
                )
            return
        if not lease_live:
            audit(
                session,
                now,
                kiosk.id,
                "late_report",
                claim.order_id,
                claim_id=claim.id,
                ticket_id=ticket.id,
                reported=outcome.value,
            )
        member.outcome = outcome.value
        ticket.lease_expires_at = None
        if outcome == TicketOutcome.PRINTED:
            ticket.status = TicketStatus.PRINTED.value
            ticket.printed_at = now
            ticket.printed_by = kiosk.id
        elif outcome == TicketOutcome.RELEASED:
            # The kiosk knows its bytes never reached the printer: collectable again, under a new token.
            ticket.status = TicketStatus.AVAILABLE.value
            ticket.claim_id = None
            ticket.print_started_at = None
            revoke_entrance_token(session, member, claim.order_id, "released", now)
        else:
            ticket.status = TicketStatus.IN_DOUBT.value
            audit(session, now, kiosk.id, "ticket_in_doubt", claim.order_id, claim_id=claim.id, ticket_id=ticket.id)

    @staticmethod
    def _claim_status(session: Session, claim: Claim, members: list[ClaimTicket], now: datetime) -> ClaimStatus:
        by_outcome = {
            TicketOutcome.PRINTED.value: TicketStatus.PRINTED,
            TicketOutcome.RELEASED.value: TicketStatus.AVAILABLE,
            TicketOutcome.IN_DOUBT.value: TicketStatus.IN_DOUBT,
        }
        ids = [m.ticket_id for m in members]
        tickets = {t.id: t for t in session.scalars(select(Ticket).where(Ticket.id.in_(ids)))}

        def unreported(ticket: Ticket) -> TicketStatus:
            if ticket.claim_id != claim.id:
                return TicketStatus.AVAILABLE  # released by the lease, or refunded: no longer this claim's
            return effective_status(ticket, now)

        return ClaimStatus(
            claim_id=claim.id,
            open=claim.open and now < claim.lease_expires_at,
            tickets={
                ct.ticket_id: by_outcome[ct.outcome] if ct.outcome else unreported(tickets[ct.ticket_id])
                for ct in members
            },
        )
