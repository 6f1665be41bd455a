"""What every area of the central shares: refusals, ids, times, the audit log, ticket status rules."""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend_client import tokens
from backend_client.wire import ErrorCode, TicketStatus
from central.models import AuditEntry, ClaimTicket, Revocation, Ticket

MAX_IDEMPOTENCY_KEY = 128


class Refusal(Exception):
    """A refusal in the wire format: its code decides the HTTP status."""

    def __init__(self, code: ErrorCode, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(8)}"


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def audit(
    session: Session, now: datetime, actor: str, action: str, order_id: str | None = None, **details: Any
) -> None:
    session.add(
        AuditEntry(at=now, actor=actor, action=action, order_id=order_id, details=json.dumps(details, default=str))
    )


def lease_lapsed(ticket: Ticket, now: datetime) -> bool:
    return ticket.status == TicketStatus.CLAIMED.value and (
        ticket.lease_expires_at is None or ticket.lease_expires_at <= now
    )


def effective_status(ticket: Ticket, now: datetime) -> TicketStatus:
    """A claimed ticket whose lease ran out: in doubt when it may have reached a printer, else available."""
    if lease_lapsed(ticket, now):
        return TicketStatus.IN_DOUBT if ticket.print_started_at is not None else TicketStatus.AVAILABLE
    return TicketStatus(ticket.status)


def revoke_entrance_token(
    session: Session, member: ClaimTicket, order_id: str, reason: str, now: datetime
) -> None:
    """The claim lost this ticket: its entrance token must not open a door (idempotent)."""
    token_id = tokens.parse_unverified(member.entrance_token)[0].token_id
    if session.scalars(select(Revocation.id).where(Revocation.token_id == token_id)).first() is None:
        session.add(Revocation(token_id=token_id, order_id=order_id, reason=reason, revoked_at=now))
        session.flush()
