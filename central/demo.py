"""Demo data: one cinema with halls, Chinese-titled films, showings around now and paid orders
with fixed, published pickup codes (for demos and tests only); year-card types, demo cards, the
demo kiosk's PSAM, seat layouts, and staff users with published demo passwords (demo only)."""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend_client.wire import StaffRole, TicketStatus
from central import accounts, admin, card_ledger, staff
from central.models import Card, Cinema, FaceTemplate, Film, Hall, HallSeat, Kiosk, Order, Showing, Ticket
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
    # Started 10 minutes ago: its tickets are still collectable, but past recovery's loss-report deadline.
    "started": ("film-demo-3", "hall-demo-2", timedelta(minutes=-10), timedelta(hours=2, minutes=14)),
}
# The format of each hall's showings (a card type covers some formats).
HALL_FORMATS = {"hall-demo-1": "2D", "hall-demo-2": "IMAX", "hall-demo2-1": "3D"}
# Every demo hall: rows A..K nearest the screen first, seats 1..12 with an aisle after seat 6;
# the back row's first two seats are wheelchair places.
SEAT_ROWS = "ABCDEFGHIJK"
SEATS_PER_ROW = 12
AISLE_AFTER = 6
ACCESSIBLE_SEATS = {("K", "1"), ("K", "2")}

# Year-cards. code: name, formats (visits per person), max people, visits, settlement fen per visit.
CARD_TYPES: dict[int, tuple[str, dict[str, int], int, int, int]] = {
    1: ("年卡", {"2D": 1, "3D": 1, "IMAX": 2}, 2, 10, 3000),
    2: ("团票卡", {"2D": 1, "3D": 1}, 8, 20, 2500),
}
OTHER_CINEMA_PRICE = (1, 3500)  # the second cinema agreed another price for type 1
# The demo kiosk's PSAM (cinema code 00000001, terminal 0001) and one of the second cinema.
DEMO_TERMINAL_ID = "000000010001"
OTHER_TERMINAL_ID = "000000020001"


@dataclass(frozen=True)
class DemoCard:
    card_number: str
    card_type: int
    visits: int
    state: str  # "active" | "made" | "expired" | "blacklisted"


# name -> demo card (images for the emulator: write_demo_card_images).
DEMO_CARDS: dict[str, DemoCard] = {
    "active": DemoCard("8800000000000011", 1, 10, "active"),
    "unsold": DemoCard("8800000000000012", 1, 10, "made"),
    "group": DemoCard("8800000000000013", 2, 20, "active"),
    "last_visit": DemoCard("8800000000000014", 1, 1, "active"),
    "expired": DemoCard("8800000000000015", 1, 10, "expired"),
    "blacklisted": DemoCard("8800000000000016", 1, 10, "blacklisted"),
}
BLACKLIST_REASON = "挂失 reported lost"
# Staff users with published passwords: demo use only. staff_no: name, role, cinema.
DEMO_STAFF: dict[str, tuple[str, StaffRole, str | None]] = {
    "S1001": ("售票员 张", StaffRole.SALES, CINEMA_ID),
    "M1001": ("经理 李", StaffRole.MANAGER, CINEMA_ID),
    "Q1001": ("客服 王", StaffRole.CUSTOMER_QUERY, CINEMA_ID),
    "L1001": ("统计 赵", StaffRole.LOCAL_STATISTICIAN, CINEMA_ID),
    "S2001": ("售票员 陈", StaffRole.SALES, OTHER_CINEMA_ID),
    "H0001": ("总部统计 周", StaffRole.STATISTICIAN, None),
    "O0001": ("总部操作员 吴", StaffRole.OPERATOR, None),
    "A0001": ("总部管理员 郑", StaffRole.ADMIN, None),
}


def demo_password(staff_no: str) -> str:
    """The published demo password of a demo staff user (never for a real deployment)."""
    return f"demo-{staff_no.lower()}"


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
    # Lost-ticket recovery (bound to the demo accounts below).
    "recovery": ("soon", "C5,C6", 4500, "100011", "718281"),
    "recovery_sms": ("later_today", "D7,D8", 6800, "100012", "693147"),
    "recovery_late": ("started", "E1", 6800, "100013", "302585"),
}

