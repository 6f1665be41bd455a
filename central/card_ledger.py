"""The year-card ledger: card types, cards and their life cycle, the blacklist, PSAM terminals,
recorded card transactions, and what a tap shows (with reconciliation against the card's own log).

Module functions take the caller's session and time so that the `central cards` commands and the
HTTP routes share one set of rules; :class:`CardLedgerArea` is the kiosk API's side. Card numbers
are masked in every log line (devices.yearcard.profile.mask_card_number).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select, tuple_, update
from sqlalchemy.orm import Session

from backend_client.wire import (
    MAX_PEOPLE_PER_REDEMPTION,
    CardBlacklist,
    CardHistoryEntry,
    CardStatus,
    CardTransactionPage,
    CardTransactionView,
    CardUpdate,
    CardUpdateRequest,
    CardUseKind,
    CardView,
    DebitProofBody,
    ErrorCode,
    OfflineDebitBatch,
    OfflineDebitResult,
    RedemptionState,
    RedemptionView,
    SeatRef,
    TicketStatus,
)
from central.common import Refusal, audit, effective_status, iso
from central.context import CentralBase
from central.models import (
    Card,
    CardBlacklistChange,
    CardBlacklistEntry,
    CardIssue,
    CardTransaction,
    CardType,
    CardTypePrice,
    Cinema,
    Kiosk,
    Psam,
    Redemption,
    Showing,
    Ticket,
)
from central.staff import Permission, StaffActor, require
from devices.yearcard import crypto
from devices.yearcard import profile as p
from devices.yearcard.personalise import signed_public

log = logging.getLogger("central.cards")

# The chain's 4-byte issuer code in every card's public file (`central cards make` writes it too).
ISSUER_CODE = bytes.fromhex("00000001")
CHAIN_TIMEZONE = "Asia/Shanghai"  # the made date on a card is head office's local day
HISTORY_LIMIT = 100
TRANSACTION_PAGE = 500
TRANSACTION_KIND_CODE = {CardUseKind.TICKETS: crypto.TRANSACTION_TICKET,
                         CardUseKind.CONCESSIONS: crypto.TRANSACTION_CONCESSION}
PURCHASE = "purchase"  # card_transactions.counter_kind of a debit (the card's transaction counter)
LOAD = "load"  # ... of a load (the card's online counter)


def mask(card_number: str) -> str:
    """A card number as logs and audit entries show it (first and last four digits)."""
    return p.mask_card_number(card_number)


def refuse(code: ErrorCode, message: str, card_number: str | None = None, **details: Any) -> Refusal:
    """A refusal, logged as one line (card number masked): refusals are normal business."""
    log.info("card refusal %s%s: %s", code.value, f" card {mask(card_number)}" if card_number else "", message)
    return Refusal(code, message, details)


def local_today(cinema: Cinema | None, now: datetime) -> dt.date:
    """The cinema's local day (card validity is in local days)."""
    zone = ZoneInfo(cinema.timezone if cinema is not None else CHAIN_TIMEZONE)
    return now.astimezone(zone).date()


# ---- card types ------------------------------------------------------------------------


def type_formats(card_type: CardType) -> dict[str, int]:
    """The formats a type covers, with visits per person ({"2D": 1, "IMAX": 2}); absent = not covered."""
    try:
        raw = json.loads(card_type.formats or "{}")
    except ValueError:
        return {}
    return {str(k): int(v) for k, v in raw.items() if isinstance(v, int) and v >= 1} if isinstance(raw, dict) else {}


