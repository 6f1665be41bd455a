"""Personalising a blank year-card (head office, 制卡): keys, number, type, visits, through any reader.

This is the issuer's side: it holds the master keys. The kiosk never imports it (a kiosk only
reads and debits, with the PSAM). ``central cards make`` calls :func:`personalise` on a desktop
PC/SC reader; tests call it on the emulated blank card through pcscd.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from devices.card_api import ApduResponse
from devices.yearcard import crypto
from devices.yearcard import profile as p

Transmit = Callable[[bytes], ApduResponse]


class PersonalisationError(Exception):
    """The card refused a personalisation step (already personalised, not a blank year-card...)."""


def public_file(
    master: crypto.MasterKeys,
    card_number: str,
    card_type: int,
    made: dt.date,
    issuer: bytes,
    activated: dt.date | None = None,
    valid_days: int = 365,
) -> bytes:
    """The public information file with the issuer's MAC (36 bytes)."""
    expires = None if activated is None else activated + dt.timedelta(days=valid_days)
    signed = p.encode_public_signed(issuer, card_number, card_type, activated is not None, made, activated, expires)
    return signed + crypto.public_mac(master.card_keys(card_number).public, signed)


def personalise(
    transmit: Transmit,
    master: crypto.MasterKeys,
    card_number: str,
    card_type: int,
    visits: int,
    issuer: bytes,
    made: dt.date | None = None,
    activated: dt.date | None = None,
    valid_days: int = 365,
) -> None:
    """Write keys, public file and visits to a blank card, then end personalisation (no way back)."""
    if not 1 <= visits <= p.MAX_VISITS:
        raise ValueError(f"a card holds 1 to {p.MAX_VISITS} visits")
    keys = master.card_keys(card_number)
    steps = [
        ("SELECT", p.select_aid(p.CARD_AID)),
        ("WRITE KEY purchase", p.write_key(p.KEY_ID_PURCHASE, keys.purchase)),
        ("WRITE KEY TAC", p.write_key(p.KEY_ID_TAC, keys.tac)),
        ("WRITE KEY public", p.write_key(p.KEY_ID_PUBLIC, keys.public)),
        ("WRITE KEY maintenance", p.write_key(p.KEY_ID_MAINTENANCE, keys.maintenance)),
        ("UPDATE BINARY public", p.update_public(
            public_file(master, card_number, card_type, made or dt.date.today(), issuer, activated, valid_days)
        )),
        ("SET BALANCE", p.set_balance(visits)),
        ("END PERSONALISATION", p.end_personalisation()),
    ]
    for what, apdu in steps:
        response = transmit(apdu)
        if not response.ok:
            meaning = p.SW_MEANINGS.get(response.sw, "unknown status")
            raise PersonalisationError(f"{what}: the card answered SW {response.sw:04X} ({meaning})")
