"""The central's tables (SQLAlchemy 2).  The schema itself is made by the Alembic migrations."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC (SQLite keeps no zone), always handed back timezone-aware."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class Cinema(Base):
    __tablename__ = "cinemas"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")


class Hall(Base):
    __tablename__ = "halls"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    cinema_id: Mapped[str] = mapped_column(ForeignKey("cinemas.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))


class Film(Base):
    __tablename__ = "films"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    original_title: Mapped[str | None] = mapped_column(String(300), nullable=True)


class Showing(Base):
    __tablename__ = "showings"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    film_id: Mapped[str] = mapped_column(ForeignKey("films.id"))
    hall_id: Mapped[str] = mapped_column(ForeignKey("halls.id"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # "2D", "3D", "IMAX", ...: what a card type's covered formats are matched against.
    format: Mapped[str] = mapped_column(String(16), default="2D", server_default="2D")


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    cinema_id: Mapped[str] = mapped_column(ForeignKey("cinemas.id"), index=True)
    showing_id: Mapped[str] = mapped_column(ForeignKey("showings.id"), index=True)
    # paid | refunded; a card redemption's order is "held" until its debit is confirmed, then paid
    # ("cancelled" when the hold ran out or the redemption was cancelled: its tickets are deleted).
    status: Mapped[str] = mapped_column(String(20), default="paid")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # "online" (sold elsewhere, collected with a pickup code) | "card" (a year-card redemption)
    source: Mapped[str] = mapped_column(String(20), default="online", server_default="online")
    # The ticketing account the order was bought with (its bound phone): what recovery looks up.
    # No foreign key: adding one would make SQLite rebuild the orders table, which the tickets'
    # foreign keys forbid on a database with orders; accounts are never deleted.
    account_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)


class PickupCode(Base):
    """One issued pickup code of an order: the serial in clear, the verification only as an HMAC."""

    __tablename__ = "pickup_codes"
    serial: Mapped[str] = mapped_column(String(6), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    code_hmac: Mapped[str] = mapped_column(String(64))
    token_id: Mapped[str] = mapped_column(String(64), unique=True)  # the order QR token's jti
    token_expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (UniqueConstraint("showing_id", "row", "seat", name="uq_ticket_seat"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    showing_id: Mapped[str] = mapped_column(ForeignKey("showings.id"))
    row: Mapped[str] = mapped_column(String(8))
    seat: Mapped[str] = mapped_column(String(8))
    price_fen: Mapped[int] = mapped_column(Integer)
    # available | claimed | printed | in_doubt | refunded; "claimed" with a past lease is available.
    status: Mapped[str] = mapped_column(String(20), default="available")
    claim_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    printed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    printed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)  # kiosk id
    # When the holding claim's kiosk said this ticket was about to print (its bytes may have reached
    # a printer from then on): a lease that runs out makes it in doubt instead of collectable again.
    print_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Kiosk(Base):
    __tablename__ = "kiosks"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    cinema_id: Mapped[str] = mapped_column(ForeignKey("cinemas.id"))
    secret_hash: Mapped[str] = mapped_column(String(64))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Claim(Base):
    __tablename__ = "claims"
    __table_args__ = (
        UniqueConstraint("kiosk_id", "idempotency_key", name="uq_claim_idempotency"),
        Index("ix_claims_open_lease", "open", "lease_expires_at"),
    )
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kiosk_id: Mapped[str] = mapped_column(ForeignKey("kiosks.id"), index=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    open: Mapped[bool] = mapped_column(Boolean, default=True)


class ClaimTicket(Base):
    __tablename__ = "claim_tickets"
    claim_id: Mapped[str] = mapped_column(ForeignKey("claims.id"), primary_key=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    entrance_token: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(String(20), nullable=True)  # printed | released | in_doubt
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class SigningKey(Base):
    """Public half of an Ed25519 signing key; the private half lives in the secrets folder or env."""

    __tablename__ = "signing_keys"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    public_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)  # no longer signs
    not_after: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)  # no longer verifies


class Revocation(Base):
    __tablename__ = "revocations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_id: Mapped[str] = mapped_column(String(64), unique=True)
    order_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str] = mapped_column(String(40))
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LookupFailure(Base):
    __tablename__ = "lookup_failures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kiosk_id: Mapped[str] = mapped_column(String(64), index=True)
    serial: Mapped[str] = mapped_column(String(6), index=True)
    known_serial: Mapped[bool] = mapped_column(Boolean)
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(64))  # kiosk id, or "cli"
    action: Mapped[str] = mapped_column(String(60))
    order_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    details: Mapped[str] = mapped_column(Text, default="{}")  # JSON, never a clear code


# ---- year-cards (年票卡): types, cards, their issues and transactions, redemptions ----------------


class CardType(Base):
    """A card type set at head office; ``code`` is the type byte written on the card."""

    __tablename__ = "card_types"
    code: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # 0..255
    name: Mapped[str] = mapped_column(String(100))
    default_visits: Mapped[int] = mapped_column(Integer)  # visits a card of this type is made with
    validity_days: Mapped[int] = mapped_column(Integer, default=365)  # from the sale
    max_people: Mapped[int] = mapped_column(Integer, default=1)  # per redemption
    # JSON {"2D": 1, "3D": 1, "IMAX": 2}: visits per person for each covered format; absent = not covered.
    formats: Mapped[str] = mapped_column(Text, default="{}")
    settlement_fen: Mapped[int] = mapped_column(Integer, default=0)  # per visit, unless a cinema's price says otherwise
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CardTypePrice(Base):
    """The per-visit settlement price a cinema agreed for a card type (overrides the type's)."""

    __tablename__ = "card_type_prices"
    card_type: Mapped[int] = mapped_column(ForeignKey("card_types.code"), primary_key=True)
    cinema_id: Mapped[str] = mapped_column(ForeignKey("cinemas.id"), primary_key=True)
    settlement_fen: Mapped[int] = mapped_column(Integer)


class Card(Base):
    """A made card (its number never changes) and the ledger's view of it.

    ``status`` is the life cycle the ledger records: made | active | recycled. Expired is derived
    from ``expires_on`` and blacklisted from ``card_blacklist`` (so removing an entry restores it).
    """

    __tablename__ = "cards"
    card_number: Mapped[str] = mapped_column(String(16), primary_key=True)
    card_type: Mapped[int] = mapped_column(ForeignKey("card_types.code"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="made", index=True)
    issue_no: Mapped[int] = mapped_column(Integer, default=1)  # the current issue (re-issues add one)
    made_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sold_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    sold_cinema_id: Mapped[str | None] = mapped_column(ForeignKey("cinemas.id"), nullable=True)
    activated_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    expires_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    visits_left: Mapped[int] = mapped_column(Integer)
    last_counter: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the card's counter last seen
    recycled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    recycled_cinema_id: Mapped[str | None] = mapped_column(ForeignKey("cinemas.id"), nullable=True)
    collected_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class CardIssue(Base):
    """One issue of a card to a holder: history since ``started_at`` is what that holder sees."""

    __tablename__ = "card_issues"
    card_number: Mapped[str] = mapped_column(ForeignKey("cards.card_number"), primary_key=True)
    issue_no: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    card_type: Mapped[int] = mapped_column(ForeignKey("card_types.code"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class CardTransaction(Base):
    """A use of a card (or a load), recorded once: a retry hits the unique key, never a second row.

    ``counter_kind`` is "purchase" (the card's transaction counter) or "load" (its online counter):
    the card keeps the two counters apart, so the same number may appear once for each.
    """

    __tablename__ = "card_transactions"
    __table_args__ = (
        UniqueConstraint("card_number", "card_counter", "counter_kind", name="uq_card_transaction_counter"),
        Index("ix_card_transactions_kiosk", "kiosk_id", "id"),
        Index("ix_card_transactions_cinema_time", "cinema_id", "recorded_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    card_number: Mapped[str] = mapped_column(ForeignKey("cards.card_number"), index=True)
    issue_no: Mapped[int] = mapped_column(Integer)
    card_counter: Mapped[int] = mapped_column(Integer)
    counter_kind: Mapped[str] = mapped_column(String(10), default="purchase")
    kind: Mapped[str] = mapped_column(String(20))  # wire.CardUseKind
    visits: Mapped[int] = mapped_column(Integer)
    balance_after: Mapped[int] = mapped_column(Integer)
    terminal_id: Mapped[str] = mapped_column(String(12))
    terminal_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # the PSAM's; None for card_log proofs
    cinema_id: Mapped[str] = mapped_column(ForeignKey("cinemas.id"))
    kiosk_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    staff_no: Mapped[str | None] = mapped_column(String(32), nullable=True)
    card_local_time: Mapped[datetime] = mapped_column(DateTime())  # naive: the cinema's wall clock, as on the card
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    tac: Mapped[str | None] = mapped_column(String(8), nullable=True)
    proof: Mapped[str] = mapped_column(String(10))  # "tac" | "card_log" (found in the card's own log)
    redemption_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    settlement_fen: Mapped[int] = mapped_column(Integer, default=0)  # visits x the cinema's price


class Redemption(Base):
    """A pending or settled use of a card's visits, from the seat hold to the verified debit."""

    __tablename__ = "redemptions"
    __table_args__ = (
        UniqueConstraint("kiosk_id", "idempotency_key", name="uq_redemption_idempotency"),
        Index("ix_redemptions_card_state", "card_number", "state"),
        Index("ix_redemptions_state_hold", "state", "hold_expires_at"),
    )
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    card_number: Mapped[str] = mapped_column(ForeignKey("cards.card_number"))
    issue_no: Mapped[int] = mapped_column(Integer)
    kiosk_id: Mapped[str] = mapped_column(ForeignKey("kiosks.id"), index=True)
    cinema_id: Mapped[str] = mapped_column(ForeignKey("cinemas.id"))
    staff_no: Mapped[str | None] = mapped_column(String(32), nullable=True)
    kind: Mapped[str] = mapped_column(String(20))  # wire.CardUseKind
    state: Mapped[str] = mapped_column(String(20))  # wire.RedemptionState
    visits: Mapped[int] = mapped_column(Integer)
    showing_id: Mapped[str | None] = mapped_column(ForeignKey("showings.id"), nullable=True)
    order_id: Mapped[str | None] = mapped_column(ForeignKey("orders.id"), nullable=True)
    hold_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The debit the kiosk announced (DebitNotice): what reconciliation looks for in the card's log.
    debit_card_counter: Mapped[int | None] = mapped_column(Integer, nullable=True)
    debit_terminal_id: Mapped[str | None] = mapped_column(String(12), nullable=True)
    debit_terminal_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # 4 bytes unsigned
    debit_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)  # naive local, as on the card
    idempotency_key: Mapped[str | None] = mapped_column(String(128), nullable=True)
    claim_id: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the claim opened at confirmation
    cancel_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class CardBlacklistEntry(Base):
    __tablename__ = "card_blacklist"
    card_number: Mapped[str] = mapped_column(String(16), primary_key=True)
    reason: Mapped[str] = mapped_column(String(200))
    added_by: Mapped[str] = mapped_column(String(64))  # staff number, or "cli"
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CardBlacklistChange(Base):
    """Every add and remove: the newest id is the blacklist's version kiosks cache."""

    __tablename__ = "card_blacklist_changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    card_number: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(10))  # add | remove
    reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    by: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class LastCardTap(Base):
    """The last card tapped at each kiosk: an owed redemption prints only where its card just was."""

    __tablename__ = "card_taps"
    kiosk_id: Mapped[str] = mapped_column(ForeignKey("kiosks.id"), primary_key=True)
    card_number: Mapped[str] = mapped_column(String(16))
    tapped_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Psam(Base):
    """A PSAM's terminal id (12 hex) registered to a cinema: debits from unknown terminals are refused."""

    __tablename__ = "psams"
    terminal_id: Mapped[str] = mapped_column(String(12), primary_key=True)
    cinema_id: Mapped[str] = mapped_column(ForeignKey("cinemas.id"), index=True)
    kiosk_id: Mapped[str | None] = mapped_column(ForeignKey("kiosks.id"), nullable=True)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime())


class HallSeat(Base):
    """A seat of a hall's layout: (x, y) on the hall's grid, y = 0 nearest the screen."""

    __tablename__ = "hall_seats"
    hall_id: Mapped[str] = mapped_column(ForeignKey("halls.id"), primary_key=True)
    row: Mapped[str] = mapped_column(String(8), primary_key=True)
    seat: Mapped[str] = mapped_column(String(8), primary_key=True)
    x: Mapped[int] = mapped_column(Integer)
    y: Mapped[int] = mapped_column(Integer)
    accessible: Mapped[bool] = mapped_column(Boolean, default=False)


# ---- staff (counter mode; later the console) ------------------------------------------------


class StaffUser(Base):
    __tablename__ = "staff_users"
    staff_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(30))  # wire.StaffRole
    cinema_id: Mapped[str | None] = mapped_column(ForeignKey("cinemas.id"), nullable=True)  # None: head office
    password_hash: Mapped[str] = mapped_column(String(200))  # argon2id
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StaffSessionRow(Base):
    """A staff login: only the SHA-256 of its random token is kept."""

    __tablename__ = "staff_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_no: Mapped[str] = mapped_column(ForeignKey("staff_users.staff_no"), index=True)
    kiosk_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


# ---- lost-ticket recovery (挂失找回): accounts, face templates, sessions, partners -------------


class Account(Base):
    """A ticketing account's bound phone: only a keyed HMAC (to find it) and its masked form."""

    __tablename__ = "accounts"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    phone_hmac: Mapped[str] = mapped_column(String(64), unique=True)
    phone_masked: Mapped[str] = mapped_column(String(20))
    id_last4_hmac: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class FaceTemplate(Base):
    """One account's face encoding, AES-256-GCM encrypted (never the image), with its consent."""

    __tablename__ = "face_templates"
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    ciphertext: Mapped[str] = mapped_column(Text)  # "v1." + base64(nonce | AES-GCM(encoding))
    consent_version: Mapped[str] = mapped_column(String(40))
    consented_at: Mapped[datetime] = mapped_column(UTCDateTime())
    enrolled_by: Mapped[str] = mapped_column(String(64))  # "cli" or the partner's id
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RecoverySessionRow(Base):
    """A person at a kiosk recovering an account's orders: limits and verification state."""

    __tablename__ = "recovery_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kiosk_id: Mapped[str] = mapped_column(ForeignKey("kiosks.id"), index=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    order_ids: Mapped[str] = mapped_column(Text)  # JSON list: the orders listed at the start
    face_consent: Mapped[str | None] = mapped_column(String(40), nullable=True)
    language: Mapped[str] = mapped_column(String(2))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    face_attempts: Mapped[int] = mapped_column(Integer, default=0)
    sms_codes: Mapped[int] = mapped_column(Integer, default=0)
    verified_by: Mapped[str | None] = mapped_column(String(10), nullable=True)  # face | sms
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The phone typed at the kiosk, AES-GCM sealed, kept only while the session lives (to send
    # its SMS); cleared when it expires.
    phone_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)


class RecoverySmsCode(Base):
    """A one-time code sent for a session: only its keyed hash."""

    __tablename__ = "recovery_sms_codes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("recovery_sessions.id"), index=True)
    code_hmac: Mapped[str] = mapped_column(String(64))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    wrong_entries: Mapped[int] = mapped_column(Integer, default=0)
    closed: Mapped[bool] = mapped_column(Boolean, default=False)  # used, or superseded by a newer code


class RecoveryAttempt(Base):
    """Every recovery step a kiosk or partner took: rate limits count these; never a face or a phone."""

    __tablename__ = "recovery_attempts"
    __table_args__ = (
        Index("ix_recovery_attempts_phone", "phone_hmac", "at"),
        Index("ix_recovery_attempts_kiosk", "kiosk_id", "at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    kiosk_id: Mapped[str] = mapped_column(String(64))
    session_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    phone_hmac: Mapped[str | None] = mapped_column(String(64), nullable=True)
    phone_masked: Mapped[str | None] = mapped_column(String(20), nullable=True)
    method: Mapped[str] = mapped_column(String(20))  # start | face | sms_send | sms_check | complete
    outcome: Mapped[str] = mapped_column(String(40))
    distance: Mapped[float | None] = mapped_column(Float, nullable=True)


class RecoveryReply(Base):
    """The answer a recovery call gave under its Idempotency-Key: a retry gets it again."""

    __tablename__ = "recovery_replies"
    __table_args__ = (UniqueConstraint("kiosk_id", "idempotency_key", name="uq_recovery_reply_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kiosk_id: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str] = mapped_column(String(128))
    fingerprint: Mapped[str] = mapped_column(String(64))  # the route and body it answered
    answer: Mapped[str] = mapped_column(Text)  # JSON (no claim grant: a replay gets a fresh one)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Partner(Base):
    """A partner ticketing platform allowed to report losses and manage face templates."""

    __tablename__ = "partners"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
