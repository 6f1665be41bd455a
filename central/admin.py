"""Head-office operations behind the CLI: orders, refunds, code revocation, kiosks, keys."""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend_client.wire import TicketStatus
from central.codes import IssuedCode, issue_code, revoke_live_codes  # noqa: F401  (IssuedCode: re-exported)
from central.models import (
    AuditEntry,
    Cinema,
    Claim,
    ClaimTicket,
    Film,
    Hall,
    Kiosk,
    Order,
    Showing,
    Ticket,
)
from central.secret_store import hash_kiosk_secret, new_kiosk_secret
from central.service import Central, audit, effective_status, iso, new_id, revoke_entrance_token

SEAT_RE = re.compile(r"^([A-Z]{1,2})([0-9]{1,3})$")
ACTOR = "cli"


class AdminError(Exception):
    """An operator asked for something impossible; the message says what."""


def parse_seats(text: str) -> list[tuple[str, str]]:
    seats = []
    for item in (s.strip().upper() for s in text.split(",")):
        match = SEAT_RE.match(item)
        if match is None:
            raise AdminError(f"bad seat {item!r}: write seats like A1,A2")
        seats.append((match.group(1), match.group(2)))
    if len(set(seats)) != len(seats):
        raise AdminError("a seat is named twice")
    return seats


def create_order(
    central: Central,
    session: Session,
    showing_id: str,
    seats: list[tuple[str, str]],
    price_fen: int,
    order_id: str | None = None,
    code: tuple[str, str] | None = None,
) -> dict[str, Any]:
    now = central.clock.now()
    showing = session.get(Showing, showing_id)
    if showing is None:
        raise AdminError(f"no showing {showing_id!r}")
    if price_fen < 0:
        raise AdminError("price cannot be negative")
    hall = session.get_one(Hall, showing.hall_id)
    taken = session.scalars(
        select(Ticket).where(Ticket.showing_id == showing_id, Ticket.status != TicketStatus.REFUNDED.value)
    ).all()
    clash = sorted(f"{t.row}{t.seat}" for t in taken if (t.row, t.seat) in set(seats))
    if clash:
        raise AdminError(f"seats already sold for this showing: {','.join(clash)}")
    order = Order(
        id=order_id or new_id("ord"), cinema_id=hall.cinema_id, showing_id=showing_id, status="paid", created_at=now
    )
    session.add(order)
    session.flush()
    ticket_ids = []
    for row, seat in seats:
        ticket = Ticket(
            id=new_id("tkt"),
            order_id=order.id,
            showing_id=showing_id,
            row=row,
            seat=seat,
            price_fen=price_fen,
            status=TicketStatus.AVAILABLE.value,
        )
        session.add(ticket)
        ticket_ids.append(ticket.id)
    session.flush()
    issued = issue_code(central, session, order, now, *(code or (None, None)))
    audit(session, now, ACTOR, "order_created", order.id, seats=[f"{r}{s}" for r, s in seats])
    return {
        "order_id": order.id,
        "showing_id": showing_id,
        "cinema_id": order.cinema_id,
        "ticket_ids": ticket_ids,
        "seats": [f"{r}{s}" for r, s in seats],
        **issued.as_json(),
    }


def _order(session: Session, order_id: str) -> Order:
    order = session.get(Order, order_id, with_for_update=True)
    if order is None:
        raise AdminError(f"no order {order_id!r}")
    return order


def refund(central: Central, session: Session, order_id: str) -> dict[str, Any]:
    """Refund an order none of whose tickets is printed, being printed or in doubt.

    A ticket that may be on paper is never refunded here: printed ones at the box office, in
    doubt ones once staff have decided, one being printed when its kiosk has reported it.
    Every entrance token issued for the order's tickets is revoked.
    """
    now = central.clock.now()
    order = _order(session, order_id)
    if order.status == "refunded":
        return {"order_id": order.id, "status": "refunded", "already": True}
    central.expire_leases(session, now, order.id)
    tickets = session.scalars(select(Ticket).where(Ticket.order_id == order.id).with_for_update()).all()
    if any(t.status == TicketStatus.PRINTED.value for t in tickets):
        raise AdminError(f"order {order.id} has printed tickets; refund them at the box office")
    if any(effective_status(t, now) is TicketStatus.IN_DOUBT for t in tickets):
        raise AdminError(f"order {order.id} has tickets in doubt (they may be on paper); staff decide them first")
    if any(t.status == TicketStatus.CLAIMED.value and t.print_started_at is not None for t in tickets):
        raise AdminError(f"order {order.id} has a ticket being printed at a kiosk now; try again in a few minutes")
    for ticket in tickets:
        ticket.status = TicketStatus.REFUNDED.value
        ticket.claim_id = None
        ticket.lease_expires_at = None
    members = session.scalars(select(ClaimTicket).where(ClaimTicket.ticket_id.in_([t.id for t in tickets]))).all()
    for member in members:
        revoke_entrance_token(session, member, order.id, "refunded", now)
    for claim in session.scalars(select(Claim).where(Claim.order_id == order.id, Claim.open.is_(True))):
        claim.open = False  # its kiosk's next "about to print" is refused
    order.status = "refunded"
    audit(session, now, ACTOR, "refund", order.id, entrance_tokens_revoked=len(members))
    return {"order_id": order.id, "status": "refunded", "already": False}


def revoke_codes(central: Central, session: Session, order_id: str) -> dict[str, Any]:
    """The old code and QR stop working now; a new code and QR are issued."""
    now = central.clock.now()
    order = _order(session, order_id)
    if order.status == "refunded":
        raise AdminError(f"order {order.id} is refunded")
    revoke_live_codes(session, order.id, "codes_revoked", now)
    issued = issue_code(central, session, order, now)
    audit(session, now, ACTOR, "codes_revoked", order.id)
    return {"order_id": order.id, **issued.as_json()}