def create_card_type(
    session: Session, now: datetime, code: int, name: str, formats: dict[str, int], *,
    default_visits: int, validity_days: int = 365, max_people: int = 1, settlement_fen: int = 0,
    actor: str = "cli",
) -> CardType:
    """Add a card type (code 0..255 is the card's type byte); ValueError on bad values or a taken code."""
    if not 0 <= code <= 255:
        raise ValueError("a card type code is 0 to 255")
    if session.get(CardType, code) is not None:
        raise ValueError(f"card type {code} exists")
    if not name.strip():
        raise ValueError("a card type needs a name")
    if not 1 <= default_visits <= p.MAX_VISITS:
        raise ValueError(f"visits must be 1 to {p.MAX_VISITS}")
    if not 1 <= validity_days <= 3660 or not 1 <= max_people <= MAX_PEOPLE_PER_REDEMPTION or settlement_fen < 0:
        raise ValueError("validity 1..3660 days, max people 1..8, settlement price not negative")
    if not formats or any(not isinstance(v, int) or v < 1 for v in formats.values()):
        raise ValueError("a card type covers at least one format, each for 1 or more visits per person")
    row = CardType(code=code, name=name.strip(), default_visits=default_visits, validity_days=validity_days,
                   max_people=max_people, formats=json.dumps(formats, ensure_ascii=False),
                   settlement_fen=settlement_fen, created_at=now)
    session.add(row)
    session.flush()
    audit(session, now, actor, "card_type_created", code=code, name=row.name, formats=formats,
          default_visits=default_visits, settlement_fen=settlement_fen)
    return row


def set_settlement_price(session: Session, now: datetime, card_type: int, cinema_id: str, fen: int,
                         actor: str = "cli") -> None:
    """The per-visit settlement price agreed with one cinema for a type (replaces an earlier one)."""
    if fen < 0:
        raise ValueError("a settlement price is not negative")
    row = session.get(CardTypePrice, (card_type, cinema_id))
    if row is None:
        session.add(CardTypePrice(card_type=card_type, cinema_id=cinema_id, settlement_fen=fen))
    else:
        row.settlement_fen = fen
    session.flush()
    audit(session, now, actor, "card_price_set", card_type=card_type, cinema_id=cinema_id, settlement_fen=fen)


def settlement_per_visit(session: Session, card_type: int, cinema_id: str) -> int:
    """The price per visit a cinema is settled at for a type: its own agreement, else the type's."""
    override = session.get(CardTypePrice, (card_type, cinema_id))
    if override is not None:
        return override.settlement_fen
    return session.get_one(CardType, card_type).settlement_fen


# ---- cards ---------------------------------------------------------------------------------


def register_made_card(session: Session, now: datetime, card_number: str, card_type: int, visits: int,
                       actor: str = "cli") -> Card:
    """Record a card personalised at head office (制卡): status made, issue 1; ValueError if known."""
    if len(card_number) != 16 or not card_number.isdigit():
        raise ValueError("a card number is 16 digits")
    if session.get(CardType, card_type) is None:
        raise ValueError(f"no card type {card_type}")
    if session.get(Card, card_number) is not None:
        raise ValueError(f"card {mask(card_number)} was made already")
    card = Card(card_number=card_number, card_type=card_type, status=CardStatus.MADE.value, issue_no=1,
                made_at=now, visits_left=visits, last_counter=None)
    session.add(card)
    session.flush()
    session.add(CardIssue(card_number=card_number, issue_no=1, card_type=card_type, started_at=now))
    audit(session, now, actor, "card_made", card=mask(card_number), card_type=card_type, visits=visits)
    return card


def made_on(card: Card) -> dt.date:
    """The made date written in the card's public file: head office's local day of ``made_at``."""
    return card.made_at.astimezone(ZoneInfo(CHAIN_TIMEZONE)).date()


def public_info(card: Card) -> p.PublicInfo:
    """The public file the card holds according to the ledger (what the issuer re-signs on changes)."""
    sold = card.status != CardStatus.MADE.value and card.activated_on is not None
    return p.PublicInfo(issuer=ISSUER_CODE, card_number=card.card_number, card_type=card.card_type, sold=sold,
                        made=made_on(card), activated=card.activated_on, expires=card.expires_on,
                        mac=b"", raw=b"")


def blacklist_entry(session: Session, card_number: str) -> CardBlacklistEntry | None:
    """The card's blacklist entry (with its reason), or None."""
    return session.get(CardBlacklistEntry, card_number)


def card_status(session: Session, card: Card, today: dt.date) -> CardStatus:
    """The status a kiosk sees: blacklisted first, then the life cycle, expired by the date."""
    if blacklist_entry(session, card.card_number) is not None:
        return CardStatus.BLACKLISTED
    if card.status == CardStatus.ACTIVE.value and card.expires_on is not None and today > card.expires_on:
        return CardStatus.EXPIRED
    return CardStatus(card.status)


