"""After personalisation the public file changes only with the issuer's MAC on the card's challenge."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from devices.card_api import ApduResponse
from devices.sim.psam import PsamOS, psam_image
from devices.sim.yearcard import handler_channel
from devices.sim.yearcard_os import YearCardOS, personalised_image
from devices.yearcard import crypto
from devices.yearcard import profile as p
from devices.yearcard.personalise import PersonalisationError, load, renew, secure_update, sell, signed_public
from devices.yearcard.terminal import DebitInterrupted, DebitProof, YearCardTerminal
from tests.yearcard.conftest import CARD_NUMBER, NOW, TERMINAL_ID, TODAY, Kit
from tests.yearcard.test_terminal import Tearing

OK = p.SW_OK


def sw(answer: bytes) -> int:
    return int.from_bytes(answer[-2:], "big")


@pytest.fixture
def made(tmp_path: Path, master: crypto.MasterKeys) -> tuple[YearCardOS, YearCardTerminal]:
    """A card made at head office and not sold yet, and a kiosk terminal."""
    card = YearCardOS(personalised_image(tmp_path / "made.json", master, CARD_NUMBER, made=TODAY))
    psam = PsamOS(psam_image(tmp_path / "psam.json", master, TERMINAL_ID))
    return card, YearCardTerminal(handler_channel(card), handler_channel(psam))


def test_a_sale_then_a_renewal_are_written_to_the_card(made: tuple[YearCardOS, YearCardTerminal],
                                                       master: crypto.MasterKeys) -> None:
    card, terminal = made
    public = terminal.read_public()
    assert public.life_on(TODAY) is p.CardLife.NOT_SOLD
    sale_day = TODAY + dt.timedelta(days=3)
    sell(handler_channel(card), master, public, sale_day)
    sold = terminal.read_public()  # the PSAM accepts the issuer's new MAC
    assert (sold.sold, sold.activated, sold.expires) == (True, sale_day, sale_day + dt.timedelta(days=365))
    assert sold.life_on(sale_day) is p.CardLife.ACTIVE
    later = dt.date(2030, 1, 1)
    renew(handler_channel(card), master, sold, later)
    assert terminal.read_public().expires == later
    assert YearCardOS(card.store).state.public == terminal.read_public().raw  # on the image too


def test_a_wrong_mac_a_replay_and_a_new_card_number_are_refused(made: tuple[YearCardOS, YearCardTerminal],
                                                                 master: crypto.MasterKeys) -> None:
    card, terminal = made
    public = terminal.read_public()
    new = signed_public(master, public, sold=True, activated=TODAY, expires=TODAY + dt.timedelta(days=30))
    assert sw(card(p.select_aid(p.CARD_AID))) == OK
    challenge = card(p.get_challenge())[:4]
    stranger = crypto.MasterKeys.generate()
    assert sw(card(secure_update(stranger, CARD_NUMBER, challenge, new))) == p.SW_MAC_INVALID
    assert sw(card(secure_update(master, CARD_NUMBER, challenge, new))) == p.SW_CONDITIONS  # challenge spent
    challenge = card(p.get_challenge())[:4]
    good = secure_update(master, CARD_NUMBER, challenge, new)
    assert sw(card(good)) == OK
    assert sw(card(good)) == p.SW_CONDITIONS  # the same APDU again: no challenge to match
    other = bytearray(new)
    other[6:14] = bytes.fromhex("8800000000000099")  # MACed with this card's key, another number
    challenge = card(p.get_challenge())[:4]
    assert sw(card(secure_update(master, CARD_NUMBER, challenge, bytes(other)))) == p.SW_WRONG_DATA
    assert terminal.read_public().expires == TODAY + dt.timedelta(days=30)


def test_renewal_refuses_an_unsold_card_and_reports_a_refusing_card(made: tuple[YearCardOS, YearCardTerminal],
                                                                    master: crypto.MasterKeys) -> None:
    card, terminal = made
    with pytest.raises(ValueError, match="sold"):
        renew(handler_channel(card), master, terminal.read_public(), dt.date(2030, 1, 1))
    with pytest.raises(PersonalisationError, match="9302"):
        sell(handler_channel(card), crypto.MasterKeys.generate(), terminal.read_public(), TODAY)


LOAD_TERMINAL = bytes.fromhex("000000000001")  # head office
WHEN = dt.datetime(2026, 11, 30, 9, 0, 0)


def test_a_recycled_card_is_loaded_for_its_next_holder(kit: Kit) -> None:
    terminal = kit.terminal()
    terminal.debit(10)  # the last visit used: the card goes back to head office
    assert terminal.read().balance == 0
    tac = load(handler_channel(kit.card), kit.master, CARD_NUMBER, 12, LOAD_TERMINAL, WHEN)
    assert len(tac) == 4
    reading = terminal.read()
    assert reading.balance == 12
    newest = reading.records[0]
    assert (newest.kind, newest.amount, newest.balance_after, newest.card_counter) == (
        crypto.TRANSACTION_LOAD, 12, 12, 0  # loads count on their own counter
    )
    proof = terminal.debit(1)  # purchases go on with theirs
    assert proof.pending.card_counter == 1 and proof.verify(kit.master.tac)


def test_a_load_needs_the_issuers_keys_and_respects_the_maximum(kit: Kit) -> None:
    with pytest.raises(PersonalisationError, match="MAC1"):
        load(handler_channel(kit.card), crypto.MasterKeys.generate(), CARD_NUMBER, 5, LOAD_TERMINAL, WHEN)
    card = kit.card
    card(p.select_aid(p.CARD_AID))
    init = p.parse_initialize_load(ApduResponse.from_bytes(card(p.initialize_for_load(5, LOAD_TERMINAL))))
    assert sw(card(p.credit_for_load(p.bcd_date(WHEN.date()), p.bcd_time(WHEN), bytes(4)))) == p.SW_MAC_INVALID
    assert init.balance == 10 and card.state.balance == 10
    with pytest.raises(PersonalisationError, match="9402"):
        load(handler_channel(card), kit.master, CARD_NUMBER, p.MAX_VISITS, LOAD_TERMINAL, WHEN)


def test_recovery_is_not_fooled_by_a_load_with_the_same_counter(kit: Kit) -> None:
    torn = Tearing(kit.card, 4, executed=True)  # at the DEBIT
    with pytest.raises(DebitInterrupted) as interrupted:
        YearCardTerminal(torn, handler_channel(kit.psam), clock=lambda: NOW).debit(2)  # counter 0
    load(handler_channel(kit.card), kit.master, CARD_NUMBER, 1, LOAD_TERMINAL, WHEN)  # online counter 0, newer
    outcome = kit.terminal().recover(interrupted.value.pending)
    assert isinstance(outcome, DebitProof) and outcome.verify(kit.master.tac)