def order_summary(central: Central, session: Session, order_id: str) -> dict[str, Any]:
    now = central.clock.now()
    order = _order(session, order_id)
    tickets = session.scalars(select(Ticket).where(Ticket.order_id == order.id)).all()
    return {
        "order_id": order.id,
        "status": order.status,
        "tickets": {t.id: effective_status(t, now).value for t in tickets},
        "audit": [
            {"at": iso(e.at), "actor": e.actor, "action": e.action, "details": json.loads(e.details)}
            for e in session.scalars(select(AuditEntry).where(AuditEntry.order_id == order.id).order_by(AuditEntry.id))
        ],
    }


def enrol_kiosk(
    central: Central, session: Session, name: str, cinema_id: str, kiosk_id: str | None = None
) -> dict[str, Any]:
    now = central.clock.now()
    if not name.strip():
        raise AdminError("a kiosk needs a name")
    if session.get(Cinema, cinema_id) is None:
        raise AdminError(f"no cinema {cinema_id!r}")
    secret = new_kiosk_secret()
    kiosk = Kiosk(
        id=kiosk_id or new_id("kiosk"),
        name=name.strip(),
        cinema_id=cinema_id,
        secret_hash=hash_kiosk_secret(secret),
        revoked=False,
        created_at=now,
    )
    session.add(kiosk)
    audit(session, now, ACTOR, "kiosk_enrolled", kiosk_id=kiosk.id, name=kiosk.name)
    return {"kiosk_id": kiosk.id, "name": kiosk.name, "cinema_id": cinema_id, "credential": f"{kiosk.id}.{secret}"}


def _kiosk(session: Session, kiosk_id: str) -> Kiosk:
    kiosk = session.get(Kiosk, kiosk_id)
    if kiosk is None:
        raise AdminError(f"no kiosk {kiosk_id!r}")
    return kiosk


def rotate_kiosk(central: Central, session: Session, kiosk_id: str) -> dict[str, Any]:
    kiosk = _kiosk(session, kiosk_id)
    secret = new_kiosk_secret()
    kiosk.secret_hash = hash_kiosk_secret(secret)  # a revoked kiosk stays revoked
    audit(session, central.clock.now(), ACTOR, "kiosk_rotated", kiosk_id=kiosk.id)
    return {
        "kiosk_id": kiosk.id,
        "name": kiosk.name,
        "cinema_id": kiosk.cinema_id,
        "credential": f"{kiosk.id}.{secret}",
    }


def revoke_kiosk(central: Central, session: Session, kiosk_id: str) -> dict[str, Any]:
    kiosk = _kiosk(session, kiosk_id)
    kiosk.revoked = True
    audit(session, central.clock.now(), ACTOR, "kiosk_revoked", kiosk_id=kiosk.id)
    return {"kiosk_id": kiosk.id, "revoked": True}


def rotate_keys(central: Central, session: Session) -> dict[str, Any]:
    now = central.clock.now()
    new, retired = central.keyring.rotate(session, now)
    audit(session, now, ACTOR, "keys_rotated", key_id=new.key_id, retired=[r.id for r in retired])
    return {
        "key_id": new.key_id,
        "retired": [{"key_id": r.id, "verifies_until": iso(r.not_after) if r.not_after else None} for r in retired],
    }


def list_showings(central: Central, session: Session, cinema_id: str | None = None,
                  include_past: bool = False) -> dict[str, Any]:
    """Showings (soonest first) with their film, hall and seats sold: the ids `create-order` takes."""
    now = central.clock.now()
    if cinema_id is not None and session.get(Cinema, cinema_id) is None:
        raise AdminError(f"no cinema {cinema_id!r}")
    query = (
        select(Showing, Film, Hall)
        .join(Film, Film.id == Showing.film_id)
        .join(Hall, Hall.id == Showing.hall_id)
        .order_by(Showing.starts_at, Showing.id)
    )
    if cinema_id is not None:
        query = query.where(Hall.cinema_id == cinema_id)
    if not include_past:
        query = query.where(Showing.ends_at > now)
    showings = []
    for showing, film, hall in session.execute(query).tuples():
        sold = session.scalars(
            select(Ticket.id).where(Ticket.showing_id == showing.id, Ticket.status != TicketStatus.REFUNDED.value)
        ).all()
        showings.append({
            "showing_id": showing.id,
            "film_title": film.title,
            "cinema_id": hall.cinema_id,
            "hall": hall.name,
            "starts_at": iso(showing.starts_at),
            "ends_at": iso(showing.ends_at),
            "seats_sold": len(sold),
        })
    return {"showings": showings}


def list_kiosks(central: Central, session: Session, cinema_id: str | None = None) -> dict[str, Any]:
    """Enrolled kiosks (never their credentials): the ids `kiosk rotate` and `kiosk revoke` take."""
    if cinema_id is not None and session.get(Cinema, cinema_id) is None:
        raise AdminError(f"no cinema {cinema_id!r}")
    query = select(Kiosk).order_by(Kiosk.cinema_id, Kiosk.name, Kiosk.id)
    if cinema_id is not None:
        query = query.where(Kiosk.cinema_id == cinema_id)
    return {
        "kiosks": [
            {"kiosk_id": k.id, "name": k.name, "cinema_id": k.cinema_id, "revoked": k.revoked,
             "enrolled_at": iso(k.created_at)}
            for k in session.scalars(query)
        ]
    }