# Lost-ticket recovery: published demo accounts (demo use only). The face account's template is
# enrolled from a photo given to `demo-data --face-image` (none ships with the repository); the
# SMS account never has one. name: phone, ID last 4, its orders.
DEMO_RECOVERY_PHONE = "13800138000"
DEMO_RECOVERY_ID_LAST4 = "1234"
DEMO_RECOVERY_ORDER_ID = "ord-demo-recovery"
DEMO_RECOVERY_SERIAL, DEMO_RECOVERY_VERIFICATION = ORDERS["recovery"][3], ORDERS["recovery"][4]
DEMO_SMS_PHONE = "13900139000"
DEMO_SMS_ID_LAST4 = "5678"
DEMO_SMS_ORDER_ID = "ord-demo-recovery-sms"
DEMO_LATE_ORDER_ID = "ord-demo-recovery-late"  # its show started: past the loss-report deadline
DEMO_FACE_CONSENT_VERSION = "face-v1"
RECOVERY_ACCOUNTS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "face": (DEMO_RECOVERY_PHONE, DEMO_RECOVERY_ID_LAST4, ("recovery",)),
    "sms": (DEMO_SMS_PHONE, DEMO_SMS_ID_LAST4, ("recovery_sms", "recovery_late")),
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
                format=HALL_FORMATS[hall],
            )
        )
    for hid, _cid, _name in HALLS:
        for y, row in enumerate(SEAT_ROWS):
            for number in range(1, SEATS_PER_ROW + 1):
                x = number - 1 + (1 if number > AISLE_AFTER else 0)
                session.add(HallSeat(hall_id=hid, row=row, seat=str(number), x=x, y=y,
                                     accessible=(row, str(number)) in ACCESSIBLE_SEATS))
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
    _build_cards(session, now)
    _build_accounts(central, session, now)


def _build_accounts(central: Central, session: Session, now: datetime) -> None:
    for phone, id_last4, order_names in RECOVERY_ACCOUNTS.values():
        account, _created = accounts.ensure_account(central, session, phone, id_last4, now, "demo")
        for name in order_names:
            accounts.bind_order(session, session.get_one(Order, _order_id(name)), account, now, "demo")


def enrol_demo_face(central: Central, image: Path) -> dict[str, Any]:
    """The face account's template from this photo (kept when one is enrolled already)."""
    with central.sessions.begin() as session:
        account = accounts.find_account(central, session, DEMO_RECOVERY_PHONE)
        if account is None:
            raise admin.AdminError("the demo accounts are missing: load the demo data first")
        if session.get(FaceTemplate, account.id) is not None:
            return {"phone_masked": account.phone_masked, "face_template": "kept"}
    from central.face_templates import FaceImageError
    from central.recovery_cli import RecoveryCliRefusal, enrol_from_file

    try:
        enrolled = enrol_from_file(central, DEMO_RECOVERY_PHONE, image, DEMO_FACE_CONSENT_VERSION,
                                   central.clock.now())
    except (RecoveryCliRefusal, FaceImageError) as exc:
        raise admin.AdminError(f"demo face {image}: {exc}") from None
    return {**enrolled, "face_template": "enrolled"}


