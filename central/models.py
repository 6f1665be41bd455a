"""The central's tables (SQLAlchemy 2).  The schema itself is made by the Alembic migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
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


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    cinema_id: Mapped[str] = mapped_column(ForeignKey("cinemas.id"), index=True)
    showing_id: Mapped[str] = mapped_column(ForeignKey("showings.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="paid")  # paid | refunded
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


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
