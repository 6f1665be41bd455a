"""Personalising a blank year-card (head office, 制卡): keys, number, type, visits, through any reader.

This is the issuer's side: it holds the master keys. The kiosk never imports it (a kiosk only
reads and debits, with the PSAM). ``central cards make`` calls :func:`personalise` on a desktop
PC/SC reader; tests call it on the emulated blank card through pcscd. A personalised card's
public file changes later (sale, renewal, a new type at re-issue) only with the issuer's MAC under
the card's maintenance key, on the card's one-time challenge (:func:`rewrite_public`, :func:`sell`,
:func:`renew`; :func:`secure_update` alone when the central computes the APDU for a counter).
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Callable
from typing import Any

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
        ("WRITE KEY load", p.write_key(p.KEY_ID_LOAD, keys.load)),
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


# ---- later changes to a personalised card's public file (sale, renewal, a new type) ----


def signed_public(master: crypto.MasterKeys, current: p.PublicInfo, **changes: Any) -> bytes:
    """``current`` with ``changes`` (card_type, sold, activated, expires), re-MACed by the issuer."""
    fields: dict[str, Any] = {
        "issuer": current.issuer, "card_number": current.card_number, "card_type": current.card_type,
        "sold": current.sold, "made": current.made, "activated": current.activated, "expires": current.expires,
    }
    unknown = set(changes) - {"card_type", "sold", "activated", "expires"}
    if unknown:
        raise ValueError(f"a public file change cannot touch {sorted(unknown)}")
    fields.update(changes)
    signed = p.encode_public_signed(**fields)
    return signed + crypto.public_mac(master.card_keys(current.card_number).public, signed)


def secure_update(master: crypto.MasterKeys, card_number: str, challenge: bytes, public: bytes) -> bytes:
    """The UPDATE BINARY APDU the issuer computes for the card's challenge (the central, online)."""
    damk = master.card_keys(card_number).maintenance
    return p.update_public_secure(public, crypto.secure_update_mac(damk, challenge, p.SECURE_UPDATE_HEADER, public))


def rewrite_public(transmit: Transmit, master: crypto.MasterKeys, current: p.PublicInfo, **changes: Any) -> bytes:
    """SELECT, GET CHALLENGE, UPDATE BINARY with the issuer's MAC; returns the new public file."""
    public = signed_public(master, current, **changes)
    steps: list[tuple[str, Callable[[bytes], bytes]]] = [
        ("SELECT", lambda _: p.select_aid(p.CARD_AID)),
        ("GET CHALLENGE", lambda _: p.get_challenge()),
        ("UPDATE BINARY public", lambda challenge: secure_update(master, current.card_number, challenge, public)),
    ]
    challenge = b""
    for what, build in steps:
        response = transmit(build(challenge))
        if not response.ok:
            meaning = p.SW_MEANINGS.get(response.sw, "unknown status")
            raise PersonalisationError(f"{what}: the card answered SW {response.sw:04X} ({meaning})")
        if what == "GET CHALLENGE":
            try:
                challenge = p.parse_challenge(response)
            except p.ProfileError as exc:
                raise PersonalisationError(str(exc)) from None
    return public


def sell(transmit: Transmit, master: crypto.MasterKeys, current: p.PublicInfo, day: dt.date,
         valid_days: int = 365) -> bytes:
    """Activate a made card at its sale (发卡/售卡): valid from ``day`` for ``valid_days``."""
    return rewrite_public(transmit, master, current, sold=True, activated=day,
                          expires=day + dt.timedelta(days=valid_days))


def renew(transmit: Transmit, master: crypto.MasterKeys, current: p.PublicInfo, until: dt.date) -> bytes:
    """Renewal (续期): a new expiry date."""
    if not current.sold:
        raise ValueError("only a sold card is renewed")
    return rewrite_public(transmit, master, current, expires=until)


# ---- a load: visits added by the issuer (re-issue of a recycled card) ----


def load_mac2(
    master: crypto.MasterKeys, card_number: str, init: p.LoadInit, visits: int, terminal_id: bytes,
    date: bytes, time: bytes,
) -> bytes:
    """The issuer's side of a load: check the card's MAC1, answer MAC2 (the central, online)."""
    if init.key_version != p.KEY_VERSION or init.algorithm != crypto.ALG_SM4:
        raise PersonalisationError("the card offers a load key or algorithm this issuer does not use")
    key = crypto.load_session_key(master.card_keys(card_number).load, init.card_random, init.online_counter)
    load = crypto.Load(visits, terminal_id, init.balance, init.online_counter, date, time)
    if not hmac.compare_digest(crypto.cbc_mac(key, load.mac1_data()), init.mac1):
        raise PersonalisationError("the card's load MAC1 is wrong: not a card of this issuer")
    return crypto.cbc_mac(key, load.mac2_data())


def load(
    transmit: Transmit, master: crypto.MasterKeys, card_number: str, visits: int, terminal_id: bytes,
    when: dt.datetime,
) -> bytes:
    """SELECT, INITIALIZE FOR LOAD, CREDIT FOR LOAD: add ``visits``; returns the card's TAC, checked."""
    def step(what: str, apdu: bytes) -> ApduResponse:
        response = transmit(apdu)
        if not response.ok:
            meaning = p.SW_MEANINGS.get(response.sw, "unknown status")
            raise PersonalisationError(f"{what}: the card answered SW {response.sw:04X} ({meaning})")
        return response

    step("SELECT", p.select_aid(p.CARD_AID))
    try:
        init = p.parse_initialize_load(step("INITIALIZE FOR LOAD", p.initialize_for_load(visits, terminal_id)))
        date, time = p.bcd_date(when.date()), p.bcd_time(when)
        mac2 = load_mac2(master, card_number, init, visits, terminal_id, date, time)
        tac = p.parse_credit_load(step("CREDIT FOR LOAD", p.credit_for_load(date, time, mac2)))
    except p.ProfileError as exc:
        raise PersonalisationError(str(exc)) from None
    expected = crypto.Load(visits, terminal_id, init.balance, init.online_counter, date, time)
    if not hmac.compare_digest(crypto.cbc_mac(master.card_keys(card_number).tac, expected.tac_data()), tac):
        raise PersonalisationError("the card's load TAC is wrong")
    return tac
