"""Claim leases: renewed by every \"about to print\" and report, settled when they run out."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend_client.wire import ErrorCode, TicketStatus
from central.common import Refusal, audit, revoke_entrance_token
from central.context import CentralBase
from central.models import Claim, ClaimTicket, Kiosk, Ticket


class LeasesArea(CentralBase):
    """Leases of claims: renewed by each "about to print" and report, settled once they run out."""

    def expire_leases(self, session: Session, now: datetime, order_id: str | None = None) -> int:
        """Settle every open claim whose lease has passed (of one order, or all). Returns how many.

        A ticket its kiosk never said was about to print is released (collectable again) and
        its entrance token revoked; one that may have reached a printer becomes in doubt and is
        never offered to another kiosk: staff decide.  Runs inside the caller's transaction.
        """
        query = select(Claim).where(Claim.open.is_(True), Claim.lease_expires_at <= now)
        if order_id is not None:
            query = query.where(Claim.order_id == order_id)
        claims = list(session.scalars(query.order_by(Claim.id).with_for_update()))
        for claim in claims:
            self._lapse(session, claim, now)
        return len(claims)

    def _lapse(self, session: Session, claim: Claim, now: datetime) -> None:
        if not claim.open or now < claim.lease_expires_at:
            return  # settled meanwhile by another transaction, or renewed
        members = {
            ct.ticket_id: ct for ct in session.scalars(select(ClaimTicket).where(ClaimTicket.claim_id == claim.id))
        }
        held = session.scalars(
            select(Ticket)
            .where(Ticket.claim_id == claim.id, Ticket.status == TicketStatus.CLAIMED.value)
            .order_by(Ticket.id)
            .with_for_update()
        ).all()
        released: list[str] = []
        doubtful: list[str] = []
        for ticket in held:
            ticket.lease_expires_at = None
            if ticket.print_started_at is not None:
                ticket.status = TicketStatus.IN_DOUBT.value
                doubtful.append(ticket.id)
                audit(session, now, "central", "ticket_in_doubt", claim.order_id, claim_id=claim.id,
                      ticket_id=ticket.id, reason="lease_expired")
            else:
                ticket.status = TicketStatus.AVAILABLE.value
                ticket.claim_id = None
                released.append(ticket.id)
                revoke_entrance_token(session, members[ticket.id], claim.order_id, "lease_expired", now)
        claim.open = False
        audit(session, now, "central", "lease_expired", claim.order_id, claim_id=claim.id, kiosk_id=claim.kiosk_id,
              released=released, in_doubt=doubtful)

    def _locked_claim(self, session: Session, kiosk: Kiosk, claim_id: str, now: datetime) -> Claim:
        claim = session.get(Claim, claim_id, with_for_update=True)
        if claim is None or claim.kiosk_id != kiosk.id:
            raise Refusal(ErrorCode.CLAIM_NOT_FOUND, "no such claim for this kiosk")
        if claim.open and claim.lease_expires_at <= now:
            self._lapse(session, claim, now)
        return claim

    def _renew_lease(self, session: Session, claim: Claim, now: datetime) -> None:
        claim.lease_expires_at = now + timedelta(seconds=self.settings.claim_lease_seconds)
        # The tickets carry their own copy of the lease: it is what a competing claim checks.
        session.execute(
            update(Ticket)
            .where(Ticket.claim_id == claim.id, Ticket.status == TicketStatus.CLAIMED.value)
            .values(lease_expires_at=claim.lease_expires_at)
            .execution_options(synchronize_session=False)
        )