def max_people(card_type: CardType, visits_left: int) -> int:
    """People per redemption: the type's limit and what the visits left pay for in the cheapest format."""
    formats = type_formats(card_type)
    if not formats:
        return 0
    return max(0, min(card_type.max_people, MAX_PEOPLE_PER_REDEMPTION, visits_left // min(formats.values())))


def history(session: Session, card: Card, limit: int = HISTORY_LIMIT) -> list[CardHistoryEntry]:
    """The card's uses since its current issue, newest first (a new holder never sees the old one's)."""
    rows = session.execute(
        select(CardTransaction, Cinema.name)
        .join(Cinema, Cinema.id == CardTransaction.cinema_id)
        .where(CardTransaction.card_number == card.card_number, CardTransaction.issue_no == card.issue_no)
        .order_by(CardTransaction.card_local_time.desc(), CardTransaction.id.desc())
        .limit(limit)
    ).all()
    return [CardHistoryEntry(at=t.card_local_time, cinema_name=name, visits=t.visits, kind=CardUseKind(t.kind),
                             balance_after=t.balance_after) for t, name in rows]


def redemption_view(session: Session, redemption: Redemption) -> RedemptionView:
    """A redemption as the wire shows it (with its held or sold seats)."""
    seats: list[SeatRef] = []
    if redemption.order_id is not None:
        seats = [SeatRef(row=t.row, seat=t.seat) for t in session.scalars(
            select(Ticket).where(Ticket.order_id == redemption.order_id).order_by(Ticket.row, Ticket.seat))]
    return RedemptionView(
        redemption_id=redemption.id, card_number=redemption.card_number, kind=CardUseKind(redemption.kind),
        state=RedemptionState(redemption.state), visits=redemption.visits, showing_id=redemption.showing_id,
        seats=seats, hold_expires_at=redemption.hold_expires_at, claim_id=redemption.claim_id,
    )


def owed_redemptions(session: Session, card: Card, now: datetime) -> list[Redemption]:
    """Confirmed ticket redemptions of this card, for shows not over, with a ticket never printed
    nor held by a live claim (a kiosk died between the debit and the printer)."""
    rows = session.execute(
        select(Redemption, Ticket)
        .join(Showing, Showing.id == Redemption.showing_id)
        .join(Ticket, Ticket.order_id == Redemption.order_id)
        .where(Redemption.card_number == card.card_number, Redemption.state == RedemptionState.CONFIRMED.value,
               Redemption.kind == CardUseKind.TICKETS.value, Showing.ends_at > now)
        .order_by(Redemption.created_at, Redemption.id)
    ).all()
    owed: dict[str, Redemption] = {}
    for redemption, ticket in rows:
        if effective_status(ticket, now) is TicketStatus.AVAILABLE:
            owed.setdefault(redemption.id, redemption)
    return list(owed.values())


def card_view(session: Session, card: Card, now: datetime, cinema: Cinema | None = None,
              reconciled: Iterable[str] = ()) -> CardView:
    """What a kiosk, a counter or a command shows of a card (status, visits, history, owed tickets)."""
    card_type = session.get_one(CardType, card.card_type)
    entry = blacklist_entry(session, card.card_number)
    return CardView(
        card_number=card.card_number, card_type=card.card_type, type_name=card_type.name,
        status=card_status(session, card, local_today(cinema, now)), visits_left=card.visits_left,
        expires_on=card.expires_on, max_people=max_people(card_type, card.visits_left),
        blacklist_reason=entry.reason if entry else None, history=history(session, card),
        reconciled=list(reconciled),
        owed=[redemption_view(session, r) for r in owed_redemptions(session, card, now)],
    )


def get_card(session: Session, card_number: str, for_update: bool = False) -> Card:
    """The card, or CARD_UNKNOWN (a card of another chain, or never made here)."""
    card = session.get(Card, card_number, with_for_update=for_update)
    if card is None:
        raise refuse(ErrorCode.CARD_UNKNOWN, "this card is not one of this chain's cards", card_number)
    return card


def require_usable(session: Session, card: Card, today: dt.date) -> CardType:
    """Refuse a card that cannot be redeemed now (not sold, expired, recycled, blacklisted)."""
    status = card_status(session, card, today)
    number = card.card_number
    if status is CardStatus.BLACKLISTED:
        entry = blacklist_entry(session, number)
        raise refuse(ErrorCode.CARD_BLACKLISTED, "this card is blacklisted: see staff", number,
                     reason=entry.reason if entry else None)
    if status is CardStatus.MADE:
        raise refuse(ErrorCode.CARD_NOT_SOLD, "this card has not been sold yet: activate it at the counter", number)
    if status is CardStatus.EXPIRED:
        raise refuse(ErrorCode.CARD_EXPIRED, "this card has expired: renew it at the counter", number,
                     expires_on=card.expires_on.isoformat() if card.expires_on else None)
    if status is CardStatus.RECYCLED:
        raise refuse(ErrorCode.CARD_RECYCLED, "this card's visits are used up: the cinema collects it", number)
    return session.get_one(CardType, card.card_type)


# ---- transactions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Debit:
    """A debit as the card made it (from a DebitProofBody, or a record of the card's log)."""

    card_number: str
    card_counter: int
    visits: int
    kind: CardUseKind
    terminal_id: str
    at: datetime  # naive local, as on the card
    balance_after: int
    terminal_seq: int | None = None
    tac: str | None = None

    @classmethod
    def of_proof(cls, body: DebitProofBody) -> Debit:
        return cls(body.card_number, body.card_counter, body.visits, body.kind, body.terminal_id,
                   body.at.replace(tzinfo=None, microsecond=0), body.balance_after, body.terminal_seq, body.tac)


def tac_valid(keys: crypto.MasterKeys, body: DebitProofBody) -> bool:
    """The issuer's check of a debit's TAC over exactly what the card signed (docs/yearcard.md "TAC")."""
    kind = TRANSACTION_KIND_CODE.get(body.kind)
    if kind is None:
        return False
    at = body.at.replace(tzinfo=None)
    purchase = crypto.Purchase(
        amount=body.visits, kind=kind, terminal_id=bytes.fromhex(body.terminal_id), date=p.bcd_date(at.date()),
        time=p.bcd_time(at), terminal_seq=body.terminal_seq, card_counter=body.card_counter,
        balance_after=body.balance_after,
    )
    return crypto.verify_tac(keys.tac, body.card_number, purchase, bytes.fromhex(body.tac))


CARD_FIGURES = ("visits_left", "last_counter", "status", "recycled_at", "recycled_cinema_id")


def _apply_debit(figures: dict[str, Any], visits: int, counter: int, now: datetime, cinema_id: str) -> None:
    """A debit's effect on a card's figures (visits left, counter seen; recycled when none are left)."""
    figures["visits_left"] = max(0, figures["visits_left"] - visits)
    last = figures["last_counter"]
    figures["last_counter"] = counter if last is None else max(last, counter)
    if figures["visits_left"] == 0 and figures["status"] == CardStatus.ACTIVE.value:
        figures["status"] = CardStatus.RECYCLED.value  # the cinema's "cards to collect" list
        figures["recycled_at"] = now
        figures["recycled_cinema_id"] = cinema_id


def _transaction_values(
    card: Card, debit: Debit, cinema_id: str, now: datetime, *, kiosk_id: str | None, staff_no: str | None,
    proof: str, redemption_id: str | None, price_per_visit: int,
) -> dict[str, Any]:
    return dict(
        card_number=card.card_number, issue_no=card.issue_no, card_counter=debit.card_counter, counter_kind=PURCHASE,
        kind=debit.kind.value, visits=debit.visits, balance_after=debit.balance_after, terminal_id=debit.terminal_id,
        terminal_seq=debit.terminal_seq, cinema_id=cinema_id, kiosk_id=kiosk_id, staff_no=staff_no,
        card_local_time=debit.at, recorded_at=now, tac=debit.tac, proof=proof, redemption_id=redemption_id,
        settlement_fen=debit.visits * price_per_visit,
    )


def record_debit(
    session: Session, now: datetime, card: Card, debit: Debit, cinema_id: str, *, kiosk_id: str | None,
    staff_no: str | None, proof: str, redemption_id: str | None = None, price_per_visit: int | None = None,
) -> CardTransaction:
    """Write a debit to the ledger and the card's figures (visits left, counter; recycled at 0).

    The caller has checked the proof and that (card, counter) is not recorded yet.
    """
    if price_per_visit is None:
        price_per_visit = settlement_per_visit(session, card.card_type, cinema_id)
    row = CardTransaction(**_transaction_values(card, debit, cinema_id, now, kiosk_id=kiosk_id, staff_no=staff_no,
                                                proof=proof, redemption_id=redemption_id,
                                                price_per_visit=price_per_visit))
    session.add(row)
    figures = {name: getattr(card, name) for name in CARD_FIGURES}
    _apply_debit(figures, debit.visits, debit.card_counter, now, cinema_id)
    for name, value in figures.items():
        setattr(card, name, value)
    return row


def known_terminal(session: Session, terminal_id: str) -> Psam | None:
    """The registered PSAM with this terminal id (12 hex digits), or None."""
    return session.get(Psam, terminal_id)


def register_psam(session: Session, now: datetime, terminal_id: str, cinema_id: str, kiosk_id: str | None = None,
                  actor: str = "cli") -> Psam:
    """Register a PSAM's terminal id (12 hex digits) to a cinema (and a kiosk): its debits are accepted."""
    terminal_id = terminal_id.upper()
    if len(terminal_id) != 12 or any(c not in "0123456789ABCDEF" for c in terminal_id):
        raise ValueError("a terminal id is 12 hex digits")
    if session.get(Cinema, cinema_id) is None:
        raise ValueError(f"no cinema {cinema_id!r}")
    row = session.get(Psam, terminal_id)
    if row is None:
        row = Psam(terminal_id=terminal_id, cinema_id=cinema_id, kiosk_id=kiosk_id, registered_at=now)
        session.add(row)
    else:
        row.cinema_id, row.kiosk_id = cinema_id, kiosk_id
    session.flush()
    audit(session, now, actor, "psam_registered", terminal_id=terminal_id, cinema_id=cinema_id, kiosk_id=kiosk_id)
    return row


# ---- blacklist -----------------------------------------------------------------------------


def blacklist_version(session: Session) -> int:
    """The blacklist's version: the id of its newest change (0 before any)."""
    return int(session.scalar(select(func.max(CardBlacklistChange.id))) or 0)


def add_to_blacklist(session: Session, now: datetime, card_number: str, reason: str, by: str,
                     actor: str = "cli") -> bool:
    """Blacklist a card (refused everywhere until removed); False when it was already. Bumps the version."""
    if session.get(CardBlacklistEntry, card_number) is not None:
        return False
    session.add(CardBlacklistEntry(card_number=card_number, reason=reason, added_by=by, added_at=now))
    session.add(CardBlacklistChange(card_number=card_number, action="add", reason=reason, by=by, at=now))
    session.flush()
    audit(session, now, actor, "card_blacklisted", card=mask(card_number), reason=reason, staff_no=by)
    return True


def remove_from_blacklist(session: Session, now: datetime, card_number: str, by: str, actor: str = "cli") -> bool:
    """Take a card off the blacklist; False when it was not on it. Bumps the version."""
    entry = session.get(CardBlacklistEntry, card_number)
    if entry is None:
        return False
    session.delete(entry)
    session.add(CardBlacklistChange(card_number=card_number, action="remove", reason=None, by=by, at=now))
    session.flush()
    audit(session, now, actor, "card_unblacklisted", card=mask(card_number), staff_no=by)
    return True


# ---- sale, renewal, recycling -------------------------------------------------------------------


def _card_update(keys: crypto.MasterKeys, card: Card, challenge: str, **changes: Any) -> str:
    """The secure UPDATE BINARY data: the new public file signed by the issuer + the MAC over the challenge."""
    public = signed_public(keys, public_info(card), **changes)
    mac = crypto.secure_update_mac(keys.card_keys(card.card_number).maintenance, bytes.fromhex(challenge),
                                   p.SECURE_UPDATE_HEADER, public)
    return (public + mac).hex().upper()


def sell_card(session: Session, now: datetime, keys: crypto.MasterKeys, card: Card, cinema: Cinema,
              request: CardUpdateRequest, actor: str, staff_no: str | None) -> str:
    """Activate a made card (发卡/售卡) from the cinema's today; the update data to write to the card.

    A retry of today's sale at the same cinema answers again (the first write may have failed).
    """
    today = local_today(cinema, now)
    card_type = session.get_one(CardType, card.card_type)
    valid_days = request.valid_days or card_type.validity_days
    retry = (card.status == CardStatus.ACTIVE.value and card.activated_on == today
             and card.sold_cinema_id == cinema.id)
    if card.status != CardStatus.MADE.value and not retry:
        raise refuse(ErrorCode.BAD_REQUEST, "only a made, unsold card can be sold", card.card_number,
                     status=card.status)
    data = _card_update(keys, card, request.challenge, sold=True, activated=today,
                        expires=today + timedelta(days=valid_days))
    card.status = CardStatus.ACTIVE.value
    card.sold_at = now if not retry else card.sold_at
    card.sold_cinema_id = cinema.id
    card.activated_on = today
    card.expires_on = today + timedelta(days=valid_days)
    audit(session, now, actor, "card_sold", card=mask(card.card_number), cinema_id=cinema.id, staff_no=staff_no,
          expires_on=card.expires_on.isoformat(), retry=retry)
    return data


def renew_card(session: Session, now: datetime, keys: crypto.MasterKeys, card: Card, cinema: Cinema,
               request: CardUpdateRequest, actor: str, staff_no: str | None) -> str:
    """Renewal (续期): a new expiry (from today when expired, else from the old expiry); update data."""
    today = local_today(cinema, now)
    if card.status != CardStatus.ACTIVE.value or card.expires_on is None or card.activated_on is None:
        raise refuse(ErrorCode.BAD_REQUEST, "only a sold card with visits left is renewed", card.card_number,
                     status=card.status)
    card_type = session.get_one(CardType, card.card_type)
    valid_days = request.valid_days or card_type.validity_days
    base = max(today, card.expires_on)
    until = base + timedelta(days=valid_days)
    data = _card_update(keys, card, request.challenge, expires=until)
    previous = card.expires_on
    card.expires_on = until
    audit(session, now, actor, "card_renewed", card=mask(card.card_number), cinema_id=cinema.id, staff_no=staff_no,
          expires_before=previous.isoformat(), expires_on=until.isoformat())
    return data


def recycle_card(session: Session, now: datetime, card: Card, cinema_id: str, actor: str,
                 staff_no: str | None) -> None:
    """Collect a card whose visits are used up (回收): recorded as recycled and collected, ready to re-issue."""
    if card.visits_left > 0:
        raise refuse(ErrorCode.BAD_REQUEST, "this card still has visits: it is not recycled", card.card_number,
                     visits_left=card.visits_left)
    if card.status == CardStatus.MADE.value:
        raise refuse(ErrorCode.CARD_NOT_SOLD, "this card was never sold", card.card_number)
    card.status = CardStatus.RECYCLED.value
    card.recycled_at = card.recycled_at or now
    card.recycled_cinema_id = card.recycled_cinema_id or cinema_id
    card.collected_at = card.collected_at or now
    audit(session, now, actor, "card_recycled", card=mask(card.card_number), cinema_id=cinema_id, staff_no=staff_no)


def cards_to_collect(session: Session, cinema_id: str | None = None) -> list[Card]:
    """Recycled cards not collected yet (of one cinema, or all), oldest first."""
    query = select(Card).where(Card.status == CardStatus.RECYCLED.value, Card.collected_at.is_(None))
    if cinema_id is not None:
        query = query.where(Card.recycled_cinema_id == cinema_id)
    return list(session.scalars(query.order_by(Card.recycled_at)))


# ---- the kiosk API's side ------------------------------------------------------------------


class CardLedgerArea(CentralBase):
    """The blacklist, offline debits, a kiosk's transactions; sale, renewal, recycling at the counter."""

    def _cinema(self, session: Session, kiosk: Kiosk) -> Cinema:
        return session.get_one(Cinema, kiosk.cinema_id)

    def card_blacklist(self) -> CardBlacklist:
        with self.sessions() as session:
            numbers = list(session.scalars(select(CardBlacklistEntry.card_number)
                                           .order_by(CardBlacklistEntry.card_number)))
            return CardBlacklist(version=blacklist_version(session), card_numbers=numbers)

    def card_transactions(self, kiosk: Kiosk, after: int, limit: int = TRANSACTION_PAGE) -> CardTransactionPage:
        """This kiosk's recorded card transactions after id ``after`` (to restore a lost journal)."""
        with self.sessions() as session:
            rows = session.scalars(
                select(CardTransaction).where(CardTransaction.kiosk_id == kiosk.id, CardTransaction.id > after)
                .order_by(CardTransaction.id).limit(limit + 1)
            ).all()
        page = rows[:limit]
        return CardTransactionPage(
            transactions=[CardTransactionView(
                card_number=t.card_number, card_counter=t.card_counter, visits=t.visits, kind=CardUseKind(t.kind),
                terminal_id=t.terminal_id, at=t.card_local_time, balance_after=t.balance_after,
                redemption_id=t.redemption_id) for t in page],
            next_after=page[-1].id if len(rows) > limit else None,
        )

    def offline_debits(self, kiosk: Kiosk, batch: OfflineDebitBatch) -> OfflineDebitResult:
        """Debits made while offline: each TAC checked, recorded once (a repeat is a duplicate).

        A fixed number of statements per batch, whatever its size: cards, terminals and recorded
        counters are read in one query each, transactions inserted and cards updated in bulk.
        """
        with self.sessions.begin() as session:
            now = self.clock.now()
            numbers = sorted({d.card_number for d in batch.debits})
            cards = {c.card_number: c for c in session.scalars(
                select(Card).where(Card.card_number.in_(numbers)).order_by(Card.card_number).with_for_update())}
            terminals = {t.terminal_id: t for t in session.scalars(
                select(Psam).where(Psam.terminal_id.in_({d.terminal_id for d in batch.debits})))}
            keys = {(d.card_number, d.card_counter) for d in batch.debits}
            recorded: set[tuple[str, int]] = {(number, counter) for number, counter in session.execute(
                select(CardTransaction.card_number, CardTransaction.card_counter).where(
                    CardTransaction.counter_kind == PURCHASE,
                    tuple_(CardTransaction.card_number, CardTransaction.card_counter).in_(sorted(keys))))}
            prices = self._prices(session, {(c.card_type, t.cinema_id) for c in cards.values()
                                            for t in terminals.values()})
            figures: dict[str, dict[str, Any]] = {}
            rows: list[dict[str, Any]] = []
            duplicates, refused = 0, []
            for body in sorted(batch.debits, key=lambda d: (d.card_number, d.card_counter)):
                key = (body.card_number, body.card_counter)
                if key in recorded:
                    duplicates += 1
                    continue
                card = cards.get(body.card_number)
                terminal = terminals.get(body.terminal_id)
                if card is None or terminal is None or body.kind == CardUseKind.LOAD or \
                        not tac_valid(self.issuer_keys, body):
                    refused.append(f"{body.card_number}:{body.card_counter}")
                    log.info("offline debit refused: card %s counter %d", mask(body.card_number), body.card_counter)
                    continue
                rows.append(_transaction_values(
                    card, Debit.of_proof(body), terminal.cinema_id, now, kiosk_id=kiosk.id, staff_no=None,
                    proof="tac", redemption_id=None, price_per_visit=prices[(card.card_type, terminal.cinema_id)]))
                state = figures.setdefault(card.card_number, {"card_number": card.card_number,
                                                              **{n: getattr(card, n) for n in CARD_FIGURES}})
                _apply_debit(state, body.visits, body.card_counter, now, terminal.cinema_id)
                recorded.add(key)
            if rows:
                session.execute(insert(CardTransaction), rows)
                session.execute(update(Card), list(figures.values()))
            audit(session, now, kiosk.id, "offline_debits", accepted=len(rows), duplicates=duplicates,
                  refused=len(refused))
            return OfflineDebitResult(accepted=len(rows), duplicates=duplicates, refused=refused)

    @staticmethod
    def _prices(session: Session, pairs: set[tuple[int, str]]) -> dict[tuple[int, str], int]:
        """Settlement prices per visit for (type, cinema) pairs, in two queries."""
        types = {t.code: t.settlement_fen for t in session.scalars(
            select(CardType).where(CardType.code.in_({code for code, _ in pairs})))}
        overrides = {(o.card_type, o.cinema_id): o.settlement_fen for o in session.scalars(
            select(CardTypePrice).where(CardTypePrice.card_type.in_(set(types))))}
        return {pair: overrides.get(pair, types.get(pair[0], 0)) for pair in pairs}

    # ---- counter ----

    def sell(self, kiosk: Kiosk, staff: StaffActor, card_number: str, request: CardUpdateRequest) -> CardUpdate:
        require(staff, Permission.SELL, kiosk.cinema_id)
        with self.sessions.begin() as session:
            now = self.clock.now()
            cinema = self._cinema(session, kiosk)
            card = get_card(session, card_number, for_update=True)
            if blacklist_entry(session, card_number) is not None:
                raise refuse(ErrorCode.CARD_BLACKLISTED, "this card is blacklisted", card_number)
            data = sell_card(session, now, self.issuer_keys, card, cinema, request, kiosk.id, staff.staff_no)
            session.flush()
            return CardUpdate(update_data=data, card=card_view(session, card, now, cinema))

    def renew(self, kiosk: Kiosk, staff: StaffActor, card_number: str, request: CardUpdateRequest) -> CardUpdate:
        require(staff, Permission.RENEW, kiosk.cinema_id)
        with self.sessions.begin() as session:
            now = self.clock.now()
            cinema = self._cinema(session, kiosk)
            card = get_card(session, card_number, for_update=True)
            if blacklist_entry(session, card_number) is not None:
                raise refuse(ErrorCode.CARD_BLACKLISTED, "this card is blacklisted", card_number)
            data = renew_card(session, now, self.issuer_keys, card, cinema, request, kiosk.id, staff.staff_no)
            session.flush()
            return CardUpdate(update_data=data, card=card_view(session, card, now, cinema))

    def recycle(self, kiosk: Kiosk, staff: StaffActor, card_number: str) -> CardView:
        require(staff, Permission.RECYCLE, kiosk.cinema_id)
        with self.sessions.begin() as session:
            now = self.clock.now()
            card = get_card(session, card_number, for_update=True)
            recycle_card(session, now, card, kiosk.cinema_id, kiosk.id, staff.staff_no)
            session.flush()
            return card_view(session, card, now, self._cinema(session, kiosk))

    def set_blacklisted(self, kiosk: Kiosk, staff: StaffActor, card_number: str, reason: str | None) -> CardView:
        """Add (with a reason) or remove (reason None) a card on the blacklist."""
        require(staff, Permission.BLACKLIST, kiosk.cinema_id)
        with self.sessions.begin() as session:
            now = self.clock.now()
            card = get_card(session, card_number)
            require(staff, Permission.BLACKLIST, card.sold_cinema_id)
            if reason is None:
                remove_from_blacklist(session, now, card_number, staff.staff_no, actor=kiosk.id)
            else:
                add_to_blacklist(session, now, card_number, reason, staff.staff_no, actor=kiosk.id)
            return card_view(session, card, now, self._cinema(session, kiosk))


__all__ = [
    "CHAIN_TIMEZONE", "ISSUER_CODE", "CardLedgerArea", "Debit", "add_to_blacklist", "blacklist_version",
    "card_status", "card_view", "cards_to_collect", "create_card_type", "get_card", "history", "iso",
    "made_on", "max_people", "public_info", "record_debit", "recycle_card", "register_made_card",
    "register_psam", "remove_from_blacklist", "renew_card", "sell_card", "set_settlement_price",
    "settlement_per_visit", "tac_valid", "type_formats",
]