def _build_cards(session: Session, now: datetime) -> None:
    for code, (name, formats, max_people, visits, fen) in CARD_TYPES.items():
        card_ledger.create_card_type(session, now, code, name, formats, default_visits=visits, max_people=max_people,
                                     settlement_fen=fen, actor="demo")
    card_ledger.set_settlement_price(session, now, OTHER_CINEMA_PRICE[0], OTHER_CINEMA_ID, OTHER_CINEMA_PRICE[1],
                                     actor="demo")
    card_ledger.register_psam(session, now, DEMO_TERMINAL_ID, CINEMA_ID, KIOSK_ID, actor="demo")
    card_ledger.register_psam(session, now, OTHER_TERMINAL_ID, OTHER_CINEMA_ID, None, actor="demo")
    cinema = session.get_one(Cinema, CINEMA_ID)
    today = card_ledger.local_today(cinema, now)
    for demo in DEMO_CARDS.values():
        card = card_ledger.register_made_card(session, now, demo.card_number, demo.card_type, demo.visits,
                                              actor="demo")
        if demo.state == "made":
            continue
        sold_on = today - timedelta(days=400) if demo.state == "expired" else today
        card.status = "active"
        card.sold_at = now
        card.sold_cinema_id = CINEMA_ID
        card.activated_on = sold_on
        card.expires_on = sold_on + timedelta(days=365)
        if demo.state == "blacklisted":
            card_ledger.add_to_blacklist(session, now, demo.card_number, BLACKLIST_REASON, "demo", actor="demo")
    for staff_no, (name, role, cinema_id) in DEMO_STAFF.items():
        staff.create_staff_user(session, now, staff_no, name, role, demo_password(staff_no), cinema_id)


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
    cards = {}
    for name, demo in DEMO_CARDS.items():
        card = session.get_one(Card, demo.card_number)
        cards[name] = {"card_number": demo.card_number, "card_type": demo.card_type, "visits": demo.visits,
                       "state": demo.state, "activated_on": card.activated_on.isoformat() if card.activated_on
                       else None, "expires_on": card.expires_on.isoformat() if card.expires_on else None}
    return {
        "cinema_id": CINEMA_ID,
        "cinema_name": CINEMAS[0][1],
        "cards": cards,
        "terminal_id": DEMO_TERMINAL_ID,
        "other_terminal_id": OTHER_TERMINAL_ID,
        "staff": {no: {"role": role.value, "cinema_id": cinema_id, "password": demo_password(no)}
                  for no, (_n, role, cinema_id) in DEMO_STAFF.items()},
        "other_cinema_id": OTHER_CINEMA_ID,
        "kiosk_id": KIOSK_ID,
        "kiosk_name": KIOSK_NAME,
        "showings": showings,
        "orders": orders,
        "recovery": {
            name: {"phone": phone, "id_last4": id_last4, "order_ids": [_order_id(o) for o in order_names],
                   "face_template": name == "face" and _has_face(central, session, phone)}
            for name, (phone, id_last4, order_names) in RECOVERY_ACCOUNTS.items()
        },
        "face_consent_version": DEMO_FACE_CONSENT_VERSION,
    }


def _has_face(central: Central, session: Session, phone: str) -> bool:
    account = accounts.find_account(central, session, phone)
    return account is not None and session.get(FaceTemplate, account.id) is not None


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


def load_demo(central: Central, credential_out: Path | None, face_image: Path | None = None) -> dict[str, Any]:
    """Create the demo data once; every run prints the same description (idempotent).

    ``face_image``: enrol the demo face account's template from this photo (if not enrolled yet)."""
    if face_image is not None:
        with central.sessions.begin() as session:
            if session.get(Cinema, CINEMA_ID) is None:
                _build(central, session, central.clock.now())
        enrol_demo_face(central, face_image)
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


def write_demo_card_images(central: Central, folder: Path) -> dict[str, Path]:
    """Emulator images of the demo cards (as the ledger has them) and the demo kiosk's PSAM.

    Made in-process with the central's issuer keys (devices.sim.yearcard_os.personalised_image
    runs the real personalisation APDUs): ``{"psam": path, "<card name>": path, ...}``. Existing
    files are kept (a card image outlives a process). Demo and tests only.
    """
    from devices.sim.psam import psam_image
    from devices.sim.yearcard_os import personalised_image

    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {"psam": folder / "psam.json"}
    if not paths["psam"].exists():
        psam_image(paths["psam"], central.issuer_keys, bytes.fromhex(DEMO_TERMINAL_ID))
    with central.sessions() as session:
        for name, demo in DEMO_CARDS.items():
            card = session.get_one(Card, demo.card_number)
            path = paths[name] = folder / f"card-{name}.json"
            if path.exists():
                continue
            valid_days = (card.expires_on - card.activated_on).days if card.expires_on and card.activated_on else 365
            personalised_image(path, central.issuer_keys, card.card_number, card_type=card.card_type,
                               visits=demo.visits, issuer=card_ledger.ISSUER_CODE, made=card_ledger.made_on(card),
                               activated=card.activated_on, valid_days=valid_days)
    return paths
