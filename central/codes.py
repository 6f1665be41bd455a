"""Pickup codes and their QR tokens: issuing one for an order, revoking an order's live ones.

Shared by head office's CLI (central/admin.py), recovery at a kiosk (central/recovery.py) and
partners' loss reports (central/partner.py).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend_client import tokens
from central.common import new_id
from central.context import CentralBase
from central.models import Order, PickupCode, Revocation, Showing

# Serials below this are kept for the demo data's fixed codes.
FIRST_RANDOM_SERIAL = 200000
ORDER_TOKEN_GRACE = timedelta(days=1)  # an order QR stays checkable a day after the show (answers show_over)


@dataclass(frozen=True)
class IssuedCode:
    serial: str
    verification: str
    qr_token: str

    def as_json(self) -> dict[str, str]:
        return {"serial": self.serial, "verification": self.verification, "qr_token": self.qr_token}


def _free_serial(session: Session) -> str:
    while True:
        serial = str(secrets.randbelow(1_000_000 - FIRST_RANDOM_SERIAL) + FIRST_RANDOM_SERIAL)
        if session.get(PickupCode, serial) is None:
            return serial


def issue_code(
    central: CentralBase,
    session: Session,
    order: Order,
    now: datetime,
    serial: str | None = None,
    verification: str | None = None,
    token_id: str | None = None,
) -> IssuedCode:
    """Make a pickup code and QR token for an order; the clear code exists only in the result."""
    showing = session.get_one(Showing, order.showing_id)
    serial = serial or _free_serial(session)
    verification = verification or f"{secrets.randbelow(1_000_000):06d}"
    expires = showing.ends_at + ORDER_TOKEN_GRACE
    code = session.get(PickupCode, serial)
    if code is None:
        code = PickupCode(
            serial=serial,
            order_id=order.id,
            code_hmac=central.hasher.hash(serial, verification),
            token_id=token_id or new_id("ot"),
            token_expires_at=expires,
            created_at=now,
        )
        session.add(code)
        session.flush()
    signer = central.keyring.current(session, now)
    qr = tokens.sign_token(
        signer.private_key,
        tokens.TokenClaims(
            kind=tokens.KIND_ORDER,
            key_id=signer.key_id,
            token_id=code.token_id,
            order_id=order.id,
            cinema_id=order.cinema_id,
            expires_at=code.token_expires_at,
        ),
    )
    return IssuedCode(serial, verification, qr)


def revoke_live_codes(session: Session, order_id: str, reason: str, now: datetime) -> int:
    """Revoke every live pickup code of the order and its QR token (into every kiosk's revocation list)."""
    count = 0
    for code in session.scalars(
        select(PickupCode).where(PickupCode.order_id == order_id, PickupCode.revoked_at.is_(None))
    ):
        code.revoked_at = now
        if session.scalars(select(Revocation.id).where(Revocation.token_id == code.token_id)).first() is None:
            session.add(Revocation(token_id=code.token_id, order_id=order_id, reason=reason, revoked_at=now))
        count += 1
    session.flush()
    return count
