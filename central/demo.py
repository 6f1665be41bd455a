"""Demo data: one cinema with halls, Chinese-titled films, showings around now and paid orders
with fixed, published pickup codes (for demos and tests only)."""

from __future__ import annotations

import hmac
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend_client.wire import TicketStatus
from central import admin
from central.models import Cinema, Film, Hall, Kiosk, Order, Showing, Ticket
from central.secret_store import hash_kiosk_secret, split_credential
from central.service import Central, iso

CINEMA_ID = "cinema-demo"
OTHER_CINEMA_ID = "cinema-demo-2"
KIOSK_ID = "kiosk-demo-1"
KIOSK_NAME = "Lobby-01-03"

CINEMAS = [(CINEMA_ID, "演示影城"), (OTHER_CINEMA_ID, "演示影城二店")]
HALLS = [
    ("hall-demo-1", CINEMA_ID, "1号厅"),
    ("hall-demo-2", CINEMA_ID, "2号厅 IMAX"),
    ("hall-demo2-1", OTHER_CINEMA_ID, "1号厅"),
]
FILMS = [
    ("film-demo-1", "流浪地球2", "The Wandering Earth II"),
    ("film-demo-2", "长安三万里", None),
    ("film-demo-3", "哪吒之魔童闹海", "Ne Zha 2"),
]
# name: film, hall, start and end relative to the first demo-data run
SHOWINGS: dict[str, tuple[str, str, timedelta, timedelta]] = {
    "soon": ("film-demo-1", "hall-demo-1", timedelta(hours=2), timedelta(hours=4, minutes=53)),
    "later_today": ("film-demo-2", "hall-demo-2", timedelta(hours=5), timedelta(hours=7, minutes=48)),
    "tomorrow": ("film-demo-3", "hall-demo-1", timedelta(hours=30), timedelta(hours=32, minutes=24)),
    "past": ("film-demo-2", "hall-demo-1", timedelta(hours=-4), timedelta(hours=-1, minutes=-12)),
    "other_cinema": ("film-demo-1", "hall-demo2-1", timedelta(hours=3), timedelta(hours=5, minutes=53)),
}
# name: showing, seats, price, serial, verification.  Published codes: demo use only.
ORDERS: dict[str, tuple[str, str, int, str, str]] = {
    "ready": ("soon", "F7,F8", 4500, "100001", "314159"),
    "ready_2": ("soon", "F9", 4500, "100009", "577215"),
    "ready_3": ("later_today", "B1,B2", 6800, "100010", "662607"),
    "single": ("later_today", "H10", 6800, "100002", "271828"),
    "group": ("later_today", "J1,J2,J3,J4", 6800, "100003", "161803"),
    "not_yet_open": ("tomorrow", "E5,E6", 5200, "100004", "141421"),
    "show_over": ("past", "D3", 3900, "100005", "173205"),
    "refunded": ("soon", "G1", 4500, "100006", "223606"),
    "other_cinema": ("other_cinema", "C2", 4500, "100007", "244948"),
    "collected": ("soon", "K3,K4", 4500, "100008", "264575"),
}


def _order_id(name: str) -> str:
    return "ord-demo-" + name.replace("_", "-")


def _build(central: Central, session: Session, now: datetime) -> None:
    for cid, name in CINEMAS:
        session.add(Cinema(id=cid, name=name, timezone="Asia/Shanghai"))
    for hid, cid, name in HALLS:
        session.add(Hall(id=hid, cinema_id=cid, name=name))
    for fid, title, original in FILMS:
        session.add(Film(id=fid, title=title, original_title=original))
    start_of_minute = now.replace(second=0, microsecond=0)
    for name, (film, hall, start, end) in SHOWINGS.items():
        session.add(
            Showing(
                id=f"show-demo-{name.replace('_', '-')}",
                film_id=film,
                hall_id=hall,
                starts_at=start_of_minute + start,
                ends_at=start_of_minute + end,
            )
        )
    session.flush()
    for name, (showing, seats, price, serial, verification) in ORDERS.items():
        admin.create_order(
            central,
            session,
            f"show-demo-{showing.replace('_', '-')}",
            admin.parse_seats(seats),
            price,
            order_id=_order_id(name),
            code=(serial, verification),
        )
    admin.enrol_kiosk(central, session, KIOSK_NAME, CINEMA_ID, kiosk_id=KIOSK_ID)
    session.flush()
    admin.refund(central, session, _order_id("refunded"))
    for ticket in session.scalars(select(Ticket).where(Ticket.order_id == _order_id("collected"))):
        ticket.status = TicketStatus.PRINTED.value
        ticket.printed_at = now - timedelta(minutes=30)
        ticket.printed_by = KIOSK_ID


def _describe(central: Central, session: Session, now: datetime) -> dict[str, Any]:
    showings = {}
    for name in SHOWINGS:
        showing = session.get_one(Showing, f"show-demo-{name.replace('_', '-')}")
        film = session.get_one(Film, showing.film_id)
        showings[name] = {
            "showing_id": showing.id,
            "film_title": film.title,
            "hall_id": showing.hall_id,
            "starts_at": iso(showing.starts_at),
            "ends_at": iso(showing.ends_at),
        }
    orders = {}
    for name, (showing_name, _seats, _price, serial, verification) in ORDERS.items():
        order = session.get_one(Order, _order_id(name))
        tickets = list(
            session.scalars(select(Ticket).where(Ticket.order_id == order.id).order_by(Ticket.row, Ticket.seat))
        )
        issued = admin.issue_code(central, session, order, now, serial, verification)
        orders[name] = {
            "order_id": order.id,
            "showing_id": showings[showing_name]["showing_id"],
            "ticket_ids": [t.id for t in tickets],
            "seats": [f"{t.row}{t.seat}" for t in tickets],
            **issued.as_json(),
        }
    return {
        "cinema_id": CINEMA_ID,
        "cinema_name": CINEMAS[0][1],
        "other_cinema_id": OTHER_CINEMA_ID,
        "kiosk_id": KIOSK_ID,
        "kiosk_name": KIOSK_NAME,
        "showings": showings,
        "orders": orders,
    }


def _credential_still_valid(session: Session, path: Path) -> bool:
    try:
        parts = split_credential(path.read_text(encoding="ascii").strip())
    except (OSError, UnicodeDecodeError):
        return False
    kiosk = session.get(Kiosk, KIOSK_ID)
    return (
        parts is not None
        and kiosk is not None
        and not kiosk.revoked
        and parts[0] == KIOSK_ID
        and hmac.compare_digest(kiosk.secret_hash, hash_kiosk_secret(parts[1]))
    )


def _write_credential(path: Path, credential: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(credential + "\n")
    tmp.replace(path)  # never a half-written credential file


def load_demo(central: Central, credential_out: Path | None) -> dict[str, Any]:
    """Create the demo data once; every run prints the same description (idempotent)."""
    with central.sessions.begin() as session:
        now = central.clock.now()
        if session.get(Cinema, CINEMA_ID) is None:
            _build(central, session, now)
            session.flush()
        if credential_out is not None and not _credential_still_valid(session, credential_out):
            kiosk = session.get(Kiosk, KIOSK_ID)
            if kiosk is None or kiosk.revoked:
                raise admin.AdminError(f"the demo kiosk {KIOSK_ID} is revoked")
            _write_credential(credential_out, admin.rotate_kiosk(central, session, KIOSK_ID)["credential"])
        return _describe(central, session, now)
