"""Ticketing accounts: the phone bound to an account, kept only as a keyed HMAC and a masked form.

The HMAC key is derived from the central's pickup-code key (no second secret to keep), so a
stolen database neither shows nor tests phone numbers offline. The ID number's last 4
characters, when given, are kept the same way (bound to the account id).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend_client.masking import mask_phone
from backend_client.wire import ID_LAST4_PATTERN, PHONE_PATTERN
from central.common import audit, new_id
from central.context import CentralBase
from central.models import Account, FaceTemplate, Order

_PHONE = re.compile(PHONE_PATTERN)
_ID_LAST4 = re.compile(ID_LAST4_PATTERN)


class AccountError(ValueError):
    """A phone, ID digits or order an operator or partner named that cannot be used."""


def check_phone(phone: str) -> str:
    phone = phone.strip()
    if not _PHONE.match(phone):
        raise AccountError("a phone number is 11 digits starting with 1, e.g. 13800138000")
    return phone


def check_id_last4(id_last4: str | None) -> str | None:
    if id_last4 is None:
        return None
    value = id_last4.strip().upper()
    if not _ID_LAST4.match(value):
        raise AccountError("the ID number's last 4 characters are 4 digits (the last may be X)")
    return value


def _key(central: CentralBase) -> bytes:
    return central.hasher.derived_key("account-phone-v1")


def phone_hmac(central: CentralBase, phone: str) -> str:
    return hmac.new(_key(central), f"phone:{phone}".encode(), hashlib.sha256).hexdigest()


def id_last4_hmac(central: CentralBase, account_id: str, id_last4: str) -> str:
    return hmac.new(_key(central), f"id4:{account_id}:{id_last4.upper()}".encode(), hashlib.sha256).hexdigest()


def id_last4_matches(central: CentralBase, account: Account, id_last4: str) -> bool:
    if account.id_last4_hmac is None:
        return False
    return hmac.compare_digest(account.id_last4_hmac, id_last4_hmac(central, account.id, id_last4))


def find_account(central: CentralBase, session: Session, phone: str) -> Account | None:
    return session.scalars(select(Account).where(Account.phone_hmac == phone_hmac(central, phone))).first()


def ensure_account(
    central: CentralBase, session: Session, phone: str, id_last4: str | None, now: datetime, actor: str
) -> tuple[Account, bool]:
    """The account bound to this phone (made if new; ID digits set when given); (account, created)."""
    phone = check_phone(phone)
    id_last4 = check_id_last4(id_last4)
    account = find_account(central, session, phone)
    created = account is None
    if account is None:
        account = Account(id=new_id("acct"), phone_hmac=phone_hmac(central, phone), phone_masked=mask_phone(phone),
                          created_at=now)
        session.add(account)
        session.flush()
        audit(session, now, actor, "account_created", account_id=account.id, phone=account.phone_masked)
    if id_last4 is not None:
        account.id_last4_hmac = id_last4_hmac(central, account.id, id_last4)
    session.flush()
    return account, created


def bind_order(session: Session, order: Order, account: Account, now: datetime, actor: str) -> None:
    order.account_id = account.id
    session.flush()
    audit(session, now, actor, "order_bound_to_account", order.id, account_id=account.id, phone=account.phone_masked)


def describe(session: Session, account: Account) -> dict[str, Any]:
    orders = session.scalars(select(Order.id).where(Order.account_id == account.id).order_by(Order.id)).all()
    return {
        "account_id": account.id,
        "phone_masked": account.phone_masked,
        "id_last4_on_file": account.id_last4_hmac is not None,
        "face_enrolled": session.get(FaceTemplate, account.id) is not None,
        "order_ids": list(orders),
    }
